"""The llama.cpp library behind ``llama_cpp.llama_cpp`` (the generated low-level ctypes
module), and the binder that attaches its functions.

The library is the copy of llama.cpp this package already runs: the compiled module is
loaded first (with its backends, see :mod:`llama_cpp._loader`), then ctypes opens the
file that holds llama.cpp's functions, which the process has loaded already, so there is
one llama.cpp in the process and pointers from ``Llama`` (``llm.model``, ``llm.ctx``) are
valid in both APIs. A portable build (the wheels) keeps llama.cpp as a shared library in
``llama_cpp/lib``; a native build links it into the compiled module.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llama_cpp import _loader

# Every llama.cpp library exports this function: the file that has it is the one to bind.
PROBE_FUNCTION = "llama_backend_init"

# The shared llama library of a portable build, by platform.
_LIBRARY_PATTERNS = {"win32": "llama.dll", "darwin": "libllama*.dylib"}
_DEFAULT_PATTERN = "libllama*.so*"


def library_candidates(core_file: Path, lib_dir: Path | None) -> list[Path]:
    """Files that may hold llama.cpp's functions, in the order to try them: the shared
    llama library of a portable build (in ``lib_dir``), then the compiled module."""
    candidates: list[Path] = []
    if lib_dir is not None:
        pattern = _LIBRARY_PATTERNS.get(sys.platform, _DEFAULT_PATTERN)
        candidates += sorted(lib_dir.glob(pattern))
    candidates.append(core_file)
    return candidates


def load_library() -> ctypes.CDLL:
    """The loaded llama.cpp library (the same file the compiled module uses), opened with
    ctypes. ImportError, saying what was tried and what to do, when no file exports
    llama.cpp's functions (a native build on Windows links llama.cpp in without exporting
    them)."""
    core = _loader.load_core()
    core_file = Path(str(core.__file__))
    tried: list[str] = []
    for path in library_candidates(core_file, _loader.backend_directory()):
        try:
            library = ctypes.CDLL(str(path))
        except OSError as error:
            tried.append(f"{path}: {error}")
            continue
        if hasattr(library, PROBE_FUNCTION):
            return library
        tried.append(f"{path}: does not export {PROBE_FUNCTION}")
    raise ImportError(
        "llama_cpp.llama_cpp (the low-level llama.cpp API) found no library that exports "
        f"llama.cpp's functions; tried: {'; '.join(tried)}. This build links llama.cpp into "
        "its compiled module without exporting its functions. Install a wheel, or build with "
        'CMAKE_ARGS="-DLLAMA_PYBIND_MODE=portable", which keeps llama.cpp as a shared library.'
    )


class FunctionBinder:
    """Attaches llama.cpp functions by name: ``bind(name, restype, *argtypes)`` returns the
    ctypes function with its types set. A function the library does not export (left out
    of this build, or removed) becomes a stub that raises NotImplementedError when called,
    and its name is listed by :meth:`unbound`."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._library = library
        self._unbound: list[str] = []

    def __call__(self, name: str, restype: Any, *argtypes: Any) -> Any:
        try:
            # item access makes a new function object, so no other user of this library
            # object sees the types set here
            function = self._library[name]
        except AttributeError:
            self._unbound.append(name)
            return _missing_function(name, str(self._library._name))
        function.argtypes = argtypes
        function.restype = restype
        return function

    def unbound(self) -> tuple[str, ...]:
        """The functions asked for that the library does not export, in binding order."""
        return tuple(self._unbound)


def _missing_function(name: str, library_path: str) -> Callable[..., Any]:
    def missing(*args: object, **kwargs: object) -> Any:
        raise NotImplementedError(
            f"{name} is declared in llama.h, but the llama.cpp library this installation "
            f"loaded ({library_path}) does not export it, so it cannot be called. A native "
            "build holds only the parts of llama.cpp its compiled module uses; a portable "
            'build (the wheels, or CMAKE_ARGS="-DLLAMA_PYBIND_MODE=portable") has them all.'
        )

    missing.__name__ = missing.__qualname__ = name
    return missing
