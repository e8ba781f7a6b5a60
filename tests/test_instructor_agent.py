"""instructor (patching ``Llama.create_chat_completion_openai_v1``) and llama-cpp-agent
(``LlamaCppPythonProvider``) running on llama_cpp, unchanged: each extracts a pydantic
object from text — the schema constrains the generation, so the object validates — and
llama-cpp-agent also answers a plain chat.

No ``from __future__ import annotations`` here: llama-cpp-agent reads a model's raw
``__annotations__`` and needs real types, not strings."""

from pathlib import Path
from typing import Any

import pytest
from integrations import require
from pydantic import BaseModel

from llama_cpp import Llama

TEXT = "Extract the person: Jason is 25 years old."


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Any:
    llama = Llama(str(model_path), n_ctx=1024, verbose=False)
    yield llama
    llama.close()


def test_instructor_extracts_a_validated_object(llm: Llama) -> None:
    instructor = require("instructor")
    create = instructor.patch(create=llm.create_chat_completion_openai_v1,
                              mode=instructor.Mode.JSON_SCHEMA)  # fmt: skip
    person = create(messages=[{"role": "user", "content": TEXT}], response_model=Person,
                    max_tokens=64, temperature=0.0)  # fmt: skip
    assert isinstance(person, Person) and person.name


def agent_and_settings(llm: Llama) -> tuple[Any, Any]:
    agent_module = require("llama_cpp_agent")
    providers = require("llama_cpp_agent.providers")
    provider = providers.LlamaCppPythonProvider(llm)
    agent = agent_module.LlamaCppAgent(
        provider, system_prompt="You are a helpful assistant.",
        predefined_messages_formatter_type=agent_module.MessagesFormatterType.CHATML,
    )  # fmt: skip
    settings = provider.get_provider_default_settings()
    settings.max_tokens, settings.temperature = 64, 0.0
    return agent, settings


def test_llama_cpp_agent_answers_a_chat(llm: Llama) -> None:
    agent, settings = agent_and_settings(llm)
    answer = agent.get_chat_response("Say hello.", llm_sampling_settings=settings)
    assert isinstance(answer, str) and answer.strip()


def test_llama_cpp_agent_extracts_a_validated_object(llm: Llama) -> None:
    agent, settings = agent_and_settings(llm)
    output = require("llama_cpp_agent.llm_output_settings")
    structured = output.LlmStructuredOutputSettings.from_pydantic_models(
        [Person], output_type=output.LlmStructuredOutputType.object_instance
    )
    person = agent.get_chat_response(TEXT, structured_output_settings=structured,
                                     llm_sampling_settings=settings)  # fmt: skip
    assert isinstance(person, Person) and person.name
