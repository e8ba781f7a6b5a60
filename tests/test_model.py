"""The first bindings on a real model: load, vocabulary, decode, logits."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from llama_cpp import _core


@pytest.fixture(scope="module")
def model(model_path: Path) -> _core.Model:
    return _core.Model(str(model_path))


def test_model_properties(model: _core.Model) -> None:
    assert model.n_vocab == 49152
    assert model.n_ctx_train == 8192
    assert model.n_embd == 576
    assert model.n_layer == 30
    assert 130e6 < model.n_params < 140e6
    assert "Q4_1" in model.desc
    assert "<|im_start|>" in (model.chat_template or "")
    assert model.metadata["general.architecture"] == "llama"
    assert not model.closed


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "日本語のテキスト",
        "emoji 🦙🚀 and accents: déjà vu",
        "  spaces\tand\nlines  ",
    ],
)
def test_tokenize_detokenize_round_trip(model: _core.Model, text: str) -> None:
    tokens = model.tokenize(text, add_special=False)
    assert tokens
    assert all(0 <= t < model.n_vocab for t in tokens)
    assert model.detokenize(tokens).decode("utf-8") == text
    assert model.tokenize(text.encode("utf-8"), add_special=False) == tokens


def test_special_tokens_parse_only_when_asked(model: _core.Model) -> None:
    text = "<|im_start|>user"
    assert len(model.tokenize(text, add_special=False, parse_special=True)) == 2
    assert len(model.tokenize(text, add_special=False, parse_special=False)) > 2


def test_decode_gives_finite_logits_and_a_sensible_next_token(model: _core.Model) -> None:
    context = _core.Context(model, n_ctx=128, n_threads=2)
    tokens = model.tokenize("The capital of France is", add_special=False)
    context.decode(tokens)
    logits = context.logits()
    assert logits.dtype == np.float32
    assert logits.shape == (model.n_vocab,)
    assert np.isfinite(logits).all()
    assert logits.std() > 0.5
    assert model.detokenize([int(np.argmax(logits))]) == b" Paris"
    assert context.n_past == len(tokens)


def test_decode_is_deterministic_and_chunked_like_whole(model: _core.Model) -> None:
    tokens = model.tokenize(
        "Once upon a time, in a land far away, there lived a", add_special=False
    )
    whole = _core.Context(model, n_ctx=128, n_batch=64, n_threads=2)
    whole.decode(tokens)
    chunked = _core.Context(model, n_ctx=128, n_batch=4, n_threads=2)
    chunked.decode(tokens)
    stepwise = _core.Context(model, n_ctx=128, n_threads=2)
    for token in tokens:
        stepwise.decode([token])
    reference = whole.logits()
    np.testing.assert_allclose(chunked.logits(), reference, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(stepwise.logits(), reference, rtol=1e-3, atol=1e-3)
    assert int(np.argmax(stepwise.logits())) == int(np.argmax(reference))


def test_clear_forgets_the_past(model: _core.Model) -> None:
    context = _core.Context(model, n_ctx=64, n_threads=2)
    tokens = model.tokenize("The capital of France is", add_special=False)
    context.decode(tokens)
    first = context.logits()
    context.clear()
    assert context.n_past == 0
    with pytest.raises(ValueError, match="no logits yet"):
        context.logits()
    context.decode(tokens)
    np.testing.assert_allclose(context.logits(), first, rtol=1e-4, atol=1e-4)


def test_context_overflow_names_both_counts(model: _core.Model) -> None:
    context = _core.Context(model, n_ctx=32, n_threads=2)
    n_ctx = context.n_ctx  # llama.cpp may round the requested size up
    assert n_ctx >= 32
    with pytest.raises(
        ValueError, match=rf"cannot decode {n_ctx + 8} tokens after 0: .* n_ctx={n_ctx}"
    ):
        context.decode([1] * (n_ctx + 8))
    context.decode([1] * (n_ctx - 2))
    with pytest.raises(ValueError, match=rf"cannot decode 3 tokens after {n_ctx - 2}"):
        context.decode([1, 2, 3])
    assert context.n_past == n_ctx - 2


@pytest.mark.parametrize("bad", [-1, 49152, 10**6])
def test_out_of_range_tokens_are_value_errors(model: _core.Model, bad: int) -> None:
    context = _core.Context(model, n_ctx=32, n_threads=2)
    with pytest.raises(ValueError, match=f"token id {bad} is out of range"):
        context.decode([1, bad])
    with pytest.raises(ValueError, match="out of range"):
        model.detokenize([bad])
    with pytest.raises(ValueError, match="out of range"):
        model.token_to_piece(bad)


def test_empty_decode_is_a_value_error(model: _core.Model) -> None:
    context = _core.Context(model, n_ctx=32, n_threads=2)
    with pytest.raises(ValueError, match="at least one token"):
        context.decode([])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_ctx": -1}, "n_ctx must be >= 0"),
        ({"n_batch": 0}, "n_batch must be > 0"),
        ({"n_ubatch": -5}, "n_ubatch must be >= 0"),
    ],
)
def test_bad_context_parameters(model: _core.Model, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _core.Context(model, **kwargs)


def test_close_semantics(model_path: Path) -> None:
    model = _core.Model(str(model_path))
    context = _core.Context(model, n_ctx=32, n_threads=2)
    model.close()
    assert model.closed
    with pytest.raises(ValueError, match="is closed"):
        _ = model.n_vocab
    with pytest.raises(ValueError, match="is closed"):
        _core.Context(model)
    # the context keeps what it needs of the model alive
    context.decode([1, 2, 3])
    assert np.isfinite(context.logits()).all()
    context.close()
    assert context.closed
    with pytest.raises(ValueError, match="context is closed"):
        context.decode([1])
    context.close()  # closing twice is fine


def test_threads_sharing_a_context_are_serialised(model: _core.Model) -> None:
    context = _core.Context(model, n_ctx=256, n_threads=1)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                context.decode([1, 2])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert context.n_past == 80
