"""llama.cpp's end-of-run timings block (``llama_perf_context_print``), from its own perf
counters (``Llama.ctx.perf()``)."""

from __future__ import annotations

from collections.abc import Mapping

_PREFIX = "llama_perf_context_print:"


def _rates(ms: float, n: float) -> str:
    per_token = ms / n if n else 0.0
    per_second = 1000.0 * n / ms if ms > 0 else 0.0
    return f"({per_token:8.2f} ms per token, {per_second:8.2f} tokens per second)"


def perf_block(perf: Mapping[str, float], total_ms: float) -> str:
    """The lines llama-cli prints at the end: load, prompt eval, eval and total time.

    ``perf`` is ``Llama.ctx.perf()``; ``total_ms`` the wall time since loading began."""
    n_prompt, n_eval = int(perf["n_p_eval"]), int(perf["n_eval"])
    lines = [
        f"{_PREFIX} {'load time':>16} = {perf['t_load_ms']:10.2f} ms",
        f"{_PREFIX} {'prompt eval time':>16} = {perf['t_p_eval_ms']:10.2f} ms / {n_prompt:5d} "
        f"tokens {_rates(perf['t_p_eval_ms'], n_prompt)}",
        f"{_PREFIX} {'eval time':>16} = {perf['t_eval_ms']:10.2f} ms / {n_eval:5d} runs   "
        f"{_rates(perf['t_eval_ms'], n_eval)}",
        f"{_PREFIX} {'total time':>16} = {total_ms:10.2f} ms / {n_prompt + n_eval:5d} tokens",
    ]
    return "\n".join(lines)


def turn_line(
    prompt_tokens: int, answer_tokens: int, before: Mapping[str, float], after: Mapping[str, float]
) -> str:
    """One chat turn, as llama-cli's ``[ Prompt: ... | Generation: ... ]`` line, with the
    token counts: the whole prompt (history included) and the answer."""

    def speed(key_ms: str, key_n: str) -> float:
        ms = after[key_ms] - before[key_ms]
        n = after[key_n] - before[key_n]
        return 1000.0 * n / ms if ms > 0 else 0.0

    return (
        f"[ Prompt: {prompt_tokens} tokens, {speed('t_p_eval_ms', 'n_p_eval'):.1f} t/s | "
        f"Generation: {answer_tokens} tokens, {speed('t_eval_ms', 'n_eval'):.1f} t/s ]"
    )
