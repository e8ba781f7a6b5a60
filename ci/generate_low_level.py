#!/usr/bin/env python3
"""Generate ``src/llama_cpp/llama_cpp.py``, llama-cpp-python's low-level module
(``llama_cpp.llama_cpp``): ctypes bindings of every ``LLAMA_API`` function of the pinned
``llama.h``, with its structs, enums, #define constants, handle types and callback types,
under the names llama-cpp-python uses.

The generated file is never edited by hand: after a llama.cpp update that changes llama.h,
run ``python ci/generate_low_level.py`` (tests/test_low_level.py fails until then).

The parser covers the regular declaration style of llama.h: one declaration per statement,
types spelled with stdint names, callbacks as typedefs or struct members. From ggml's
headers it takes only what llama.h refers to (enums, handle typedefs, callback typedefs,
#define constants). A declaration it cannot translate stops it with the file, line and text
(HeaderError); the ones left out on purpose are listed with their reason below.

Usage: python ci/generate_low_level.py [--check] [--output PATH]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LLAMA_HEADER = REPO / "vendor" / "llama.cpp" / "include" / "llama.h"
GGML_INCLUDE = REPO / "vendor" / "llama.cpp" / "ggml" / "include"
OUTPUT = REPO / "src" / "llama_cpp" / "llama_cpp.py"
LINE_LENGTH = 100

# LLAMA_API functions left out on purpose, with the reason (none at present). A function in
# the header but not in the loaded library is not listed here: the generated module binds
# it when the library has it (see UNBOUND_FUNCTIONS there).
SKIPPED_FUNCTIONS: dict[str, str] = {}

# Callback typedefs that ctypes cannot express, bound as plain pointers (same size), with
# the reason.
OPAQUE_CALLBACKS = {
    "ggml_opt_get_optimizer_params": (
        "it returns a struct by value, which a ctypes callback cannot"
    ),
}

# Names llama-cpp-python has that llama.h does not declare: name -> (expression, reason).
COMPAT_ALIASES = {
    "llama_log_callback": ("ggml_log_callback", "llama-cpp-python's name for the log callback"),
    "llama_sampler_p_ctypes": ("llama_sampler_p", "llama-cpp-python's argument type name"),
    "LLAMA_MAX_DEVICES": ("llama_max_devices()", "llama-cpp-python's constant"),
}

# Macros of llama.h's own plumbing, not constants.
PLUMBING_MACROS = {"LLAMA_API", "DEPRECATED"}

C_SCALARS = {
    "bool": "ctypes.c_bool",
    "char": "ctypes.c_char",
    "int": "ctypes.c_int",
    "float": "ctypes.c_float",
    "double": "ctypes.c_double",
    "size_t": "ctypes.c_size_t",
    "int8_t": "ctypes.c_int8",
    "uint8_t": "ctypes.c_uint8",
    "int16_t": "ctypes.c_int16",
    "uint16_t": "ctypes.c_uint16",
    "int32_t": "ctypes.c_int32",
    "uint32_t": "ctypes.c_uint32",
    "int64_t": "ctypes.c_int64",
    "uint64_t": "ctypes.c_uint64",
}


class HeaderError(Exception):
    """A declaration the generator cannot translate."""

    def __init__(self, path: Path, line: int, text: str, problem: str) -> None:
        snippet = " ".join(text.split())
        super().__init__(
            f"{path.name}:{line}: {problem}\n    {snippet}\n"
            "Teach ci/generate_low_level.py this declaration, or list it in SKIPPED_FUNCTIONS "
            "with the reason."
        )


# ---- reading C text ---------------------------------------------------------------------


def strip_comments(text: str) -> str:
    """``text`` with its comments blanked out (newlines kept, so line numbers stay)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:end]))
            i = end
        elif text[i] == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@dataclass
class Statement:
    text: str
    line: int


@dataclass
class Define:
    name: str
    value: str
    line: int


def preprocess(path: Path, text: str) -> tuple[str, list[Define]]:
    """Blank out preprocessor lines (and the ``extern "C"`` lines of ``#ifdef __cplusplus``
    blocks), returning the C text and the object-like #defines with a value."""
    lines = text.split("\n")
    defines: list[Define] = []
    cplusplus_depth = 0  # > 0 inside #ifdef __cplusplus (counting nested #if)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped.startswith("#"):
            if cplusplus_depth:
                lines[number - 1] = ""
            continue
        if stripped.endswith("\\"):
            raise HeaderError(path, number, line, "a continued preprocessor line")
        directive = re.match(r"#\s*(\w+)\s*(.*)$", stripped)
        if directive is None:
            raise HeaderError(path, number, line, "an unreadable preprocessor line")
        keyword, rest = directive.groups()
        lines[number - 1] = ""
        if cplusplus_depth:
            if keyword in ("if", "ifdef", "ifndef"):
                cplusplus_depth += 1
            elif keyword == "endif":
                cplusplus_depth -= 1
            continue
        if keyword == "ifdef" and rest == "__cplusplus":
            cplusplus_depth = 1
        elif keyword == "define":
            define = read_define(path, number, line, rest)
            if define is not None:
                defines.append(define)
    return "\n".join(lines), defines


def read_define(path: Path, number: int, line: str, rest: str) -> Define | None:
    """The constant a ``#define`` (``rest``: the text after the keyword) gives; None for
    llama.h's plumbing and for a macro without a value."""
    macro = re.match(r"(\w+)(\(?)\s*(.*)$", rest)
    assert macro is not None
    name, function_like, value = macro.groups()
    if name in PLUMBING_MACROS or not value:
        return None
    if function_like:
        raise HeaderError(path, number, line, "an unknown function-like macro")
    return Define(name, value, number)


def split_statements(path: Path, code: str) -> list[Statement]:
    """The top-level declarations of ``code``: text up to each ``;`` outside braces."""
    statements: list[Statement] = []
    depth = 0
    start = 0
    for i, char in enumerate(code):
        if char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
        elif char == ";" and depth == 0:
            text = code[start:i]
            if text.strip():
                leading = len(text) - len(text.lstrip())
                line = code.count("\n", 0, start + leading) + 1
                statements.append(Statement(" ".join(text.split()), line))
            start = i + 1
    if code[start:].strip():
        line = code.count("\n", 0, start) + 1
        raise HeaderError(path, line, code[start:], "text after the last declaration")
    return statements


def split_top_level(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside parentheses and braces, parts stripped."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        if char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


# ---- the model of the header -----------------------------------------------------------


@dataclass
class Constant:
    name: str
    expression: str  # Python text


@dataclass
class Enum:
    name: str
    members: list[Constant]


@dataclass
class Struct:
    name: str
    fields: list[tuple[str, str]]  # (name, ctypes expression)
    base: str = "ctypes.Structure"
    anonymous: list[str] = field(default_factory=list)


@dataclass
class Callback:
    name: str
    restype: str
    argtypes: list[str]


@dataclass
class Function:
    name: str
    restype: str
    argtypes: list[str]
    deprecated: str | None


@dataclass
class GgmlIndex:
    """What ggml's headers define, looked up on demand: name -> (file, offset, definition)."""

    enums: dict[str, tuple[Path, int, str]] = field(default_factory=dict)
    handles: dict[str, tuple[Path, int, str]] = field(default_factory=dict)
    callbacks: dict[str, tuple[Path, int, str]] = field(default_factory=dict)
    defines: dict[str, tuple[Path, int, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, include: Path) -> GgmlIndex:
        index = cls()
        for path in sorted(include.glob("*.h")):
            text = strip_comments(path.read_text(encoding="utf-8"))
            for match in re.finditer(r"\benum\s+(\w+)\s*\{([^}]*)\}", text):
                index.enums.setdefault(match[1], (path, match.start(), match[2]))
            for match in re.finditer(r"\btypedef\s+struct\s+(\w+)\s*\*\s*(\w+)\s*;", text):
                index.handles.setdefault(match[2], (path, match.start(), match[1]))
            callback = r"\btypedef\s+([\w\s*]+?)\(\s*\*\s*(\w+)\s*\)\s*\(([^;]*)\)\s*;"
            for match in re.finditer(callback, text):
                definition = f"{match[1]}|{match[3]}"
                index.callbacks.setdefault(match[2], (path, match.start(), definition))
            for match in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+(\S+)", text, re.M):
                index.defines.setdefault(match[1], (path, match.start(), match[2]))
        return index


def ggml_order(entry: tuple[Path, int, str]) -> tuple[bool, str, int]:
    """Definitions of ggml.h first, then the other headers, each in the header's order."""
    path, offset, _ = entry
    return path.name != "ggml.h", path.name, offset


def check_unique_names(text: str) -> None:
    """Fail if the module would bind one name twice (a struct member callback named like a
    function, say)."""
    seen: set[str] = set()
    for line in text.split("\n"):
        match = re.match(r"class (\w+)\(|(\w+)(?:: [^=]+)? = ", line)
        if match:
            name = match[1] or match[2]
            if name in seen:
                raise ValueError(f"the generated module would define {name} twice")
            seen.add(name)


class Generator:
    """Reads llama.h (and what it needs of ggml's headers) into constants, enums, handle
    types, structs, callbacks and functions, then renders the Python module."""

    def __init__(self, header: Path, ggml_include: Path) -> None:
        self.header = header
        self.ggml = GgmlIndex.read(ggml_include)
        self.values: dict[str, int] = {}  # every constant so far, for enum/define expressions
        self.ggml_defines: dict[str, Constant] = {}
        self.defines: list[Constant] = []
        self.ggml_enums: dict[str, Enum] = {}
        self.enums: list[Enum] = []
        self.scalar_typedefs: list[tuple[str, str]] = []  # (name, ctypes expression)
        self.opaque_structs: dict[str, None] = {}  # ordered set
        self.handle_typedefs: dict[str, str] = {}  # typedef name -> struct name
        self.ggml_handles: dict[str, None] = {}
        self.void_typedefs: list[str] = []
        self.complete_structs: set[str] = set()
        self.typedef_structs: set[str] = set()  # usable without the struct keyword
        self.structs: list[Struct] = []
        self.ggml_callbacks: dict[str, Callback | None] = {}  # None: opaque
        self.callbacks: list[Callback] = []
        self.callback_names: set[str] = set()
        self.functions: list[Function] = []
        self._statement = Statement("", 0)

    # -- errors --

    def fail(self, problem: str) -> HeaderError:
        return HeaderError(self.header, self._statement.line, self._statement.text, problem)

    # -- constants --

    def evaluate(self, expression: str) -> tuple[int, str]:
        """The value of a C integer expression and its Python text."""
        python = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b", r"\1", expression.strip())
        try:
            tree = ast.parse(python, mode="eval")
        except SyntaxError:
            raise self.fail(f"not an integer expression: {expression}") from None
        value = self._evaluate(tree.body, expression)
        literal = re.fullmatch(r"0[xX]([0-9a-fA-F]+)", python)
        return value, f"0x{literal[1].upper()}" if literal else ast.unparse(tree)

    def _evaluate(self, node: ast.expr, expression: str) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            return self.constant_value(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._evaluate(node.operand, expression)
        if isinstance(node, ast.BinOp):
            left = self._evaluate(node.left, expression)
            right = self._evaluate(node.right, expression)
            if isinstance(node.op, ast.LShift):
                return left << right
            if isinstance(node.op, ast.BitOr):
                return left | right
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
        raise self.fail(f"not an integer expression: {expression}")

    def constant_value(self, name: str) -> int:
        if name in self.values:
            return self.values[name]
        if name in self.ggml.defines:
            _, _, text = self.ggml.defines[name]
            value, python = self.evaluate(text)
            self.values[name] = value
            self.ggml_defines[name] = Constant(name, python)
            return value
        raise self.fail(f"unknown constant {name}")

    def enum_members(self, body: str) -> list[Constant]:
        members: list[Constant] = []
        next_value = 0
        for item in split_top_level(body, ","):
            if not item:
                continue
            match = re.fullmatch(r"(\w+)\s*(?:=\s*(.+))?", item)
            if match is None:
                raise self.fail(f"an unreadable enum member: {item}")
            name, expression = match.groups()
            if expression is None:
                value, python = next_value, str(next_value)
            else:
                value, python = self.evaluate(expression)
            self.values[name] = value
            members.append(Constant(name, python))
            next_value = value + 1
        return members

    def ggml_enum(self, name: str) -> None:
        if name in self.ggml_enums:
            return
        if name not in self.ggml.enums:
            raise self.fail(f"enum {name} is neither in llama.h nor in ggml's headers")
        _, _, body = self.ggml.enums[name]
        self.ggml_enums[name] = Enum(name, self.enum_members(body))

    # -- types --

    def ctype(self, declaration: str) -> str:
        """The ctypes expression for a C type (``const struct llama_model *``...)."""
        keyword, name, stars = self.type_parts(declaration)
        if keyword == "enum":
            if name not in {e.name for e in self.enums}:
                self.ggml_enum(name)
            return self.pointer("ctypes.c_int", stars)
        if keyword == "struct" or (not keyword and name in self.typedef_structs):
            return self.struct_ctype(name, stars)
        builtin = self.builtin_ctype(name, stars)
        if builtin is not None:
            return builtin
        return self.named_ctype(name, stars, declaration)

    def type_parts(self, declaration: str) -> tuple[str, str, int]:
        """A C type as (``struct``/``enum`` or "", its name, how many ``*``)."""
        words = [w for w in re.findall(r"\w+|\*|\S", declaration) if w != "const"]
        stars = words.count("*")
        words = [w for w in words if w != "*"]
        if len(words) == 2 and words[0] in ("struct", "enum", "union"):
            keyword, name = words
        elif len(words) == 1 and re.fullmatch(r"\w+", words[0]):
            keyword, name = "", words[0]
        else:
            raise self.fail(f"an unsupported type: {declaration}")
        if keyword == "union":
            raise self.fail(f"a named union: {declaration}")
        return keyword, name, stars

    def struct_ctype(self, name: str, stars: int) -> str:
        """A struct of llama.h: by its class when its fields are known, else opaque."""
        if name in self.complete_structs:
            return self.pointer(name, stars, f"{name}_p")
        if stars == 0:
            raise self.fail(f"struct {name} by value, but its fields are not in llama.h")
        self.opaque_structs[name] = None
        return self.pointer(f"{name}_p_ctypes", stars - 1)

    def builtin_ctype(self, name: str, stars: int) -> str | None:
        """C's own types (``void``, ``char *``, ``FILE *``, the scalars); None for others."""
        if name == "void":
            if stars == 0:
                return "None"
            return self.pointer("ctypes.c_void_p", stars - 1)
        if name == "char" and stars > 0:
            return self.pointer("ctypes.c_char_p", stars - 1)
        if name == "FILE" and stars > 0:
            return self.pointer("ctypes.c_void_p", stars - 1)
        if name in C_SCALARS:
            return self.pointer(C_SCALARS[name], stars)
        return None

    def named_ctype(self, name: str, stars: int, declaration: str) -> str:
        """A typedef of llama.h or of ggml's headers (scalar, handle or callback)."""
        if name in dict(self.scalar_typedefs):
            return self.pointer(name, stars, f"{name}_p")
        if name in self.handle_typedefs or name in self.ggml_handles:
            return self.pointer(f"{name}_ctypes", stars)
        if name in self.void_typedefs or name in self.callback_names:
            return self.pointer(name, stars)
        if name in self.ggml.handles:
            self.ggml_handles[name] = None
            return self.pointer(f"{name}_ctypes", stars)
        if name in self.ggml.callbacks:
            self.ggml_callback(name)
            return self.pointer(name, stars)
        raise self.fail(f"an unknown type: {declaration}")

    @staticmethod
    def pointer(base: str, stars: int, one_star: str | None = None) -> str:
        if stars and one_star is not None:
            base, stars = one_star, stars - 1
        for _ in range(stars):
            base = f"ctypes.POINTER({base})"
        return base

    def parameters(self, text: str) -> list[str]:
        """The ctypes types of a C parameter list."""
        if text.strip() in ("", "void"):
            return []
        types = []
        for parameter in split_top_level(text, ","):
            if "(" in parameter or "[" in parameter:
                raise self.fail(f"a parameter ctypes types cannot spell: {parameter}")
            types.append(self.ctype(strip_name(parameter)))
        return types

    def ggml_callback(self, name: str) -> None:
        if name in self.ggml_callbacks:
            return
        self.ggml_callbacks[name] = None
        if name in OPAQUE_CALLBACKS:
            return
        _, _, definition = self.ggml.callbacks[name]
        restype, arguments = definition.split("|")
        callback = Callback(name, self.ctype(restype), self.parameters(arguments))
        self.ggml_callbacks[name] = callback

    # -- llama.h --

    def read(self) -> None:
        text = strip_comments(self.header.read_text(encoding="utf-8"))
        code, defines = preprocess(self.header, text)
        for define in defines:
            self._statement = Statement(f"#define {define.name} {define.value}", define.line)
            value, python = self.evaluate(define.value)
            self.values[define.name] = value
            self.defines.append(Constant(define.name, python))
        statements = split_statements(self.header, code)
        for statement in statements:
            match = re.match(r"(typedef )?struct (\w+) \{", statement.text)
            if match:
                self.complete_structs.add(match[2])
                if match[1]:
                    self.typedef_structs.add(match[2])
        for statement in statements:
            self._statement = statement
            self.declaration(statement.text)

    def declaration(self, text: str) -> None:
        if "LLAMA_API" in text:
            self.function(text)
        elif match := re.fullmatch(r"struct (\w+)", text):
            if match[1] not in self.complete_structs:
                self.opaque_structs[match[1]] = None
        elif match := re.fullmatch(r"typedef struct (\w+) ?\* ?(\w+)", text):
            self.handle_typedefs[match[2]] = match[1]
        elif match := re.fullmatch(r"typedef void ?\* ?(\w+)", text):
            self.void_typedefs.append(match[1])
        elif match := re.fullmatch(r"typedef (\w+) (\w+)", text):
            self.scalar_typedefs.append((match[2], self.ctype(match[1])))
        elif match := re.fullmatch(r"enum (\w+) \{(.*)\}", text):
            self.enums.append(Enum(match[1], self.enum_members(match[2])))
        elif match := re.fullmatch(r"(typedef )?struct (\w+) \{(.*)\} ?(\w*)", text):
            if match[4] != (match[2] if match[1] else ""):
                raise self.fail("a struct typedef'd under another name")
            self.struct(match[2], match[3])
        elif match := re.fullmatch(r"typedef (.+?)\( ?\* ?(\w+) ?\) ?\((.*)\)", text):
            self.callback_names.add(match[2])
            restype, arguments = self.ctype(match[1]), self.parameters(match[3])
            self.callbacks.append(Callback(match[2], restype, arguments))
        else:
            raise self.fail("a declaration of a kind the generator does not know")

    def struct(self, name: str, body: str) -> None:
        fields: list[tuple[str, str]] = []
        anonymous: list[str] = []
        for member in split_top_level(body, ";"):
            if not member:
                continue
            if union := re.fullmatch(r"union ?\{(.*)\}", member):
                if anonymous:
                    raise self.fail(f"struct {name} has more than one anonymous union")
                union_name = f"{name}_value"
                self.struct(union_name, union[1])
                self.structs[-1].base = "ctypes.Union"
                self.complete_structs.add(union_name)
                fields.append(("value", union_name))
                anonymous.append("value")
            elif function := re.fullmatch(r"(.+?)\( ?\* ?(\w+) ?\) ?\((.*)\)", member):
                callback_name = f"{name}_{function[2]}"
                self.callback_names.add(callback_name)
                restype, arguments = self.ctype(function[1]), self.parameters(function[3])
                self.callbacks.append(Callback(callback_name, restype, arguments))
                fields.append((function[2], callback_name))
            elif array := re.fullmatch(r"(.+?) ?(\w+) ?\[ ?(\d+) ?\]", member):
                fields.append((array[2], f"{self.ctype(array[1])} * {array[3]}"))
            elif "," in member or "(" in member or "[" in member:
                raise self.fail(f"a member of struct {name} ctypes cannot spell: {member}")
            else:
                fields.append((member_name(member), self.ctype(strip_name(member))))
        self.structs.append(Struct(name, fields, anonymous=anonymous))

    def function(self, text: str) -> None:
        deprecated = None
        if match := re.fullmatch(r'(LLAMA_API )?DEPRECATED\((.*), ?("(?:[^"\\]|\\.)*")\)', text):
            deprecated = ast.literal_eval(match[3])
            text = f"{match[1] or ''}{match[2]}"
        if text.split().count("LLAMA_API") != 1 or "DEPRECATED" in text:
            raise self.fail("a function declaration of an unknown shape")
        text = text.replace("LLAMA_API", "").strip()
        match = re.fullmatch(r"(.+?)(\w+) ?\((.*)\)", text)
        if match is None or "(" in match[1]:
            raise self.fail("a function declaration of an unknown shape")
        restype, name, parameters = match.groups()
        if name in SKIPPED_FUNCTIONS:
            return
        argtypes = self.parameters(parameters)
        self.functions.append(Function(name, self.ctype(restype), argtypes, deprecated))

    # -- output --

    def render(self) -> str:
        out = Writer()
        out.raw(MODULE_HEAD)
        self.render_constants_and_types(out)
        self.render_structs_and_callbacks(out)
        self.render_functions(out)
        text = out.text()
        check_unique_names(text)
        return text

    def render_constants_and_types(self, out: Writer) -> None:
        """The #define constants, enums, scalar typedefs and handle types."""
        out.section("#define constants (from ggml's headers, those llama.h uses, then llama.h)")
        for constant in [*sorted(self.ggml_defines.values(), key=self.define_order), *self.defines]:
            out.line(f"{constant.name} = {constant.expression}")
        enums = sorted(self.ggml_enums.values(), key=lambda e: ggml_order(self.ggml.enums[e.name]))
        for enum in [*enums, *self.enums]:
            out.section(f"enum {enum.name}")
            for constant in enum.members:
                out.line(f"{constant.name} = {constant.expression}")
        out.section("scalar types")
        for name, base in self.scalar_typedefs:
            out.line(f"{name} = {base}")
            out.line(f"{name}_p = ctypes.POINTER({name})")
        out.section("opaque handles: the ``_p`` names for annotations, ``_p_ctypes`` for ctypes")
        for name in self.opaque_structs:
            out.line(f'{name}_p = NewType("{name}_p", int)')
            out.line(f"{name}_p_ctypes = ctypes.c_void_p")
        ggml_handles = sorted(self.ggml_handles, key=lambda h: ggml_order(self.ggml.handles[h]))
        for name in [*self.handle_typedefs, *ggml_handles]:
            out.line(f'{name} = NewType("{name}", int)')
            out.line(f"{name}_ctypes = ctypes.c_void_p")
        for name in self.void_typedefs:
            out.line(f"{name} = ctypes.c_void_p")

    def render_structs_and_callbacks(self, out: Writer) -> None:
        """The struct classes, the callback types, then the structs' fields (which use them)."""
        out.section("structs and unions (their fields are set once the callback types exist)")
        for struct in self.structs:
            out.classdef(struct.name, struct.base, f"``{kind(struct)} {struct.name}`` of llama.h.")
        for struct in self.structs:
            out.line(f"{struct.name}_p = ctypes.POINTER({struct.name})")
        out.section("callback types")
        for name in sorted(self.ggml_callbacks, key=lambda c: ggml_order(self.ggml.callbacks[c])):
            callback = self.ggml_callbacks[name]
            if callback is None:
                out.line(f"# a plain pointer: {OPAQUE_CALLBACKS[name]}")
                out.line(f"{name} = ctypes.c_void_p")
            else:
                out.call(f"{name} = ctypes.CFUNCTYPE", [callback.restype, *callback.argtypes])
        for callback in self.callbacks:
            out.call(f"{callback.name} = ctypes.CFUNCTYPE", [callback.restype, *callback.argtypes])
        out.section("struct fields, in llama.h's order")
        for struct in self.structs:
            out.blank()
            if struct.anonymous:  # ctypes reads _anonymous_ when _fields_ is set
                names = "".join(f'"{a}", ' for a in struct.anonymous).rstrip()
                out.line(f"{struct.name}._anonymous_ = ({names})")
            fields = [f'("{name}", {ctype})' for name, ctype in struct.fields]
            out.listing(f"{struct.name}._fields_ = [", fields, "]")

    def render_functions(self, out: Writer) -> None:
        """The bound functions, llama-cpp-python's aliases and the tables of what is bound."""
        out.section("functions (a function the loaded library lacks raises NotImplementedError)")
        for function in self.functions:
            arguments = [f'"{function.name}"', function.restype, *function.argtypes]
            out.call(f"{function.name} = _bind", arguments)
        out.section("llama-cpp-python's names for what llama.h spells differently")
        for name, (expression, reason) in COMPAT_ALIASES.items():
            out.line(f"{name} = {expression}  # {reason}")
        out.section("what this build of the module has")
        out.blank()
        deprecated = [f'"{f.name}": {quote(f.deprecated)}' for f in self.functions if f.deprecated]
        out.line("# deprecated functions, with llama.h's advice")
        out.listing("DEPRECATED_FUNCTIONS: dict[str, str] = {", deprecated, "}")
        out.blank()
        out.line("# functions of llama.h this module leaves out on purpose, with the reason")
        skipped = [f'"{name}": {quote(reason)}' for name, reason in SKIPPED_FUNCTIONS.items()]
        out.listing("SKIPPED_FUNCTIONS: dict[str, str] = {", skipped, "}")
        out.blank()
        out.line("# functions of llama.h the loaded library does not export (calling one raises)")
        out.line("UNBOUND_FUNCTIONS: tuple[str, ...] = _bind.unbound()")

    def define_order(self, constant: Constant) -> tuple[bool, str, int]:
        return ggml_order(self.ggml.defines[constant.name])


def strip_name(declaration: str) -> str:
    """The type part of ``type name`` (a lone type stays as it is)."""
    words = [w for w in re.findall(r"\w+", declaration) if w != "const"]
    if len(words) >= 2 and words[-2] not in ("struct", "enum", "union"):
        return declaration[: declaration.rfind(words[-1])]
    return declaration


def member_name(declaration: str) -> str:
    type_part = strip_name(declaration)
    if type_part == declaration:
        raise ValueError(f"a struct member without a name: {declaration}")
    return declaration[len(type_part) :].strip()


def kind(struct: Struct) -> str:
    return "union" if struct.base == "ctypes.Union" else "struct"


def quote(text: str | None) -> str:
    return '"' + (text or "").replace("\\", "\\\\").replace('"', '\\"') + '"'


class Writer:
    """Python text laid out as ``ruff format`` lays it out (so the file passes its check)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def raw(self, text: str) -> None:
        self.lines.extend(text.rstrip("\n").split("\n"))

    def line(self, text: str) -> None:
        if len(text) > LINE_LENGTH:
            raise ValueError(f"generated line longer than {LINE_LENGTH}: {text}")
        self.lines.append(text)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def section(self, title: str) -> None:
        self.blank()
        self.line(f"# ---- {title}")

    def classdef(self, name: str, base: str, doc: str) -> None:
        while len(self.lines) < 2 or self.lines[-2:] != ["", ""]:
            self.lines.append("")
        self.line(f"class {name}({base}):")
        self.line(f'    """{doc}"""')
        self.lines += ["", ""]

    def call(self, head: str, arguments: list[str]) -> None:
        """``head(arguments)`` on one line when it fits, else one argument a line."""
        one_line = f"{head}({', '.join(arguments)})"
        if len(one_line) <= LINE_LENGTH:
            self.line(one_line)
        else:
            self.listing(f"{head}(", arguments, ")")

    def listing(self, opening: str, items: list[str], closing: str) -> None:
        if not items:
            self.line(f"{opening}{closing}")
            return
        self.line(opening)
        for item in items:
            self.line(f"    {item},")
        self.line(closing)

    def text(self) -> str:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


MODULE_HEAD = '''\
"""llama.cpp's C API through ctypes, under llama-cpp-python's names (its
``llama_cpp.llama_cpp`` module): every LLAMA_API function of llama.h with its argument and
result types, the structs, enums, #define constants, handle types and callback types.

Generated by ci/generate_low_level.py from vendor/llama.cpp/include/llama.h: do not edit;
run the generator after a llama.cpp update. See llama.h for what each function does.

The functions run on the llama.cpp this package loaded, so ``Llama``'s objects pass
straight to them: ``llama_n_ctx(llm.ctx)``, ``llama_model_get_vocab(llm.model)``.
Calls that change the context's memory (``llama_decode``, ``llama_memory_seq_rm``, ...)
bypass the Llama's record of the tokens it holds: call ``llm.reset()`` before using its
high-level methods again.
"""

import ctypes
from typing import NewType

from llama_cpp import _low_level_lib

_lib = _low_level_lib.load_library()
_bind = _low_level_lib.FunctionBinder(_lib)
'''


def generate(header: Path = LLAMA_HEADER, ggml_include: Path = GGML_INCLUDE) -> str:
    """The text of the generated module for ``header``."""
    generator = Generator(header, ggml_include)
    generator.read()
    return generator.render()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the module")
    parser.add_argument(
        "--check", action="store_true", help="only report whether the output is up to date"
    )
    args = parser.parse_args(argv)
    text = generate()
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date: run python ci/generate_low_level.py")
            return 1
        return 0
    if current != text:
        args.output.write_bytes(text.encode("utf-8"))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
