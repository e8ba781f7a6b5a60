"""llama_cpp: Python bindings for llama.cpp, a drop-in for llama-cpp-python's API.

The compiled part is the private module ``llama_cpp._core``; what the build
contains is described by :func:`build_info`, which works even when the
compiled module cannot be loaded.
"""

from __future__ import annotations

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
    "llama_print_system_info",
    "set_log_level",
    "system_info",
]
