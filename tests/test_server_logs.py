"""The server's logs: an access line per request with the model and token counts, errors
with tracebacks, ``--log_level`` and ``--log_format json``; health checks only at debug."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from server_process import Server

ANSWER = {"prompt": "The capital of France is", "max_tokens": 4, "temperature": 0}


def _wait_for(server: Server, needle: str) -> str:
    deadline = time.monotonic() + 10
    while needle not in (log := server.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


def test_text_access_lines_name_route_status_model_and_tokens(model_path: Path) -> None:
    srv = Server(model_path, "--n_ctx", "256", "--n_parallel", "1")
    try:
        httpx.get(srv.url + "/health")
        r = httpx.post(srv.url + "/v1/completions", json={**ANSWER, "model": "gpt-3.5-turbo"})
        assert r.status_code == 200
        prompt_tokens = r.json()["usage"]["prompt_tokens"]
        httpx.post(srv.url + "/v1/embeddings", json={"input": "cat"})
        httpx.post(srv.url + "/v1/completions", json={"prompt": 5})
        log = _wait_for(srv, "POST /v1/completions 422")
        lines = log.splitlines()
        line = next(x for x in lines if "POST /v1/completions 200" in x)
        assert "llama_cpp.server.access" in line and "INFO" in line
        assert f"model=gpt-3.5-turbo tokens={prompt_tokens}+4 " in line
        assert any("POST /v1/embeddings 200 model=smol tokens=" in x for x in lines)
        assert "/health" not in log  # health checks only at debug
        assert "serving ['smol'] on http://127.0.0.1" in log
    finally:
        srv.stop()


def test_json_log_lines_and_debug_level(model_path: Path) -> None:
    srv = Server(model_path, "--n_ctx", "256", "--n_parallel", "1", "--log_format", "json",
                 "--log_level", "debug")  # fmt: skip
    try:
        httpx.get(srv.url + "/health")
        streamed = httpx.post(srv.url + "/v1/completions", json={**ANSWER, "stream": True})
        assert streamed.status_code == 200 and "[DONE]" in streamed.text
        _wait_for(srv, '"path": "/v1/completions"')
        records = [json.loads(x) for x in srv.log().splitlines() if x.startswith("{")]
        assert records, srv.log()
        access = [r for r in records if r["logger"] == "llama_cpp.server.access"]
        health = next(r for r in access if r["path"] == "/health")
        assert health["level"] == "debug" and health["status"] == 200
        done = next(r for r in access if r["path"] == "/v1/completions")
        assert done["method"] == "POST" and done["model"] == "smol"
        assert done["completion_tokens"] == 4 and done["prompt_tokens"] > 0
        assert done["seconds"] > 0 and done["level"] == "info"
    finally:
        srv.stop()


def test_a_bad_log_level_is_refused() -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "llama_cpp.server", "--model", "m.gguf", "--log_level", "loud"],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "log_level" in run.stderr and "'debug'" in run.stderr
