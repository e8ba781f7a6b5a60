"""Hugging Face style chat templates: Jinja2ChatFormatter (sandboxed Jinja, with the
extras Hugging Face templates use) and formatters from a ``tokenizer_config.json`` or a
``transformers`` tokenizer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from llama_cpp._chat_registry import (
    ChatFormatter,
    ChatFormatterResponse,
    LlamaChatCompletionHandler,
    chat_formatter_to_chat_completion_handler,
)
from llama_cpp._sampling import StoppingCriteriaList


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


def _jinja_environment() -> Any:
    """A sandboxed environment with the Hugging Face chat-template extras."""
    try:
        import jinja2
        import jinja2.ext
        import jinja2.sandbox
    except ImportError as e:  # pragma: no cover - jinja2 is a dependency
        raise ImportError("chat templates need jinja2: pip install jinja2") from e

    class GenerationBlock(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` (marks training targets): its body."""

        tags = {"generation"}  # noqa: RUF012 (jinja2 declares it per instance)

        def parse(self, parser: Any) -> Any:
            next(parser.stream)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols, GenerationBlock],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


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
        import jinja2

        if not isinstance(template, str):
            raise TypeError(f"a chat template must be a string, got {type(template).__name__}")
        try:
            self._template = _jinja_environment().from_string(template)
        except jinja2.TemplateSyntaxError as e:
            raise ValueError(
                f"the chat template does not parse (line {e.lineno}: {e.message}); "
                "pass chat_format='chatml' (or another named format) to use a built-in one"
            ) from None
        self.template = template
        self.eos_token = eos_token
        self.bos_token = bos_token
        self.add_generation_prompt = add_generation_prompt
        self.stop_token_ids = set(stop_token_ids) if stop_token_ids is not None else None

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
            raise ValueError(f"the chat template failed on these messages: {e}") from None
        criteria = None
        if self.stop_token_ids:
            stop_ids = self.stop_token_ids
            criteria = StoppingCriteriaList([lambda ids, _logits: int(ids[-1]) in stop_ids])
        return ChatFormatterResponse(
            prompt=prompt,
            stop=[self.eos_token] if self.eos_token else None,
            stopping_criteria=criteria,
            added_special=True,
        )

    @property
    def mentions_tools(self) -> bool:
        """Whether the template renders a ``tools`` list itself."""
        return "tools" in self.template

    def to_chat_handler(self) -> LlamaChatCompletionHandler:
        """This formatter as a chat handler (``Llama(chat_handler=...)``)."""
        return chat_formatter_to_chat_completion_handler(self)


# ---- Hugging Face tokenizer configs --------------------------------------------------------
def _special_token_text(value: Any) -> str:
    """A tokenizer_config special token: a string, or an AddedToken dict with "content"."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def hf_tokenizer_config_to_chat_formatter(
    tokenizer_config: dict[str, Any], add_generation_prompt: bool = True
) -> Jinja2ChatFormatter:
    """A formatter from a Hugging Face ``tokenizer_config.json`` (as a dict): its
    ``chat_template`` (the "default" one of a named list), ``bos_token`` and ``eos_token``."""
    if not isinstance(tokenizer_config, dict):
        raise TypeError(
            "tokenizer_config must be a dict (json.load a tokenizer_config.json), got "
            f"{type(tokenizer_config).__name__}"
        )
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    if not isinstance(template, str) or not template:
        raise ValueError(
            "tokenizer_config has no 'chat_template' string (newer models keep it in "
            "chat_template.jinja: pass {'chat_template': <that file's text>, ...})"
        )
    return Jinja2ChatFormatter(
        template,
        eos_token=_special_token_text(tokenizer_config.get("eos_token")),
        bos_token=_special_token_text(tokenizer_config.get("bos_token")),
        add_generation_prompt=add_generation_prompt,
    )


def hf_tokenizer_config_to_chat_completion_handler(
    tokenizer_config: dict[str, Any], add_generation_prompt: bool = True
) -> LlamaChatCompletionHandler:
    """hf_tokenizer_config_to_chat_formatter, as a chat handler."""
    formatter = hf_tokenizer_config_to_chat_formatter(tokenizer_config, add_generation_prompt)
    return chat_formatter_to_chat_completion_handler(formatter)


class _AutoTokenizerFormatter:
    """Formats chats with a ``transformers`` tokenizer's ``apply_chat_template``."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.bos_token = tokenizer.bos_token or ""
        self.eos_token = tokenizer.eos_token or ""

    def __call__(self, *, messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
        options = {k: v for k, v in kwargs.items() if k == "tools" and v}
        prompt = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **options
        )
        return ChatFormatterResponse(
            prompt=str(prompt), stop=self.eos_token or None, added_special=True
        )


def hf_autotokenizer_to_chat_formatter(pretrained_model_name_or_path: Any) -> ChatFormatter:
    """A formatter using ``transformers.AutoTokenizer.from_pretrained(...)``'s chat template
    (needs the optional ``transformers`` package)."""
    try:
        from transformers import AutoTokenizer  # type: ignore[import-not-found]
    except ImportError as e:
        raise ImportError(
            "hf_autotokenizer_to_chat_formatter needs the transformers package: "
            "pip install transformers (or use hf_tokenizer_config_to_chat_formatter with the "
            "model's tokenizer_config.json, which needs nothing extra)"
        ) from e
    return _AutoTokenizerFormatter(AutoTokenizer.from_pretrained(pretrained_model_name_or_path))


def hf_autotokenizer_to_chat_completion_handler(
    pretrained_model_name_or_path: Any,
) -> LlamaChatCompletionHandler:
    """hf_autotokenizer_to_chat_formatter, as a chat handler."""
    formatter = hf_autotokenizer_to_chat_formatter(pretrained_model_name_or_path)
    return chat_formatter_to_chat_completion_handler(formatter)
