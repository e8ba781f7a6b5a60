"""Llama.create_completion / __call__ on the real test model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import llama_cpp
from llama_cpp import Llama

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    return Llama(str(model_path), n_ctx=512, verbose=False)


def greedy(llm: Llama, prompt: str = PROMPT, **kwargs):
    kwargs.setdefault("max_tokens", 24)
    return llm(prompt, temperature=0.0, **kwargs)


def test_completion_has_the_openai_shape(llm: Llama) -> None:
    out = greedy(llm)
    assert out["object"] == "text_completion"
    assert out["id"].startswith("cmpl-")
    choice = out["choices"][0]
    assert choice["index"] == 0
    assert "Paris" in choice["text"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = out["usage"]
    assert usage["prompt_tokens"] == len(llm.tokenize(PROMPT.encode()))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert out["model"] == llm.model_path


def test_greedy_is_deterministic_and_stream_equals_non_stream(llm: Llama) -> None:
    first = greedy(llm, max_tokens=40)["choices"][0]["text"]
    second = greedy(llm, max_tokens=40)["choices"][0]["text"]
    chunks = list(greedy(llm, max_tokens=40, stream=True))
    streamed = "".join(c["choices"][0]["text"] for c in chunks)
    assert first == second == streamed
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1


def test_max_tokens_limits_and_none_runs_to_the_end(llm: Llama) -> None:
    out = greedy(llm, max_tokens=5)
    assert out["usage"]["completion_tokens"] == 5
    assert out["choices"][0]["finish_reason"] == "length"
    for unlimited in (None, 0, -1):
        out = greedy(llm, "Write one word:", max_tokens=unlimited)
        # ends by EOS or by filling the context, never by a token budget
        used = out["usage"]["total_tokens"]
        assert out["choices"][0]["finish_reason"] == "stop" or used >= llm.n_ctx() - 1


def test_stop_strings_never_appear_in_the_output(llm: Llama) -> None:
    full = greedy(llm, max_tokens=40)["choices"][0]["text"]
    assert "\n\n" in full
    for stop in ["\n\n", "United", "tion", "s a"]:
        if stop not in full:
            continue
        out = greedy(llm, max_tokens=40, stop=stop)
        text = out["choices"][0]["text"]
        assert stop not in text
        assert text == full[: full.index(stop)]
        assert out["choices"][0]["finish_reason"] == "stop"
        streamed = "".join(
            c["choices"][0]["text"] for c in greedy(llm, max_tokens=40, stop=[stop], stream=True)
        )
        assert streamed == text


def test_a_stop_string_spanning_tokens_is_held_back_while_streaming(llm: Llama) -> None:
    full = greedy(llm, max_tokens=40)["choices"][0]["text"]
    # the stop string starts inside one token and ends in a later one
    start = full.index("Paris") + 2
    stop = full[start : start + 8]
    pieces = [c["choices"][0]["text"] for c in greedy(llm, max_tokens=40, stop=[stop], stream=True)]
    assert "".join(pieces) == full[:start]
    for i in range(len(pieces)):
        assert stop not in "".join(pieces[: i + 1])


def test_logprobs_are_log_probabilities(llm: Llama) -> None:
    out = greedy(llm, max_tokens=8, logprobs=3)
    lp = out["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == 8
    assert "".join(lp["tokens"]) == out["choices"][0]["text"]
    assert lp["text_offset"][0] == 0
    for token, value, top in zip(
        lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], strict=True
    ):
        assert value <= 0.0
        assert token in top
        # greedy picks the most likely token: its logprob is the best of the top list
        assert value == pytest.approx(max(top.values()))
        assert sum(math.exp(v) for v in top.values()) <= 1.0 + 1e-4


def test_echo_returns_prompt_and_its_logprobs(llm: Llama) -> None:
    out = greedy(llm, max_tokens=4, echo=True, logprobs=1)
    choice = out["choices"][0]
    assert choice["text"].startswith(PROMPT)
    lp = choice["logprobs"]
    n_prompt = out["usage"]["prompt_tokens"]
    assert len(lp["tokens"]) == n_prompt + 4
    assert lp["token_logprobs"][0] is None
    assert all(v <= 0 for v in lp["token_logprobs"][1:])
    plain = greedy(llm, max_tokens=4, echo=True)["choices"][0]["text"]
    assert plain == choice["text"]


def test_prompt_as_token_ids(llm: Llama) -> None:
    tokens = llm.tokenize(PROMPT.encode())
    assert greedy(llm, tokens)["choices"][0]["text"] == greedy(llm)["choices"][0]["text"]


def test_seeded_sampling_is_reproducible(llm: Llama) -> None:
    a = llm(PROMPT, max_tokens=20, temperature=1.0, seed=42)["choices"][0]["text"]
    b = llm(PROMPT, max_tokens=20, temperature=1.0, seed=42)["choices"][0]["text"]
    assert a == b


def test_logit_bias_forbids_a_token(llm: Llama) -> None:
    text = greedy(llm)["choices"][0]["text"]
    first = llm.tokenize(text.encode(), add_bos=False)[0]
    out = greedy(llm, logit_bias={first: -math.inf})
    assert llm.tokenize(out["choices"][0]["text"].encode(), add_bos=False)[0] != first
    # OpenAI clients send string keys
    assert (
        greedy(llm, logit_bias={str(first): -100.0})["choices"][0]["text"]
        == out["choices"][0]["text"]
    )


def test_eos_suppressed_runs_to_max_tokens(llm: Llama) -> None:
    out = greedy(llm, "Say hi.", max_tokens=64, logit_bias={llm.token_eos(): -math.inf})
    assert out["usage"]["completion_tokens"] == 64


def test_logits_processor_and_stopping_criteria_are_called(llm: Llama) -> None:
    seen: list[int] = []

    def ban_paris(input_ids, scores):
        seen.append(len(input_ids))
        for t in llm.tokenize(b" Paris", add_bos=False):
            scores[t] = -math.inf
        return scores

    out = greedy(llm, logits_processor=llama_cpp.LogitsProcessorList([ban_paris]), max_tokens=6)
    assert "Paris" not in out["choices"][0]["text"]
    assert seen[0] == out["usage"]["prompt_tokens"]

    def after_three(input_ids, logits):
        return len(input_ids) >= out["usage"]["prompt_tokens"] + 3

    stopped = greedy(
        llm, stopping_criteria=llama_cpp.StoppingCriteriaList([after_three]), max_tokens=20
    )
    assert stopped["usage"]["completion_tokens"] == 3
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_errors_in_python_callbacks_propagate(llm: Llama) -> None:
    def broken(input_ids, scores):
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        greedy(llm, logits_processor=[broken])
    assert "Paris" in greedy(llm)["choices"][0]["text"]


def test_multibyte_text_streams_whole_characters(llm: Llama) -> None:
    prompt = "日本語で挨拶: こんにちは! 😀🎉 Emoji list: 🍎🍌"
    chunks = [c["choices"][0]["text"] for c in greedy(llm, prompt, max_tokens=40, stream=True)]
    whole = greedy(llm, prompt, max_tokens=40)["choices"][0]["text"]
    assert "".join(chunks) == whole
    for chunk in chunks:
        assert "\ufffd" not in chunk
    echo = "".join(
        c["choices"][0]["text"] for c in greedy(llm, prompt, max_tokens=1, echo=True, stream=True)
    )
    assert echo.startswith(prompt)


def test_tokenize_detokenize_round_trip(llm: Llama) -> None:
    text = "Hello, world! Ünïcödé ✓"
    tokens = llm.tokenize(text.encode())
    assert llm.detokenize(tokens).decode() == text
    assert llm.n_vocab() == 49152
    assert llm.n_ctx() == 512
    assert llm.n_embd() == 576
    assert llm.token_eos() >= 0


def test_suffix_is_appended_when_the_model_cannot_fill_in_the_middle(llm: Llama) -> None:
    assert llm.model.token_fim_pre < 0  # the test model has no fill-in-the-middle tokens
    whole = greedy(llm, max_tokens=3, suffix=" END")["choices"][0]["text"]
    streamed = "".join(
        c["choices"][0]["text"] for c in greedy(llm, max_tokens=3, suffix=" END", stream=True)
    )
    assert whole.endswith(" END") and whole != " END"
    assert streamed == whole
