"""llama_cpp: Python bindings for llama.cpp, a drop-in for llama-cpp-python's API.

The compiled part is the private module ``llama_cpp._core``; what the build
contains is described by :func:`build_info`, which works even when the
compiled module cannot be loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"

from llama_cpp._build_info import build_info
from llama_cpp._loader import load_core

_core = load_core()

LlamaError = _core.LlamaError

from llama_cpp._constants import *  # noqa: E402,F403  (LLAMA_* names, as llama-cpp-python exports them)
from llama_cpp._sampling import (  # noqa: E402
    LogitsProcessor,
    LogitsProcessorList,
    MinTokensLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
)
from llama_cpp.llama import Llama, LlamaState  # noqa: E402
from llama_cpp.llama_grammar import LlamaGrammar  # noqa: E402


def llama_print_system_info() -> bytes:
    """llama.cpp's system-info line, as bytes (the same type llama-cpp-python returns).

    Example: ``b'CPU : SSE3 = 1 | AVX2 = 1 | ... |'``.
    """
    return _core.system_info().encode()


def system_info() -> str:
    """llama.cpp's system-info line as text."""
    return _core.system_info()


def devices() -> list[dict]:
    """The devices llama.cpp can run on in this build (CPU, BLAS, GPUs ...).

    Each is a dict with ``name``, ``description``, ``type`` (cpu/gpu/igpu/accel),
    ``backend``, ``memory_free`` and ``memory_total`` (bytes).
    """
    return _core.devices()


def backends() -> list[str]:
    """Names of the ggml backends registered in this build (e.g. ``['CPU', 'BLAS']``)."""
    return _core.backends()


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
    _core.set_log_level(level)


def set_log_callback(callback: Callable[[int, bytes], object] | None) -> None:
    """Call ``callback(level, text)`` with every llama.cpp log message, or stop (None).

    ``level`` is ggml's (1 debug, 2 info, 3 warn, 4 error, 5 continuation of the previous
    message) and ``text`` the message as bytes. It runs with the GIL on whichever thread
    logged; an exception it raises is reported as unraisable and does not stop llama.cpp.
    It is independent of :func:`set_log_level`, which decides what is printed to stderr.
    """
    _core.set_log_callback(callback)


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
        _core.set_log_callback(None)
    else:
        _core.set_log_callback(lambda level, text: callback(level, text, user_data))


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
