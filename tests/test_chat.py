"""Llama.create_chat_completion on the real test model: template, streaming, JSON, tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llama_cpp import Llama

QUESTION = [{"role": "user", "content": "Name the capital of France."}]
WEATHER = [{"role": "user", "content": "What's the weather in Paris?"}]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": CITY}}]
FORCED = {"type": "function", "function": {"name": "get_weather"}}


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Llama:
    return Llama(str(model_path), n_ctx=1024, verbose=False)


def chat(llm: Llama, messages: Any = QUESTION, **kwargs: Any) -> Any:
    kwargs.setdefault("max_tokens", 64)
    return llm.create_chat_completion(messages, temperature=0.0, **kwargs)


def seen_prompt(llm: Llama, messages: Any = QUESTION) -> tuple[str, dict[str, Any]]:
    """The prompt text the model is fed (with special tokens), and the response."""
    calls: list[list[int]] = []

    def record(input_ids: Any, scores: Any) -> Any:
        calls.append([int(t) for t in input_ids])
        return scores

    out = chat(llm, messages, logits_processor=[record])
    prompt = calls[0][: out["usage"]["prompt_tokens"]]
    return llm.detokenize(prompt, special=True).decode("utf-8"), out


def test_response_has_the_openai_shape(llm: Llama) -> None:
    out = chat(llm)
    assert out["object"] == "chat.completion"
    assert out["id"].startswith("chatcmpl-")
    assert out["model"] == llm.model_path
    [choice] = out["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert "Paris" in choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    assert choice["logprobs"] is None
    usage = out["usage"]
    assert usage["prompt_tokens"] > len(llm.tokenize(QUESTION[0]["content"].encode()))
    assert 0 < usage["completion_tokens"] <= 64
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    short = chat(llm, max_tokens=3)
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["usage"]["completion_tokens"] == 3


def test_the_models_own_template_is_used(llm: Llama, model_path: Path) -> None:
    assert llm.chat_format is None
    own, own_out = seen_prompt(llm)
    with Llama(str(model_path), n_ctx=1024, verbose=False, chat_format="chatml") as chatml_llm:
        builtin, builtin_out = seen_prompt(chatml_llm)
    turn = "<|im_start|>user\nName the capital of France.<|im_end|>\n<|im_start|>assistant\n"
    for prompt in (own, builtin):
        assert prompt.endswith(turn)
    # the template's first token (SmolLM2's BOS is <|im_start|>, not added by the tokenizer)
    assert own.startswith("<|im_start|>system\n")
    # SmolLM2's Jinja template adds a default system message; chatml does not
    assert "You are a helpful AI assistant named SmolLM" in own
    assert "SmolLM" not in builtin
    assert own_out["usage"]["prompt_tokens"] > builtin_out["usage"]["prompt_tokens"]
    for out in (own_out, builtin_out):
        assert "Paris" in out["choices"][0]["message"]["content"]


def test_stream_matches_the_non_streamed_answer(llm: Llama) -> None:
    whole = chat(llm)["choices"][0]
    chunks = list(chat(llm, stream=True))
    assert len(chunks) >= 3
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks[1:-1]]
    assert all(pieces)
    assert "".join(pieces) == whole["message"]["content"]
    last = chunks[-1]["choices"][0]
    assert last["delta"] == {}
    assert last["finish_reason"] == whole["finish_reason"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


def test_json_object_response_format(llm: Llama) -> None:
    messages = [{"role": "user", "content": 'Return {"ok": true} as JSON.'}]
    out = chat(llm, messages, max_tokens=200, response_format={"type": "json_object"})
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert isinstance(json.loads(choice["message"]["content"]), dict)


def test_json_schema_response_format(llm: Llama) -> None:
    props = {"name": {"type": "string", "maxLength": 30}, "age": {"type": "integer"}}
    props["mood"] = {"enum": ["happy", "sad"]}
    schema = {"type": "object", "properties": props, "required": ["name", "age", "mood"]}
    messages = [{"role": "user", "content": "Describe a person as JSON."}]
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    out = chat(llm, messages, max_tokens=200, response_format=fmt)
    assert out["choices"][0]["finish_reason"] == "stop"
    value = json.loads(out["choices"][0]["message"]["content"])
    assert set(value) == {"name", "age", "mood"}
    assert isinstance(value["name"], str) and len(value["name"]) <= 30
    assert isinstance(value["age"], int) and not isinstance(value["age"], bool)
    assert value["mood"] in ("happy", "sad")


def check_weather_arguments(arguments: Any) -> None:
    assert isinstance(arguments, str)
    parsed = json.loads(arguments)
    assert isinstance(parsed, dict) and set(parsed) == {"city"}
    assert isinstance(parsed["city"], str)


@pytest.mark.parametrize("tool_choice", [FORCED, "required"], ids=["named", "required"])
def test_forced_tool_call(llm: Llama, tool_choice: Any) -> None:
    out = chat(llm, WEATHER, tools=TOOLS, tool_choice=tool_choice, max_tokens=100)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert (message["role"], message["content"]) == ("assistant", None)
    [call] = message["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    check_weather_arguments(call["function"]["arguments"])


def test_forced_tool_call_cut_by_max_tokens_reports_length(llm: Llama) -> None:
    out = chat(llm, WEATHER, tools=TOOLS, tool_choice="required", max_tokens=5)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "length"
    assert "tool_calls" not in choice["message"]
    assert choice["message"]["content"].startswith("{")


def test_streamed_forced_tool_call(llm: Llama) -> None:
    whole = chat(llm, WEATHER, tools=TOOLS, tool_choice=FORCED, max_tokens=100)
    expected = whole["choices"][0]["message"]["tool_calls"][0]["function"]
    chunks = list(chat(llm, WEATHER, tools=TOOLS, tool_choice=FORCED, max_tokens=100, stream=True))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len({c["id"] for c in chunks}) == 1
    name, arguments = "", ""
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls", []):
            assert call["index"] == 0
            name += call["function"].get("name") or ""
            arguments += call["function"].get("arguments") or ""
    assert name == "get_weather"
    check_weather_arguments(arguments)
    assert arguments == expected["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"][0]["delta"] == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"messages": []}, "non-empty list"),
        ({"messages": "Name the capital of France."}, "non-empty list"),
        ({"messages": [{"content": "hi"}]}, r"messages\[0\].*'role'"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "f"}}}, "'f'"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "sometimes"),
        ({"response_format": {"type": "xml"}}, "'xml'"),
    ],
)
def test_bad_input_is_a_value_error(llm: Llama, kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("messages", QUESTION)
    with pytest.raises(ValueError, match=message):
        llm.create_chat_completion(**kwargs)
    assert "Paris" in chat(llm)["choices"][0]["message"]["content"]


def test_unknown_chat_format_lists_the_known_names(model_path: Path) -> None:
    bad = Llama(str(model_path), n_ctx=1024, verbose=False, chat_format="no-such-format")
    with bad, pytest.raises(ValueError, match="no-such-format") as info:
        bad.create_chat_completion(QUESTION, max_tokens=4)
    for known in ("chatml", "llama-3", "mistral-instruct", "gemma"):
        assert repr(known) in str(info.value)


def test_logprobs_with_top_logprobs(llm: Llama) -> None:
    out = chat(llm, max_tokens=8, logprobs=True, top_logprobs=2)
    choice = out["choices"][0]
    content = choice["logprobs"]["content"]
    assert len(content) == out["usage"]["completion_tokens"]
    assert "".join(e["token"] for e in content) == choice["message"]["content"]
    for entry in content:
        assert isinstance(entry["token"], str)
        assert entry["logprob"] <= 0.0
        assert entry["bytes"] == list(entry["token"].encode("utf-8"))
        assert len(entry["top_logprobs"]) == 2
        best, second = entry["top_logprobs"]
        assert best["logprob"] >= second["logprob"]
        # greedy picks the most likely token
        assert (best["token"], best["logprob"]) == (entry["token"], pytest.approx(entry["logprob"]))


def test_openai_v1_objects(llm: Llama) -> None:
    openai_chat = pytest.importorskip("openai.types.chat")
    out = llm.create_chat_completion_openai_v1(QUESTION, temperature=0.0, max_tokens=32)
    assert isinstance(out, openai_chat.ChatCompletion)
    assert "Paris" in (out.choices[0].message.content or "")
    chunks = list(
        llm.create_chat_completion_openai_v1(QUESTION, temperature=0.0, max_tokens=32, stream=True)
    )
    assert all(isinstance(c, openai_chat.ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == out.choices[0].message.content
