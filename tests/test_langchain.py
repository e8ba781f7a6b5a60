"""LangChain's llama.cpp classes (langchain-community) running on llama_cpp, unchanged.

LlamaCpp, ChatLlamaCpp and LlamaCppEmbeddings construct `llama_cpp.Llama`
with the keyword set they have always passed (f16_kv, n_parts, seed=-1, ...)
and call its completion, chat, tokenizer and embedding methods.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from integrations import chatml_prompt, require
from pydantic import BaseModel

from llama_cpp import Llama

GRAMMARS = Path(__file__).resolve().parents[1] / "vendor" / "llama.cpp" / "grammars"
CAPITAL = "Name the capital of France."
# LangChain passes rope_freq_base=10000 unless told otherwise; SmolLM2 was trained with
# 100000 (the first test checks that Llama warns about it).
TRAINED_ROPE = {"rope_freq_base": 0.0}


class Weather(BaseModel):
    """Get the current weather in a city."""

    city: str


@pytest.fixture(scope="module")
def llms() -> Any:
    return require("langchain_community.llms")


@pytest.fixture(scope="module")
def chat(model_path: Path) -> Any:
    chat_models = require("langchain_community.chat_models")
    return chat_models.ChatLlamaCpp(
        model_path=str(model_path),
        temperature=0,
        max_tokens=40,
        n_ctx=1024,
        verbose=False,
        **TRAINED_ROPE,
    )


def test_langchains_default_rope_base_is_warned_about(llms: Any, model_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"rope_freq_base=10000.0 overrides the 100000"):
        llms.LlamaCpp(model_path=str(model_path), n_ctx=256, verbose=False)


def test_llamacpp_accepts_gpu_parameters_on_a_cpu_build(llms: Any, model_path: Path) -> None:
    llm = llms.LlamaCpp(
        model_path=str(model_path),
        n_gpu_layers=-1,
        n_batch=512,
        n_ctx=1024,
        f16_kv=True,
        temperature=0,
        max_tokens=16,
        verbose=False,
        model_kwargs={"main_gpu": 0, "tensor_split": [1.0], "offload_kqv": True},
        **TRAINED_ROPE,
    )
    assert isinstance(llm.client, Llama)
    assert llm.client.n_ctx() == 1024
    assert "Paris" in llm.invoke("The capital of France is")
    assert llm.get_num_tokens("hello world") == len(llm.client.tokenize(b"hello world"))


def test_llamacpp_streams_tokens_through_callbacks(llms: Any, model_path: Path) -> None:
    callbacks = require("langchain_core.callbacks")

    class Collect(callbacks.BaseCallbackHandler):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.tokens: list[str] = []

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            del kwargs  # langchain also passes the run's ids; the token is all this keeps
            self.tokens.append(token)

    settings: dict[str, Any] = {"temperature": 0, "max_tokens": 32, "n_ctx": 1024, **TRAINED_ROPE}
    plain = llms.LlamaCpp(model_path=str(model_path), verbose=False, **settings)
    expected = plain.invoke("The capital of France is")
    collect = Collect()
    streaming = llms.LlamaCpp(
        model_path=str(model_path), streaming=True, callbacks=[collect], verbose=False, **settings
    )
    text = streaming.invoke("The capital of France is")
    assert len(collect.tokens) > 5
    assert "".join(collect.tokens) == text == expected


@pytest.mark.parametrize(
    ("grammar", "question", "kind"),
    [
        ("json.gbnf", "List three fruits with their colours as JSON.", dict),
        ("json_arr.gbnf", "Give the names of three colours.", list),
    ],
)
def test_llamacpp_grammar_path_gives_parseable_json(
    llms: Any, model_path: Path, grammar: str, question: str, kind: type
) -> None:
    llm = llms.LlamaCpp(
        model_path=str(model_path),
        grammar_path=str(GRAMMARS / grammar),
        temperature=0,
        max_tokens=200,
        n_ctx=1024,
        verbose=False,
        **TRAINED_ROPE,
    )
    value = json.loads(llm.invoke(chatml_prompt(question)))
    assert isinstance(value, kind) and value


def test_chatllamacpp_invoke_and_stream(chat: Any) -> None:
    messages = require("langchain_core.messages")
    reply = chat.invoke(
        [messages.SystemMessage("You are a helpful assistant."), messages.HumanMessage(CAPITAL)]
    )
    assert "Paris" in reply.content
    assert reply.response_metadata["finish_reason"] in {"stop", "length"}
    chunks = list(chat.stream(CAPITAL))
    assert len(chunks) > 5
    streamed = "".join(chunk.content for chunk in chunks)
    assert streamed == chat.invoke(CAPITAL).content


def test_chatllamacpp_forced_tool_call_and_structured_output(chat: Any) -> None:
    choice = {"type": "function", "function": {"name": "Weather"}}
    reply = chat.bind_tools([Weather], tool_choice=choice).invoke("What's the weather in Paris?")
    assert len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert call["name"] == "Weather" and isinstance(call["args"]["city"], str)
    weather = chat.with_structured_output(Weather).invoke("What's the weather in Paris?")
    assert isinstance(weather, Weather) and weather.city


def test_llamacppembeddings(model_path: Path) -> None:
    embeddings = require("langchain_community.embeddings")
    model = embeddings.LlamaCppEmbeddings(model_path=str(model_path), n_ctx=512, verbose=False)
    cat, kitten, market = model.embed_documents(["cat", "kitten", "stock market"])
    query = model.embed_query("cat")
    assert len(cat) == len(query) == model.client.n_embd()
    assert math.isclose(sum(x * x for x in cat), 1.0, rel_tol=1e-3)
    assert query == pytest.approx(cat, abs=1e-5)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(cat, kitten) > cosine(cat, market)
