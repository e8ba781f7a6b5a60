"""llama_cpp: Python bindings for llama.cpp, a drop-in for llama-cpp-python's API.

The compiled part is the private module ``llama_cpp._core``. It is loaded on first
use of a name that needs it (``from llama_cpp import Llama`` loads it), so the
parts that must work on a broken install do: :func:`build_info` and
``llama-cpp doctor``, which explains why the compiled module does not load.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from llama_cpp import _loader
from llama_cpp._build_info import build_info
from llama_cpp._constants import *  # noqa: F403  (LLAMA_* names, as llama-cpp-python exports them)
from llama_cpp._loader import load_core

if TYPE_CHECKING:
    from llama_cpp._core import LlamaError
    from llama_cpp._sampling import (
        LogitsProcessor,
        LogitsProcessorList,
        MinTokensLogitsProcessor,
        StoppingCriteria,
        StoppingCriteriaList,
    )
    from llama_cpp.llama import Llama, LlamaState
    from llama_cpp.llama_grammar import LlamaGrammar

# Public names that need the compiled module, and the module that defines each.
_NEEDS_CORE = {
    "Llama": "llama_cpp.llama",
    "LlamaState": "llama_cpp.llama",
    "LlamaGrammar": "llama_cpp.llama_grammar",
    "LogitsProcessor": "llama_cpp._sampling",
    "LogitsProcessorList": "llama_cpp._sampling",
    "MinTokensLogitsProcessor": "llama_cpp._sampling",
    "StoppingCriteria": "llama_cpp._sampling",
    "StoppingCriteriaList": "llama_cpp._sampling",
    "LlamaRAMCache": "llama_cpp.llama_cache",
    "LlamaDiskCache": "llama_cpp.llama_cache",
    "LlamaCache": "llama_cpp.llama_cache",
    "BaseLlamaCache": "llama_cpp.llama_cache",
    "BaseLlamaTokenizer": "llama_cpp.llama_tokenizer",
    "LlamaTokenizer": "llama_cpp.llama_tokenizer",
    "LlamaDraftModel": "llama_cpp.llama_speculative",
}
# llama-cpp-python's submodules, reachable as attributes (``llama_cpp.llama_types``).
_SUBMODULES = {
    "_internals",
    "llama",
    "llama_cache",
    "llama_chat_format",
    "llama_cpp",
    "llama_grammar",
    "llama_speculative",
    "llama_tokenizer",
    "llama_types",
}
# Prefixes of the names of llama.h's C API (``llama_cpp.llama_cpp``, generated from the
# pinned header), which llama-cpp-python also exports at the top level.
_LOW_LEVEL_PREFIXES = ("llama_", "ggml_", "gguf_", "LLAMA_", "GGML_")


def __getattr__(name: str) -> Any:
    """Load the compiled module (with an explained ImportError) on first use, and
    llama-cpp-python's other top-level names: its submodules, the OpenAI-shaped types of
    ``llama_types`` and the low-level C API of ``llama_cpp.llama_cpp``."""
    if name == "_core":
        return load_core()
    if name == "LlamaError":
        value = load_core().LlamaError
    elif name in _NEEDS_CORE:
        load_core()
        value = getattr(importlib.import_module(_NEEDS_CORE[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"llama_cpp.{name}")
    elif name in _types().__all__:
        value = getattr(_types(), name)
    elif name.startswith(_LOW_LEVEL_PREFIXES) and hasattr(_low_level(), name):
        value = getattr(_low_level(), name)
    else:
        raise AttributeError(f"module 'llama_cpp' has no attribute {name!r}")
    globals()[name] = value
    return value


def _types() -> Any:
    return importlib.import_module("llama_cpp.llama_types")


def _low_level() -> Any:
    load_core()
    return importlib.import_module("llama_cpp.llama_cpp")


def __dir__() -> list[str]:
    names = set(globals()) | set(_NEEDS_CORE) | {"LlamaError"} | _SUBMODULES
    return sorted(names | set(_types().__all__))


def llama_print_system_info() -> bytes:
    """llama.cpp's system-info line, as bytes (the same type llama-cpp-python returns).

    Example: ``b'CPU : SSE3 = 1 | AVX2 = 1 | ... |'``.
    """
    return load_core().system_info().encode()


def system_info() -> str:
    """llama.cpp's system-info line as text."""
    return load_core().system_info()


def devices() -> list[dict]:
    """The devices llama.cpp can run on in this build (CPU, BLAS, GPUs ...).

    Each is a dict with ``name``, ``description``, ``type`` (cpu/gpu/igpu/accel),
    ``backend``, ``memory_free`` and ``memory_total`` (bytes).
    """
    return load_core().devices()


def backends() -> list[str]:
    """Names of the ggml backends registered in this build (e.g. ``['CPU', 'BLAS']``)."""
    return load_core().backends()


def backend_failures() -> dict[str, str]:
    """Backend modules of this installation that could not be loaded, with the system
    loader's reason; empty when every backend loaded. Example, a CUDA build on a machine
    without the NVIDIA driver: ``{"libggml-cuda.so": "libcuda.so.1: cannot open shared
    object file: No such file or directory"}``. ``llama-cpp doctor`` gives the fix."""
    load_core()
    return _loader.backend_failures()


def set_log_level(level: int | str) -> None:
    """Print llama.cpp's own log lines at or above ``level`` to stderr.

    ``level`` is one of ``"none"`` (the default: print nothing), ``"debug"``,
    ``"info"``, ``"warn"``, ``"error"``, or the matching int 0-4.  Whatever the
    level, warnings and errors are kept and quoted in the exceptions they cause.
    """
    names = {"none": 0, "debug": 1, "info": 2, "warn": 3, "warning": 3, "error": 4}
    if isinstance(level, str):
        if level.lower() not in names:
            raise ValueError(f"unknown log level {level!r}; use one of {sorted(set(names))}")
        level = names[level.lower()]
    load_core().set_log_level(level)


def set_log_callback(callback: Callable[[int, bytes], object] | None) -> None:
    """Call ``callback(level, text)`` with every llama.cpp log message, or stop (None).

    ``level`` is ggml's (1 debug, 2 info, 3 warn, 4 error, 5 continuation of the previous
    message) and ``text`` the message as bytes. It runs with the GIL on whichever thread
    logged; an exception it raises is reported as unraisable and does not stop llama.cpp.
    It is independent of :func:`set_log_level`, which decides what is printed to stderr.
    """
    load_core().set_log_callback(callback)


def llama_log_callback(function: Callable[[int, bytes, Any], object]) -> Callable[..., object]:
    """llama-cpp-python's decorator for a ``(level, text, user_data)`` log function;
    here the function itself is the callback, so this returns it unchanged."""
    return function


def llama_log_set(
    callback: Callable[[int, bytes, Any], object] | None, user_data: Any = None
) -> None:
    """llama-cpp-python's ``llama_log_set(callback, user_data)``: route llama.cpp's log to
    ``callback(level, text, user_data)``; a callback that does nothing silences it."""
    if callback is None:
        load_core().set_log_callback(None)
    else:
        load_core().set_log_callback(lambda level, text: callback(level, text, user_data))


__all__ = [
    "Llama",
    "LlamaError",
    "LlamaGrammar",
    "LlamaState",
    "LogitsProcessor",
    "LogitsProcessorList",
    "MinTokensLogitsProcessor",
    "StoppingCriteria",
    "StoppingCriteriaList",
    "__version__",
    "backends",
    "build_info",
    "devices",
    "llama_log_callback",
    "llama_log_set",
    "llama_print_system_info",
    "set_log_callback",
    "set_log_level",
    "system_info",
]
