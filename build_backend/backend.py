"""The build backend: scikit-build-core, plus a CUDA toolkit from the package index.

A CUDA build (``-DGGML_CUDA=ON``, or the legacy ``-DLLAMA_CUBLAS=on``/``-DLLAMA_CUDA=on``)
needs nvcc, the CUDA runtime and cuBLAS. When this machine has no complete toolkit (or
``-DLLAMA_PYBIND_CUDA_TOOLKIT=pip`` asks for it), the tested set of NVIDIA's toolkit
packages (src/llama_cpp/cuda_toolkits.json) becomes a build requirement, so pip puts
them into the build environment, where CMake finds them (cmake/CudaToolkit.cmake); the
wheel then requires NVIDIA's runtime packages, which the compiled modules load at run
time. Without a CUDA request, or with a complete toolkit, this is scikit-build-core as is.

Why a backend of our own rather than scikit-build-core's overrides: "no complete toolkit
here" is a question about the machine (is nvcc there, does its toolkit have cuBLAS), not
a pattern in an environment variable, and the run-time requirements depend on the answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

import scikit_build_core.build as _skbuild
from scikit_build_core.build import build_sdist, get_requires_for_build_sdist

sys.path.insert(0, str(Path(__file__).parent))
import cuda_toolkit

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]

_ROOT = Path(__file__).resolve().parent.parent
_TRUE = re.compile(r"^(1|on|yes|true|y|[1-9][0-9]*)$", re.IGNORECASE)
_TOOLKIT_DEFINE = "LLAMA_PYBIND_CUDA_TOOLKIT"

Settings = dict[str, Any] | None


def cuda_flag_names() -> set[str]:
    """GGML_CUDA and the legacy names the build turns into it (src/llama_cpp/flag_table.json,
    the table cmake/LegacyFlags.cmake reads)."""
    table_file = _ROOT / "src" / "llama_cpp" / "flag_table.json"
    renames = json.loads(table_file.read_text(encoding="utf-8"))["legacy_renames"]
    return {"GGML_CUDA", *(row["legacy"] for row in renames if row["modern"] == "GGML_CUDA")}


def cmake_defines(config_settings: Settings, environ: dict[str, str]) -> dict[str, str]:
    """The -D definitions a build gets, in the order scikit-build-core applies them (a
    later one wins): config settings, then SKBUILD_CMAKE_ARGS and CMAKE_ARGS."""
    defines: dict[str, str] = {}
    settings = config_settings or {}
    for key, value in settings.items():
        name = key.removeprefix("skbuild.")
        if name.startswith("cmake.define."):
            defines[name.removeprefix("cmake.define.")] = str(value)
    args: list[str] = []
    for key in ("cmake.args", "skbuild.cmake.args"):
        value = settings.get(key)
        if isinstance(value, str):
            args += value.split(";")
        elif isinstance(value, list):
            args += [str(v) for v in value]
    for variable in ("SKBUILD_CMAKE_ARGS", "CMAKE_ARGS"):
        text = environ.get(variable, "")
        args += text.split(";") if variable.startswith("SKBUILD") else shlex.split(text)
    words = iter(a.strip() for a in args if a.strip())
    for word in words:
        if word == "-D":
            word = "-D" + next(words, "")
        match = re.match(r"^-D([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z]+)?=(.*)$", word)
        if match:
            defines[match.group(1)] = match.group(2)
    return defines


def find_system_nvcc(defines: dict[str, str], environ: dict[str, str]) -> str | None:
    """nvcc where cmake/CudaToolkit.cmake looks for it, in the same order."""
    named = defines.get("CMAKE_CUDA_COMPILER") or environ.get("CUDACXX")
    if named:
        return named if Path(named).exists() else None
    folders = []
    for variable in ("CUDAToolkit_ROOT", "CUDA_PATH"):
        root = defines.get(variable) or environ.get(variable)
        if root:
            folders.append(str(Path(root) / "bin"))
    for folder in folders:
        found = shutil.which("nvcc", path=folder)
        if found:
            return found
    rest = [*environ.get("PATH", "").split(os.pathsep), "/usr/local/cuda/bin", "/opt/cuda/bin"]
    return shutil.which("nvcc", path=os.pathsep.join(rest))


def pip_toolkit_major(config_settings: Settings, environ: dict[str, str] | None = None) -> str:
    """The CUDA major version whose pip toolkit this build takes, or "" when it takes none
    (no CUDA requested, LLAMA_PYBIND_CUDA_TOOLKIT=system, or a complete toolkit here)."""
    environ = dict(os.environ if environ is None else environ)
    defines = cmake_defines(config_settings, environ)
    if not any(_TRUE.match(defines.get(name, "")) for name in cuda_flag_names()):
        return ""
    choice = defines.get(_TOOLKIT_DEFINE, "auto").lower()
    if choice == "system" or sys.platform != "linux":
        return ""  # NVIDIA's packages are laid out as a toolkit on Linux only
    wanted = defines.get("LLAMA_PYBIND_CUDA_MAJOR", "")
    major = wanted or str(cuda_toolkit.load_table()["default_major"])
    if not cuda_toolkit.load_table()["toolkits"].get(major, {}).get("build"):
        return ""  # no pip toolkit for that major (configure says why)
    if choice == "pip":
        return major
    nvcc = find_system_nvcc(defines, environ)
    if not nvcc or cuda_toolkit.system_missing(cuda_toolkit.toolkit_root(nvcc)):
        return major
    if wanted and cuda_toolkit.nvcc_version(nvcc).split(".")[0] != wanted:
        return major
    return ""  # this machine's toolkit


def _with_pip_toolkit(config_settings: Settings) -> Settings:
    """Tell CMake the decision made here, so both sides agree on the toolkit."""
    settings = dict(config_settings or {})
    settings[f"cmake.define.{_TOOLKIT_DEFINE}"] = "pip"
    return settings


def _toolkit_requirements(config_settings: Settings) -> list[str]:
    major = pip_toolkit_major(config_settings)
    return list(cuda_toolkit.toolkit(major)["build"]) if major else []


def get_requires_for_build_wheel(config_settings: Settings = None) -> list[str]:
    """scikit-build-core's requirements, plus the CUDA toolkit packages when needed."""
    requires = list(_skbuild.get_requires_for_build_wheel(config_settings))
    return requires + _toolkit_requirements(config_settings)


def get_requires_for_build_editable(config_settings: Settings = None) -> list[str]:
    """As for a wheel."""
    requires = list(_skbuild.get_requires_for_build_editable(config_settings))
    return requires + _toolkit_requirements(config_settings)


def _run_requirements(config_settings: Settings, major: str) -> list[str]:
    """What the built package needs at run time from the pip toolkit of CUDA ``major``
    (none: ""): NVIDIA's runtime packages, for a native build. A portable wheel
    (LLAMA_PYBIND_MODE=portable) leaves them to its cuda12/cuda13 extra, whoever built it."""
    defines = cmake_defines(config_settings, dict(os.environ))
    if not major or defines.get("LLAMA_PYBIND_MODE", "native") == "portable":
        return []
    return list(cuda_toolkit.toolkit(major)["run"])


def _add_requirements(metadata: str, requirements: list[str]) -> str:
    """METADATA with ``Requires-Dist`` lines added after the last header line."""
    head, sep, body = metadata.partition("\n\n")
    lines = head.split("\n") + [f"Requires-Dist: {r}" for r in requirements]
    return "\n".join(lines) + (sep + body if sep else "\n")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _add_requirements_to_wheel(wheel: Path, requirements: list[str]) -> None:
    """Rewrite ``wheel`` with the requirements in its METADATA (and RECORD to match)."""
    with zipfile.ZipFile(wheel) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    metadata_name = next(
        i.filename for i, _ in entries if i.filename.endswith(".dist-info/METADATA")
    )
    record_name = metadata_name.replace("/METADATA", "/RECORD")
    new_metadata = _add_requirements(
        dict((i.filename, d) for i, d in entries)[metadata_name].decode("utf-8"), requirements
    ).encode("utf-8")
    records = []
    temporary = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            if info.filename == record_name:
                continue
            if info.filename == metadata_name:
                data = new_metadata
            target.writestr(info, data)
            records.append(_record_line(info.filename, data))
        records.append(f"{record_name},,")
        target.writestr(record_name, "\n".join(records) + "\n")
    temporary.replace(wheel)


def _build(hook: Any, wheel_directory: str, config_settings: Settings, metadata: str | None) -> str:
    """Run scikit-build-core's ``hook``; with the pip toolkit, CMake is told to use it and
    the wheel requires NVIDIA's runtime packages (native builds)."""
    major = pip_toolkit_major(config_settings)
    requirements = _run_requirements(config_settings, major)
    if major:
        config_settings = _with_pip_toolkit(config_settings)
    if requirements:
        # scikit-build-core would compare the metadata it makes with the prepared one, which
        # has the requirements added already; they are added to the wheel's below instead
        metadata = None
    name = hook(wheel_directory, config_settings, metadata)
    if requirements:
        _add_requirements_to_wheel(Path(wheel_directory) / name, requirements)
    return name


def build_wheel(
    wheel_directory: str, config_settings: Settings = None, metadata_directory: str | None = None
) -> str:
    """scikit-build-core's wheel, with the CUDA toolkit decided here (see the module)."""
    return _build(_skbuild.build_wheel, wheel_directory, config_settings, metadata_directory)


def build_editable(
    wheel_directory: str, config_settings: Settings = None, metadata_directory: str | None = None
) -> str:
    """As for a wheel."""
    return _build(_skbuild.build_editable, wheel_directory, config_settings, metadata_directory)


def _prepare(hook: Any, metadata_directory: str, config_settings: Settings) -> str:
    name = hook(metadata_directory, config_settings)
    requirements = _run_requirements(config_settings, pip_toolkit_major(config_settings))
    if requirements:
        path = Path(metadata_directory) / name / "METADATA"
        text = path.read_text(encoding="utf-8")
        path.write_text(_add_requirements(text, requirements), encoding="utf-8")
    return name


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Settings = None
) -> str:
    """scikit-build-core's metadata, with the run-time requirements of the pip toolkit."""
    return _prepare(_skbuild.prepare_metadata_for_build_wheel, metadata_directory, config_settings)


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: Settings = None
) -> str:
    """As for a wheel."""
    return _prepare(
        _skbuild.prepare_metadata_for_build_editable, metadata_directory, config_settings
    )
