"""Llama.save_state/load_state and embeddings on the real test model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from llama_cpp import LLAMA_POOLING_TYPE_NONE, Llama
from llama_cpp._embedding import EMBED_SEQUENCES


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    return Llama(str(model_path), n_ctx=512, verbose=False)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_state_save_load_reproduces_the_continuation(llm: Llama) -> None:
    prompt = "Once upon a time, in a small village,"
    llm.reset()
    llm.eval(llm.tokenize(prompt.encode()))
    state = llm.save_state()
    assert state.n_tokens == len(llm.tokenize(prompt.encode()))
    assert state.llama_state_size == len(state.llama_state) > 0
    expected = llm(prompt, max_tokens=20, temperature=0)["choices"][0]["text"]
    llm.reset()
    llm("Something completely different about cars", max_tokens=8)
    llm.load_state(state)
    assert list(llm.input_ids) == llm.tokenize(prompt.encode())
    assert llm(prompt, max_tokens=20, temperature=0)["choices"][0]["text"] == expected


def test_state_from_another_model_shape_is_refused(llm: Llama, model_path: Path) -> None:
    state = llm.save_state()
    state.llama_state = b"not a state"
    with pytest.raises(ValueError, match="state"):
        llm.load_state(state)


def test_embeddings_on_a_generative_model(llm: Llama) -> None:
    out = llm.create_embedding(["cat", "kitten", "stock market"])
    assert out["object"] == "list"
    vectors = [d["embedding"] for d in out["data"]]
    assert [d["index"] for d in out["data"]] == [0, 1, 2]
    assert all(len(v) == llm.n_embd() for v in vectors)
    for v in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4)
    cat, kitten, stocks = vectors
    assert cosine(cat, kitten) > cosine(cat, stocks)
    assert out["usage"]["prompt_tokens"] == sum(
        len(llm.tokenize(t.encode())) for t in ["cat", "kitten", "stock market"]
    )
    # embedding does not disturb generation
    assert (
        "Paris"
        in llm("The capital of France is", max_tokens=6, temperature=0)["choices"][0]["text"]
    )


def test_embed_matches_create_embedding_and_normalize(llm: Llama) -> None:
    raw = llm.embed("hello world", normalize=False)
    assert isinstance(raw, list) and isinstance(raw[0], float)
    unit = llm.embed("hello world")
    norm = math.sqrt(sum(x * x for x in raw))
    assert unit == pytest.approx([x / norm for x in raw], rel=1e-5)
    assert llm.create_embedding("hello world")["data"][0]["embedding"] == pytest.approx(
        unit, rel=1e-5
    )
    vectors, count = llm.embed(["a b", "c"], return_count=True)
    assert len(vectors) == 2 and count == len(llm.tokenize(b"a b")) + len(llm.tokenize(b"c"))


def test_embedding_mode_and_token_level_pooling(model_path: Path) -> None:
    emb = Llama(str(model_path), n_ctx=256, embedding=True, verbose=False)
    assert emb.pooling_type() == "mean"
    assert len(emb.embed("one two three")) == emb.n_embd()
    emb.close()
    tok = Llama(
        str(model_path),
        n_ctx=256,
        embedding=True,
        pooling_type=LLAMA_POOLING_TYPE_NONE,
        verbose=False,
    )
    rows = tok.embed("one two three")
    assert len(rows) == len(tok.tokenize(b"one two three"))
    assert all(len(r) == tok.n_embd() for r in rows)
    tok.close()


def test_long_embedding_input_truncates_or_errors(llm: Llama) -> None:
    text = "word " * 1000
    assert len(llm.embed(text)) == llm.n_embd()
    with pytest.raises(ValueError, match="exceed"):
        llm.embed(text, truncate=False)


TEXTS = [f"{word} number {i} is {'very ' * (i % 7)}{word}" for i, word in
         enumerate(["cat", "kitten", "stock market", "", "ÿ€ unicode ✓", "x"] * 12)]  # fmt: skip


@pytest.mark.parametrize("mode", ["generative", "pooled", "tokens"])
def test_many_inputs_embed_together_as_they_do_alone(model_path: Path, mode: str) -> None:
    """72 inputs (several decodes of up to EMBED_SEQUENCES each, n_batch tokens) give each
    input what it gets embedded alone (to float rounding: batched matrix products sum in
    another order: a token row differs more than a pooled vector; different texts are
    below 0.99)."""
    kwargs: dict[str, object] = {
        "generative": {},
        "pooled": {"embedding": True},
        "tokens": {"embedding": True, "pooling_type": LLAMA_POOLING_TYPE_NONE},
    }[mode]
    llama = Llama(str(model_path), n_ctx=256, n_batch=256, verbose=False, **kwargs)  # type: ignore[arg-type]
    try:
        together = llama.embed(TEXTS)
        alone = [llama.embed(text) for text in TEXTS]
        assert len(together) == len(TEXTS) > EMBED_SEQUENCES
        for a, b in zip(together, alone, strict=True):
            if mode == "tokens":
                assert len(a) == len(b) and all(
                    cosine(x, y) > 0.995 for x, y in zip(a, b, strict=True)
                )
            else:
                assert cosine(a, b) > 0.999
    finally:
        llama.close()


def test_an_input_too_long_names_its_index_and_both_counts(llm: Llama) -> None:
    with pytest.raises(
        ValueError, match=r"input 1 has 1\d\d\d tokens and the context embeds at most"
    ):
        llm.embed(["short", "word " * 1000], truncate=False)
