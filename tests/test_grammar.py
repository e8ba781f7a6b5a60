"""LlamaGrammar: GBNF checking, the vendored grammars, JSON-schema constrained generation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llama_cpp import Llama, LlamaGrammar
from llama_cpp._json_schema import MAX_SCHEMA_DEPTH
from llama_cpp.llama_grammar import GrammarError


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    return Llama(str(model_path), n_ctx=1024, verbose=False)


@pytest.fixture(scope="module")
def grammars(llama_cpp_tree: Path) -> Path:
    return llama_cpp_tree / "grammars"


def constrained(llm: Llama, prompt: str, grammar: LlamaGrammar, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("max_tokens", 200)
    kwargs.setdefault("temperature", 0.0)
    return llm(prompt, grammar=grammar, **kwargs)["choices"][0]


def test_every_vendored_grammar_loads_and_samples(llm: Llama, grammars: Path) -> None:
    files = sorted(grammars.glob("*.gbnf"))
    assert {"json.gbnf", "json_arr.gbnf", "arithmetic.gbnf"} <= {f.name for f in files}
    for path in files:
        from_text = LlamaGrammar.from_string(path.read_text(encoding="utf-8"))
        from_file = LlamaGrammar.from_file(str(path))
        assert from_text.grammar == from_file.grammar == LlamaGrammar.from_file(path).grammar
        assert from_file.root == "root"
        # llama.cpp's own parser accepts it too: sampling with it produces tokens
        out = constrained(llm, "Hello", from_file, max_tokens=4)
        assert out["text"], path.name


def test_missing_grammar_file_is_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gbnf"
    with pytest.raises(FileNotFoundError, match=r"nope\.gbnf"):
        LlamaGrammar.from_file(missing)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('root ::= "a"\nitem ::= "abc\n', 2, 14, "unterminated string"),
        ('root ::= "a" bar\n', 1, 14, "rule 'bar' is used but never defined"),
        ('start ::= "a"\n', 1, 1, "no 'root' rule"),
        ('root ::= "a\\q"\n', 1, 12, "unknown escape"),
        ("root ::= [a-z]\nword ::= [a\\zb]\n", 2, 12, "unknown escape"),
        ('root ::= "\\x4"\n', 1, 11, "needs 2 hex digits"),
        ('root ::= "a"\nroot ::= "b"\n', 2, 1, "defined twice"),
        ('root = "a"\n', 1, 6, "expected '::='"),
        ('root ::= "a"{3,1}\n', 1, 13, "maximum is below the minimum"),
        ('root ::= "a"\r\nb ::= "x\r\n', 2, 9, "unterminated string"),
        ("root ::= []\n", 1, 11, "empty character class"),
    ],
)
def test_bad_grammar_names_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"line {line}, column {column}: .*{message}") as info:
        LlamaGrammar.from_string(text)
    err = info.value
    assert isinstance(err, GrammarError)
    assert (err.line, err.column) == (line, column)
    # the message quotes the line and points at the column
    _, quoted, pointer = str(err).splitlines()
    assert quoted == "  " + text.splitlines()[line - 1]
    assert pointer == " " * (2 + column - 1) + "^"


@pytest.mark.parametrize(
    ("text", "message"),
    [("# only a comment\n", "the grammar is empty"), ('root ::= ("a" | "b"\n', "expected ')'")],
)
def test_an_error_at_the_very_end_is_still_a_grammar_error(text: str, message: str) -> None:
    with pytest.raises(GrammarError, match="line 2, column 1: " + re.escape(message)):
        LlamaGrammar.from_string(text)


def test_bad_grammar_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.gbnf"
    path.write_text('root ::= "a" missing\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.gbnf.*line 1, column 14"):
        LlamaGrammar.from_file(path)


@pytest.mark.parametrize(
    ("name", "kind", "prompt"),
    [
        ("json.gbnf", dict, "A JSON object describing a person with name and age: "),
        # a list prompt: asked for an object, the list grammar lets the model count on
        # past max_tokens on some CPUs' kernels (a near-tie at the closing bracket)
        ("json_arr.gbnf", list, "A JSON list of three people with name and age: "),
    ],
)
def test_json_grammars_give_parseable_output(
    llm: Llama, grammars: Path, name: str, kind: type, prompt: str
) -> None:
    grammar = LlamaGrammar.from_file(grammars / name)
    out = constrained(llm, prompt, grammar)
    assert out["finish_reason"] == "stop"
    value = json.loads(out["text"])
    assert isinstance(value, kind) and value


def test_literal_alternatives_always_give_one_of_them(llm: Llama) -> None:
    grammar = LlamaGrammar.from_string('root ::= "yes" | "no"')
    seen = set()
    for prompt in ("Is the sky blue? Answer: ", "Is fire cold? Answer: ", "Hello"):
        out = constrained(llm, prompt, grammar, max_tokens=10)
        assert out["text"] in ("yes", "no")
        assert out["finish_reason"] == "stop"
        seen.add(out["text"])
    # hot sampling still cannot leave the grammar
    for seed in range(8):
        out = constrained(llm, "Answer: ", grammar, max_tokens=10, temperature=1.5, seed=seed)
        assert out["text"] in ("yes", "no")
        seen.add(out["text"])
    assert seen


PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer"},
        "nickname": {"type": "string", "maxLength": 20},
        "color": {"enum": ["red", "green", "blue"]},
        "tags": {
            "type": "array",
            "items": {"type": "string", "maxLength": 10},
            "minItems": 1,
            "maxItems": 3,
        },
        "address": {"$ref": "#/$defs/address"},
    },
    "required": ["name", "age", "color", "tags", "address"],
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}, "zip": {"type": "integer"}},
            "required": ["city", "zip"],
        }
    },
}


def check_person(value: Any) -> None:
    assert isinstance(value, dict)
    assert set(value) <= set(PERSON_SCHEMA["properties"])
    assert set(PERSON_SCHEMA["required"]) <= set(value)
    assert isinstance(value["name"], str) and len(value["name"]) <= 20
    assert isinstance(value["age"], int) and not isinstance(value["age"], bool)
    assert isinstance(value.get("nickname", ""), str)
    assert value["color"] in ("red", "green", "blue")
    assert isinstance(value["tags"], list) and 1 <= len(value["tags"]) <= 3
    assert all(isinstance(t, str) and len(t) <= 10 for t in value["tags"])
    address = value["address"]
    assert isinstance(address, dict) and set(address) == {"city", "zip"}
    assert isinstance(address["city"], str)
    assert isinstance(address["zip"], int) and not isinstance(address["zip"], bool)


@pytest.mark.parametrize("prompt", ["A JSON record for a person:\n", "Here is Alice as JSON: "])
def test_json_schema_generation_validates(llm: Llama, prompt: str) -> None:
    grammar = LlamaGrammar.from_json_schema(PERSON_SCHEMA)
    out = constrained(llm, prompt, grammar)
    assert out["finish_reason"] == "stop"
    check_person(json.loads(out["text"]))


def test_json_schema_as_text_works_like_the_dict(llm: Llama) -> None:
    from_dict = LlamaGrammar.from_json_schema(PERSON_SCHEMA)
    from_text = LlamaGrammar.from_json_schema(json.dumps(PERSON_SCHEMA))
    assert from_text.grammar == from_dict.grammar
    prompt = "A JSON record for a person:\n"
    assert constrained(llm, prompt, from_text) == constrained(llm, prompt, from_dict)


def test_enum_schema_gives_one_of_its_values(llm: Llama) -> None:
    grammar = LlamaGrammar.from_json_schema({"enum": ["red", "green", "blue", 7, None]})
    for prompt in ("My favourite colour is ", "The answer: "):
        out = constrained(llm, prompt, grammar, max_tokens=20)
        assert json.loads(out["text"]) in ("red", "green", "blue", 7, None)


@pytest.mark.parametrize(
    ("schema", "keyword"),
    [
        ({"type": "string", "pattern": "^a+$"}, "pattern"),
        ({"type": "object", "properties": {"x": {"type": "string", "pattern": "a"}}}, "pattern"),
        ({"type": "object", "patternProperties": {"^x": {"type": "string"}}}, "patternProperties"),
        ({"not": {"type": "string"}}, "not"),
        ({"type": "integer", "minimum": 100}, "minimum"),
        ({"type": "array", "uniqueItems": True}, "uniqueItems"),
    ],
)
def test_unsupported_schema_keywords_are_named(schema: dict[str, Any], keyword: str) -> None:
    with pytest.raises(ValueError, match=f"\\['{keyword}'\\]"):
        LlamaGrammar.from_json_schema(schema)
    with pytest.raises(ValueError, match=keyword):
        LlamaGrammar.from_json_schema(json.dumps(schema))


def test_schema_text_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        LlamaGrammar.from_json_schema("{'type': 'object'")


def test_refs_with_the_same_last_name_stay_distinct(llm: Llama) -> None:
    schema = {
        "$defs": {
            "item": {
                "type": "object",
                "properties": {"sub": {"$ref": "#/definitions/item"}},
                "required": ["sub"],
            }
        },
        "definitions": {"item": {"type": "integer"}},
        "$ref": "#/$defs/item",
    }
    out = constrained(llm, "JSON: ", LlamaGrammar.from_json_schema(schema), max_tokens=40)
    assert out["finish_reason"] == "stop"
    value = json.loads(out["text"])
    assert set(value) == {"sub"} and isinstance(value["sub"], int)


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


def test_a_schema_nested_too_deep_is_a_value_error_naming_the_limit() -> None:
    LlamaGrammar.from_json_schema(_nested(MAX_SCHEMA_DEPTH - 1))  # at the limit: converted
    with pytest.raises(ValueError, match=f"nests deeper than {MAX_SCHEMA_DEPTH} levels at 'root"):
        LlamaGrammar.from_json_schema(_nested(400))


def _defs(**defs: Any) -> dict[str, Any]:
    return {"$defs": defs, "$ref": "#/$defs/a"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _required(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


@pytest.mark.parametrize(
    "schema",
    [
        _defs(a=_ref("a")),  # a -> a
        _defs(a=_ref("b"), b=_ref("a")),  # a -> b -> a
        _defs(a=_required(x=_ref("a"))),  # every value of a holds another a
        _defs(a={"type": "array", "items": _ref("a"), "minItems": 1}),
        _defs(a={"anyOf": [_ref("a"), _required(y=_ref("a"))]}),
        _defs(a={"allOf": [_required(x=_ref("b"))]}, b=_required(z=_ref("a"))),
    ],
)
def test_a_ref_cycle_with_no_way_out_is_a_value_error(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\$ref '#/\$defs/[ab]' cannot produce a finite value"):
        LlamaGrammar.from_json_schema(schema)


@pytest.mark.parametrize(
    "schema",
    [
        _defs(a={"type": "object", "properties": {"x": _ref("a")}}),  # x is optional
        _defs(a={"anyOf": [{"type": "null"}, _required(x=_ref("a"))]}),
        _defs(a={"type": "array", "items": _ref("a")}),  # may be empty
        _defs(a=_required(x={"type": ["null", "object"], "properties": {"y": _ref("a")}})),
    ],
)
def test_a_ref_cycle_with_a_way_out_converts(llm: Llama, schema: dict[str, Any]) -> None:
    out = constrained(llm, "JSON: ", LlamaGrammar.from_json_schema(schema), max_tokens=24)
    assert out["text"]
