"""What a rebuild from source needs: CMake, Ninja, a C/C++ compiler, nvcc for
CUDA, Visual Studio's C++ workload on Windows, Xcode's command line tools on
macOS, and the Vulkan shader compiler for a Vulkan build."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
from pathlib import Path
from typing import Any

from llama_cpp.doctor.probes._run import first_line, run

# The Visual Studio component that provides the x64 MSVC compiler; both the
# "Desktop development with C++" workload (IDE) and the C++ build tools one include it.
VC_TOOLS_COMPONENT = "Microsoft.VisualStudio.Component.VC.Tools.x86.x64"


def probe_toolchain() -> dict[str, Any]:
    """Each tool as ``{"path", "version"}`` or None when it is not found."""
    system = platform.system()
    tools: dict[str, Any] = {
        "cmake": _tool("cmake", ["--version"], r"cmake version (\S+)"),
        "ninja": _tool("ninja", ["--version"], r"(\S+)"),
        "c_compiler": _compiler("C"),
        "cxx_compiler": _compiler("CXX"),
        "nvcc": _nvcc(),
        "glslc": _tool("glslc", ["--version"], r"shaderc v?(\S+)"),
        "visual_studio": _visual_studio() if system == "Windows" else None,
        "xcode_clt": first_line(["xcode-select", "-p"]) if system == "Darwin" else None,
    }
    return tools


def _tool(name: str, args: list[str], pattern: str) -> dict[str, str | None] | None:
    path = shutil.which(name)
    if path is None:
        return None
    out = run([path, *args])
    text = (out.stdout + out.stderr) if out is not None else ""
    match = re.search(pattern, text)
    return {"path": path, "version": match.group(1) if match else None}


def _compiler(language: str) -> dict[str, str | None] | None:
    variable = "CC" if language == "C" else "CXX"
    names = ["cc", "gcc", "clang", "cl"] if language == "C" else ["c++", "g++", "clang++", "cl"]
    chosen = os.environ.get(variable)
    if chosen:
        names = [chosen.split()[0], *names]
    for name in names:
        path = shutil.which(name)
        if path is None:
            continue
        if Path(path).stem.lower() == "cl":
            out = run([path])
            text = out.stderr if out is not None else ""
            match = re.search(r"Version (\S+)", text)
            return {"path": path, "version": match.group(1) if match else None, "id": "MSVC"}
        out = run([path, "--version"])
        line = out.stdout.splitlines()[0] if out is not None and out.stdout else ""
        match = re.search(r"(\d+\.\d+(?:\.\d+)?)", line)
        ident = "Clang" if "clang" in line.lower() else "GNU" if line else None
        return {"path": path, "version": match.group(1) if match else None, "id": ident}
    return None


def nvcc_candidates() -> list[str]:
    """Where nvcc usually lies: $CUDACXX, PATH, $CUDA_PATH/$CUDA_HOME, /usr/local/cuda."""
    candidates = []
    if os.environ.get("CUDACXX"):
        candidates.append(os.environ["CUDACXX"])
    on_path = shutil.which("nvcc")
    if on_path:
        candidates.append(on_path)
    exe = "nvcc.exe" if os.name == "nt" else "nvcc"
    for variable in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(variable):
            candidates.append(str(Path(os.environ[variable]) / "bin" / exe))
    if os.name != "nt":
        candidates.append("/usr/local/cuda/bin/nvcc")
        candidates.extend(sorted(str(p) for p in Path("/usr/local").glob("cuda-*/bin/nvcc")))
    return candidates


def _nvcc() -> dict[str, Any] | None:
    on_path = shutil.which("nvcc")
    for candidate in nvcc_candidates():
        if not os.path.isfile(candidate):
            continue
        out = run([candidate, "--version"])
        match = re.search(r"release (\d+\.\d+)", out.stdout) if out is not None else None
        return {
            "path": candidate,
            "version": match.group(1) if match else None,
            "on_path": on_path is not None and Path(on_path).resolve() == Path(candidate).resolve(),
            "via_cudacxx": os.environ.get("CUDACXX") == candidate,
        }
    return None


def vswhere_path() -> Path:
    base = os.environ.get("PROGRAMFILES(X86)", r"C:\Program Files (x86)")
    return Path(base) / "Microsoft Visual Studio" / "Installer" / "vswhere.exe"


def _visual_studio() -> dict[str, Any]:
    """Visual Studio installations (vswhere) and whether each has the MSVC x64 tools."""
    vswhere = vswhere_path()
    result: dict[str, Any] = {"vswhere": str(vswhere) if vswhere.is_file() else None}
    if not vswhere.is_file():
        result["installations"] = []
        return result
    every = run([str(vswhere), "-products", "*", "-format", "json", "-utf8"])
    with_vc = run(
        [str(vswhere), "-products", "*", "-requires", VC_TOOLS_COMPONENT, "-format", "json"]
    )
    result["installations"] = parse_vswhere(
        every.stdout if every is not None else "[]",
        with_vc.stdout if with_vc is not None else "[]",
    )
    return result


def parse_vswhere(every_json: str, with_vc_json: str) -> list[dict[str, Any]]:
    """Installations from ``vswhere -format json``, marked with whether the MSVC
    x64 tools are installed (the second listing is vswhere ``-requires`` them)."""
    try:
        every = json.loads(every_json or "[]")
        with_vc = {item.get("instanceId") for item in json.loads(with_vc_json or "[]")}
    except json.JSONDecodeError:
        return []
    return [
        {
            "name": item.get("displayName"),
            "version": item.get("installationVersion"),
            "path": item.get("installationPath"),
            "product": item.get("productId"),
            "has_msvc": item.get("instanceId") in with_vc,
        }
        for item in every
    ]
