"""Request bodies of the OpenAI-compatible routes (pydantic: wrong types are a 422 naming
the field). Fields OpenAI clients may send but this server does not use are accepted and
ignored (``user``, ``n`` = 1, ``stream_options``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llama_cpp.llama_grammar import LlamaGrammar


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int | None = Field(None, description="tokens to generate (None: until full)")
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    top_p: float = Field(0.95, ge=0.0, le=1.0)
    min_p: float = Field(0.05, ge=0.0, le=1.0)
    typical_p: float = Field(1.0, ge=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    stop: str | list[str] | None = None
    stream: bool = False
    seed: int | None = Field(None, ge=-1, le=2**32 - 1, description="-1 or None: random")
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    repeat_penalty: float = Field(1.0, gt=0.0)
    mirostat_mode: Literal[0, 1, 2] = 0
    mirostat_tau: float = Field(5.0, gt=0.0)
    mirostat_eta: float = Field(0.1, gt=0.0)
    logit_bias: dict[str, float] | None = None
    grammar: str | None = Field(None, description="GBNF grammar the output must follow")
    n: Literal[1] = 1

    def _common(self) -> dict[str, Any]:
        keys = ("model", "max_tokens", "temperature", "top_p", "min_p", "typical_p", "top_k",
                "stop", "stream", "seed", "frequency_penalty", "presence_penalty",
                "repeat_penalty", "mirostat_mode", "mirostat_tau", "mirostat_eta",
                "logit_bias")  # fmt: skip
        out = {key: getattr(self, key) for key in keys}
        if self.grammar is not None:
            out["grammar"] = LlamaGrammar.from_string(self.grammar)
        return out


class CompletionRequest(_Sampling):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0},
                {"prompt": "def fib(n):", "max_tokens": 16, "stop": ["\n\n"], "stream": True},
            ]
        },
    )
    prompt: str | list[int] = ""
    suffix: str | None = None
    max_tokens: int | None = 16
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False

    def llama_kwargs(self) -> dict[str, Any]:
        return {**self._common(), "prompt": self.prompt, "suffix": self.suffix,
                "logprobs": self.logprobs, "echo": self.echo}  # fmt: skip


class ChatMessage(BaseModel):
    """One message; fields beyond these (e.g. ``reasoning_content``) reach the template."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = Field(
        None, description="text, or OpenAI content parts ({type: text, text: ...})"
    )
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class ChatCompletionRequest(_Sampling):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 8},
                {
                    "messages": [
                        {"role": "system", "content": "Answer in JSON."},
                        {"role": "user", "content": "Name a colour."},
                    ],
                    "response_format": {"type": "json_object"},
                    "max_tokens": 16,
                    "stream": True,
                },
            ]
        },
    )

    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_completion_tokens: int | None = None

    def llama_kwargs(self) -> dict[str, Any]:
        out = self._common()
        if self.max_completion_tokens is not None:
            out["max_tokens"] = self.max_completion_tokens
        messages = [m.model_dump(exclude_unset=True) for m in self.messages]
        return {**out, "messages": messages, "tools": self.tools,
                "tool_choice": self.tool_choice, "functions": self.functions,
                "function_call": self.function_call, "response_format": self.response_format,
                "logprobs": self.logprobs, "top_logprobs": self.top_logprobs}  # fmt: skip


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str | list[str]
    model: str | None = None


class TokenizeRequest(BaseModel):
    input: str
    model: str | None = None
    add_bos: bool = True
    special: bool = False


class DetokenizeRequest(BaseModel):
    tokens: list[int]
    model: str | None = None
