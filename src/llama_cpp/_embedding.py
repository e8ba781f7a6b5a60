"""Embeddings for Llama.create_embedding / Llama.embed.

A Llama created with ``embedding=True`` embeds with its own context; any
other Llama gets a second, embeddings-only context on the same weights when
first asked, so embedding never needs a reload. Many inputs are embedded
together: each decode packs up to ``EMBED_SEQUENCES`` of them (one sequence
each, sharing one KV buffer) and ``n_batch`` tokens.

Models that declare a pooling type (embedding models) are pooled by
llama.cpp as declared, or as ``pooling_type=`` asks. A generative model
declares none: its text is read after one neutral token (a newline) and the
hidden states of the text's own tokens are averaged. The first positions of
a causal model act as attention sinks and carry little meaning; skipping
them is what makes "cat" land nearer "kitten" than "stock market".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from llama_cpp import _core
from llama_cpp._constants import LLAMA_POOLING_TYPE_NONE, LLAMA_POOLING_TYPE_UNSPECIFIED

if TYPE_CHECKING:
    from llama_cpp.llama import Llama


EMBED_SEQUENCES = 32
"""Inputs one decode embeds at most (the sequences of an embeddings context)."""


def embedding_context_params(params: _core.ContextParams) -> None:
    """Make ``params`` (of a context that embeds) hold ``EMBED_SEQUENCES`` inputs at once,
    each up to its whole length."""
    params.n_seq_max = max(params.n_seq_max, EMBED_SEQUENCES)
    params.kv_unified = True  # every sequence may use all n_ctx positions


def declared_pooling(model: _core.Model) -> int | None:
    """The pooling type the model's metadata declares, if any."""
    meta = model.metadata
    arch = meta.get("general.architecture", "")
    declared = meta.get(f"{arch}.pooling_type")
    if declared is not None and declared.lstrip("-").isdigit() and int(declared) > 0:
        return int(declared)
    return None


def uses_prefixed_mean(model: _core.Model, requested: int) -> bool:
    """Whether embeddings are our prefixed mean (a generative model, no pooling asked)."""
    return requested == LLAMA_POOLING_TYPE_UNSPECIFIED and declared_pooling(model) is None


def _normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


class Embedder:
    """Embeds texts with an embeddings context."""

    def __init__(self, llama: Llama):
        self._llama = llama
        params = llama.context_params
        self.prefixed_mean = llama._prefixed_mean
        if params.embeddings:
            self._ctx = llama.ctx
            self._own = False
        else:
            p = _core.ContextParams()
            p.n_ctx = params.n_ctx
            p.n_batch = p.n_ubatch = params.n_ctx
            p.n_threads, p.n_threads_batch = params.n_threads, params.n_threads_batch
            p.embeddings = True
            embedding_context_params(p)
            declared = declared_pooling(llama.model)
            p.pooling_type = LLAMA_POOLING_TYPE_NONE if declared is None else declared
            self.prefixed_mean = declared is None
            self._ctx = _core.Context.from_params(llama.model, p)
            self._own = True
        nl = llama.model.token_nl
        self._prefix = (
            [nl if nl >= 0 else max(llama.model.token_bos, 0)] if self.prefixed_mean else []
        )

    def close(self) -> None:
        if self._own:
            self._ctx.close()

    def _vector(self, rows: Any) -> Any:
        """One input's result: the pooled vector, our prefixed mean, or the token rows."""
        if self.prefixed_mean:
            return rows[len(self._prefix) :].mean(axis=0).tolist()
        return rows.tolist()

    def embed(
        self,
        input: str | list[str],
        *,
        normalize: bool,
        truncate: bool,
        return_count: bool,
        max_total_tokens: int | None = None,
    ) -> Any:
        """Embeddings of ``input`` (see Llama.embed); ``max_total_tokens`` bounds the
        tokens of all inputs together (a ValueError naming it beyond)."""
        texts = [input] if isinstance(input, str) else input
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise TypeError("input must be a string or a list of strings")
        limit = min(self._ctx.n_ctx_seq, self._ctx.n_batch) - len(self._prefix)
        pooled = self.prefixed_mean or self._ctx.pooling_type != LLAMA_POOLING_TYPE_NONE
        inputs = [self._tokens(text, i, limit, truncate) for i, text in enumerate(texts)]
        total = sum(len(tokens) for tokens in inputs)
        if max_total_tokens is not None and total > max_total_tokens:
            raise ValueError(
                f"the inputs have {total} tokens together; the limit per request is "
                f"{max_total_tokens} (--max_embedding_tokens): send fewer or shorter inputs"
            )
        turns = self._llama._turns
        with turns.held() if self._own else turns.call():  # the Llama's context: streams end
            rows = self._ctx.embed_many([self._prefix + tokens for tokens in inputs])
        out: list[Any] = []
        for result in map(self._vector, rows):
            if normalize:
                result = _normalized(result) if pooled else [_normalized(r) for r in result]
            out.append(result)
        output = out[0] if isinstance(input, str) else out
        return (output, total) if return_count else output

    def _tokens(self, text: str, index: int, limit: int, truncate: bool) -> list[int]:
        tokens = self._llama.tokenize(
            text.encode("utf-8"), add_bos=not self.prefixed_mean, special=False
        )
        if not tokens:
            tokens = [max(self._llama.token_bos(), 0)]
        if len(tokens) > limit:
            if not truncate:
                holder, advice = self._llama._context_advice()
                raise ValueError(
                    f"Requested tokens ({len(tokens)}) exceed the embedding limit of {limit}: "
                    f"input {index} has {len(tokens)} tokens and {holder} embeds at most "
                    f"{limit} per input; shorten it, or {advice}"
                )
            tokens = tokens[:limit]
        return tokens

    def create_embedding(
        self,
        input: str | list[str],
        model_name: str,
        *,
        truncate: bool = True,
        max_total_tokens: int | None = None,
    ) -> Any:
        vectors, total = self.embed(input, normalize=True, truncate=truncate, return_count=True,
                                    max_total_tokens=max_total_tokens)  # fmt: skip
        items = [vectors] if isinstance(input, str) else vectors
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(items)
            ],
            "model": model_name,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }
