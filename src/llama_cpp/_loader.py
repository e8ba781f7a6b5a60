"""Loading the compiled module with an error that says what went wrong, and (in a
portable build) the ggml backend modules shipped beside it in ``llama_cpp/lib``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

DOCTOR_HINT = (
    "For a diagnosis and the command that fixes it, run: llama-cpp doctor "
    "(or: python -m llama_cpp.doctor)"
)

# backend name -> the module file it was loaded from (portable builds)
_backend_files: dict[str, str] = {}
_dll_directories: list[Any] = []
# the compiled module once its backends are loaded
_ready: ModuleType | None = None


def backend_directory() -> Path | None:
    """``llama_cpp/lib`` beside the compiled module, where a portable build keeps the
    shared libraries and backend modules; None in a native build."""
    spec = importlib.util.find_spec("llama_cpp._core")
    if spec is None or not spec.origin:
        return None
    lib = Path(spec.origin).with_name("lib")
    return lib if lib.is_dir() else None


def loaded_backend_files() -> dict[str, str]:
    """Which file each dynamically loaded backend came from, e.g.
    ``{"CPU": ".../llama_cpp/lib/libggml-cpu-haswell.so"}`` (empty in a native build)."""
    return dict(_backend_files)


def load_core() -> ModuleType:
    """Import ``llama_cpp._core`` (turning a bare loader error into an explanation) and,
    once per process, load the backend modules a portable build keeps beside it; also
    when something imported ``llama_cpp._core`` directly before."""
    global _ready
    if _ready is not None:
        return _ready
    lib = backend_directory()
    core = sys.modules.get("llama_cpp._core")
    if core is None:
        if lib is not None and os.name == "nt":
            # Windows finds a DLL's dependencies only in directories named this way.
            _dll_directories.append(os.add_dll_directory(str(lib)))
        try:
            core = importlib.import_module("llama_cpp._core")
        except ImportError as error:
            raise ImportError(_explain(error)) from error
    if lib is not None:
        _load_backend_modules(core, lib)
    _ready = core
    return core


def _load_backend_modules(core: ModuleType, lib: Path) -> None:
    lines: list[str] = []
    core.set_log_callback(lambda level, text: lines.append(text.decode(errors="replace")))
    try:
        core.load_backends(str(lib))
    finally:
        core.set_log_callback(None)
    for match in re.finditer(r"loaded (\S+) backend from (.+)", "".join(lines)):
        _backend_files[match.group(1)] = match.group(2).strip()
    if "CPU" not in core.backends():
        shipped = sorted(p.name for p in lib.iterdir() if "ggml-cpu" in p.name)
        raise ImportError(
            f"llama_cpp could not load a CPU backend from {lib} (files there: "
            f"{', '.join(shipped) or 'none'}). The installation is incomplete or damaged. "
            "Reinstall with: pip install --force-reinstall --no-cache-dir llama-cpp-pybind\n"
            + DOCTOR_HINT
        )


def _explain(error: ImportError) -> str:
    text = str(error)
    lines = [f"llama_cpp's compiled module could not be loaded: {text}"]
    if "No module named" in text:
        lines.append(
            "The package was installed without its compiled part, or is imported from a "
            "source checkout that was never built. Install it with: pip install ."
        )
    elif "cannot open shared object file" in text or "Library not loaded" in text or "DLL" in text:
        lines.append(
            "A shared library it was built against is missing on this machine (the name is "
            "above). Install that library, or rebuild without the backend that needs it."
        )
    elif "undefined symbol" in text:
        lines.append(
            "The module does not match the libraries it finds at run time. Rebuild it: "
            "pip install --force-reinstall --no-cache-dir llama-cpp-pybind"
        )
    try:
        from llama_cpp._build_info import build_info

        info = build_info()
        lines.append(
            f"This build: version {info.get('package_version')}, backends "
            f"{', '.join(info.get('backends', []))}, CPU features "
            f"{' '.join(info.get('cpu_features', []))}, CMAKE_ARGS={info.get('cmake_args')!r}."
        )
    except (OSError, ValueError):
        pass
    lines.append(DOCTOR_HINT)
    return "\n".join(lines)
