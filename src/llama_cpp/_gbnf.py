"""A syntax check for GBNF grammars that reports errors by line and column.

llama.cpp's own parser prints its errors straight to stderr and gives only a
byte offset; checking first means a bad grammar is a ``ValueError`` that
says where the problem is, and nothing is printed. The accepted syntax is
llama.cpp's: ``name ::= alternatives``, string literals, character classes,
``.``, groups, rule references, ``<token>`` / ``!<token>``, repetition with
``* + ?`` and ``{m}``, ``{m,}``, ``{m,n}``, and ``#`` comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_INT = re.compile(r"[0-9]+")
_ESCAPES = set('nrt\\"[]-^') | {"x", "u", "U"}


class GrammarError(ValueError):
    """A GBNF grammar that does not parse: the message names the line and column."""

    def __init__(self, message: str, text: str, pos: int):
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        lines = text.splitlines()
        line_text = lines[line - 1] if line <= len(lines) else ""
        pointer = " " * (column - 1) + "^"
        super().__init__(
            f"invalid grammar at line {line}, column {column}: {message}\n"
            f"  {line_text}\n  {pointer}"
        )
        self.line = line
        self.column = column


@dataclass
class _Parser:
    text: str
    pos: int = 0
    defined: dict[str, int] = field(default_factory=dict)
    referenced: list[tuple[str, int]] = field(default_factory=list)

    def fail(self, message: str, pos: int | None = None) -> GrammarError:
        return GrammarError(message, self.text, self.pos if pos is None else pos)

    def skip(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "#":
                while self.pos < len(self.text) and self.text[self.pos] not in "\r\n":
                    self.pos += 1
            elif c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            else:
                return

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def name(self) -> str:
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise self.fail("expected a rule name")
        self.pos = m.end()
        return m.group()

    def char(self, end: str) -> None:
        """One (possibly escaped) character inside a literal or class."""
        if self.pos >= len(self.text) or self.text[self.pos] in "\r\n":
            what = "string" if end == '"' else "character class"
            raise self.fail(f"unterminated {what}")
        if self.text[self.pos] != "\\":
            self.pos += 1
            return
        esc_at = self.pos
        self.pos += 1
        e = self.peek()
        if e not in _ESCAPES:
            raise self.fail(f"unknown escape '\\{e}'", esc_at)
        self.pos += 1
        digits = {"x": 2, "u": 4, "U": 8}.get(e, 0)
        hexpart = self.text[self.pos : self.pos + digits]
        if len(hexpart) != digits or any(c not in "0123456789abcdefABCDEF" for c in hexpart):
            raise self.fail(f"'\\{e}' needs {digits} hex digits", esc_at)
        self.pos += digits

    def sequence(self, depth: int) -> None:
        last_item_at = None
        while True:
            self.skip(newlines=depth > 0)
            c = self.peek()
            start = self.pos
            if c in ("*", "+", "?", "{"):
                if last_item_at is None:
                    raise self.fail(f"'{c}' must follow something to repeat")
                self.repetition()
                last_item_at = None
                continue
            if not self.item(c, depth):
                return
            last_item_at = start

    def item(self, c: str, depth: int) -> bool:
        """One item of a sequence, starting with ``c``; False (nothing read) where the
        sequence ends: at anything else, or at the name of the next rule's definition."""
        if c == '"':
            self.literal()
        elif c == "[":
            self.char_class()
        elif c in ("<", "!"):
            self.token(negated=c == "!")
        elif c == ".":
            self.pos += 1
        elif c == "(":
            self.group(depth)
        elif c and _NAME.match(c):
            return self.reference(depth)
        else:
            return False
        return True

    def literal(self) -> None:
        self.pos += 1
        while self.peek() != '"':
            self.char('"')
        self.pos += 1

    def char_class(self) -> None:
        self.pos += 1
        if self.peek() == "^":
            self.pos += 1
        if self.peek() == "]":
            raise self.fail("empty character class")
        while self.peek() != "]":
            self.char("]")
            if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] != "]":
                self.pos += 1
                self.char("]")
        self.pos += 1

    def token(self, negated: bool) -> None:
        """``<token>``, or ``!<token>`` when ``negated``."""
        if negated:
            self.pos += 1
        if self.peek() != "<":
            raise self.fail("expected '<' to start a token")
        close = self.text.find(">", self.pos)
        if close < 0 or "\n" in self.text[self.pos : close]:
            raise self.fail("unterminated token: expected '>'")
        self.pos = close + 1

    def group(self, depth: int) -> None:
        self.pos += 1
        self.alternatives(depth + 1)
        self.skip(newlines=True)
        if self.peek() != ")":
            raise self.fail("expected ')' to close the group")
        self.pos += 1

    def reference(self, depth: int) -> bool:
        """A rule name used in a sequence (True), or the start of the next rule's
        definition (False, left unread)."""
        start = self.pos
        name = self.name()
        save = self.pos
        self.skip(newlines=depth > 0)
        if self.text.startswith("::=", self.pos):
            if depth > 0:
                raise self.fail("a rule definition cannot start inside a group", start)
            self.pos = start
            return False
        self.pos = save
        self.referenced.append((name, start))
        return True

    def repetition(self) -> None:
        if self.peek() != "{":
            self.pos += 1
            return
        brace = self.pos
        self.pos += 1
        self.skip(newlines=False)
        m = _INT.match(self.text, self.pos)
        if not m:
            raise self.fail("expected a number after '{'")
        lo = int(m.group())
        self.pos = m.end()
        self.skip(newlines=False)
        if self.peek() == ",":
            self.pos += 1
            self.skip(newlines=False)
            m = _INT.match(self.text, self.pos)
            if m:
                if int(m.group()) < lo:
                    raise self.fail(
                        f"repetition {{{lo},{m.group()}}}: the maximum is below the minimum", brace
                    )
                self.pos = m.end()
                self.skip(newlines=False)
        if self.peek() != "}":
            raise self.fail("expected '}' to close the repetition")
        self.pos += 1

    def alternatives(self, depth: int) -> None:
        self.sequence(depth)
        while True:
            self.skip(newlines=depth > 0)
            if self.peek() != "|":
                return
            self.pos += 1
            self.skip(newlines=True)
            self.sequence(depth)

    def rule(self) -> None:
        start = self.pos
        name = self.name()
        self.skip(newlines=False)
        if not self.text.startswith("::=", self.pos):
            raise self.fail(f"expected '::=' after the rule name '{name}'")
        if name in self.defined:
            raise self.fail(f"rule '{name}' is defined twice", start)
        self.defined[name] = start
        self.pos += 3
        self.skip(newlines=True)
        self.alternatives(0)
        self.skip(newlines=False)
        if self.pos < len(self.text) and self.peek() not in "\r\n":
            raise self.fail(f"unexpected '{self.peek()}'")

    def grammar(self, root: str) -> None:
        self.skip(newlines=True)
        if self.pos >= len(self.text):
            raise self.fail("the grammar is empty")
        while self.pos < len(self.text):
            self.rule()
            self.skip(newlines=True)
        for name, at in self.referenced:
            if name not in self.defined:
                raise self.fail(f"rule '{name}' is used but never defined", at)
        if root not in self.defined:
            raise GrammarError(
                f"the grammar has no '{root}' rule (generation starts from it)", self.text, 0
            )


def check_grammar(text: str, root: str = "root") -> None:
    """Raise :class:`GrammarError` (a ValueError) if ``text`` is not valid GBNF."""
    _Parser(text).grammar(root)
