"""Tokenizers a :class:`~llama_cpp.Llama` can use: the model's own (llama.cpp's vocabulary,
the default) or a Hugging Face tokenizer (``Llama(..., tokenizer=LlamaHFTokenizer...)``)
for models whose GGUF vocabulary differs from the reference one.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp import _core
    from llama_cpp.llama import Llama


class BaseLlamaTokenizer(abc.ABC):
    """What a Llama needs from a tokenizer: text (UTF-8 bytes) to token ids and back."""

    @abc.abstractmethod
    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        """Token ids of ``text``; ``add_bos`` adds the beginning-of-sequence token where the
        model wants one, ``special`` parses special-token text (``<|im_start|>``) as such."""

    @abc.abstractmethod
    def detokenize(
        self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None,
        special: bool = False,
    ) -> bytes:  # fmt: skip
        """The bytes ``tokens`` stand for; with ``prev_tokens``, as they read after those
        (some tokenizers change a token's leading space by what precedes it)."""


class LlamaTokenizer(BaseLlamaTokenizer):
    """The model's own vocabulary, through llama.cpp (what ``Llama.tokenizer()`` returns)."""

    def __init__(self, llama: Llama):
        self._model: _core.Model = llama._model

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        if isinstance(text, str):
            text = text.encode("utf-8")
        return self._model.tokenize(text, add_bos, special)

    def detokenize(
        self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None,
        special: bool = False,
    ) -> bytes:  # fmt: skip
        """The tokens' pieces joined, as llama-cpp-python gives them: a piece's leading
        space stays (so text detokenized token by token joins up right), except after a
        BOS token that starts the text (SentencePiece models put a space before the first
        word). ``prev_tokens`` only says the text continues: no space is dropped then."""
        tokens = list(tokens)
        text = self._model.pieces(tokens, special)
        if not prev_tokens and tokens and tokens[0] == self._model.token_bos:
            return text[1:] if text[:1] == b" " else text
        return text

    def encode(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        """Token ids of a ``str``."""
        return self.tokenize(text.encode("utf-8", errors="ignore"), add_bos, special)

    def decode(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` (bytes that are not valid UTF-8 are dropped)."""
        return self.detokenize(tokens).decode("utf-8", errors="ignore")

    @classmethod
    def from_ggml_file(cls, path: str) -> LlamaTokenizer:
        """The vocabulary of a GGUF file alone (the weights are not loaded)."""
        from llama_cpp.llama import Llama

        return cls(Llama(model_path=path, vocab_only=True, verbose=False))


class LlamaHFTokenizer(BaseLlamaTokenizer):
    """A Hugging Face ``transformers`` tokenizer in a Llama's place."""

    def __init__(self, hf_tokenizer: Any):
        self.hf_tokenizer = hf_tokenizer

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        """Token ids of ``text``. ``special`` turns the Hugging Face tokenizer's special
        tokens on (its BOS among them, where the model has one), as llama-cpp-python does;
        ``add_bos=False`` then takes a leading BOS back off."""
        decoded = text.decode("utf-8", errors="ignore") if isinstance(text, bytes) else text
        tokens = list(self.hf_tokenizer.encode(decoded, add_special_tokens=special))
        bos = getattr(self.hf_tokenizer, "bos_token_id", None)
        if not add_bos and bos is not None and tokens[:1] == [bos]:
            del tokens[0]
        return tokens

    def detokenize(
        self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None,
        special: bool = False,
    ) -> bytes:  # fmt: skip
        skip = not special
        if prev_tokens:
            context = list(prev_tokens)
            whole = self.hf_tokenizer.decode(context + list(tokens), skip_special_tokens=skip)
            before = self.hf_tokenizer.decode(context, skip_special_tokens=skip)
            return str(whole[len(before) :]).encode("utf-8", errors="ignore")
        return str(self.hf_tokenizer.decode(list(tokens), skip_special_tokens=skip)).encode(
            "utf-8", errors="ignore"
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str) -> LlamaHFTokenizer:
        """``transformers.AutoTokenizer.from_pretrained(...)`` wrapped (needs
        ``pip install transformers``)."""
        try:
            from transformers import AutoTokenizer  # type: ignore[import-not-found]
        except ImportError as error:
            raise ImportError(
                "LlamaHFTokenizer.from_pretrained needs the transformers package: "
                "pip install transformers (or pip install 'llama-cpp-pybind[hf]')"
            ) from error
        return cls(AutoTokenizer.from_pretrained(pretrained_model_name_or_path))


__all__ = ["BaseLlamaTokenizer", "LlamaHFTokenizer", "LlamaTokenizer"]
