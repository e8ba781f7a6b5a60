"""Draft models for speculative decoding (``Llama(draft_model=...)``).

A draft model guesses the tokens that come next; the model checks all the guesses in
one decode and keeps the ones it would have produced itself, so the output is the same
as without a draft (up to the rounding differences of batched arithmetic) and arrives
in fewer decode steps when the guesses are good.

``LlamaPromptLookupDecoding`` guesses by finding the latest earlier occurrence of the
last few tokens and proposing what followed it: strong when the answer quotes or edits
the prompt (code, extraction, rewriting). It runs inside the C++ token loop. Any other
``LlamaDraftModel`` subclass is called from the loop, once per step, with the sequence's
token ids.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class LlamaDraftModel(abc.ABC):
    """Base class of draft models: ``draft(input_ids) -> guessed next token ids``."""

    @abc.abstractmethod
    def __call__(self, input_ids: npt.NDArray[np.intc], /, **kwargs: Any) -> npt.NDArray[np.intc]:
        """Token ids guessed to follow ``input_ids`` (possibly none)."""


class LlamaPromptLookupDecoding(LlamaDraftModel):
    """Prompt lookup: match the last ``max_ngram_size`` (or fewer) tokens earlier in the
    sequence and guess the ``num_pred_tokens`` that followed."""

    def __init__(self, max_ngram_size: int = 2, num_pred_tokens: int = 10):
        for name, value in (
            ("max_ngram_size", max_ngram_size),
            ("num_pred_tokens", num_pred_tokens),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.max_ngram_size = max_ngram_size
        self.num_pred_tokens = num_pred_tokens

    def __call__(self, input_ids: npt.NDArray[np.intc], /, **kwargs: Any) -> npt.NDArray[np.intc]:
        """The same lookup the C++ loop does, for callers that use the object directly."""
        del kwargs  # LlamaDraftModel's signature; the lookup needs only the token ids
        return self.find_candidate_pred_tokens(input_ids, self.max_ngram_size, self.num_pred_tokens)

    @staticmethod
    def find_candidate_pred_tokens(
        input_ids: npt.ArrayLike, max_ngram_size: int, num_pred_tokens: int
    ) -> npt.NDArray[np.intc]:
        """The tokens that followed the most recent earlier occurrence of the sequence's
        last ``max_ngram_size`` tokens (trying shorter n-grams down to one), at most
        ``num_pred_tokens`` of them; empty when the tail occurs nowhere earlier."""
        import numpy as np

        ids = [int(t) for t in np.asarray(input_ids).reshape(-1)]
        for n in range(min(max_ngram_size, len(ids) - 1), 0, -1):
            tail = ids[-n:]
            for start in range(len(ids) - n - 1, -1, -1):
                if ids[start : start + n] == tail:
                    following = ids[start + n : start + n + num_pred_tokens]
                    return np.array(following, dtype=np.intc)
        return np.array([], dtype=np.intc)


def draft_arguments(draft_model: Any) -> dict[str, Any]:
    """Keyword arguments of ``_core.Generation`` for ``draft_model``."""
    if draft_model is None:
        return {}
    if isinstance(draft_model, LlamaPromptLookupDecoding):
        return {
            "draft_ngram_max": draft_model.max_ngram_size,
            "draft_n": draft_model.num_pred_tokens,
        }
    if callable(draft_model):
        return {"draft_model": draft_model}
    raise TypeError(
        "draft_model must be a LlamaDraftModel (e.g. LlamaPromptLookupDecoding()) or a callable "
        f"input_ids -> token ids, got {type(draft_model).__name__}"
    )
