"""The _core.pyi stubs describe the compiled module as it is: same names, same parameters."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from llama_cpp import _core

PROTOCOL_METHODS = {"__init__", "__len__", "__iter__", "__getitem__", "__enter__", "__exit__",
                    "_as_parameter_"}  # fmt: skip
STUB = Path(__file__).resolve().parents[1] / "src" / "llama_cpp" / "_core.pyi"


def _stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _runtime_params(function: object) -> list[str]:
    """Parameter names from pybind11's signature line (first line of the docstring)."""
    doc = (getattr(function, "__doc__", None) or "").strip().splitlines()
    assert doc, f"{function} has no signature docstring"
    match = re.match(r"[\w.]+\((.*)\) ->", doc[0])
    assert match, doc[0]
    names = []
    depth = 0
    current = ""
    for char in match.group(1):
        depth += char in "[("
        depth -= char in "])"
        if char == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        names.append(current)
    return [n.split(":")[0].split("=")[0].strip() for n in names]


def _stub_params(node: ast.FunctionDef) -> list[str]:
    """Parameter names, with "*" before keyword-only ones as pybind11's signature shows it."""
    keyword_only = [a.arg for a in node.args.kwonlyargs]
    return [a.arg for a in node.args.args] + (["*", *keyword_only] if keyword_only else [])


def _public(names: object) -> set[str]:
    return {n for n in names if not n.startswith("_")}  # type: ignore[union-attr]


def test_module_level_names_match() -> None:
    stub_names = set()
    for node in _stub_tree().body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            stub_names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stub_names.add(node.target.id)
    assert stub_names == _public(dir(_core))


def test_functions_and_methods_match() -> None:
    for node in _stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            assert _stub_params(node) == _runtime_params(getattr(_core, node.name)), node.name
        if isinstance(node, ast.ClassDef) and node.name != "LlamaError":
            cls = getattr(_core, node.name)
            members = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
            runtime = {n for n in vars(cls) if not n.startswith("_") or n in PROTOCOL_METHODS}
            assert set(members) == runtime, node.name
            for name, member in members.items():
                attribute = inspect.getattr_static(cls, name)
                # a read/write property's last definition is its setter
                is_property = any(
                    (isinstance(d, ast.Name) and d.id == "property")
                    or (isinstance(d, ast.Attribute) and d.attr == "setter")
                    for d in member.decorator_list
                )
                assert is_property == isinstance(attribute, property), f"{node.name}.{name}"
                if not is_property:
                    assert _stub_params(member) == _runtime_params(getattr(cls, name)), name
