"""LlamaIndex's LlamaCPP (llama-index-llms-llama-cpp) running on llama_cpp, unchanged."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
from integrations import CHATML, chatml_prompt, require

import llama_cpp

CAPITAL = "Name the capital of France."


def to_prompt(messages: Any) -> str:
    """LlamaIndex messages in SmolLM2's chat format."""
    turns = "".join(CHATML.format(role=m.role.value, content=m.content) for m in messages)
    return turns + "<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Any:
    llama_cpp_llm = require("llama_index.llms.llama_cpp")
    return llama_cpp_llm.LlamaCPP(
        model_path=str(model_path),
        temperature=0.0,
        max_new_tokens=32,
        context_window=1024,
        generate_kwargs={},
        model_kwargs={"n_gpu_layers": -1},
        messages_to_prompt=to_prompt,
        completion_to_prompt=chatml_prompt,
        verbose=False,
    )


def test_installing_it_left_our_llama_cpp_in_place(llm: Any) -> None:
    # A plain install of llama-index-llms-llama-cpp builds llama-cpp-python over us.
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("llama-cpp-python")
    assert isinstance(llm._model, llama_cpp.Llama)
    assert "backends" in llama_cpp.build_info()


def test_metadata_reads_the_loaded_context(llm: Any) -> None:
    assert llm.metadata.context_window == 1024
    assert llm.metadata.num_output == 32


def test_complete_and_stream_complete_agree(llm: Any) -> None:
    text = llm.complete(CAPITAL).text
    assert "Paris" in text
    chunks = list(llm.stream_complete(CAPITAL))
    assert len(chunks) > 3
    assert "".join(chunk.delta for chunk in chunks) == chunks[-1].text == text


def test_chat_and_stream_chat(llm: Any) -> None:
    core_llms = require("llama_index.core.llms")
    messages = [
        core_llms.ChatMessage(role="system", content="You are a helpful assistant."),
        core_llms.ChatMessage(role="user", content=CAPITAL),
    ]
    reply = llm.chat(messages)
    assert reply.message.role.value == "assistant"
    assert "Paris" in reply.message.content
    streamed = list(llm.stream_chat(messages))
    assert streamed[-1].message.content == reply.message.content
