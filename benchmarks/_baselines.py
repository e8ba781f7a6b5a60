"""The programs our benchmarks compare against, built on this machine on first use.

* llama.cpp's own tools (``llama-bench``, ``llama-server``) from the pinned tree in
  ``vendor/llama.cpp``, Release, ``GGML_NATIVE=ON`` like our default build, in
  ``build/llama-tools`` (with Vulkan: ``build/llama-tools-vulkan``).
* llama-cpp-python from the source archive the lock pins, in its own virtual environment
  ``build/bench/llama-cpp-python`` so that its ``llama_cpp`` never shadows ours.

Both are minutes of compiling on a small machine, done once; later runs reuse them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS_BUILD = REPO / "build" / "llama-tools"
LLAMA_CPP_PYTHON_VENV = REPO / "build" / "bench" / "llama-cpp-python"
LOCK = json.loads((REPO / "vendor" / "llama.cpp.lock.json").read_text(encoding="utf-8"))


def _run(command: list[str], **kwargs: object) -> None:
    print("$", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def _build_tools_env() -> dict[str, str]:
    """This interpreter's scripts folder first on PATH, so that cmake and ninja installed
    into its venv (``pip install cmake ninja``) are found without activating it."""
    scripts = sysconfig.get_path("scripts")
    return {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}


def llama_tool(name: str, backend: str = "cpu") -> Path:
    """Path of llama.cpp's ``name`` (e.g. ``llama-bench``), built from the pinned tree;
    ``backend="vulkan"`` adds its Vulkan backend (in ``build/llama-tools-vulkan``, with
    newer headers from ci/vulkan-headers.sh where the system's are too old);
    ``backend="cuda"`` its CUDA backend (in ``build/llama-tools-cuda``), with the machine's
    CUDA toolkit when complete, else with NVIDIA's toolkit packages installed for this
    interpreter, laid out as our build does (build_backend/cuda_toolkit.py);
    ``backend="rpc"`` its RPC client (``--rpc``), in ``build/llama-tools-rpc``."""
    build = TOOLS_BUILD if backend == "cpu" else TOOLS_BUILD.with_name(f"llama-tools-{backend}")
    binary = build / "bin" / name
    if binary.is_file():
        return binary
    tree = REPO / "vendor" / "llama.cpp"
    if not (tree / "CMakeLists.txt").is_file():
        _run([sys.executable, str(REPO / "vendor" / "fetch_llama_cpp.py")])
    extra: list[str] = []
    if backend == "vulkan":
        script = str(REPO / "ci" / "vulkan-include-arg.sh")
        found = subprocess.run(["bash", script], check=True, capture_output=True, text=True)
        include = found.stdout.split()
        extra = ["-DGGML_VULKAN=ON", *include]
    elif backend == "cuda":
        extra = ["-DGGML_CUDA=ON", *_cuda_toolkit_args(build)]
    elif backend == "rpc":
        extra = ["-DGGML_RPC=ON"]
    elif backend != "cpu":
        raise ValueError(f"no baseline build for backend {backend!r} (cpu, vulkan, cuda or rpc)")
    if not (build / "CMakeCache.txt").is_file():
        _run(["cmake", "-S", str(tree), "-B", str(build), "-G", "Ninja",
              "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_BUILD_TESTS=OFF",
              "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF",
              "-DLLAMA_USE_PREBUILT_UI=OFF", *extra], env=_build_tools_env())  # fmt: skip
    _run(["cmake", "--build", str(build), "--target", name, f"-j{os.cpu_count() or 2}"],
         env=_build_tools_env())  # fmt: skip
    return binary


def _cuda_toolkit_args(build: Path) -> list[str]:
    """CMake flags naming a CUDA toolkit for llama.cpp's own build: none when nvcc's
    toolkit is complete, else the view of NVIDIA's pip packages (as our build makes it)."""
    sys.path.insert(0, str(REPO / "build_backend"))
    import cuda_toolkit

    nvcc = shutil.which("nvcc")
    if nvcc and not cuda_toolkit.system_missing(cuda_toolkit.toolkit_root(nvcc)):
        return []
    view = cuda_toolkit.make_view(
        str(cuda_toolkit.load_table()["default_major"]), build / "cuda-toolkit", "cc", sys.path
    )
    return [f"-DCMAKE_CUDA_COMPILER={view / 'bin' / 'nvcc'}", f"-DCUDAToolkit_ROOT={view}"]


def llama_cpp_python() -> Path:
    """Interpreter of a virtual environment holding the pinned llama-cpp-python."""
    python = LLAMA_CPP_PYTHON_VENV / "bin" / "python"
    marker = LLAMA_CPP_PYTHON_VENV / ".installed"
    if marker.is_file():
        return python
    sdist = LOCK["sources"]["sdist"]
    archive = REPO / "vendor" / ".downloads" / sdist["filename"]
    _run([sys.executable, "-m", "venv", "--clear", str(LLAMA_CPP_PYTHON_VENV)])
    source = str(archive) if archive.is_file() else f"{sdist['name']}=={sdist['version']}"
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "FORCE_CMAKE")}
    _run([str(python), "-m", "pip", "install", "-q", "--no-cache-dir", source], env=env)
    marker.write_text(sdist["version"], encoding="utf-8")
    return python


def llama_cpp_python_server() -> Path:
    """``llama_cpp_python()``, with the packages its ``[server]`` extra names installed."""
    python = llama_cpp_python()
    marker = LLAMA_CPP_PYTHON_VENV / ".server-installed"
    if marker.is_file():
        return python
    query = (
        "import importlib.metadata as m; "
        "print('\\n'.join(r.split(';')[0] for r in m.requires('llama_cpp_python') "
        "if 'extra == \"server\"' in r))"
    )
    listed = subprocess.run([str(python), "-c", query], check=True, capture_output=True,
                            text=True).stdout.split()  # fmt: skip
    # the extra's own packages only: installing "llama-cpp-python[server]" would rebuild it
    _run([str(python), "-m", "pip", "install", "-q", *listed])
    marker.write_text("\n".join(listed), encoding="utf-8")
    return python
