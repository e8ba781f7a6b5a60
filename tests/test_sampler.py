"""Sampler chains: llama.cpp's samplers applied to real logits rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from llama_cpp import _core

RNG = np.random.default_rng(1234)
ROW = RNG.normal(size=1000).astype(np.float32)


@pytest.fixture(scope="module")
def model(model_path: Path) -> _core.Model:
    return _core.Model(str(model_path))


def test_greedy_picks_the_largest_logit() -> None:
    chain = _core.SamplerChain()
    chain.add_greedy()
    assert chain.sample(ROW) == int(np.argmax(ROW))
    assert chain.names() == ["greedy"]
    assert len(chain) == 1


@pytest.mark.parametrize("seed", [0, 1, 99])
def test_top_k_one_is_greedy_whatever_the_seed(seed: int) -> None:
    chain = _core.SamplerChain()
    chain.add_top_k(1)
    chain.add_dist(seed)
    assert chain.sample(ROW) == int(np.argmax(ROW))


def test_temperature_zero_is_greedy() -> None:
    chain = _core.SamplerChain()
    chain.add_temp(0.0)
    chain.add_dist(7)
    assert all(chain.sample(ROW) == int(np.argmax(ROW)) for _ in range(5))


def _draws(seed: int, n: int = 30) -> list[int]:
    chain = _core.SamplerChain()
    chain.add_temp(1.5)
    chain.add_dist(seed)
    return [chain.sample(ROW) for _ in range(n)]


def test_dist_is_reproducible_for_a_seed_and_varies_across_seeds() -> None:
    assert _draws(42) == _draws(42)
    assert _draws(42) != _draws(43)
    assert len(set(_draws(42))) > 5  # a real distribution, not a constant


def test_dist_follows_the_distribution() -> None:
    logits = np.log(np.array([0.7, 0.2, 0.1], dtype=np.float32))
    chain = _core.SamplerChain()
    chain.add_dist(5)
    counts = np.bincount([chain.sample(logits) for _ in range(3000)], minlength=3) / 3000
    np.testing.assert_allclose(counts, [0.7, 0.2, 0.1], atol=0.04)


def test_top_p_and_min_p_keep_only_the_head() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    for add in ("top_p", "min_p"):
        chain = _core.SamplerChain()
        if add == "top_p":
            chain.add_top_p(0.75)  # 0.5 + 0.3 reaches it: tokens 0 and 1 stay
        else:
            chain.add_min_p(0.5)  # at least half of the top probability: 0 and 1
        chain.add_dist(3)
        assert {chain.sample(logits) for _ in range(300)} == {0, 1}, add


def test_logit_bias_moves_the_choice() -> None:
    best = int(np.argmax(ROW))
    second = int(np.argsort(ROW)[-2])
    chain = _core.SamplerChain()
    chain.add_logit_bias(ROW.size, {best: -math.inf})
    chain.add_greedy()
    assert chain.sample(ROW) == second
    boosted = _core.SamplerChain()
    boosted.add_logit_bias(ROW.size, {17: 100.0})
    boosted.add_greedy()
    assert boosted.sample(ROW) == 17


def test_greedy_fast_path_picks_what_the_full_chain_picks() -> None:
    # [logit bias, neutral penalties, greedy] is sampled without llama.cpp's candidate
    # array; a temperature of 1 (no effect on the choice) forces the full chain.
    n = 4096
    rng = np.random.default_rng(7)

    def build(bias: dict[int, float], full: bool) -> _core.SamplerChain:
        chain = _core.SamplerChain()
        chain.add_logit_bias(n, bias)
        chain.add_penalties(n, 64, 1.0, 0.0, 0.0)
        if full:
            chain.add_temp(1.0)
        chain.add_greedy()
        return chain

    for trial in range(300):
        row = rng.standard_normal(n).astype(np.float32)
        if trial % 3 == 0:
            row[rng.integers(n)] = row.max()  # a tie: the first index wins
        bias = {int(rng.integers(n)): float(rng.standard_normal() * 4) for _ in range(3)}
        assert build(bias, False).sample(row) == build(bias, True).sample(row), trial
    fast = build({}, False)
    for _ in range(5):
        fast.sample(row)
    assert fast.perf()["n_sample"] == 5


def test_repeat_penalty_discourages_accepted_tokens() -> None:
    logits = np.array([2.0, 1.9, 0.0], dtype=np.float32)
    chain = _core.SamplerChain()
    chain.add_penalties(3, 64, 2.0, 0.0, 0.0)
    chain.add_greedy()
    assert chain.sample(logits) == 0  # accepted: now penalised
    assert chain.sample(logits) == 1
    chain.reset()
    assert chain.sample(logits) == 0


def test_mirostat_v2_selects_in_range() -> None:
    chain = _core.SamplerChain()
    chain.add_mirostat_v2(11, 5.0, 0.1)
    tokens = [chain.sample(ROW) for _ in range(20)]
    assert all(0 <= t < ROW.size for t in tokens)


def test_grammar_constrains_real_generation(model: _core.Model) -> None:
    context = _core.Context(model, n_ctx=256, n_threads=2)
    prompt = model.tokenize("Is the sky blue? Answer:", add_special=True)
    context.decode(prompt)
    chain = _core.SamplerChain()
    chain.add_grammar(model, 'root ::= " yes" | " no" | " maybe so"')
    chain.add_greedy()
    pieces = []
    for _ in range(16):
        token = chain.sample(context.logits())
        if model.is_eog(token):
            break
        pieces.append(model.token_to_piece(token))
        context.decode([token])
    assert b"".join(pieces).decode() in {" yes", " no", " maybe so"}


def test_invalid_grammar_is_a_value_error_quoting_llama_cpp(model: _core.Model) -> None:
    chain = _core.SamplerChain()
    with pytest.raises(ValueError, match="invalid grammar") as caught:
        chain.add_grammar(model, 'root ::= "unterminated')
    assert "llama.cpp said:\n  failed to parse grammar" in str(caught.value)
    with pytest.raises(ValueError, match="grammar does not contain a 'root' symbol"):
        chain.add_grammar(model, 'start ::= "x"')
    assert len(chain) == 0


def test_grammar_chain_checks_the_row_size(model: _core.Model) -> None:
    chain = _core.SamplerChain()
    chain.add_grammar(model, 'root ::= "a"')
    chain.add_greedy()
    with pytest.raises(ValueError, match=f"built for a vocabulary of {model.n_vocab}"):
        chain.sample(ROW)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda c: c.add_top_p(1.5), r"top_p must be a number in \[0, 1\]"),
        (lambda c: c.add_min_p(-0.1), r"min_p must be a number in \[0, 1\]"),
        (lambda c: c.add_typical(float("nan")), r"typical_p must be a number in \[0, 1\]"),
        (lambda c: c.add_temp(float("nan")), "temperature must be a finite number >= 0"),
        (lambda c: c.add_temp(-1.0), "temperature must be a finite number >= 0"),
        (lambda c: c.add_penalties(10, 64, 0.0, 0.0, 0.0), "repeat_penalty must be > 0"),
        (lambda c: c.add_penalties(10, -5, 1.1, 0.0, 0.0), "penalty_last_n must be >= 0"),
        (lambda c: c.add_logit_bias(10, {10: 1.0}), "logit_bias token id 10 is out of range"),
        (lambda c: c.add_mirostat_v2(0, -1.0, 0.1), "mirostat_tau and mirostat_eta must be > 0"),
    ],
)
def test_bad_parameters_are_value_errors(build, message: str) -> None:
    chain = _core.SamplerChain()
    with pytest.raises(ValueError, match=message):
        build(chain)
    assert len(chain) == 0


def test_unusable_chains_are_value_errors() -> None:
    with pytest.raises(ValueError, match="the sampler chain is empty"):
        _core.SamplerChain().sample(ROW)
    only_filter = _core.SamplerChain()
    only_filter.add_top_k(5)
    with pytest.raises(ValueError, match="selected no token"):
        only_filter.sample(ROW)
    greedy = _core.SamplerChain()
    greedy.add_greedy()
    with pytest.raises(ValueError, match="1-D array"):
        greedy.sample(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="logits is empty"):
        greedy.sample(np.zeros(0, dtype=np.float32))


def test_sampling_params_from_a_calls_arguments() -> None:
    from llama_cpp._constants import LLAMA_DEFAULT_SEED
    from llama_cpp._sampling import SamplingParams

    arguments = {"temp": 0.3, "top_k": 5, "prompt": "not a setting", "seed": None,
                 "logit_bias": {"7": -1.5}}  # fmt: skip
    params = SamplingParams.from_call(arguments, default_seed=11, n_vocab=100)
    assert (params.temperature, params.top_k, params.seed) == (0.3, 5, 11)
    assert params.logit_bias == {7: -1.5}
    assert SamplingParams.from_call({}, default_seed=-1, n_vocab=1).seed == LLAMA_DEFAULT_SEED
    assert "temperature" in SamplingParams.setting_names()
    assert not {"seed", "logit_bias"} & SamplingParams.setting_names()
    with pytest.raises(ValueError, match="out of range for a vocabulary of 100"):
        SamplingParams.from_call({"logit_bias": {100: 1.0}}, default_seed=1, n_vocab=100)
    with pytest.raises(ValueError, match="top_p must be between 0 and 1"):
        SamplingParams.from_call({"top_p": 2}, default_seed=1, n_vocab=100)
