"""verbose=True output: llama.cpp's load log, and per call the timings in the
``llama_print_timings`` shape users know. verbose=False prints nothing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llama_cpp import _core

_INFO = 2


@contextmanager
def verbose_log(verbose: bool) -> Iterator[None]:
    """Print llama.cpp's log (info and up) while loading, if verbose and nothing louder is set."""
    previous = _core.get_log_level()
    if verbose and (previous == 0 or previous > _INFO):
        _core.set_log_level(_INFO)
    try:
        yield
    finally:
        _core.set_log_level(previous)


def _line(label: str, ms: float, n: int, unit: str) -> str:
    per = ms / n if n else 0.0
    rate = 1000.0 * n / ms if ms > 0 else 0.0
    return (
        f"llama_print_timings: {label:>16} = {ms:10.2f} ms / {n:5d} {unit} "
        f"({per:8.2f} ms per token, {rate:8.2f} tokens per second)"
    )


def print_timings(context: dict[str, Any], sampler: dict[str, Any]) -> None:
    """One call's timings to stderr."""
    total = context["t_p_eval_ms"] + context["t_eval_ms"] + sampler["t_sample_ms"]
    lines = [
        f"llama_print_timings: {'load time':>16} = {context['t_load_ms']:10.2f} ms",
        _line("sample time", sampler["t_sample_ms"], sampler["n_sample"], "runs  "),
        _line("prompt eval time", context["t_p_eval_ms"], context["n_p_eval"], "tokens"),
        _line("eval time", context["t_eval_ms"], context["n_eval"], "runs  "),
        f"llama_print_timings: {'total time':>16} = {total:10.2f} ms / "
        f"{context['n_p_eval'] + context['n_eval']:5d} tokens",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
