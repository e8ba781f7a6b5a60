"""The C++ generation engine (_core.Generation, _core.step) and context sequences."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_cpp import _core

PROMPTS = [b"The capital of France is", b"Once upon a time", b"def fibonacci(n):"]


@pytest.fixture(scope="module")
def model(model_path: Path) -> _core.Model:
    return _core.Model(str(model_path))


def prompt_too_long(n: int, m: int) -> str:
    """The start of the error for a prompt of n tokens in a sequence of m positions."""
    return rf"^Requested tokens \({n}\) exceed context window of {m}: "


def greedy_chain() -> _core.SamplerChain:
    chain = _core.SamplerChain()
    chain.add_greedy()
    return chain


def run_alone(model: _core.Model, prompt: bytes, n: int) -> tuple[bytes, list[int]]:
    ctx = _core.Context(model, n_ctx=512)
    gen = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(prompt), max_tokens=n)
    text, tokens, _ = gen.run()
    return text, tokens


def test_run_generates_until_max_tokens(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512)
    gen = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), max_tokens=12)
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
        _core.Generation(ctx, greedy_chain(), seq, model.tokenize(p), max_tokens=16)
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
    first = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), max_tokens=10)
    out = [b"", b""]
    for _ in range(4):
        _core.step(ctx, [first])
        out[0] += first.take()[0]
    second = _core.Generation(ctx, greedy_chain(), 1, model.tokenize(PROMPTS[1]), max_tokens=10)
    gens = [first, second]
    while not all(g.finished for g in gens):
        _core.step(ctx, gens)
        for i, g in enumerate(gens):
            out[i] += g.take()[0]
    assert out == expected


def test_cancel_frees_the_sequence_for_others(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512, n_seq_max=2)
    a = _core.Generation(ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), max_tokens=50)
    b = _core.Generation(ctx, greedy_chain(), 1, model.tokenize(PROMPTS[1]), max_tokens=5)
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
    gen = _core.Generation(
        ctx, greedy_chain(), 0, model.tokenize(PROMPTS[0]), max_tokens=30, stop=[stop]
    )
    text = b"".join(iter(lambda: ((c := gen.next()) and c[0]) or None, None))
    assert text.decode() == full.decode()[: full.decode().index(stop)]
    assert gen.finish_reason == "stop" and gen.matched_stop == stop


def test_context_full_ends_with_length(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=256)
    bias = _core.SamplerChain()
    bias.add_logit_bias(model.n_vocab, {model.token_eos: -1e9, model.token_eot: -1e9})
    bias.add_greedy()
    prompt = model.tokenize(PROMPTS[1])
    gen = _core.Generation(ctx, bias, 0, prompt, max_tokens=0)
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
    gen = _core.Generation(ctx, greedy_chain(), 0, tokens[-1:], max_tokens=8)
    ctx.truncate(0, len(tokens) - 1)
    assert gen.run()[0] == run_alone(model, PROMPTS[0], 8)[0]


def test_engine_errors_are_clear(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=256)
    with pytest.raises(ValueError, match="sequence id 3"):
        _core.Generation(ctx, greedy_chain(), 3, [1], max_tokens=4)
    with pytest.raises(ValueError, match="empty"):
        _core.Generation(ctx, _core.SamplerChain(), 0, [1], max_tokens=4)
    with pytest.raises(ValueError, match=prompt_too_long(300, 256)):
        _core.Generation(ctx, greedy_chain(), 0, [1] * 300, max_tokens=4)
    with pytest.raises(ValueError, match="out of range"):
        _core.Generation(ctx, greedy_chain(), 0, [10**7], max_tokens=4)
    other = _core.Context(model, n_ctx=256)
    gen = _core.Generation(other, greedy_chain(), 0, [1, 2], max_tokens=4)
    with pytest.raises(ValueError, match="this context"):
        _core.step(ctx, [gen])


def test_each_sequence_holds_its_share_of_a_split_context(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=512, n_seq_max=2)
    assert ctx.n_ctx_seq == 256
    chain = _core.SamplerChain()
    chain.add_greedy()
    too_long = (model.tokenize(PROMPTS[1]) * 300)[:300]
    with pytest.raises(ValueError, match=prompt_too_long(300, 256)):
        _core.Generation(ctx, chain, 1, too_long, max_tokens=4)
    gen = _core.Generation(ctx, chain, 1, too_long[:250], max_tokens=0)
    gen.run()
    assert gen.finish_reason == "length"
    assert len(ctx.tokens(1)) == 256


def test_the_other_arguments_are_keyword_only(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=256)
    with pytest.raises(TypeError):
        _core.Generation(ctx, greedy_chain(), 0, [1, 2], 4)  # type: ignore[call-arg]


def no_eos_chain(model: _core.Model) -> _core.SamplerChain:
    chain = _core.SamplerChain()
    chain.add_logit_bias(model.n_vocab, {model.token_eos: -1e9, model.token_eot: -1e9})
    chain.add_greedy()
    return chain


def test_a_prompt_must_leave_room_to_generate(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=256)
    prompt = (model.tokenize(PROMPTS[1]) * 300)[:256]
    # exactly n_ctx tokens leave no position for a generated token
    with pytest.raises(ValueError, match=prompt_too_long(256, 256)):
        _core.Generation(ctx, no_eos_chain(model), 0, prompt, max_tokens=4)
    # what the sequence already holds counts too
    ctx.decode(prompt[:200])
    with pytest.raises(ValueError, match=prompt_too_long(256, 256)):
        _core.Generation(ctx, no_eos_chain(model), 0, prompt[200:], max_tokens=4)
    ctx.clear()
    gen = _core.Generation(ctx, no_eos_chain(model), 0, prompt[:255], max_tokens=0)
    gen.run()
    # the first token is sampled from the prompt's logits, the second from its own
    assert gen.finish_reason == "length" and gen.n_generated == 2
    assert len(ctx.tokens(0)) == 256


def test_check_prompt_fits_is_the_prompt_limit(model: _core.Model) -> None:
    ctx = _core.Context(model, n_ctx=256)
    ctx.check_prompt_fits(255)
    with pytest.raises(ValueError) as error:
        ctx.check_prompt_fits(256)
    assert str(error.value) == (
        "Requested tokens (256) exceed context window of 256: the prompt has 256 tokens and the "
        "context holds 256; shorten the prompt or create the context with a larger n_ctx"
    )
    with pytest.raises(ValueError) as error:
        ctx.check_prompt_fits(1000, holder="Llama(n_ctx=256)", advice="pass Llama(n_ctx=...) more")
    assert str(error.value) == (
        "Requested tokens (1000) exceed context window of 256: the prompt has 1000 tokens and "
        "Llama(n_ctx=256) holds 256; shorten the prompt or pass Llama(n_ctx=...) more"
    )
    # a sequence of a split context holds its share
    split = _core.Context(model, n_ctx=512, n_seq_max=2)
    split.check_prompt_fits(255)
    with pytest.raises(ValueError, match=prompt_too_long(256, 256)):
        split.check_prompt_fits(256)
    ctx.close()
    with pytest.raises(ValueError, match="closed"):
        ctx.check_prompt_fits(1)
