"""Haystack's llama.cpp chat generator (llama-cpp-haystack's LlamaCppChatGenerator) running
on llama_cpp, unchanged: a chat reply with its metadata, a forced tool call parsed into
Haystack's ToolCall, and streaming through its callback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations import require

GREEDY = {"max_tokens": 16, "temperature": 0.0}


def generator(model_path: Path, **kwargs: Any) -> Any:
    module = require("haystack_integrations.components.generators.llama_cpp")
    made = module.LlamaCppChatGenerator(model=str(model_path), n_ctx=512,
                                        model_kwargs={"verbose": False}, **kwargs)  # fmt: skip
    made.warm_up()
    return made


def user(text: str) -> list[Any]:
    return [require("haystack.dataclasses").ChatMessage.from_user(text)]


def test_a_chat_reply_with_its_metadata(model_path: Path) -> None:
    reply = generator(model_path, generation_kwargs=GREEDY).run(user("Say hello."))["replies"][0]
    assert reply.text.strip()
    assert reply.meta["finish_reason"] in ("stop", "length")
    assert reply.meta["usage"]["completion_tokens"] <= 16


def test_a_forced_tool_call_becomes_a_haystack_tool_call(model_path: Path) -> None:
    tools = require("haystack.tools")
    weather = tools.Tool(
        name="get_weather",
        description="Get the weather in a city",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        function=lambda city: f"sunny in {city}",
    )
    forced = {"type": "function", "function": {"name": "get_weather"}}
    options = {**GREEDY, "max_tokens": 64, "tool_choice": forced}
    chat = generator(model_path, tools=[weather], generation_kwargs=options)
    reply = chat.run(user("What is the weather in Paris?"))["replies"][0]
    (call,) = reply.tool_calls
    assert call.tool_name == "get_weather" and isinstance(call.arguments["city"], str)


def test_streaming_goes_through_the_callback(model_path: Path) -> None:
    pieces: list[str] = []
    chat = generator(model_path, generation_kwargs=GREEDY,
                     streaming_callback=lambda chunk: pieces.append(chunk.content))  # fmt: skip
    reply = chat.run(user("Say hello."))["replies"][0]
    assert len([p for p in pieces if p]) > 3
    assert "".join(pieces) == reply.text
