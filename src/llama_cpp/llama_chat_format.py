"""Chat prompt formatting: the model's own Jinja template, or a named format.

``Llama(chat_format=None)`` renders the model's ``tokenizer.chat_template``
(the GGUF metadata) with Jinja, as the model's authors wrote it. A named
``chat_format`` ("chatml", "llama-2", "llama-3", "mistral-instruct", "gemma",
"phi-3", ... or any of llama.cpp's built-in template names) uses llama.cpp's
built-in formatter instead; it is also the fallback for models without a
template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from llama_cpp import _core

# llama-cpp-python's format names -> llama.cpp's built-in template names.
FORMAT_ALIASES = {
    "chatml": "chatml",
    "qwen": "chatml",
    "llama-2": "llama2",
    "llama-3": "llama3",
    "mistral-instruct": "mistral-v1",
    "mistral": "mistral-v7",
    "gemma": "gemma",
    "phi-3": "phi3",
    "phi-4": "phi4",
    "zephyr": "zephyr",
    "vicuna": "vicuna",
    "openchat": "openchat",
    "chatglm3": "chatglm3",
    "command-r": "command-r",
    "deepseek": "deepseek",
    "granite": "granite",
}
MODEL_TEMPLATE = "chat_template.default"
"""The chat_format name for "the model's own template" (llama-cpp-python's name)."""


@dataclass
class ChatFormatterResponse:
    """A formatted prompt and the stop strings that go with it."""

    prompt: str
    stop: str | list[str] | None = None
    added_special: bool = False


class ChatFormatter(Protocol):
    def __call__(
        self, *, messages: list[dict[str, Any]], **kwargs: Any
    ) -> ChatFormatterResponse: ...


class LlamaChatCompletionHandler(Protocol):
    """A custom chat handler (``Llama(chat_handler=...)``): called with the Llama and
    every create_chat_completion argument, returns the response (or a chunk iterator)."""

    def __call__(self, *, llama: Any, messages: list[dict[str, Any]], **kwargs: Any) -> Any: ...


def builtin_format_names() -> list[str]:
    """Every chat_format name accepted: the aliases and llama.cpp's built-in names."""
    return sorted(set(FORMAT_ALIASES) | set(_core.chat_builtin_templates()) | {MODEL_TEMPLATE})


def message_text(message: dict[str, Any]) -> str:
    """A message's content as text (content parts joined; images refused)."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") in ("image_url", "input_image"):
                raise ValueError(
                    "this chat format takes text only; an image content part needs a multimodal "
                    "chat handler"
                )
            else:
                raise ValueError(f"unsupported message content part: {part!r}")
        return "".join(texts)
    raise ValueError(f"message content must be a string or a list of parts, got {content!r}")


def check_messages(messages: Any) -> list[dict[str, Any]]:
    """Raise a ValueError naming the problem unless ``messages`` is a list of role/content dicts."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"messages[{i}] must be a dict with a 'role', got {m!r}")
        if not isinstance(m["role"], str):
            raise ValueError(f"messages[{i}]['role'] must be a string, got {m['role']!r}")
    return list(messages)


def _tojson(
    value: Any,
    indent: int | None = None,
    ensure_ascii: bool = False,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value,
        indent=indent,
        ensure_ascii=ensure_ascii,
        separators=tuple(separators) if separators else None,
        sort_keys=sort_keys,
    )


def _raise_exception(message: str) -> None:
    raise ValueError(f"the chat template refused these messages: {message}")


class Jinja2ChatFormatter:
    """Renders a Hugging Face style Jinja chat template (sandboxed)."""

    def __init__(
        self,
        template: str,
        eos_token: str,
        bos_token: str,
        add_generation_prompt: bool = True,
        stop_token_ids: list[int] | None = None,
    ):
        try:
            import jinja2
            import jinja2.sandbox
        except ImportError as e:  # pragma: no cover - jinja2 is a dependency
            raise ImportError("chat templates need jinja2: pip install jinja2") from e
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.loopcontrols"],
        )
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self._template = env.from_string(template)
        except jinja2.TemplateSyntaxError as e:
            raise ValueError(
                f"the model's chat template does not parse (line {e.lineno}: {e.message}); "
                "pass chat_format='chatml' (or another named format) to use a built-in one"
            ) from None
        self.template = template
        self.eos_token = eos_token
        self.bos_token = bos_token
        self.add_generation_prompt = add_generation_prompt
        self.stop_token_ids = stop_token_ids

    def __call__(
        self, *, messages: list[dict[str, Any]], tools: list[Any] | None = None, **kwargs: Any
    ) -> ChatFormatterResponse:
        import jinja2

        try:
            prompt = self._template.render(
                messages=messages,
                add_generation_prompt=self.add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                tools=tools or None,
                **{k: v for k, v in kwargs.items() if v is not None},
            )
        except jinja2.TemplateError as e:
            raise ValueError(f"the model's chat template failed on these messages: {e}") from None
        return ChatFormatterResponse(
            prompt=prompt, stop=[self.eos_token] if self.eos_token else None, added_special=True
        )

    @property
    def mentions_tools(self) -> bool:
        """Whether the template renders a ``tools`` list itself."""
        return "tools" in self.template


class BuiltinChatFormatter:
    """One of llama.cpp's built-in templates, by name."""

    def __init__(self, name: str):
        resolved = FORMAT_ALIASES.get(name, name)
        if resolved not in _core.chat_builtin_templates():
            raise ValueError(
                f"unknown chat_format {name!r}; use one of {builtin_format_names()}, or None for "
                "the model's own template"
            )
        self.name = resolved

    mentions_tools = False

    def __call__(self, *, messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
        pairs = [(str(m["role"]), message_text(m)) for m in messages]
        return ChatFormatterResponse(prompt=_core.chat_apply_template(self.name, pairs, True))


def make_formatter(
    chat_format: str | None, model: _core.Model, bos_token: str, eos_token: str
) -> Jinja2ChatFormatter | BuiltinChatFormatter:
    """The formatter for ``chat_format`` (None: the model's template, else chatml)."""
    template = model.chat_template
    if chat_format in (None, MODEL_TEMPLATE):
        if template:
            return Jinja2ChatFormatter(template, eos_token=eos_token, bos_token=bos_token)
        if chat_format == MODEL_TEMPLATE:
            raise ValueError(
                "this model has no chat template (tokenizer.chat_template); "
                "pass a chat_format such as 'chatml'"
            )
        return BuiltinChatFormatter("chatml")
    return BuiltinChatFormatter(chat_format)


_HANDLERS: dict[str, Callable[..., Any]] = {}


def register_chat_completion_handler(
    name: str,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make a handler available as ``Llama(chat_format=name)``."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        _HANDLERS[name] = handler
        return handler

    return register


def get_chat_completion_handler(name: str) -> Callable[..., Any] | None:
    """A handler registered under ``name``, if any."""
    return _HANDLERS.get(name)
