"""llama-cpp-python's named chat formats (``format_llama2``, ``format_alpaca``, ...).

A name that llama.cpp has a built-in template for is formatted by llama.cpp
(``FORMAT_ALIASES`` maps the name to the template); the rest are written here.
Importing this module registers every name (``Llama(chat_format=name)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llama_cpp import _core
from llama_cpp._chat_registry import (
    ChatFormatterResponse,
    FormatterChatHandler,
    LlamaChatCompletionHandlerRegistry,
    register_chat_completion_handler,
    register_chat_format,
)

# llama-cpp-python's format names -> llama.cpp's built-in template names.
FORMAT_ALIASES = {
    "chatml": "chatml",
    "qwen": "chatml",
    "llama-2": "llama2-sys",
    "llama-3": "llama3",
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

# Where a reply ends, per llama.cpp template: the turn terminator, and for plain-text
# markers the next turn's marker (a model that skips the terminator still stops).
TEMPLATE_STOPS: dict[str, list[str]] = {
    "chatml": ["<|im_end|>"],
    "llama2-sys": ["</s>", "[INST]"],
    "llama3": ["<|eot_id|>"],
    "mistral-v1": ["</s>", "[INST]"],
    "mistral-v7": ["</s>", "[INST]"],
    "gemma": ["<end_of_turn>"],
    "phi3": ["<|end|>"],
    "phi4": ["<|im_end|>"],
    "zephyr": ["<|endoftext|>", "<|user|>"],
    "vicuna": ["</s>", "USER:"],
    "openchat": ["<|end_of_turn|>"],
    "chatglm3": ["<|user|>", "<|observation|>"],
    "command-r": ["<|END_OF_TURN_TOKEN|>"],
    "deepseek": ["<|EOT|>", "### Instruction:"],
    "granite": ["<|end_of_text|>"],
}


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
                    "this chat format takes text only; image input is not in this release "
                    "(llama.cpp's llama-mtmd-cli or llama-server --mmproj take images)"
                )
            else:
                raise ValueError(f"unsupported message content part: {part!r}")
        return "".join(texts)
    raise ValueError(f"message content must be a string or a list of parts, got {content!r}")


class BuiltinChatFormatter:
    """One of llama.cpp's built-in templates, by its name or one of FORMAT_ALIASES."""

    mentions_tools = False

    def __init__(self, name: str, default_system: str = ""):
        resolved = FORMAT_ALIASES.get(name, name)
        if resolved not in _core.chat_builtin_templates():
            raise ValueError(
                f"llama.cpp has no built-in chat template {name!r}; "
                f"it has {sorted(_core.chat_builtin_templates())}"
            )
        self.name = resolved
        self.default_system = default_system

    def __call__(self, *, messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
        del kwargs  # tools and the like: the chat pipeline has already put them in the messages
        pairs = [(str(m["role"]), message_text(m)) for m in messages]
        if self.default_system and not any(role == "system" for role, _ in pairs):
            pairs.insert(0, ("system", self.default_system))
        prompt = _core.chat_apply_template(self.name, pairs, True)
        return ChatFormatterResponse(prompt=prompt, stop=list(TEMPLATE_STOPS.get(self.name, [])))

    def __repr__(self) -> str:
        return f"BuiltinChatFormatter({self.name!r})"


def _builtin(
    name: str, messages: list[dict[str, Any]], default_system: str = ""
) -> ChatFormatterResponse:
    return BuiltinChatFormatter(name, default_system)(messages=messages)


@dataclass(frozen=True)
class _TurnFormat:
    """A plain-text chat format: each piece is a template with ``{}`` for the text."""

    system: str
    user: str
    assistant: str
    generation: str
    stop: tuple[str, ...] = ()
    default_system: str = ""

    def __call__(self, messages: list[dict[str, Any]]) -> ChatFormatterResponse:
        systems = [message_text(m) for m in messages if m.get("role") == "system"]
        system = "\n\n".join(s for s in systems if s) or self.default_system
        parts = [self.system.format(system)] if system else []
        for m in messages:
            role = m.get("role")
            if role == "system":
                continue
            # tool and function results are shown to the model as the user's turn
            template = self.assistant if role == "assistant" else self.user
            parts.append(template.format(message_text(m)))
        parts.append(self.generation)
        return ChatFormatterResponse(prompt="".join(parts), stop=list(self.stop))


_ALPACA = _TurnFormat(
    system="{}\n\n",
    user="### Instruction:\n{}\n\n",
    assistant="### Response:\n{}\n\n",
    generation="### Response:\n",
    stop=("### Instruction:",),
)
_OASST_LLAMA = _TurnFormat(
    system="[INST] <<SYS>>\n{}\n<</SYS>>\n\n",
    user="<|prompter|>{}</s>",
    assistant="<|assistant|>{}</s>",
    generation="<|assistant|>",
    stop=("</s>",),
)
_BAICHUAN2 = _TurnFormat(
    system="{}", user="<reserved_106>{}", assistant="<reserved_107>{}", generation="<reserved_107>"
)
_BAICHUAN = _TurnFormat(
    system="{}", user="<reserved_102>{}", assistant="<reserved_103>{}", generation="<reserved_103>"
)
_OPENBUDDY = _TurnFormat(
    system="{}\n\n",
    user="User: {}\n",
    assistant="Assistant: {}\n",
    generation="Assistant:",
    stop=("\nUser:",),
    default_system=(
        "You are a helpful, respectful and honest assistant named Buddy, talking to a human "
        "User. Answer as helpfully and accurately as you can; if you do not know something, "
        "say so instead of guessing."
    ),
)
_REDPAJAMA_INCITE = _TurnFormat(
    system="{}\n",
    user="<human>: {}\n",
    assistant="<bot>: {}\n",
    generation="<bot>:",
    stop=("<human>",),
)
_SNOOZY = _TurnFormat(
    system="### Instruction:\n{}\n",
    user="### Prompt:\n{}\n",
    assistant="### Response:\n{}\n",
    generation="### Response:\n",
    stop=("###",),
    default_system=(
        "The prompt below is a question to answer, a task to complete, or a conversation to "
        "respond to; decide which and write an appropriate response."
    ),
)
_PHIND = _TurnFormat(
    system="### System Prompt\n{}\n\n",
    user="### User Message\n{}\n\n",
    assistant="### Assistant\n{}\n\n",
    generation="### Assistant\n",
    stop=("### User Message",),
    default_system="You are an intelligent programming assistant.",
)
_INTEL = _TurnFormat(
    system="### System:\n{}\n",
    user="### User:\n{}\n",
    assistant="### Assistant:\n{}\n",
    generation="### Assistant:\n",
    stop=("### User:",),
)
_OPEN_ORCA = _TurnFormat(
    system="{}<|end_of_turn|>\n",
    user="User: {}<|end_of_turn|>\n",
    assistant="Assistant: {}<|end_of_turn|>\n",
    generation="Assistant:",
    stop=("<|end_of_turn|>", "User:"),
    default_system="You are a helpful assistant. Think step by step and answer truthfully.",
)
_MISTRALLITE = _TurnFormat(
    system="<|system|>{}</s>",
    user="<|prompter|>{}</s>",
    assistant="<|assistant|>{}</s>",
    generation="<|assistant|>",
    stop=("</s>",),
)
_PYGMALION = _TurnFormat(
    system="<|system|>{}\n",
    user="<|user|>{}\n",
    assistant="<|model|>{}\n",
    generation="<|model|>",
    stop=("<|user|>", "<|system|>"),
)
_SAIGA = _TurnFormat(
    system="<s>system\n{}</s>\n",
    user="<s>user\n{}</s>\n",
    assistant="<s>bot\n{}</s>\n",
    generation="<s>bot\n",
    stop=("</s>",),
)

_VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions."
)
_QWEN_SYSTEM = "You are a helpful assistant."


# ---- formats llama.cpp has built in ---------------------------------------------------------
@register_chat_format("llama-2")
def format_llama2(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Llama 2 chat: ``[INST] <<SYS>>...<</SYS>> ... [/INST]`` (llama.cpp's llama2-sys)."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("llama-2", messages)


@register_chat_format("llama-3")
def format_llama3(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Llama 3: ``<|start_header_id|>role<|end_header_id|>`` turns ending in ``<|eot_id|>``."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("llama-3", messages)


@register_chat_format("qwen")
def format_qwen(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Qwen: ChatML, with Qwen's default system message when the chat has none."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    response = _builtin("qwen", messages, default_system=_QWEN_SYSTEM)
    response.stop = [*(response.stop or []), "<|endoftext|>"]
    return response


@register_chat_format("vicuna")
def format_vicuna(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Vicuna v1.1: ``USER: ... ASSISTANT:``, with Vicuna's system message by default."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("vicuna", messages, default_system=_VICUNA_SYSTEM)


@register_chat_format("zephyr")
def format_zephyr(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Zephyr: ``<|system|>``, ``<|user|>``, ``<|assistant|>`` turns."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("zephyr", messages)


@register_chat_format("chatml")
def format_chatml(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """ChatML: ``<|im_start|>role ... <|im_end|>`` turns."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("chatml", messages)


@register_chat_format("mistral-instruct")
def format_mistral_instruct(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Mistral-7B-Instruct v0.1/v0.2 as its own template writes it: ``[INST] user [/INST]``,
    the reply right after and ending in ``</s>`` (none of llama.cpp's mistral templates
    spaces it this way). That template has no system role: a system message's text
    opens the first user turn. The tokenizer adds the leading ``<s>``."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    system = "\n\n".join(message_text(m) for m in messages if m.get("role") == "system")
    prompt = ""
    for message in messages:
        role, text = message.get("role"), message_text(message)
        if role == "user":
            if system:
                text, system = f"{system}\n\n{text}", ""
            prompt += f"[INST] {text} [/INST]"
        elif role == "assistant":
            prompt += f"{text}</s>"
    return ChatFormatterResponse(prompt=prompt, stop=["</s>", "[INST]"])


@register_chat_format("chatglm3")
def format_chatglm3(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """ChatGLM3: ``[gMASK]sop`` then ``<|role|>`` turns."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("chatglm3", messages)


@register_chat_format("openchat")
def format_openchat(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """OpenChat 3.5: ``GPT4 Correct User: ...<|end_of_turn|>`` turns."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("openchat", messages)


@register_chat_format("gemma")
def format_gemma(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Gemma: ``<start_of_turn>user|model`` turns; a system message joins the first user turn."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _builtin("gemma", messages)


# ---- formats written here ----------------------------------------------------------------
@register_chat_format("alpaca")
def format_alpaca(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Alpaca: ``### Instruction:`` / ``### Response:`` blocks."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _ALPACA(messages)


@register_chat_format("oasst_llama")
def format_oasst_llama(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """OpenAssistant Llama: ``<|prompter|>`` / ``<|assistant|>`` turns ending in ``</s>``."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _OASST_LLAMA(messages)


@register_chat_format("baichuan-2")
def format_baichuan2(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Baichuan 2: ``<reserved_106>`` user and ``<reserved_107>`` assistant markers."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _BAICHUAN2(messages)


@register_chat_format("baichuan")
def format_baichuan(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Baichuan: ``<reserved_102>`` user and ``<reserved_103>`` assistant markers."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _BAICHUAN(messages)


@register_chat_format("openbuddy")
def format_openbuddy(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """OpenBuddy: ``User:`` / ``Assistant:`` lines after a system message."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _OPENBUDDY(messages)


@register_chat_format("redpajama-incite")
def format_redpajama_incite(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """RedPajama-INCITE chat: ``<human>:`` / ``<bot>:`` lines."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _REDPAJAMA_INCITE(messages)


@register_chat_format("snoozy")
def format_snoozy(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """GPT4All Snoozy: ``### Prompt:`` / ``### Response:`` blocks."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _SNOOZY(messages)


@register_chat_format("phind")
def format_phind(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Phind CodeLlama: ``### User Message`` / ``### Assistant`` blocks."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _PHIND(messages)


@register_chat_format("intel")
def format_intel(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Intel neural-chat: ``### User:`` / ``### Assistant:`` blocks."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _INTEL(messages)


@register_chat_format("open-orca")
def format_open_orca(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """OpenOrca: ``User:`` / ``Assistant:`` turns ending in ``<|end_of_turn|>``."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _OPEN_ORCA(messages)


@register_chat_format("mistrallite")
def format_mistrallite(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """MistralLite: ``<|prompter|>`` / ``<|assistant|>`` turns ending in ``</s>``."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _MISTRALLITE(messages)


@register_chat_format("pygmalion")
def format_pygmalion(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Pygmalion 2: ``<|system|>``, ``<|user|>``, ``<|model|>`` turns."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    return _PYGMALION(messages)


@register_chat_format("saiga")
def format_saiga(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
    """Saiga: ``<s>role`` ... ``</s>`` turns, the assistant's role being ``bot`` (the
    tokenizer adds the first ``<s>``)."""
    del kwargs  # tools and the like: the chat pipeline has already put them in the messages
    response = _SAIGA(messages)
    response.prompt = response.prompt.removeprefix("<s>")
    return response


@register_chat_completion_handler("chatml-function-calling")
def chatml_function_calling(llama: Any, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    """ChatML with tools: ``tools``/``tool_choice`` (and the legacy ``functions``) work
    as with every chat format here: a forced or required call is grammar-constrained,
    "auto" output is parsed for calls."""
    return _CHATML_HANDLER(llama=llama, messages=messages, **kwargs)


_CHATML_HANDLER = FormatterChatHandler(format_chatml)


def _register_remaining_aliases() -> None:
    """Every FORMAT_ALIASES name is a registered format (those without a format_* function
    are llama.cpp's template as is)."""
    registry = LlamaChatCompletionHandlerRegistry()
    available = set(_core.chat_builtin_templates())
    for name, template in FORMAT_ALIASES.items():
        if registry.get(name) is None and template in available:
            registry.register_chat_completion_handler(
                name, FormatterChatHandler(BuiltinChatFormatter(name))
            )


_register_remaining_aliases()
