"""AutoGen's llama.cpp client (autogen-ext's LlamaCppChatCompletionClient) running on
llama_cpp, unchanged: a chat answer with its token usage, ``json_output`` with a pydantic
model (constrained by the schema, so the reply validates) and ``True``, and its token
accounting through ``Llama.tokenize`` and ``n_ctx``. (autogen-ext itself does not
implement streaming for this client.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from integrations import require
from pydantic import BaseModel


class City(BaseModel):
    name: str
    country: str


@pytest.fixture(scope="module")
def client(model_path: Path) -> Any:
    module = require("autogen_ext.models.llama_cpp")
    made = module.LlamaCppChatCompletionClient(model_path=str(model_path), n_ctx=512,
                                               verbose=False)  # fmt: skip
    yield made
    asyncio.run(made.close())


def user(text: str) -> list[Any]:
    models = require("autogen_core.models")
    return [models.UserMessage(content=text, source="user")]


def test_a_chat_answer_with_its_usage(client: Any) -> None:
    result = asyncio.run(client.create(user("Say hello."), extra_create_args={"max_tokens": 24}))
    assert isinstance(result.content, str) and result.content.strip()
    assert result.usage.prompt_tokens > 5 and 0 < result.usage.completion_tokens <= 24


def test_json_output_with_a_pydantic_model_validates(client: Any) -> None:
    # greedy: at the default temperature the small model may ramble inside a string until
    # the context is full, and the cut-off JSON would not validate
    greedy = {"temperature": 0.0, "max_tokens": 128}
    result = asyncio.run(client.create(user("Name a city in France, as JSON."),
                                       json_output=City, extra_create_args=greedy))  # fmt: skip
    city = City.model_validate_json(result.content)
    assert city.name


def test_json_output_true_is_a_json_object(client: Any) -> None:
    options = {"max_tokens": 64, "temperature": 0.0}
    result = asyncio.run(client.create(user("Describe a cat in JSON."), json_output=True,
                                       extra_create_args=options))  # fmt: skip
    assert result.content.lstrip().startswith("{")


def test_token_accounting_uses_the_models_tokenizer(client: Any) -> None:
    messages = user("The quick brown fox jumps over the lazy dog.")
    used = client.count_tokens(messages)
    assert used == len(client.llm.tokenize(messages[0].content.encode("utf-8")))
    assert client.remaining_tokens(messages) == 512 - used
