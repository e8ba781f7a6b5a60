"""JSON Schema -> GBNF, so generation can only produce JSON that validates.

Covers what structured-output users write: objects (properties, required
and optional, additionalProperties), arrays (items, prefixItems, minItems,
maxItems), strings (minLength, maxLength, enum, const, a few formats),
numbers, integers, booleans, null, enum/const of any JSON value, anyOf /
oneOf, allOf of objects, type lists, and $ref into $defs / definitions
(recursive refs included). Unsupported keywords raise ValueError naming
them instead of being silently ignored.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PRIMITIVES = {
    "ws": r'| " " | "\n" [ \t]{0,20}',
    "boolean": '("true" | "false") ws',
    "null": '"null" ws',
    "integer": '("-"? ([0-9] | [1-9] [0-9]{0,15})) ws',
    "number": '("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,16})? ws',
    "char": r'[^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt/] | "u" [0-9a-fA-F]{4})',
    "string": r'"\"" char* "\"" ws',
    "value": "object | array | string | number | boolean | null",
    "object": '"{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws',
    "array": '"[" ws ( value ("," ws value)* )? "]" ws',
}
_PRIMITIVE_DEPS = {
    "boolean": ["ws"],
    "null": ["ws"],
    "integer": ["ws"],
    "number": ["ws"],
    "string": ["char", "ws"],
    "value": ["object", "array", "string", "number", "boolean", "null"],
    "object": ["string", "value", "ws"],
    "array": ["value", "ws"],
}
# fmt: off
_FORMATS = {
    "date": r'"\"" [0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] ) "\"" ws',  # noqa: E501
    "time": r'"\"" ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] [0-9]{2} ":" [0-9]{2} )? "\"" ws',  # noqa: E501
    "uuid": r'"\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\"" ws',  # noqa: E501
}
# fmt: on
_FORMATS["date-time"] = _FORMATS["date"][:-8] + r' "T" ' + _FORMATS["time"][5:]
MAX_SCHEMA_DEPTH = 64
"""Nesting levels a JSON schema may have (deeper ones are refused, not converted)."""

_IGNORED = {
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "$defs",
    "definitions",
    "readOnly",
    "writeOnly",
    "deprecated",
    "strict",
    "name",
}


def _literal(value: str) -> str:
    """A GBNF string literal matching exactly ``value``."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json_literal(value: Any) -> str:
    return _literal(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) + " ws"


_KEYWORDS = _IGNORED | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "minLength",
    "maxLength",
    "format",
    "nullable",
}
"""Every keyword a schema may use: the enforced ones and the ignored ones."""


def _check_keywords(schema: Any, hint: str) -> None:
    """Refuse a schema that is false, not an object, or uses keywords not enforced."""
    if schema is False:
        raise ValueError(f"schema at '{hint}' is false: nothing can match it")
    if not isinstance(schema, dict):
        raise ValueError(f"schema at '{hint}' must be an object, got {schema!r}")
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise ValueError(
            f"schema at '{hint}' uses {sorted(unknown)}, which structured output does not "
            "enforce; remove those keywords (numeric bounds, patterns and the like can be "
            "written as a GBNF grammar and passed with grammar=)"
        )


def _implied_type(schema: dict[str, Any]) -> str | None:
    """The type a schema without ``type`` has by its keywords (None: any value)."""
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


class SchemaConverter:
    """Builds GBNF rules for one schema; :meth:`convert` returns the grammar text."""

    def __init__(self, schema: dict[str, Any]):
        self.root_schema = schema
        self.rules: dict[str, str] = {}
        self.ref_rules: dict[str, str] = {}
        self._depth = 0
        self._needs_memo: dict[str, frozenset[str]] = {}

    # -- rules ------------------------------------------------------------------
    def _primitive(self, name: str) -> str:
        if name not in self.rules:
            self.rules[name] = _PRIMITIVES[name]
            for dep in _PRIMITIVE_DEPS.get(name, []):
                self._primitive(dep)
        return name

    def _add(self, hint: str, body: str, *, reuse: bool = True) -> str:
        """A rule named after ``hint``; an identical existing rule is reused if allowed."""
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", hint).strip("-") or "rule"
        name, i = base, 1
        while name in self.rules and not (reuse and self.rules[name] == body):
            i += 1
            name = f"{base}-{i}"
        self.rules[name] = body
        return name

    # -- schema walk --------------------------------------------------------------
    def visit(self, schema: Any, hint: str) -> str:
        """The name of a rule matching ``schema``."""
        if self._depth >= MAX_SCHEMA_DEPTH:
            raise ValueError(
                f"the JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels at '{hint}'; "
                "flatten it (name repeated parts in $defs and use $ref)"
            )
        self._depth += 1
        try:
            return self._visit(schema, hint)
        finally:
            self._depth -= 1

    def _visit(self, schema: Any, hint: str) -> str:
        if schema is True or schema == {}:
            return self._primitive("value")
        _check_keywords(schema, hint)
        combined = self._combination(schema, hint)
        if combined is not None:
            return combined
        return self._typed(schema, hint)

    def _combination(self, schema: dict[str, Any], hint: str) -> str | None:
        """The rule of a schema that is a $ref, a const, an enum or a combination of
        schemas (anyOf, oneOf, allOf); None for any other."""
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "const" in schema:
            return self._add(hint, _json_literal(schema["const"]))
        if "enum" in schema:
            if not schema["enum"]:
                raise ValueError(f"schema at '{hint}' has an empty enum")
            self._primitive("ws")
            return self._add(hint, " | ".join(_json_literal(v) for v in schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                names = [self.visit(s, f"{hint}-{i}") for i, s in enumerate(schema[key])]
                return self._add(hint, " | ".join(names))
        if "allOf" in schema:
            return self.visit(self._merge_all_of(schema, hint), hint)
        return None

    def _typed(self, schema: dict[str, Any], hint: str) -> str:
        """The rule of a schema by its ``type`` (a list of them, nullable, or implied by
        its keywords)."""
        types = schema.get("type")
        if isinstance(types, list):
            names = [self.visit({**schema, "type": t}, f"{hint}-{t}") for t in types]
            return self._add(hint, " | ".join(names))
        if schema.get("nullable"):
            inner = self.visit(
                {k: v for k, v in schema.items() if k != "nullable"}, f"{hint}-value"
            )
            return self._add(hint, f"{inner} | {self._primitive('null')}")
        if types is None:
            types = _implied_type(schema)
        if types is None:
            return self._primitive("value")
        if types == "object":
            return self._object(schema, hint)
        if types == "array":
            return self._array(schema, hint)
        if types == "string":
            return self._string(schema, hint)
        if types in ("number", "integer", "boolean", "null"):
            return self._primitive(types)
        raise ValueError(f"schema at '{hint}' has an unknown type {types!r}")

    def _ref(self, ref: str) -> str:
        if ref in self.ref_rules:
            return self.ref_rules[ref]
        target = self._resolve(ref)
        if ref in self._needs(target, (ref,)):
            raise ValueError(
                f"$ref {ref!r} cannot produce a finite value: every alternative of it "
                "requires itself again; give the cycle a way out (an optional property, "
                "an anyOf with a non-recursive branch, or an array that may be empty)"
            )
        # a placeholder of its own (never shared), so recursive refs can use it
        name = self._add("ref-" + ref.rsplit("/", 1)[-1], "", reuse=False)
        self.ref_rules[ref] = name
        body_rule = self.visit(target, name + "-body")
        self.rules[name] = body_rule
        return name

    def _needs(self, schema: Any, resolving: tuple[str, ...]) -> frozenset[str]:
        """The $refs that every value matching ``schema`` must contain (a $ref found in
        its own set cannot end). ``resolving``: the refs being expanded (a cycle)."""
        if not isinstance(schema, dict) or len(resolving) > MAX_SCHEMA_DEPTH:
            return frozenset()
        if "$ref" in schema:
            return self._ref_needs(schema["$ref"], resolving)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                options = [self._needs(s, resolving) for s in schema[key]]
                return frozenset.intersection(*options)
        if "const" in schema or "enum" in schema or isinstance(schema.get("type"), list):
            return frozenset()
        if schema.get("nullable"):
            return frozenset()
        return self._parts_needs(schema, resolving)

    def _ref_needs(self, ref: str, resolving: tuple[str, ...]) -> frozenset[str]:
        """:meth:`_needs` of a ``$ref``: the ref itself and what its target needs."""
        if ref in resolving:
            return frozenset({ref})
        if ref not in self._needs_memo:
            try:
                target = self._resolve(ref)
            except ValueError:
                return frozenset()  # reported when visited
            self._needs_memo[ref] = frozenset({ref}) | self._needs(target, (*resolving, ref))
        return self._needs_memo[ref]

    def _parts_needs(self, schema: dict[str, Any], resolving: tuple[str, ...]) -> frozenset[str]:
        """:meth:`_needs` of the parts every value has: allOf's schemas, the required
        properties, the items a minItems asks for, the prefixItems."""
        needed: frozenset[str] = frozenset()
        for part in schema.get("allOf", []) if isinstance(schema.get("allOf"), list) else []:
            needed |= self._needs(part, resolving)
        properties = schema.get("properties")
        required = schema.get("required")
        if isinstance(properties, dict) and isinstance(required, list):
            for key in required:
                if key in properties:
                    needed |= self._needs(properties[key], resolving)
        if isinstance(schema.get("minItems"), int) and schema["minItems"] > 0:
            needed |= self._needs(schema.get("items"), resolving)
        for item in schema.get("prefixItems", []) if isinstance(schema.get("prefixItems"),
                                                                 list) else []:  # fmt: skip
            needed |= self._needs(item, resolving)
        return needed

    def _merge_all_of(self, schema: dict[str, Any], hint: str) -> dict[str, Any]:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            if "$ref" in part:
                part = self._resolve(part["$ref"])
            if part.get("type", "object") != "object":
                raise ValueError(f"allOf at '{hint}' only supports object schemas")
            merged["properties"].update(part.get("properties", {}))
            merged["required"].extend(part.get("required", []))
        return merged

    def _resolve(self, ref: str) -> Any:
        """The schema a local ``$ref`` points to."""
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref ('#/$defs/...') are supported, got {ref!r}")
        target: Any = self.root_schema
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise ValueError(f"$ref {ref!r} points to nothing in the schema")
            target = target[part]
        return target

    def _object(self, schema: dict[str, Any], hint: str) -> str:
        props: dict[str, Any] = schema.get("properties", {})
        required = [k for k in schema.get("required", []) if k in props]
        missing = [k for k in schema.get("required", []) if k not in props]
        if missing:
            raise ValueError(f"schema at '{hint}' requires {missing} but does not define them")
        ws = self._primitive("ws")
        pairs = {
            k: f'{_literal(json.dumps(k, ensure_ascii=False))} ws ":" ws '
            + self.visit(v, f"{hint}-{k}")
            for k, v in props.items()
        }
        optional = [k for k in props if k not in required]
        # Without properties, any members are allowed unless additionalProperties
        # is false; with properties, only those (what structured output wants).
        additional = schema.get("additionalProperties", None if props else True)
        extra = None
        if additional not in (False, None) and not props:
            value = self.visit(additional if isinstance(additional, dict) else {}, f"{hint}-value")
            extra = f'{self._primitive("string")} ":" ws {value}'
        if extra is not None:
            body = f'"{{" {ws} ( {extra} ("," {ws} {extra})* )? "}}" {ws}'
            return self._add(hint, body)
        if required:
            seq = f' "," {ws} '.join(pairs[k] for k in required)
            rest = " ".join(f'( "," {ws} {pairs[k]} )?' for k in optional)
            body = f'"{{" {ws} {seq} {rest} "}}" {ws}'
        elif optional:
            choices = []
            for i, k in enumerate(optional):
                tail = " ".join(f'( "," {ws} {pairs[o]} )?' for o in optional[i + 1 :])
                choices.append(f"{pairs[k]} {tail}".strip())
            body = f'"{{" {ws} ( {" | ".join(f"( {c} )" for c in choices)} )? "}}" {ws}'
        else:
            body = f'"{{" {ws} "}}" {ws}'
        return self._add(hint, body)

    def _array(self, schema: dict[str, Any], hint: str) -> str:
        ws = self._primitive("ws")
        if "prefixItems" in schema:
            items = [self.visit(s, f"{hint}-{i}") for i, s in enumerate(schema["prefixItems"])]
            inner = f' "," {ws} '.join(items)
            return self._add(hint, f'"[" {ws} {inner} "]" {ws}')
        item = self.visit(schema.get("items", {}), f"{hint}-item")
        lo = int(schema.get("minItems", 0))
        hi = schema.get("maxItems")
        if hi is not None and int(hi) < lo:
            raise ValueError(f"schema at '{hint}': maxItems {hi} is below minItems {lo}")
        if hi == 0:
            return self._add(hint, f'"[" {ws} "]" {ws}')
        more = f'( "," {ws} {item} )'
        if hi is None:
            rep = f"{more}{{{max(lo - 1, 0)},}}"
        else:
            rep = f"{more}{{{max(lo - 1, 0)},{int(hi) - 1}}}"
        inner = f"{item} {rep}"
        if lo == 0:
            inner = f"( {inner} )?"
        return self._add(hint, f'"[" {ws} {inner} "]" {ws}')

    def _string(self, schema: dict[str, Any], hint: str) -> str:
        fmt = schema.get("format")
        if fmt in _FORMATS:
            self._primitive("ws")
            return self._add(f"{fmt}-string", _FORMATS[fmt])
        if "minLength" not in schema and "maxLength" not in schema:
            return self._primitive("string")
        char = self._primitive("char")
        self._primitive("ws")
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        rep = f"{{{lo},}}" if hi is None else f"{{{lo},{int(hi)}}}"
        return self._add(hint, f'"\\"" {char}{rep} "\\"" ws')

    def convert(self) -> str:
        top = self.visit(self.root_schema, "root-value")
        self.rules["root"] = top
        lines = [f"root ::= {self.rules.pop('root')}"]
        lines += [f"{name} ::= {body}" for name, body in self.rules.items()]
        return "\n".join(lines) + "\n"


def json_schema_to_gbnf(schema: dict[str, Any] | str) -> str:
    """GBNF grammar text for a JSON schema (a dict, or its JSON text)."""
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as e:
            raise ValueError(f"the JSON schema is not valid JSON: {e}") from None
    if not isinstance(schema, (dict, bool)):
        raise ValueError(f"a JSON schema must be an object, got {type(schema).__name__}")
    return SchemaConverter(schema if isinstance(schema, dict) else {}).convert()


def _any_object_grammar() -> str:
    converter = SchemaConverter({})
    converter._primitive("object")
    return (
        "root ::= object\n" + "\n".join(f"{k} ::= {v}" for k, v in converter.rules.items()) + "\n"
    )


JSON_GBNF = _any_object_grammar()
"""Any JSON object (what ``response_format={"type": "json_object"}`` allows)."""
