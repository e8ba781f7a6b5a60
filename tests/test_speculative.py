"""Speculative decoding (draft_model) on the real test model.

Drafted tokens are checked by the model in one decode; only those the sampler picks
anyway are kept. Batched arithmetic can round differently from one-token decodes, so
the tests do not demand bit-equal text with and without a draft; they demand what must
hold exactly: drafts get accepted on a copying task, the output is deterministic,
max_tokens and stop strings are exact, the context afterwards holds exactly the prompt
and the completion, and a misbehaving Python draft model fails cleanly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llama_cpp import Llama, _core
from llama_cpp.llama_speculative import LlamaDraftModel, LlamaPromptLookupDecoding

CODE = (
    "def fibonacci(n):\n    if n < 2:\n        return n\n"
    "    return fibonacci(n - 1) + fibonacci(n - 2)\n"
)
COPY = [{"role": "user", "content": "Repeat this code exactly, then stop:\n\n" + CODE}]


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    return Llama(
        str(model_path), n_ctx=1024, draft_model=LlamaPromptLookupDecoding(), verbose=False
    )


def copy_text(llm: Llama, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("max_tokens", 60)
    return llm.create_chat_completion(COPY, temperature=0.0, **kwargs)


def decoded_part(tokens: list[int], finish_reason: str | None) -> list[int]:
    """Generated tokens that were decoded: all but the last one, unless EOS ended it."""
    return tokens if finish_reason == "stop" else tokens[:-1]


def test_prompt_lookup_drafts_are_accepted_when_copying(llm: Llama) -> None:
    prompt = llm.tokenize(
        b"<|im_start|>user\nRepeat this code exactly:\n\n" + CODE.encode() + b"<|im_end|>\n"
        b"<|im_start|>assistant\n",
        special=True,
    )
    llm.ctx.clear()
    chain = _core.SamplerChain()
    chain.add_greedy()
    gen = _core.Generation(llm.ctx, chain, 0, prompt, max_tokens=40, draft_ngram_max=2, draft_n=8)
    text, tokens, _ = gen.run()
    assert text.decode().startswith("def fibonacci(n):")
    assert 0 < gen.n_draft_accepted <= gen.n_drafted
    decoded = decoded_part(tokens, gen.finish_reason)
    # each decoded token went through one decode row, rejected drafts too
    assert gen.n_decoded == len(prompt) + len(decoded) + gen.n_drafted - gen.n_draft_accepted
    assert llm.ctx.tokens(0) == prompt + decoded
    llm.reset()


def test_draft_output_is_deterministic_and_streams_the_same(llm: Llama) -> None:
    first = copy_text(llm)["choices"][0]["message"]["content"]
    assert first.startswith("def fibonacci(n):")
    assert copy_text(llm)["choices"][0]["message"]["content"] == first
    chunks = copy_text(llm, stream=True)
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == first


def test_max_tokens_and_stop_are_exact_with_drafts(llm: Llama) -> None:
    no_eos = {llm.token_eos(): -1e9}
    for n in (1, 7, 23):
        out = copy_text(llm, max_tokens=n, logit_bias=no_eos)
        assert out["usage"]["completion_tokens"] == n
        assert out["choices"][0]["finish_reason"] == "length"
    out = copy_text(llm, stop=["return"], max_tokens=60)
    text = out["choices"][0]["message"]["content"]
    assert "return" not in text and out["choices"][0]["finish_reason"] == "stop"
    assert text.startswith("def fibonacci(n):\n    if n < 2:\n")


def test_context_holds_exactly_prompt_and_completion(llm: Llama, model_path: Path) -> None:
    prompt = "The list goes: one, two, three, four, one, two, three, four, one, two,"
    out = llm(prompt, max_tokens=24, temperature=0.0, logit_bias={llm.token_eos(): -1e9})
    ids = llm.tokenize(prompt.encode())
    held = llm.ctx.tokens(0)
    assert held[: len(ids)] == ids
    assert len(held) == len(ids) + 24 - 1  # the last sampled token is never decoded
    assert out["choices"][0]["text"].startswith(llm.detokenize(held[len(ids) :]).decode())
    # a fresh Llama with the same draft continues the same way
    fresh = Llama(
        str(model_path), n_ctx=1024, draft_model=LlamaPromptLookupDecoding(), verbose=False
    )
    again = fresh(prompt, max_tokens=24, temperature=0.0, logit_bias={llm.token_eos(): -1e9})
    assert again["choices"][0]["text"] == out["choices"][0]["text"]
    fresh.close()


class Scripted(LlamaDraftModel):
    """A Python draft model that records what it saw and returns a fixed guess (raising,
    or guessing `bad`, on its first call only)."""

    def __init__(self, guess: list[int], bad: Any = None):
        self.guess = guess
        self.bad = bad
        self.seen: list[list[int]] = []

    def __call__(self, input_ids: Any, /, **kwargs: Any) -> Any:
        del kwargs  # LlamaDraftModel's signature; the loop passes only the token ids
        self.seen.append([int(t) for t in input_ids])
        bad, self.bad = self.bad, None
        if isinstance(bad, Exception):
            raise bad
        return np.array(self.guess if bad is None else bad, dtype=np.intc)


def test_python_draft_model_sees_the_sequence(model_path: Path) -> None:
    draft = Scripted([])
    llm = Llama(str(model_path), n_ctx=256, draft_model=draft, verbose=False)
    prompt = "The capital of France is"
    out = llm(prompt, max_tokens=5, temperature=0.0)
    ids = llm.tokenize(prompt.encode())
    assert draft.seen[0] == ids  # the last prompt token is the newest one
    assert all(seen[: len(ids)] == ids for seen in draft.seen)
    assert [len(s) for s in draft.seen] == list(range(len(ids), len(ids) + len(draft.seen)))
    assert "Paris" in out["choices"][0]["text"]
    llm.close()


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([10**9], ValueError, "draft model returned token 1000000000, outside the vocabulary"),
        (RuntimeError("draft exploded"), RuntimeError, "draft exploded"),
    ],
)
def test_a_failing_python_draft_model_leaves_the_llama_usable(
    model_path: Path, bad: Any, error: type[Exception], message: str
) -> None:
    llm = Llama(str(model_path), n_ctx=256, draft_model=Scripted([], bad=bad), verbose=False)
    prompt = "The capital of France is"
    with pytest.raises(error, match=message):
        llm(prompt, max_tokens=5, temperature=0.0)
    ids = llm.tokenize(prompt.encode())
    assert llm.ctx.tokens(0) == ids[:-1]  # nothing half-decoded is left behind
    assert "Paris" in llm(prompt, max_tokens=5, temperature=0.0)["choices"][0]["text"]
    llm.close()


def test_draft_model_arguments_are_checked(model_path: Path) -> None:
    with pytest.raises(ValueError, match="num_pred_tokens must be a positive int"):
        LlamaPromptLookupDecoding(num_pred_tokens=0)
    with pytest.raises(TypeError, match="draft_model must be a LlamaDraftModel"):
        Llama(str(model_path), n_ctx=128, draft_model="yes please", verbose=False)
    lookup = LlamaPromptLookupDecoding(max_ngram_size=2, num_pred_tokens=3)
    ids = np.array([5, 6, 7, 8, 9, 5, 6], dtype=np.intc)
    assert lookup(ids).tolist() == [7, 8, 9]
    assert lookup(np.array([1, 2, 3], dtype=np.intc)).tolist() == []
