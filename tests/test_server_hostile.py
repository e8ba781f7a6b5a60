"""Hostile and faulty input against the server: every refusal is an OpenAI-shaped 4xx
naming the problem, a deadline is a 504, a real fault is a logged 500, and the server
answers normally afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_process import Server

QUESTION = [{"role": "user", "content": "Name a colour."}]


def _deep_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


def _json_schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


@pytest.fixture(scope="module")
def server(model_path: Path) -> Iterator[Server]:
    srv = Server(model_path, "--n_ctx", "128", "--n_parallel", "2", "--request_timeout_s", "60",
                 "--max_embedding_inputs", "8", "--max_embedding_tokens", "100")  # fmt: skip
    yield srv
    srv.stop()


CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"
CASES: list[tuple[str, str, dict[str, Any] | str, int, str]] = [
    (
        "schema 400 deep",
        CHAT,
        {"messages": QUESTION, "response_format": _json_schema_format(_deep_schema(400))},
        400,
        "nests deeper than 64",
    ),
    (
        "self-referential $ref",
        CHAT,
        {
            "messages": QUESTION,
            "response_format": _json_schema_format(
                {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
            ),
        },
        400,
        "cannot produce a finite value",
    ),
    (
        "$ref to nothing",
        CHAT,
        {"messages": QUESTION, "response_format": _json_schema_format({"$ref": "#/$defs/none"})},
        400,
        "points to nothing",
    ),
    (
        "remote $ref",
        CHAT,
        {
            "messages": QUESTION,
            "response_format": _json_schema_format({"$ref": "http://example.invalid/s.json"}),
        },
        400,
        "only local $ref",
    ),
    (
        "schema not an object",
        CHAT,
        {"messages": QUESTION, "response_format": _json_schema_format(7)},
        400,
        "must be an object",
    ),
    (
        "unknown response_format",
        CHAT,
        {"messages": QUESTION, "response_format": {"type": "xml"}},
        400,
        "response_format",
    ),
    (
        "body nested 5000 deep",
        COMPLETIONS,
        '{"prompt": "x", "stop": ' + "[" * 5000 + '"x"' + "]" * 5000 + "}",
        400,
        "not valid JSON",
    ),
    (
        "grammar left-recursive",
        COMPLETIONS,
        {"prompt": "x", "grammar": 'root ::= root "a"'},
        400,
        "grammar",
    ),
    (
        "tool with a deep schema",
        CHAT,
        {
            "messages": QUESTION,
            "tool_choice": "required",
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": _deep_schema(300)}}
            ],
        },
        400,
        "nests deeper",
    ),
    (
        "logit bias key not a token",
        COMPLETIONS,
        {"prompt": "x", "logit_bias": {"abc": 1}},
        400,
        "logit_bias",
    ),
    (
        "logit bias token out of range",
        COMPLETIONS,
        {"prompt": "x", "logit_bias": {"99999999": 1}},
        400,
        "logit_bias",
    ),
    ("prompt token out of range", COMPLETIONS, {"prompt": [10**9]}, 400, ""),
    ("negative prompt token", COMPLETIONS, {"prompt": [-5]}, 400, ""),
    ("lone surrogate", COMPLETIONS, {"prompt": "\ud800"}, 400, "surrogates not allowed"),
    ("NUL in the prompt", COMPLETIONS, {"prompt": "a\x00b", "max_tokens": 2}, 200, ""),
    (
        "10,000 stop strings",
        COMPLETIONS,
        {"prompt": "x", "max_tokens": 2, "stop": [f"s{i}" for i in range(10_000)]},
        200,
        "",
    ),
    (
        "messages of 20,000 empty turns",
        CHAT,
        {"messages": [{"role": "user", "content": ""}] * 20_000},
        400,
        "exceed",
    ),
    (
        "content part of an unknown type",
        CHAT,
        {"messages": [{"role": "user", "content": [{"type": "audio", "data": "x"}]}]},
        400,
        "",
    ),
    (
        "image content",
        CHAT,
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                    ],
                }
            ]
        },
        400,
        "",
    ),
    ("max_tokens huge", COMPLETIONS, {"prompt": "x", "max_tokens": 2**62}, 200, ""),
    ("seed too large", COMPLETIONS, {"prompt": "x", "seed": 2**70}, 422, "seed"),
    ("temperature NaN as text", COMPLETIONS, {"prompt": "x", "temperature": "NaN"}, 422, ""),
    ("embedding input of numbers", EMBEDDINGS, {"input": [1, 2, 3]}, 422, "input"),
    ("tokenize nothing", "/extras/tokenize", {}, 422, "input"),
    (
        "embedding input longer than a slot",
        EMBEDDINGS,
        {"input": ["a", "word " * 300]},
        400,
        "input 1 has 301 tokens and a request's share of the server's context embeds at most 127",
    ),
    (
        "5,000 empty embedding inputs",
        EMBEDDINGS,
        {"input": [""] * 5000},
        400,
        "the request has 5000 inputs; the limit is 8 (--max_embedding_inputs)",
    ),
    (
        "embedding tokens over the limit",
        EMBEDDINGS,
        {"input": ["word " * 60] * 2},
        400,
        "the inputs have 122 tokens together; the limit per request is 100",
    ),
    (
        "2 million characters to embed",
        EMBEDDINGS,
        {"input": "word " * 400_000},
        400,
        "input 0 has 400001 tokens",
    ),
]


@pytest.mark.parametrize(("name", "path", "body", "status", "needle"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_hostile_requests_get_openai_shaped_answers(
    server: Server, name: str, path: str, body: dict[str, Any] | str, status: int, needle: str
) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    r = httpx.post(server.url + path, content=text, timeout=60,
                   headers={"content-type": "application/json"})  # fmt: skip
    if status == 200:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == status, f"{name}: {r.status_code} {r.text[:500]}"
        error = r.json()["error"]
        assert needle in error["message"], error
        assert error["type"] == "invalid_request_error"
    assert httpx.get(server.url + "/health").status_code == 200
    assert "Traceback" not in server.log(), server.log()[-3000:]


@pytest.fixture(scope="module")
def slow_server(model_path: Path) -> Iterator[Server]:
    srv = Server(model_path, "--n_ctx", "4096", "--n_parallel", "1", "--request_timeout_s", "1")
    yield srv
    srv.stop()


def test_a_request_past_the_deadline_is_a_504_and_a_stream_ends_with_an_error(
    slow_server: Server,
) -> None:
    # 4,000 tokens (end of text biased away) take far longer than the 1 s allowed
    long = {"prompt": "Count: 1, 2, 3,", "max_tokens": 4000, "logit_bias": {"2": -100}}
    r = httpx.post(slow_server.url + COMPLETIONS, json=long, timeout=60)
    assert r.status_code == 504, r.text
    error = r.json()["error"]
    assert error["type"] == "timeout_error"
    assert "longer than the server's limit of 1 s (--request_timeout_s)" in error["message"]
    with httpx.stream("POST", slow_server.url + COMPLETIONS, json={**long, "stream": True},
                      timeout=60) as streamed:  # fmt: skip
        assert streamed.status_code == 200
        events = [line[6:] for line in streamed.iter_lines() if line.startswith("data: ")]
    assert len(events) > 3 and events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["type"] == "timeout_error"
    assert "a stream ended at its deadline" in slow_server.log()
    health = httpx.get(slow_server.url + "/health").json()["models"]["smol"]
    assert health["busy"] == 0 and health["queued"] == 0


def test_an_unhealthy_model_answers_503_and_health_says_why(model_path: Path) -> None:
    """A scheduler that has failed too often (tests/test_scheduler.py makes one fail) takes
    no more requests: the routes and /health say so with a 503 and the reason."""
    from fastapi.testclient import TestClient

    from llama_cpp.server.app import create_app
    from llama_cpp.server.runner import ModelRunner
    from llama_cpp.server.settings import EmbeddingLimits, ModelSettings, ServerSettings

    settings = ServerSettings()
    runner = ModelRunner(ModelSettings(model=str(model_path), model_alias="smol", n_ctx=64,
                                       n_parallel=1), 4, EmbeddingLimits.of(settings))  # fmt: skip
    try:
        with TestClient(create_app(settings, {"smol": runner})) as client:
            assert client.get("/health").status_code == 200
            runner.scheduler.unhealthy = "5 scheduler failures within a minute; restart"
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["error"] == "smol: 5 scheduler failures within a minute; restart"
            r = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
            assert r.status_code == 503 and "restart" in r.json()["error"]["message"]
    finally:
        runner.close()
