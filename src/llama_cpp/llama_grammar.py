"""GBNF grammars that constrain generation (``grammar=`` on completion and chat calls)."""

from __future__ import annotations

import os
from pathlib import Path

from llama_cpp._gbnf import GrammarError, check_grammar
from llama_cpp._json_schema import JSON_GBNF, json_schema_to_gbnf

__all__ = ["JSON_GBNF", "GrammarError", "LlamaGrammar", "json_schema_to_gbnf"]


class LlamaGrammar:
    """A checked GBNF grammar.

    Build one with :meth:`from_string`, :meth:`from_file` or
    :meth:`from_json_schema`; a grammar that does not parse raises
    :class:`GrammarError` (a ``ValueError``) naming the line and column.
    """

    def __init__(self, *, _grammar: str, root: str = "root") -> None:
        check_grammar(_grammar, root)
        self._grammar = _grammar
        self._root = root

    @property
    def grammar(self) -> str:
        """The GBNF source."""
        return self._grammar

    @property
    def root(self) -> str:
        """The rule generation starts from."""
        return self._root

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True) -> LlamaGrammar:
        """A grammar from GBNF text."""
        del verbose  # accepted for llama-cpp-python compatibility: nothing is printed here
        if not isinstance(grammar, str):
            raise TypeError(f"grammar must be GBNF text (str), got {type(grammar).__name__}")
        return cls(_grammar=grammar)

    @classmethod
    def from_file(cls, file: str | os.PathLike, verbose: bool = True) -> LlamaGrammar:
        """A grammar from a ``.gbnf`` file."""
        del verbose  # accepted for llama-cpp-python compatibility: nothing is printed here
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"grammar file not found: {str(path)!r}") from None
        except IsADirectoryError:
            raise ValueError(
                f"grammar path {str(path)!r} is a directory, not a .gbnf file"
            ) from None
        try:
            return cls(_grammar=text)
        except GrammarError as e:
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def from_json_schema(cls, json_schema: str | dict, verbose: bool = True) -> LlamaGrammar:
        """A grammar accepting exactly the JSON documents valid for ``json_schema``
        (its JSON text, as llama-cpp-python takes it, or a dict)."""
        del verbose  # accepted for llama-cpp-python compatibility: nothing is printed here
        return cls(_grammar=json_schema_to_gbnf(json_schema))

    @classmethod
    def json_object(cls) -> LlamaGrammar:
        """A grammar for any JSON object."""
        return cls(_grammar=JSON_GBNF)

    def __repr__(self) -> str:
        first = self._grammar.strip().splitlines()[0] if self._grammar.strip() else ""
        return f"<LlamaGrammar {first[:60]!r}...>"
