"""The OpenAI-compatible server as a real process, driven by real clients."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from server_process import KEY, Server, auth, free_port

QUESTION = [{"role": "user", "content": "Name the capital of France."}]


@pytest.fixture(scope="module")
def server(model_path: Path) -> Iterator[Server]:
    srv = Server(model_path, "--n_ctx", "1024", "--n_parallel", "4", "--api_key", KEY)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0) as client:
        yield client


def test_openai_chat_sync_and_streaming(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="smol",
        messages=QUESTION,
        temperature=0,
        max_tokens=24,  # type: ignore[arg-type]
    )
    text = reply.choices[0].message.content or ""
    assert "Paris" in text
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model="smol",
        messages=QUESTION,
        temperature=0,
        max_tokens=24,
        stream=True,  # type: ignore[arg-type]
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == text


def test_openai_completions_and_embeddings(client: openai.OpenAI) -> None:
    out = client.completions.create(
        model="smol", prompt="The capital of France is", temperature=0, max_tokens=6
    )
    assert "Paris" in out.choices[0].text
    vectors = client.embeddings.create(model="smol", input=["cat", "kitten"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 576


def test_usage_reports_the_completion_tokens_limit(server: Server) -> None:
    """max_tokens missing, <= 0 or beyond the slot's context: the cap the slot's context
    sets is reported in usage (n_ctx 1024 per slot here)."""
    for asked in (None, 0, -1, 5000, 7):
        body: dict[str, Any] = {"messages": QUESTION, "temperature": 0}
        if asked is not None:
            body["max_tokens"] = asked
        reply = httpx.post(server.url + "/v1/chat/completions", json=body, headers=auth(),
                           timeout=120)  # fmt: skip
        assert reply.status_code == 200, reply.text
        usage = reply.json()["usage"]
        room = 1024 - usage["prompt_tokens"]
        expected = 7 if asked == 7 else room
        assert usage["completion_tokens_limit"] == expected, (asked, usage)
        assert usage["completion_tokens"] <= expected


def test_streamed_logprobs_match_the_whole_response(client: openai.OpenAI) -> None:
    request: dict[str, Any] = {"model": "smol", "prompt": "The capital of France is",
                               "temperature": 0, "max_tokens": 6, "logprobs": 2}  # fmt: skip
    whole = client.completions.create(**request)
    chunks = list(client.completions.create(**request, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    streamed = [t for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.tokens]
    assert whole.choices[0].logprobs is not None
    assert streamed == whole.choices[0].logprobs.tokens and len(streamed) == 6
    assert chunks[-1].choices[0].finish_reason == "length"


def test_streamed_forced_tool_call(client: openai.OpenAI) -> None:
    city = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    stream = client.chat.completions.create(
        model="smol",
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": city}}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=100,
        stream=True,
    )
    chunks = list(stream)
    name = "".join(
        call.function.name or ""
        for c in chunks
        for call in c.choices[0].delta.tool_calls or []
        if call.function is not None
    )
    arguments = "".join(
        call.function.arguments or ""
        for c in chunks
        for call in c.choices[0].delta.tool_calls or []
        if call.function is not None
    )
    assert name == "get_weather"
    assert isinstance(json.loads(arguments)["city"], str)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_model_field_is_optional_and_listed(server: Server) -> None:
    body = {"prompt": "The capital of France is", "temperature": 0, "max_tokens": 4}
    r = httpx.post(server.url + "/v1/completions", json=body, headers=auth(), timeout=60)
    assert r.status_code == 200 and "Paris" in r.json()["choices"][0]["text"]
    models = httpx.get(server.url + "/v1/models", headers=auth()).json()
    assert [m["id"] for m in models["data"]] == ["smol"]


@pytest.mark.parametrize("name", ["gpt-3.5-turbo", "gemma2", "x", None])
def test_one_model_serves_any_model_name_and_echoes_it(server: Server, name: str | None) -> None:
    """As llama-server and llama-cpp-python's server do: the seeds' client code sends
    names of its own (``gpt-3.5-turbo``, ``gemma2``) and reads the name back."""
    named = {"model": name} if name is not None else {}
    echoed = name or "smol"
    chat = {**named, "messages": QUESTION, "temperature": 0, "max_tokens": 8}
    r = httpx.post(server.url + "/v1/chat/completions", json=chat, headers=auth(), timeout=60)
    assert r.status_code == 200 and r.json()["model"] == echoed, r.text
    assert "Paris" in r.json()["choices"][0]["message"]["content"]
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={**chat, "stream": True},
                      headers=auth(), timeout=60) as streamed:  # fmt: skip
        events = [json.loads(line[6:]) for line in streamed.iter_lines()
                  if line.startswith("data: {")]  # fmt: skip
    assert events and all(e["model"] == echoed for e in events)
    completion = {**named, "prompt": "The capital of France is", "max_tokens": 4,
                  "temperature": 0}  # fmt: skip
    r = httpx.post(server.url + "/v1/completions", json=completion, headers=auth(), timeout=60)
    assert r.status_code == 200 and r.json()["model"] == echoed
    r = httpx.post(server.url + "/v1/embeddings", json={**named, "input": "cat"},
                   headers=auth(), timeout=60)  # fmt: skip
    assert r.status_code == 200 and r.json()["model"] == echoed


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v1/completions", {"prompt": "x", "temperature": "hot"}, 422, "temperature"),
        ("/v1/chat/completions", {"messages": []}, 422, "messages"),
        ("/v1/completions", {"prompt": "word " * 1500}, 400, "server's context holds 1024"),
        ("/v1/completions", {"prompt": "x", "grammar": "root ::= ("}, 400, "grammar"),
        ("/extras/detokenize", {"tokens": [10**7]}, 400, "outside the vocabulary"),
    ],
)
def test_bad_requests_get_openai_shaped_errors(
    server: Server, path: str, body: dict[str, Any], status: int, needle: str
) -> None:
    r = httpx.post(server.url + path, json=body, headers=auth(), timeout=60)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert needle in error["message"] + str(error.get("param"))
    # the server keeps serving
    assert httpx.get(server.url + "/health").status_code == 200


def test_malformed_json_and_auth(server: Server) -> None:
    r = httpx.post(
        server.url + "/v1/completions",
        content=b"{not json",
        headers={**auth(), "content-type": "application/json"},
    )
    assert r.status_code == 422 and "error" in r.json()
    assert httpx.get(server.url + "/v1/models").status_code == 401
    wrong = httpx.get(server.url + "/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert httpx.get(server.url + "/health").status_code == 200  # open to probes


def test_tokenize_round_trip(server: Server) -> None:
    r = httpx.post(server.url + "/extras/tokenize", json={"input": "Hello world"}, headers=auth())
    tokens = r.json()["tokens"]
    back = httpx.post(
        server.url + "/extras/detokenize", json={"tokens": tokens}, headers=auth()
    ).json()["text"]
    assert back.strip() == "Hello world"


def stream_completion(server: Server, prompt: str, n: int) -> tuple[str, str | None, int]:
    body = {"prompt": prompt, "temperature": 0, "max_tokens": n, "stream": True}
    text, reason, events = "", None, 0
    with httpx.stream(
        "POST", server.url + "/v1/completions", json=body, headers=auth(), timeout=120
    ) as r:
        assert r.status_code == 200
        done = False
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: ") :]
            if data == "[DONE]":
                done = True
                break
            chunk = json.loads(data)
            events += 1
            text += chunk["choices"][0]["text"]
            reason = chunk["choices"][0]["finish_reason"] or reason
        assert done, "the stream ended without [DONE]"
    return text, reason, events


@pytest.mark.slow
def test_eight_concurrent_streams_all_complete(server: Server) -> None:
    prompts = [f"Story number {i}: once upon a time" for i in range(8)]
    alone = stream_completion(server, prompts[0], 24)[0]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: stream_completion(server, p, 24), prompts))
    for text, reason, events in results:
        assert reason in {"length", "stop"} and events > 1 and text
    assert results[0][0] == alone  # others running alongside did not change it


def test_a_client_that_disconnects_frees_its_slot(server: Server) -> None:
    body = {"prompt": "Count: one, two,", "temperature": 0, "max_tokens": 900, "stream": True,
            "logit_bias": {"0": -100, "2": -100}}  # fmt: skip
    with httpx.stream(
        "POST", server.url + "/v1/completions", json=body, headers=auth(), timeout=60
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break
    deadline = time.monotonic() + 10
    while server.health()["busy"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.health()["busy"] == 0


def test_a_full_server_answers_503_with_retry_after(model_path: Path) -> None:
    srv = Server(model_path, "--n_ctx", "1024", "--n_parallel", "1", "--max_queue", "0")
    try:
        body = {
            "prompt": "Count: one, two,",
            "max_tokens": 600,
            "stream": True,
            "logit_bias": {"0": -100, "2": -100},
        }  # fmt: skip  (no end of text)
        with httpx.stream("POST", srv.url + "/v1/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()  # kept: dropping the iterator closes the connection
            for line in lines:
                if line.startswith("data: "):
                    break
            assert srv.health()["busy"] == 1
            busy = httpx.post(srv.url + "/v1/completions", json={"prompt": "x"}, timeout=30)
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "1"
            assert busy.json()["error"]["type"] == "server_busy"
    finally:
        srv.stop()


def test_config_file_serves_several_models(model_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        "max_queue: 4\n"
        "models:\n"
        f"  - {{model: '{model_path}', model_alias: first, n_ctx: 512, n_parallel: 1}}\n"
        f"  - {{model: '{model_path}', model_alias: second, n_ctx: 512, n_parallel: 2}}\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "API_KEY", "PORT")}
    command = [sys.executable, "-m", "llama_cpp.cli", "serve", "--config_file", str(config),
               "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        health = httpx.get(url + "/health").json()["models"]
        assert health["first"]["slots"] == 1 and health["second"]["slots"] == 2
        body = {"model": "second", "prompt": "The capital of France is", "temperature": 0,
                "max_tokens": 4}  # fmt: skip
        out = httpx.post(url + "/v1/completions", json=body, timeout=60).json()
        assert out["model"] == "second" and "Paris" in out["choices"][0]["text"]
        listed = httpx.get(url + "/v1/models").json()["data"]
        assert [m["id"] for m in listed] == ["first", "second"]
        # several models and no default: a name must select one
        for extra, needle in (({"model": "gpt-3.5-turbo"}, "'gpt-3.5-turbo' is not served"),
                              ({}, "serves several models")):  # fmt: skip
            r = httpx.post(url + "/v1/completions", json={**body, **extra} if extra else
                           {k: v for k, v in body.items() if k != "model"}, timeout=60)  # fmt: skip
            assert r.status_code == 404, r.text
            error = r.json()["error"]
            assert needle in error["message"] and "['first', 'second']" in error["message"]
            assert error["type"] == "model_not_found" and error["param"] == "model"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_default_model_serves_the_names_no_model_has(model_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        "models:\n"
        f"  - {{model: '{model_path}', model_alias: first, n_ctx: 256, n_parallel: 1}}\n"
        f"  - {{model: '{model_path}', model_alias: second, n_ctx: 256, n_parallel: 1,"
        " default: true}\n"
    )
    srv = Server(model_path, "--config_file", str(config), "--model_alias", "third",
                 "--n_ctx", "256", "--n_parallel", "1")  # fmt: skip
    try:
        body = {"model": "gpt-4o", "prompt": "The capital of France is", "max_tokens": 2}
        r = httpx.post(srv.url + "/v1/completions", json=body, timeout=60)
        assert r.status_code == 200 and r.json()["model"] == "gpt-4o"
        served = httpx.get(srv.url + "/metrics").text
        assert 'llama_generations_total{model="second",reason="length"} 1' in served
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("config", "flags", "needle"),
    [
        ("default: true", ["--default_model", "nope"], "--default_model 'nope' is not one of"),
        ("default: true", [], "several models are marked default: true: ['a', 'b']"),
    ],
)
def test_a_wrong_default_model_is_refused_before_loading(
    tmp_path: Path, config: str, flags: list[str], needle: str
) -> None:
    from llama_cpp.server.__main__ import parse

    file = tmp_path / "server.yaml"
    file.write_text(
        f"models:\n  - {{model: m.gguf, model_alias: a, {config}}}\n"
        f"  - {{model: m.gguf, model_alias: b, {config}}}\n"
    )
    with pytest.raises(SystemExit, match=re.escape(needle)):
        parse(["--config_file", str(file), *flags])


def test_cli_usage_and_unknown_command() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "llama_cpp.cli", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "serve" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "llama_cpp.cli", "srve"], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "unknown command 'srve'" in bad.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "llama_cpp.server", "--model", "/nope.gguf"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "model file not found: /nope.gguf" in missing.stderr


def test_an_oversized_body_is_refused(server: Server) -> None:
    r = httpx.post(
        server.url + "/v1/completions",
        content=b" " * (9 * 1024 * 1024),
        headers={**auth(), "content-type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 413
    assert "--max_body_bytes" in r.json()["error"]["message"]


def test_a_chunked_upload_cannot_get_around_the_body_limit(server: Server) -> None:
    def pieces() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for _ in range(10):
            yield b" " * (1024 * 1024)

    r = httpx.post(
        server.url + "/v1/completions",
        content=pieces(),
        headers={**auth(), "content-type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 413
    assert "more than 8388608 bytes" in r.json()["error"]["message"]
    small = httpx.post(  # a chunked body under the limit is read whole and served
        server.url + "/v1/completions",
        content=iter([b'{"prompt": "Hello", ', b'"max_tokens": 2}']),
        headers={**auth(), "content-type": "application/json"},
        timeout=60,
    )
    assert small.status_code == 200, small.text
    assert small.json()["usage"]["completion_tokens"] == 2


def test_prometheus_metrics(server: Server, client: openai.OpenAI) -> None:
    client.completions.create(model="smol", prompt="Hello", temperature=0, max_tokens=5)
    assert httpx.get(server.url + "/metrics").status_code == 401
    text = httpx.get(server.url + "/metrics", headers=auth()).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    assert samples['llama_requests_total{path="/v1/completions",status="200"}'] >= 1
    assert samples['llama_tokens_generated_total{model="smol"}'] >= 5
    assert samples['llama_prompt_tokens_total{model="smol"}'] >= 1
    assert samples['llama_slots{model="smol"}'] == 4
    assert samples['llama_slots_busy{model="smol"}'] == 0
    assert samples['llama_queue_depth{model="smol"}'] == 0
    count = samples['llama_time_to_first_token_seconds_count{model="smol"}']
    assert count >= 1
    assert samples['llama_time_to_first_token_seconds_bucket{model="smol",le="+Inf"}'] == count
    assert "# TYPE llama_request_duration_seconds histogram" in text


def test_langchain_chatopenai_against_the_server(server: Server) -> None:
    from integrations import require

    with httpx.Client() as http:  # closed: no socket left to the garbage collector
        chat_openai = require("langchain_openai").ChatOpenAI(
            base_url=server.url + "/v1", api_key=KEY, model="smol", temperature=0,
            max_tokens=24, http_client=http,
        )  # fmt: skip
        reply = chat_openai.invoke("Name the capital of France.")
        assert "Paris" in reply.content
        streamed = "".join(c.content for c in chat_openai.stream(QUESTION[0]["content"]))
        assert streamed == reply.content


def test_cors_allows_only_the_configured_origins(model_path: Path) -> None:
    srv = Server(model_path, "--n_ctx", "256", "--n_parallel", "1",
                 "--cors_origins", "https://app.example")  # fmt: skip
    try:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = httpx.options(
            srv.url + "/v1/completions", headers={"Origin": "https://app.example", **preflight}
        )
        assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
        other = httpx.options(
            srv.url + "/v1/completions", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
    finally:
        srv.stop()


def test_lists_from_the_environment_and_flags_are_comma_separated(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_cpp.server.__main__ import parse

    monkeypatch.setenv("MODEL", str(model_path))
    monkeypatch.setenv("API_KEY", "first, second")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.example,http://b.example")
    server, models = parse([])
    assert server.api_key == ["first", "second"]
    assert server.cors_origins == ["http://a.example", "http://b.example"]
    assert [m.model for m in models] == [str(model_path)]
    server, _ = parse(["--api_key", "x,y", "--api_key", "z", "--cors_origins", "http://c.example"])
    assert server.api_key == ["x", "y", "z"]
    assert server.cors_origins == ["http://c.example"]


def test_llamaindex_openai_against_a_server_configured_from_the_environment(
    model_path: Path,
) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai import OpenAI as LlamaIndexOpenAI

    # LlamaIndex's OpenAI looks the model name up in its table of OpenAI models: serve
    # the GGUF under such a name
    srv = Server(model_path, "--model_alias", "gpt-4o-mini", "--n_ctx", "512",
                 env={"API_KEY": "key-one,key-two"})  # fmt: skip
    try:
        for key, status in (("key-one", 200), ("key-two", 200), ("key-three", 401)):
            r = httpx.get(srv.url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == status, (key, r.text)
            if status == 200:
                assert [m["id"] for m in r.json()["data"]] == ["gpt-4o-mini"]
        with httpx.Client() as http:  # closed even when an assertion fails
            llm = LlamaIndexOpenAI(model="gpt-4o-mini", api_base=srv.url + "/v1",
                                   api_key="key-two", temperature=0.0, max_tokens=12,
                                   max_retries=0, http_client=http)  # fmt: skip
            answer = llm.chat([ChatMessage(role="user", content=QUESTION[0]["content"])])
            assert "Paris" in (answer.message.content or "")
            streamed = "".join(
                (part.delta or "")
                for part in llm.stream_chat(
                    [ChatMessage(role="user", content=QUESTION[0]["content"])]
                )
            )
            assert streamed == answer.message.content
            completion = llm.complete("The capital of France is")
            assert completion.text.strip()
    finally:
        srv.stop()
