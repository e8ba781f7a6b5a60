"""Prompt caches (llama_cpp.llama_cache): a prompt that extends a cached one restores the
stored state and evaluates only the rest, with the same output; both caches stay within
their capacity, least recently used first; the disk cache survives a new process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llama_cpp import Llama
from llama_cpp.llama_cache import LlamaDiskCache, LlamaRAMCache

STORY = (
    "Once upon a time, in a village by a wide river, there lived an old baker who rose "
    "before dawn every day to light his oven. The children of the village loved the smell "
    "of fresh bread that drifted through the streets, and the fishermen bought his rolls "
    "before they pushed their boats into the cold water. One winter morning the baker "
    "found that the river had frozen solid, and"
)
OTHER = "The capital of France is"


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    llama = Llama(str(model_path), n_ctx=512, verbose=False)
    yield llama
    llama.close()


def evaluated_tokens(llm: Llama, prompt: str) -> tuple[str, int, float]:
    """Greedy text of a short completion, the prompt tokens llama.cpp evaluated for it and
    its prompt-evaluation time (ms)."""
    llm.ctx.perf_reset()
    text = llm(prompt, max_tokens=8, temperature=0.0)["choices"][0]["text"]
    perf = llm.ctx.perf()
    return text, int(perf["n_p_eval"]), float(perf["t_p_eval_ms"])


@pytest.mark.parametrize("kind", ["ram", "disk"])
def test_a_prompt_extending_a_cached_one_is_not_evaluated_again(
    llm: Llama, kind: str, tmp_path: Path
) -> None:
    llm.set_cache(None)
    llm.reset()
    expected, full, full_ms = evaluated_tokens(llm, STORY + " the")
    llm.reset()
    cache = LlamaRAMCache() if kind == "ram" else LlamaDiskCache(tmp_path / "cache")
    llm.set_cache(cache)
    try:
        evaluated_tokens(llm, STORY)  # stored in the cache
        assert len(cache) == 1 and cache.cache_size > 0
        evaluated_tokens(llm, OTHER)  # the context now holds something else
        text, evaluated, ms = evaluated_tokens(llm, STORY + " the")
    finally:
        llm.set_cache(None)
    print(f"{kind}: prompt of {full} tokens evaluated in {full_ms:.1f} ms without the cache, "
          f"{evaluated} tokens in {ms:.1f} ms with it")  # fmt: skip
    assert text == expected
    assert full > 50
    assert evaluated <= 3, f"{evaluated} of {full} prompt tokens evaluated despite the cache"


def test_without_a_cache_the_other_prompt_costs_a_full_evaluation(llm: Llama) -> None:
    # the control for the test above: the context alone does not keep STORY once OTHER ran
    llm.set_cache(None)
    llm.reset()
    evaluated_tokens(llm, STORY)
    evaluated_tokens(llm, OTHER)
    _, evaluated, _ = evaluated_tokens(llm, STORY + " the")
    assert evaluated > 50


def test_the_ram_cache_evicts_the_least_recently_used_state(llm: Llama) -> None:
    llm.reset()
    llm("Five six seven", max_tokens=2)  # a state of the same token count as those below
    size = llm.save_state().llama_state_size
    cache = LlamaRAMCache(capacity_bytes=int(size * 2.5))
    llm.set_cache(cache)
    try:
        for prompt in ("Alpha beta gamma", "Red green blue", "One two three four"):
            llm.reset()
            llm(prompt, max_tokens=2, temperature=0.0)
    finally:
        llm.set_cache(None)
    assert len(cache) == 2
    assert cache.cache_size <= cache.capacity_bytes
    for prompt, kept in ((b"Alpha beta gamma", False), (b"One two three four", True)):
        tokens = llm.tokenize(prompt)
        try:
            shared = llm.longest_token_prefix(cache[tokens].input_ids.tolist(), tokens)
        except KeyError:
            shared = 0
        assert (shared == len(tokens)) == kept, prompt


def test_verbose_mode_says_when_the_cache_evicts(model_path: Path) -> None:
    script = f"""
from llama_cpp import Llama
from llama_cpp.llama_cache import LlamaRAMCache
llm = Llama({str(model_path)!r}, n_ctx=256, verbose=True)
llm.set_cache(LlamaRAMCache(capacity_bytes=1))
llm("Hello there", max_tokens=2)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "prompt cache over its capacity" in done.stderr


def test_the_disk_cache_is_found_again_by_a_new_process(llm: Llama, tmp_path: Path) -> None:
    llm.reset()
    llm.set_cache(LlamaDiskCache(tmp_path))
    try:
        expected = llm(STORY, max_tokens=4, temperature=0.0)["choices"][0]["text"]
    finally:
        llm.set_cache(None)
    reopened = LlamaDiskCache(tmp_path)
    assert len(reopened) == 1
    state = reopened[llm.tokenize(STORY.encode())]
    llm.reset()
    llm.load_state(state)
    assert llm.n_tokens == state.n_tokens
    again = llm(STORY, max_tokens=4, temperature=0.0)["choices"][0]["text"]
    assert again == expected


def test_a_damaged_disk_entry_is_skipped_not_raised(tmp_path: Path) -> None:
    (tmp_path / "junk.llstate").write_bytes(b"not json\n")
    assert len(LlamaDiskCache(tmp_path)) == 0


@pytest.mark.parametrize("bad", [0, -5, 1.5, "big"])
def test_a_capacity_must_be_a_positive_number_of_bytes(bad: object) -> None:
    with pytest.raises(ValueError, match="capacity_bytes"):
        LlamaRAMCache(capacity_bytes=bad)  # type: ignore[arg-type]


def test_set_cache_refuses_what_is_not_a_cache(llm: Llama) -> None:
    with pytest.raises(TypeError, match="LlamaRAMCache"):
        llm.set_cache({})  # type: ignore[arg-type]
