"""Tool calls for chat completions: prompting, constraining and parsing.

- ``tool_choice`` naming a function, or ``"required"``: generation is
  constrained by a grammar to a call (name + JSON arguments matching the
  function's parameter schema), so the result always parses.
- ``"auto"``: the model decides; its output is scanned for the usual call
  syntaxes (``<tool_call>{...}</tool_call>``, a bare ``{"name": ..,
  "arguments": ..}`` object or list, ``[TOOL_CALLS] [...]``,
  ``<|python_tag|>{...}``).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from llama_cpp._json_schema import json_schema_to_gbnf

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def check_tools(tools: Any) -> list[dict[str, Any]]:
    """The tool list, with a clear ValueError for a malformed one."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise ValueError("tools must be a list of {'type': 'function', 'function': {...}} dicts")
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ValueError(
                f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ..., "
                f"'parameters': {{...}}}}}}, got {tool!r}"
            )
    return tools


def forced_tool(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    """The function a ``tool_choice`` names, or None for "auto"/"none"/"required"."""
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        for tool in tools:
            if tool["function"]["name"] == name:
                return tool["function"]
        known = [t["function"]["name"] for t in tools]
        raise ValueError(f"tool_choice names function {name!r}, which is not in tools {known}")
    if tool_choice not in (None, "auto", "none", "required"):
        raise ValueError(
            f"tool_choice must be 'auto', 'none', 'required' or a function, got {tool_choice!r}"
        )
    return None


def call_grammar(tools: list[dict[str, Any]], only: dict[str, Any] | None) -> str:
    """GBNF for one call: {"name": <a tool>, "arguments": <its parameters>}."""
    chosen = [only] if only is not None else [t["function"] for t in tools]
    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": fn["name"]},
                "arguments": fn.get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for fn in chosen
    ]
    return json_schema_to_gbnf(variants[0] if len(variants) == 1 else {"anyOf": variants})


def tools_system_prompt(tools: list[dict[str, Any]]) -> str:
    """A system note describing the tools, for templates that do not render them."""
    lines = [
        "You can call these functions. To call one, answer only with",
        '<tool_call>{"name": <function name>, "arguments": <JSON arguments>}</tool_call>',
        "Functions:",
    ]
    lines += [json.dumps(t["function"], ensure_ascii=False) for t in tools]
    return "\n".join(lines)


def make_call(name: str, arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {
        "id": "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _calls_from_json(value: Any, names: set[str]) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            return []
        name = item.get("name")
        if name not in names:
            return []
        calls.append(make_call(name, item.get("arguments", item.get("parameters", {}))))
    return calls


def parse_tool_calls(text: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls found in model output (empty if it is a plain answer)."""
    names = {t["function"]["name"] for t in tools}
    stripped = text.strip()
    candidates = (
        [m.group(1) for m in _TAGGED.finditer(stripped)] if "<tool_call>" in stripped else []
    )
    for prefix in ("[TOOL_CALLS]", "<|python_tag|>"):
        if stripped.startswith(prefix):
            candidates.append(stripped[len(prefix) :].strip())
    if not candidates and stripped[:1] in ("{", "["):
        candidates.append(stripped)
    calls: list[dict[str, Any]] = []
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        calls.extend(_calls_from_json(value, names))
    return calls
