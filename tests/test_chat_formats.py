"""llama-cpp-python's chat-format API: the registry, the named formats, Hugging Face
templates, and the multimodal handler names (real model, real prompts)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llama_cpp import Llama, LogitsProcessorList, _core
from llama_cpp import llama_chat_format as lcf
from llama_cpp.llama_chat_format import (
    ChatFormatterResponse,
    LlamaChatCompletionHandlerNotFoundException,
    LlamaChatCompletionHandlerRegistry,
)

SYSTEM, USER1, REPLY1, USER2 = "SYS-7f3", "first question 1a9", "first answer 2b8", "next one 3c7"
CHAT = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": USER1},
    {"role": "assistant", "content": REPLY1},
    {"role": "user", "content": USER2},
]
QUESTION = [{"role": "user", "content": "Write one sentence about the sea."}]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": CITY}}]
CHATML_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# name -> (formatter, user marker, assistant marker, how the prompt ends)
NAMED_FORMATS: dict[str, tuple[Callable[..., ChatFormatterResponse], str, str, str]] = {
    "llama-2": (lcf.format_llama2, "[INST]", "[/INST]", "[/INST]"),
    "llama-3": (
        lcf.format_llama3,
        "<|start_header_id|>user<|end_header_id|>",
        "<|start_header_id|>assistant<|end_header_id|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    "alpaca": (lcf.format_alpaca, "### Instruction:", "### Response:", "### Response:\n"),
    "qwen": (
        lcf.format_qwen,
        "<|im_start|>user",
        "<|im_start|>assistant",
        "<|im_start|>assistant\n",
    ),
    "vicuna": (lcf.format_vicuna, "USER:", "ASSISTANT:", "ASSISTANT:"),
    "oasst_llama": (lcf.format_oasst_llama, "<|prompter|>", "<|assistant|>", "<|assistant|>"),
    "baichuan-2": (lcf.format_baichuan2, "<reserved_106>", "<reserved_107>", "<reserved_107>"),
    "baichuan": (lcf.format_baichuan, "<reserved_102>", "<reserved_103>", "<reserved_103>"),
    "openbuddy": (lcf.format_openbuddy, "User:", "Assistant:", "Assistant:"),
    "redpajama-incite": (lcf.format_redpajama_incite, "<human>:", "<bot>:", "<bot>:"),
    "snoozy": (lcf.format_snoozy, "### Prompt:", "### Response:", "### Response:\n"),
    "phind": (lcf.format_phind, "### User Message", "### Assistant", "### Assistant\n"),
    "intel": (lcf.format_intel, "### User:", "### Assistant:", "### Assistant:\n"),
    "open-orca": (lcf.format_open_orca, "User:", "Assistant:", "Assistant:"),
    "mistrallite": (lcf.format_mistrallite, "<|prompter|>", "<|assistant|>", "<|assistant|>"),
    "zephyr": (lcf.format_zephyr, "<|user|>", "<|assistant|>", "<|assistant|>\n"),
    "pygmalion": (lcf.format_pygmalion, "<|user|>", "<|model|>", "<|model|>"),
    "chatml": (
        lcf.format_chatml,
        "<|im_start|>user",
        "<|im_start|>assistant",
        "<|im_start|>assistant\n",
    ),
    "mistral-instruct": (lcf.format_mistral_instruct, "[INST]", "[/INST]", "[/INST]"),
    "chatglm3": (lcf.format_chatglm3, "<|user|>", "<|assistant|>", "<|assistant|>"),
    "openchat": (
        lcf.format_openchat,
        "GPT4 Correct User:",
        "GPT4 Correct Assistant:",
        "GPT4 Correct Assistant:",
    ),
    "saiga": (lcf.format_saiga, "<s>user\n", "<s>bot\n", "<s>bot\n"),
    "gemma": (
        lcf.format_gemma,
        "<start_of_turn>user",
        "<start_of_turn>model",
        "<start_of_turn>model\n",
    ),
}


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Iterator[Llama]:
    with Llama(str(model_path), n_ctx=1024, verbose=False) as model:
        yield model


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names a test registers; unregistered afterwards."""
    names: list[str] = []
    yield names
    registry = LlamaChatCompletionHandlerRegistry()
    for name in names:
        if registry.get(name) is not None:
            registry.unregister_chat_handler(name)


def chatml_question(text: str) -> str:
    return f"<|im_start|>user\nQuestion: {text}<|im_end|>\n<|im_start|>assistant\n"


def greedy_text(llm: Llama, prompt: str, max_tokens: int) -> str:
    out: Any = llm.create_completion(prompt, temperature=0.0, max_tokens=max_tokens)
    return str(out["choices"][0]["text"])


# ---- the registry -------------------------------------------------------------------------
def test_registry_register_get_overwrite_unregister(registered: list[str]) -> None:
    registry = LlamaChatCompletionHandlerRegistry()
    assert registry is LlamaChatCompletionHandlerRegistry()

    def first(**kwargs: Any) -> str:
        return "first"

    def second(**kwargs: Any) -> str:
        return "second"

    registered.append("test-registry")
    assert lcf.register_chat_completion_handler("test-registry")(first) is first
    assert lcf.get_chat_completion_handler("test-registry") is first
    with pytest.raises(ValueError, match=r"already registered.*overwrite=True"):
        registry.register_chat_completion_handler("test-registry", second)
    registry.register_chat_completion_handler("test-registry", second, overwrite=True)
    assert lcf.get_chat_completion_handler("test-registry") is second
    assert "test-registry" in lcf.known_format_names()
    registry.unregister_chat_handler("test-registry")
    with pytest.raises(LlamaChatCompletionHandlerNotFoundException, match="test-registry"):
        lcf.get_chat_completion_handler("test-registry")
    with pytest.raises(ValueError, match="no chat handler is registered"):
        registry.unregister_chat_handler("test-registry")
    with pytest.raises(TypeError, match="callable"):
        registry.register_chat_completion_handler("test-registry", "not a handler")  # type: ignore[arg-type]


def test_register_chat_format_makes_a_handler_around_the_formatter(registered: list[str]) -> None:
    def formatter(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
        return ChatFormatterResponse(prompt="x")

    registered.append("test-wrapped")
    assert lcf.register_chat_format("test-wrapped")(formatter) is formatter
    handler = lcf.get_chat_completion_handler("test-wrapped")
    assert isinstance(handler, lcf.FormatterChatHandler)
    assert handler.formatter is formatter
    assert lcf.resolve_chat_format("test-wrapped") is handler


def test_registered_format_is_the_prompt_the_model_sees(
    llm: Llama, model_path: Path, registered: list[str]
) -> None:
    seen: list[list[dict[str, Any]]] = []

    def question_format(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
        seen.append(messages)
        return ChatFormatterResponse(prompt=chatml_question(messages[-1]["content"]))

    registered.append("test-question")
    lcf.register_chat_format("test-question")(question_format)
    prompt = chatml_question(QUESTION[0]["content"])
    expected = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    fed: list[list[int]] = []

    def record(input_ids: Any, scores: Any) -> Any:
        fed.append([int(t) for t in input_ids])
        return scores

    with Llama(str(model_path), n_ctx=1024, verbose=False, chat_format="test-question") as chat_llm:
        out = chat_llm.create_chat_completion(
            QUESTION, temperature=0.0, max_tokens=12, logits_processor=LogitsProcessorList([record])
        )
        chunks = list(
            chat_llm.create_chat_completion(QUESTION, temperature=0.0, max_tokens=12, stream=True)
        )
    assert seen and seen[0] == QUESTION
    assert out["usage"]["prompt_tokens"] == len(expected)
    assert fed[0][: len(expected)] == expected
    content = out["choices"][0]["message"]["content"]
    assert content == greedy_text(llm, prompt, 12)
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == content


def test_a_formats_stop_strings_end_the_reply(
    llm: Llama, model_path: Path, registered: list[str]
) -> None:
    prompt = chatml_question(QUESTION[0]["content"])
    full = greedy_text(llm, prompt, 24)
    words = [w for w in full.split() if len(w) >= 3]
    assert len(words) >= 2, full
    stop_word = words[1]
    expected = full[: full.index(stop_word)]

    def stopping_format(messages: list[dict[str, Any]], **kwargs: Any) -> ChatFormatterResponse:
        return ChatFormatterResponse(
            prompt=chatml_question(messages[-1]["content"]), stop=[stop_word]
        )

    registered.append("test-stopping")
    lcf.register_chat_format("test-stopping")(stopping_format)
    with Llama(str(model_path), n_ctx=1024, verbose=False, chat_format="test-stopping") as chat_llm:
        out = chat_llm.create_chat_completion(QUESTION, temperature=0.0, max_tokens=24)
    choice = out["choices"][0]
    assert choice["message"]["content"] == expected
    assert choice["finish_reason"] == "stop"


def test_a_registered_handler_gets_the_call(model_path: Path, registered: list[str]) -> None:
    calls: list[dict[str, Any]] = []

    @lcf.register_chat_completion_handler("test-handler")
    def handler(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {"answered": "by the handler"}

    registered.append("test-handler")
    assert lcf.resolve_chat_format("test-handler") is handler
    with Llama(str(model_path), vocab_only=True, verbose=False, chat_format="test-handler") as llm:
        out = llm.create_chat_completion(QUESTION, max_tokens=7)
        assert llm.chat_format == "test-handler"
        assert calls[0]["llama"] is llm
    assert out == {"answered": "by the handler"}
    assert calls[0]["messages"] == QUESTION
    assert calls[0]["max_tokens"] == 7


def test_unknown_chat_format_lists_the_known_names(model_path: Path) -> None:
    with pytest.raises(ValueError, match="no-such-format") as info:
        lcf.resolve_chat_format("no-such-format")
    for known in ("alpaca", "chatml", "llama-3", "mistral-instruct", "saiga", "phi3"):
        assert repr(known) in str(info.value)
    bad = Llama(str(model_path), vocab_only=True, verbose=False, chat_format="no-such-format")
    with bad, pytest.raises(ValueError, match=r"unknown chat_format 'no-such-format'.*'alpaca'"):
        bad.create_chat_completion(QUESTION, max_tokens=4)
    with pytest.raises(LlamaChatCompletionHandlerNotFoundException, match="'chatml'"):
        lcf.get_chat_completion_handler("no-such-format")


# ---- the named formats --------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NAMED_FORMATS))
def test_named_format_renders_every_message_with_its_markers(name: str) -> None:
    formatter, user, assistant, ending = NAMED_FORMATS[name]
    handler = lcf.get_chat_completion_handler(name)
    assert isinstance(handler, lcf.FormatterChatHandler) and handler.formatter is formatter
    response = formatter(CHAT)
    prompt = response.prompt
    for text in (SYSTEM, USER1, REPLY1, USER2):
        assert prompt.count(text) == 1, (text, prompt)
    u1, a1, u2 = prompt.index(USER1), prompt.index(REPLY1), prompt.index(USER2)
    assert prompt.index(SYSTEM) < u1 < a1 < u2
    assert prompt.rfind(user, 0, u1) >= 0, prompt
    assert prompt.rfind(user, a1, u2) > a1, prompt
    assert prompt.rfind(assistant, u1, a1) > u1, prompt
    assert prompt.endswith(ending), prompt
    stops = [response.stop] if isinstance(response.stop, str) else response.stop or []
    assert all(isinstance(s, str) and s for s in stops)
    assert formatter(messages=CHAT).prompt == prompt


def test_every_registered_format_is_tested_and_every_alias_is_registered() -> None:
    registered = set(LlamaChatCompletionHandlerRegistry().names())
    assert set(NAMED_FORMATS) <= registered
    assert set(lcf.FORMAT_ALIASES) <= registered
    assert "chatml-function-calling" in registered


@pytest.mark.parametrize("name", sorted(lcf.FORMAT_ALIASES))
def test_formats_llama_cpp_has_are_llama_cpps(name: str) -> None:
    """One implementation: a name llama.cpp has a template for is rendered by llama.cpp."""
    handler = lcf.get_chat_completion_handler(name)
    assert isinstance(handler, lcf.FormatterChatHandler)
    pairs = [(m["role"], m["content"]) for m in CHAT]
    builtin = _core.chat_apply_template(lcf.FORMAT_ALIASES[name], pairs, True)
    assert handler.formatter(messages=CHAT).prompt == builtin


def test_default_system_messages() -> None:
    no_system = CHAT[1:]
    assert "You are a helpful assistant." in lcf.format_qwen(no_system).prompt
    assert "A chat between a curious user" in lcf.format_vicuna(no_system).prompt
    assert "programming assistant" in lcf.format_phind(no_system).prompt
    assert SYSTEM not in lcf.format_chatml(no_system).prompt
    assert not lcf.format_chatml(no_system).prompt.startswith("<|im_start|>system")


def test_images_are_refused_by_text_formats() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is this"}, image]}]
    with pytest.raises(ValueError, match="image input is not in this release"):
        lcf.format_alpaca(messages)
    parts = [{"type": "text", "text": "joined "}, {"type": "text", "text": "parts"}]
    assert "joined parts" in lcf.format_alpaca([{"role": "user", "content": parts}]).prompt


def test_chatml_function_calling_calls_the_tool(model_path: Path) -> None:
    with Llama(
        str(model_path), n_ctx=1024, verbose=False, chat_format="chatml-function-calling"
    ) as llm:
        out = llm.create_chat_completion(
            [{"role": "user", "content": "What's the weather in Paris?"}],
            tools=TOOLS,
            tool_choice="required",
            temperature=0.0,
            max_tokens=100,
        )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


@pytest.mark.slow
def test_the_server_formats_with_a_named_format(llm: Llama, model_path: Path) -> None:
    import httpx
    from server_process import KEY, Server, auth

    server = Server(model_path, "--chat_format", "alpaca", "--api_key", KEY)
    try:
        chat = {"model": "smol", "messages": QUESTION, "temperature": 0, "max_tokens": 8}
        r = httpx.post(server.url + "/v1/chat/completions", json=chat, headers=auth(), timeout=60)
    finally:
        server.stop()
    assert r.status_code == 200, r.text
    prompt = lcf.format_alpaca(QUESTION).prompt
    assert r.json()["usage"]["prompt_tokens"] == len(llm.tokenize(prompt.encode(), special=True))


# ---- Hugging Face templates ------------------------------------------------------------------
def test_hf_tokenizer_config_to_chat_formatter() -> None:
    config = {
        "chat_template": CHATML_TEMPLATE,
        "bos_token": {"content": "<s>", "lstrip": False},
        "eos_token": "<|im_end|>",
    }
    formatter = lcf.hf_tokenizer_config_to_chat_formatter(config)
    response = formatter(messages=CHAT)
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in CHAT)
    assert response.prompt == "<s>" + turns + "<|im_start|>assistant\n"
    assert response.stop == ["<|im_end|>"]
    assert response.added_special
    no_prompt = lcf.hf_tokenizer_config_to_chat_formatter(config, add_generation_prompt=False)
    assert no_prompt(messages=CHAT).prompt == "<s>" + turns
    named = {
        "chat_template": [
            {"name": "tool_use", "template": "x"},
            {"name": "default", "template": CHATML_TEMPLATE},
        ]
    }
    assert (
        lcf.hf_tokenizer_config_to_chat_formatter(named)(messages=CHAT).prompt
        == turns + "<|im_start|>assistant\n"
    )
    with pytest.raises(ValueError, match="no 'chat_template'"):
        lcf.hf_tokenizer_config_to_chat_formatter({"eos_token": "</s>"})
    with pytest.raises(TypeError, match="must be a dict"):
        lcf.hf_tokenizer_config_to_chat_formatter(CHATML_TEMPLATE)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not parse"):
        lcf.hf_tokenizer_config_to_chat_formatter({"chat_template": "{% for %}"})
    assert isinstance(
        lcf.hf_tokenizer_config_to_chat_completion_handler(config), lcf.FormatterChatHandler
    )
    # the Hugging Face {% generation %} tag renders its body
    tagged = lcf.Jinja2ChatFormatter("{% generation %}body{% endgeneration %}", "", "")
    assert tagged(messages=CHAT).prompt == "body"


def test_hf_config_handler_on_the_model(llm: Llama, model_path: Path) -> None:
    config = {"chat_template": CHATML_TEMPLATE, "bos_token": "", "eos_token": "<|im_end|>"}
    handler = lcf.hf_tokenizer_config_to_chat_completion_handler(config)
    with Llama(str(model_path), n_ctx=1024, verbose=False, chat_handler=handler) as chat_llm:
        out = chat_llm.create_chat_completion(QUESTION, temperature=0.0, max_tokens=12)
    prompt = (
        "<|im_start|>user\nWrite one sentence about the sea.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert out["usage"]["prompt_tokens"] == len(llm.tokenize(prompt.encode(), special=True))
    assert out["choices"][0]["message"]["content"] == greedy_text(llm, prompt, 12)


def test_jinja_stop_token_ids_end_the_reply(llm: Llama, model_path: Path) -> None:
    prompt = (
        "<|im_start|>user\nWrite one sentence about the sea.<|im_end|>\n<|im_start|>assistant\n"
    )
    full = greedy_text(llm, prompt, 16)
    stop_id = llm.tokenize(full.encode(), add_bos=False)[2]
    formatter = lcf.Jinja2ChatFormatter(CHATML_TEMPLATE, "<|im_end|>", "", stop_token_ids=[stop_id])
    with Llama(
        str(model_path), n_ctx=1024, verbose=False, chat_handler=formatter.to_chat_handler()
    ) as chat_llm:
        out = chat_llm.create_chat_completion(QUESTION, temperature=0.0, max_tokens=16)
    content = out["choices"][0]["message"]["content"]
    assert out["choices"][0]["finish_reason"] == "stop"
    assert 0 < out["usage"]["completion_tokens"] <= 3
    assert content and full.startswith(content) and content != full


def test_guess_chat_format_from_gguf_metadata(llm: Llama) -> None:
    assert (
        lcf.guess_chat_format_from_gguf_metadata({"tokenizer.chat_template": CHATML_TEMPLATE})
        == "chatml"
    )
    assert lcf.guess_chat_format_from_gguf_metadata({}) is None
    assert lcf.guess_chat_format_from_gguf_metadata({"tokenizer.chat_template": "{{ x"}) is None
    # SmolLM2's template adds its own default system message: no named format matches it
    assert "tokenizer.chat_template" in llm.metadata
    assert lcf.guess_chat_format_from_gguf_metadata(llm.metadata) is None


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is not None, reason="transformers is installed"
)
def test_hf_autotokenizer_without_transformers_says_how_to_install() -> None:
    with pytest.raises(ImportError, match="pip install transformers"):
        lcf.hf_autotokenizer_to_chat_formatter("some/model")


# ---- multimodal names ------------------------------------------------------------------------
MULTIMODAL = [
    "Llava15ChatHandler",
    "Llava16ChatHandler",
    "MoondreamChatHandler",
    "NanoLlavaChatHandler",
    "Llama3VisionAlphaChatHandler",
    "Llama3VisionAlpha",
    "MiniCPMv26ChatHandler",
    "Qwen25VLChatHandler",
    "ObsidianChatHandler",
    "MTMDChatHandler",
    "Gemma4ChatHandler",
]


@pytest.mark.parametrize("name", MULTIMODAL)
def test_multimodal_handlers_import_and_explain(name: str) -> None:
    handler_class = getattr(lcf, name)
    expected = r"image input.*not in this release.*chat_format.*llama-mtmd-cli.*--mmproj"
    with pytest.raises(NotImplementedError, match=expected):
        handler_class(clip_model_path="mmproj.gguf", verbose=False)
    with pytest.raises(NotImplementedError, match=expected):
        handler_class.from_pretrained(repo_id="some/repo", filename="*mmproj*")


def test_multimodal_chat_format_names_explain(model_path: Path) -> None:
    llm = Llama(str(model_path), vocab_only=True, verbose=False, chat_format="llava-1-5")
    with llm, pytest.raises(NotImplementedError, match=r"'llava-1-5'.*llama-mtmd-cli"):
        llm.create_chat_completion(QUESTION, max_tokens=4)
