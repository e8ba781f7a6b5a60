"""Chat prompt formatting: the model's own Jinja template, or a named format.

``Llama(chat_format=None)`` renders the model's ``tokenizer.chat_template``
(the GGUF metadata) with Jinja, as the model's authors wrote it. A named
``chat_format`` is a format registered by name (llama-cpp-python's: "chatml",
"llama-2", "llama-3", "mistral-instruct", "gemma", "alpaca", "vicuna", ..., or
your own through ``register_chat_format`` / ``register_chat_completion_handler``)
or one of llama.cpp's built-in template names; formats llama.cpp has built in are
rendered by llama.cpp. Without a model template, "chatml" is the fallback.
"""

from __future__ import annotations

from typing import Any

from llama_cpp import _core
from llama_cpp._chat_formats import (
    FORMAT_ALIASES,
    TEMPLATE_STOPS,
    BuiltinChatFormatter,
    chatml_function_calling,
    format_alpaca,
    format_baichuan,
    format_baichuan2,
    format_chatglm3,
    format_chatml,
    format_gemma,
    format_intel,
    format_llama2,
    format_llama3,
    format_mistral_instruct,
    format_mistrallite,
    format_oasst_llama,
    format_open_orca,
    format_openbuddy,
    format_openchat,
    format_phind,
    format_pygmalion,
    format_qwen,
    format_redpajama_incite,
    format_saiga,
    format_snoozy,
    format_vicuna,
    format_zephyr,
    message_text,
)
from llama_cpp._chat_jinja import (
    Jinja2ChatFormatter,
    hf_autotokenizer_to_chat_completion_handler,
    hf_autotokenizer_to_chat_formatter,
    hf_tokenizer_config_to_chat_completion_handler,
    hf_tokenizer_config_to_chat_formatter,
)
from llama_cpp._chat_multimodal import (
    MULTIMODAL_FORMATS,
    Gemma4ChatHandler,
    Llama3VisionAlpha,
    Llama3VisionAlphaChatHandler,
    Llava15ChatHandler,
    Llava16ChatHandler,
    MiniCPMv26ChatHandler,
    MoondreamChatHandler,
    MTMDChatHandler,
    NanoLlavaChatHandler,
    ObsidianChatHandler,
    Qwen25VLChatHandler,
    image_input_unsupported,
)
from llama_cpp._chat_registry import (
    ChatFormatter,
    ChatFormatterResponse,
    FormatterChatHandler,
    LlamaChatCompletionHandler,
    LlamaChatCompletionHandlerNotFoundException,
    LlamaChatCompletionHandlerRegistry,
    chat_formatter_to_chat_completion_handler,
    get_chat_completion_handler,
    register_chat_completion_handler,
    register_chat_format,
)

__all__ = [
    "FORMAT_ALIASES",
    "MODEL_TEMPLATE",
    "MULTIMODAL_FORMATS",
    "TEMPLATE_STOPS",
    "BuiltinChatFormatter",
    "ChatFormatter",
    "ChatFormatterResponse",
    "FormatterChatHandler",
    "Gemma4ChatHandler",
    "Jinja2ChatFormatter",
    "Llama3VisionAlpha",
    "Llama3VisionAlphaChatHandler",
    "LlamaChatCompletionHandler",
    "LlamaChatCompletionHandlerNotFoundException",
    "LlamaChatCompletionHandlerRegistry",
    "Llava15ChatHandler",
    "Llava16ChatHandler",
    "MTMDChatHandler",
    "MiniCPMv26ChatHandler",
    "MoondreamChatHandler",
    "NanoLlavaChatHandler",
    "ObsidianChatHandler",
    "Qwen25VLChatHandler",
    "chat_formatter_to_chat_completion_handler",
    "chatml_function_calling",
    "check_messages",
    "format_alpaca",
    "format_baichuan",
    "format_baichuan2",
    "format_chatglm3",
    "format_chatml",
    "format_gemma",
    "format_intel",
    "format_llama2",
    "format_llama3",
    "format_mistral_instruct",
    "format_mistrallite",
    "format_oasst_llama",
    "format_open_orca",
    "format_openbuddy",
    "format_openchat",
    "format_phind",
    "format_pygmalion",
    "format_qwen",
    "format_redpajama_incite",
    "format_saiga",
    "format_snoozy",
    "format_vicuna",
    "format_zephyr",
    "get_chat_completion_handler",
    "guess_chat_format_from_gguf_metadata",
    "hf_autotokenizer_to_chat_completion_handler",
    "hf_autotokenizer_to_chat_formatter",
    "hf_tokenizer_config_to_chat_completion_handler",
    "hf_tokenizer_config_to_chat_formatter",
    "known_format_names",
    "make_formatter",
    "message_text",
    "register_chat_completion_handler",
    "register_chat_format",
    "registered_chat_handler",
    "resolve_chat_format",
]

MODEL_TEMPLATE = "chat_template.default"
"""The chat_format name for "the model's own template" (llama-cpp-python's name)."""


# ---- resolving a chat_format name ---------------------------------------------------------------
def known_format_names() -> list[str]:
    """Every chat_format name accepted: the registered formats, llama.cpp's built-in
    template names, and MODEL_TEMPLATE."""
    registered = LlamaChatCompletionHandlerRegistry().names()
    return sorted({*registered, *_core.chat_builtin_templates(), MODEL_TEMPLATE})


def resolve_chat_format(name: str) -> LlamaChatCompletionHandler | str:
    """What ``chat_format=name`` means: the handler registered as ``name``, or else the
    llama.cpp built-in template name (or MODEL_TEMPLATE) to format with. An unknown name
    is a ValueError listing the known ones."""
    if not isinstance(name, str):
        raise ValueError(f"chat_format must be a string or None, got {name!r}")
    handler = LlamaChatCompletionHandlerRegistry().get(name)
    if handler is not None:
        return handler
    if name in MULTIMODAL_FORMATS:
        raise image_input_unsupported(f"chat_format {name!r}")
    if name == MODEL_TEMPLATE or name in _core.chat_builtin_templates():
        return name
    raise ValueError(
        f"unknown chat_format {name!r}; use one of {known_format_names()}, or None for "
        "the model's own template (register your own with register_chat_format)"
    )


def registered_chat_handler(chat_format: str | None) -> LlamaChatCompletionHandler | None:
    """The handler ``Llama(chat_format=...)`` should call: the one registered under that
    name, else None (the model's template or a llama.cpp built-in formats the chat, and an
    unknown name is reported when the chat is formatted)."""
    if not isinstance(chat_format, str):
        return None
    return LlamaChatCompletionHandlerRegistry().get(chat_format)


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


def make_formatter(
    chat_format: str | None, model: _core.Model, bos_token: str, eos_token: str
) -> Any:
    """The formatter for ``chat_format`` (None: the model's template, else chatml)."""
    template = model.chat_template
    if chat_format is None or chat_format == MODEL_TEMPLATE:
        if template:
            return Jinja2ChatFormatter(template, eos_token=eos_token, bos_token=bos_token)
        if chat_format == MODEL_TEMPLATE:
            raise ValueError(
                "this model has no chat template (tokenizer.chat_template); "
                "pass a chat_format such as 'chatml'"
            )
        return BuiltinChatFormatter("chatml")
    resolved = resolve_chat_format(chat_format)
    if isinstance(resolved, str):
        return BuiltinChatFormatter(resolved)
    if isinstance(resolved, FormatterChatHandler):
        return resolved.formatter
    raise ValueError(
        f"chat_format {chat_format!r} is a chat handler registered after this Llama was "
        "created; register it first, or pass chat_handler=get_chat_completion_handler("
        f"{chat_format!r})"
    )


# ---- guessing a named format from a model's template -----------------------------------------
_PROBES: list[list[dict[str, Any]]] = [
    [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
]


def guess_chat_format_from_gguf_metadata(metadata: dict[str, str]) -> str | None:
    """The named format that formats chats exactly as the model's template
    (``tokenizer.chat_template`` in ``metadata``) does, or None when none does (a
    template that adds a default system message, say, matches none)."""
    template = metadata.get("tokenizer.chat_template") if isinstance(metadata, dict) else None
    if not isinstance(template, str) or not template:
        return None
    try:
        model_formatter = Jinja2ChatFormatter(template, eos_token="</s>", bos_token="")
    except ValueError:
        return None
    expected: list[tuple[list[dict[str, Any]], str]] = []
    for probe in _PROBES:
        try:
            expected.append((probe, model_formatter(messages=probe).prompt.strip()))
        except (ValueError, TypeError):
            continue  # the template refuses this probe (e.g. no system role)
    if not expected or expected[0][0] is not _PROBES[0]:
        return None
    available = set(_core.chat_builtin_templates())
    tried: set[str] = set()
    for name, builtin in FORMAT_ALIASES.items():
        if builtin in tried or builtin not in available:
            continue
        tried.add(builtin)
        formatter = BuiltinChatFormatter(builtin)
        if all(formatter(messages=probe).prompt.strip() == text for probe, text in expected):
            return name
    return None
