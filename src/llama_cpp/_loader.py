"""Loading the compiled module with an error that says what went wrong."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

DOCTOR_HINT = (
    "For a diagnosis and the command that fixes it, run: llama-cpp doctor "
    "(or: python -m llama_cpp.doctor)"
)


def load_core() -> ModuleType:
    """Import ``llama_cpp._core``, turning a bare loader error into an explanation."""
    loaded = sys.modules.get("llama_cpp._core")
    if loaded is not None:
        return loaded
    try:
        return importlib.import_module("llama_cpp._core")
    except ImportError as error:
        raise ImportError(_explain(error)) from error


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
