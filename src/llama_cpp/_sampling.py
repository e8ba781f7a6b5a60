"""Sampling settings: checked once, in Python, then turned into a llama.cpp
sampler chain (in the order llama-cpp-python builds it, so the same seed and
settings pick from the same distribution)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from llama_cpp import _core
from llama_cpp._constants import LLAMA_DEFAULT_SEED

if TYPE_CHECKING:  # numpy stays unimported until arrays are made
    import numpy as np
    import numpy.typing as npt

    LogitsProcessor = Callable[
        [npt.NDArray[np.intc], npt.NDArray[np.single]], npt.NDArray[np.single]
    ]
    StoppingCriteria = Callable[[npt.NDArray[np.intc], npt.NDArray[np.single]], bool]
else:
    LogitsProcessor = Callable[[Any, Any], Any]
    StoppingCriteria = Callable[[Any, Any], bool]


class LogitsProcessorList(list):
    """Callables ``(input_ids, scores) -> scores`` applied in order before sampling."""

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class StoppingCriteriaList(list):
    """Callables ``(input_ids, logits) -> bool``; generation stops when any is true."""

    def __call__(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        return any(criterion(input_ids, logits) for criterion in self)


class MinTokensLogitsProcessor:
    """Forbid the end-of-sequence token until ``min_tokens`` tokens were generated."""

    def __init__(self, min_tokens: int, token_eos: int):
        self.min_tokens = min_tokens
        self.token_eos = token_eos
        self.prompt_tokens: int | None = None

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        if len(input_ids) - self.prompt_tokens < self.min_tokens:
            scores[self.token_eos] = -math.inf
        return scores


def warn_removed_options(tfs_z: float = 1.0, penalize_nl: bool = True) -> None:
    """llama-cpp-python's sampling options llama.cpp no longer has: a warning when one is
    set to anything but its no-op value (the defaults say nothing)."""
    if tfs_z != 1.0:
        warnings.warn(
            f"tfs_z={tfs_z} is ignored: llama.cpp removed tail-free sampling in October "
            "2024 (its pull request 10071); min_p or top_p trim the tail instead",
            stacklevel=3,
        )
    if not penalize_nl:
        warnings.warn(
            "penalize_nl=False is ignored: llama.cpp's repeat penalties no longer exempt "
            "the newline token (the option went in December 2024, pull request 10803)",
            stacklevel=3,
        )


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    return float(value)


def _unit_interval(name: str, value: Any) -> float:
    v = _number(name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return v


@dataclass
class SamplingParams:
    """The sampling options shared by completion and chat calls, validated."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    mirostat_mode: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int = LLAMA_DEFAULT_SEED
    logit_bias: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = _number("temperature", self.temperature)
        if t < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        self.temperature = t
        self.top_p = _unit_interval("top_p", self.top_p)
        self.min_p = _unit_interval("min_p", self.min_p)
        self.typical_p = _unit_interval("typical_p", self.typical_p)
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int):
            raise TypeError(f"top_k must be an int, got {self.top_k!r}")
        rp = _number("repeat_penalty", self.repeat_penalty)
        if rp <= 0:
            raise ValueError(f"repeat_penalty must be > 0 (1.0 = off), got {self.repeat_penalty}")
        self.frequency_penalty = _number("frequency_penalty", self.frequency_penalty)
        self.presence_penalty = _number("presence_penalty", self.presence_penalty)
        if self.mirostat_mode not in (0, 1, 2):
            raise ValueError(f"mirostat_mode must be 0 (off), 1 or 2, got {self.mirostat_mode!r}")
        for name in ("mirostat_tau", "mirostat_eta"):
            if _number(name, getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        self.seed = normalize_seed(self.seed)

    @classmethod
    def setting_names(cls) -> frozenset[str]:
        """The settings calls pass as plain keywords (all but ``seed`` and ``logit_bias``,
        which are checked on their own)."""
        return frozenset(f.name for f in fields(cls)) - {"seed", "logit_bias"}

    @classmethod
    def from_call(
        cls,
        arguments: Mapping[str, Any],
        *,
        default_seed: int,
        n_vocab: int,
    ) -> SamplingParams:
        """The sampling settings among a call's ``arguments`` (llama-cpp-python's names;
        ``temp`` is the low-level calls' name for ``temperature``; other keys are not
        sampling settings and are left alone). ``seed`` None means ``default_seed``;
        ``logit_bias`` is checked against a vocabulary of ``n_vocab`` tokens."""
        chosen = {f.name: arguments[f.name] for f in fields(cls) if f.name in arguments}
        if "temp" in arguments:
            chosen["temperature"] = arguments["temp"]
        if chosen.get("seed") is None:
            chosen["seed"] = default_seed
        chosen["logit_bias"] = normalize_logit_bias(chosen.get("logit_bias"), n_vocab)
        return cls(**chosen)

    def build_chain(
        self, model: _core.Model, last_n: int, grammar: str | None = None
    ) -> _core.SamplerChain:
        """A sampler chain for ``model``: penalties, grammar, then the selection samplers."""
        n_vocab = model.n_vocab
        chain = _core.SamplerChain()
        if self.logit_bias:
            chain.add_logit_bias(n_vocab, self.logit_bias)
        chain.add_penalties(
            n_vocab, last_n, self.repeat_penalty, self.frequency_penalty, self.presence_penalty
        )
        if grammar is not None:
            chain.add_grammar(model, grammar)
        if self.temperature == 0.0:
            chain.add_greedy()
        elif self.mirostat_mode == 1:
            chain.add_temp(self.temperature)
            chain.add_mirostat(n_vocab, self.seed, self.mirostat_tau, self.mirostat_eta)
        elif self.mirostat_mode == 2:
            chain.add_temp(self.temperature)
            chain.add_mirostat_v2(self.seed, self.mirostat_tau, self.mirostat_eta)
        else:
            chain.add_top_k(self.top_k)
            chain.add_typical(self.typical_p)
            chain.add_top_p(self.top_p)
            chain.add_min_p(self.min_p)
            chain.add_temp(self.temperature)
            chain.add_dist(self.seed)
        return chain


def normalize_seed(seed: int | None) -> int:
    """llama.cpp's seed: None or -1 (LangChain's "random") mean a random seed."""
    if seed is None or seed == -1:
        return LLAMA_DEFAULT_SEED
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not 0 <= seed <= 0xFFFFFFFF:
        raise ValueError(f"seed must be between 0 and 2**32 - 1 (or -1 for random), got {seed}")
    return seed


def normalize_logit_bias(logit_bias: Mapping[Any, float] | None, n_vocab: int) -> dict[int, float]:
    """Token id -> bias, accepting the string keys OpenAI-style clients send."""
    out: dict[int, float] = {}
    for key, value in (logit_bias or {}).items():
        try:
            token = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"logit_bias keys must be token ids, got {key!r}") from None
        if not 0 <= token < n_vocab:
            raise ValueError(
                f"logit_bias token id {token} is out of range for a vocabulary of {n_vocab}"
            )
        out[token] = _number(f"logit_bias[{token}]", value)
    return out


def normalize_stop(stop: str | Sequence[str] | None) -> list[str]:
    """Stop strings as a list (None, "" and [] mean none)."""
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    out = []
    for s in stop:
        if not isinstance(s, str):
            raise TypeError(f"stop must be a string or a list of strings, got {s!r} in it")
        if s:
            out.append(s)
    return out
