"""The C++ generation engine (_core.Generation, _core.step) and context sequences."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_cpp import _core

PROMPTS = [b"The capital of France is", b"Once upon a time", b"def fibonacci(n):"]


@pytest.fixture(scope="module")
def model(model_path: Path) -> _core.Model:
    return _core.Model(str(model_path))


def greedy_chain() -> _core.SamplerChain:
    chain = _core.SamplerChain()
    chain.add_greedy()
    return chain


def run_alone(model: _core.Model, prompt: bytes, n: int) -> tuple[bytes, list[int]]:
    ctx = _core.Context(model, n_ctx=512)
    gen = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(prompt), n)
    text, tokens, _ = gen.run()
    return text, tokens


def test_run_generates_until_max_tokens(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512)
    gen = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), 12)
    text, tokens, logprobs = gen.run()
    assert len(tokens) == 12 == gen.n_generated
    assert gen.finish_reason == "length" and gen.finished
    assert text == model.detokenize(tokens)
    assert logprobs is None
    assert gen.run() is None
    # the context holds the prompt and every generated token but the last (not decoded)
    assert ctx.tokens(0) == model.tokenize(PROMPTS[0]) + tokens[:-1]


def test_step_batches_sequences_and_matches_running_each_alone(model: _core.Model) -> None:
    alone = [run_alone(model, p, 16) for p in PROMPTS]
    ctx = _core.Context(model, n_ctx=1024, n_seq_max=len(PROMPTS))
    gens = [
        _core.Generation(ctx, greedy_chain(), seq, model.tokenize(p), 16)
        for seq, p in enumerate(PROMPTS)
    ]
    texts = [b""] * len(gens)
    steps = 0
    while not all(g.finished for g in gens):
        _core.step(ctx, gens)
        steps += 1
        for i, g in enumerate(gens):
            texts[i] += g.take()[0]
    assert [t for t, _ in alone] == texts
    # one decode per step for all sequences: prompt (2 steps) + 16 tokens, not 3x that
    assert steps <= 2 + 16
    for seq, p in enumerate(PROMPTS):
        assert ctx.tokens(seq)[: len(model.tokenize(p))] == model.tokenize(p)


def test_a_sequence_can_join_a_running_batch(model: _core.Model) -> None:
    expected = [run_alone(model, p, 10)[0] for p in PROMPTS[:2]]
    ctx = _core.Context(model, n_ctx=1024, n_seq_max=2)
    first = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), 10)
    out = [b"", b""]
    for _ in range(4):
        _core.step(ctx, [first])
        out[0] += first.take()[0]
    second = _core.Generation(ctx, greedy_chain(), 1, model.tokenize(PROMPTS[1]), 10)
    gens = [first, second]
    while not all(g.finished for g in gens):
        _core.step(ctx, gens)
        for i, g in enumerate(gens):
            out[i] += g.take()[0]
    assert out == expected


def test_cancel_frees_the_sequence_for_others(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512, n_seq_max=2)
    a = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), 50)
    b = _core.Generation(ctx, greedy_chain(), 1, model.tokenize(PROMPTS[1]), 5)
    _core.step(ctx, [a, b])
    a.cancel()
    assert a.finish_reason == "cancelled"
    while not b.finished:
        _core.step(ctx, [a, b])
    assert b.n_generated == 5


def test_stop_strings_and_matched_stop(model: _core.Model) -> None:
    full, _ = run_alone(model, PROMPTS[0], 30)
    stop = full.decode()[10:14]
    ctx = _core.Context(model, n_ctx=512)
    gen = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), 30, [stop])
    text = b"".join(iter(lambda: ((c := gen.next()) and c[0]) or None, None))
    assert text.decode() == full.decode()[: full.decode().index(stop)]
    assert gen.finish_reason == "stop" and gen.matched_stop == stop


def test_context_full_ends_with_length(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=256)
    bias = _core.SamplerChain()
    bias.add_logit_bias(model.n_vocab, {model.token_eos: -1e9, model.token_eot: -1e9})
    bias.add_greedy()
    prompt = model.tokenize(PROMPTS[1])
    gen = _core.Generation(ctx, bias, 0, prompt, 0)
    gen.run()
    assert gen.finish_reason == "length"
    assert len(prompt) + gen.n_generated == ctx.n_ctx + 1


def test_reuse_prefix_keeps_the_shared_part(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512)
    a = model.tokenize(b"The capital of France is Paris and the capital of Italy is")
    ctx.decode(a)
    b = a[:8] + model.tokenize(b" something else", add_special=False)
    assert ctx.reuse_prefix(0, b) == 8
    assert ctx.tokens(0) == a[:8]
    assert ctx.reuse_prefix(0, a[:8]) == 7  # always leaves one token to decode


def test_seq_cp_keep_shift_and_state(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512, n_seq_max=2)
    tokens = model.tokenize(PROMPTS[0])
    ctx.decode(tokens, 0)
    ctx.seq_cp(0, 1)
    assert ctx.tokens(1) == tokens
    state = ctx.seq_state(0)
    assert len(state) > 0
    ctx.seq_keep(1)
    assert ctx.tokens(0) == [] and ctx.tokens(1) == tokens
    ctx.shift(1, 1, 2)
    assert ctx.tokens(1) == tokens[:1] + tokens[3:]
    ctx.set_seq_state(0, state, tokens)
    gen = _core.Generation(ctx, greedy_chain(), 0, tokens[-1:], 8)
    ctx.truncate(0, len(tokens) - 1)
    assert gen.run()[0] == run_alone(model, PROMPTS[0], 8)[0]


def test_engine_errors_are_clear(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=256)
    with pytest.raises(ValueError, match="sequence id 3"):
        _core.Generation(ctx, greedy_chain(), 3, [1], 4)
    with pytest.raises(ValueError, match="empty"):
        _core.Generation(ctx, _core.SamplerChain(), 0, [1], 4)
    with pytest.raises(ValueError, match="n_ctx=256"):
        _core.Generation(ctx, greedy_chain(), 0, [1] * 300, 4)
    with pytest.raises(ValueError, match="out of range"):
        _core.Generation(ctx, greedy_chain(), 0, [10**7], 4)
    other = _core.Context(model, n_ctx=256)
    gen = _core.Generation(other, greedy_chain(), 0, [1, 2], 4)
    with pytest.raises(ValueError, match="this context"):
        _core.step(ctx, [gen])


def test_each_sequence_holds_its_share_of_a_split_context(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512, n_seq_max=2)
    assert ctx.n_ctx_seq == 256
    chain = _core.SamplerChain()
    chain.add_greedy()
    too_long = (model.tokenize(PROMPTS[1]) * 300)[:300]
    with pytest.raises(ValueError, match=r"needs 300 positions .* n_ctx_seq=256 \(n_ctx=512"):
        _core.Generation(ctx, chain, 1, too_long, 4)
    gen = _core.Generation(ctx, chain, 1, too_long[:250], 0)
    gen.run()
    assert gen.finish_reason == "length"
    assert len(ctx.tokens(1)) == 256
