"""Schemathesis against the running server's own ``/openapi.json``: requests generated from
the schema (valid ones, and ones that break it) never get a 5xx, every error is
OpenAI-shaped JSON, and the server answers normally afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from server_process import Server, auth

EXAMPLES_PER_OPERATION = 60


@pytest.fixture(scope="module")
def small_server(model_path: Path) -> Iterator[Server]:
    # 64 positions per request bound every generation, so the fuzzing stays fast
    srv = Server(model_path, "--n_ctx", "64", "--n_parallel", "2", "--api_key", "test-key")
    yield srv
    srv.stop()


def probe(server: Server, mode: GenerationMode) -> tuple[dict[str, int], list[str]]:
    """Sends generated requests to every operation; returns (requests by route, problems)."""
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json", timeout=30)
    problems: list[str] = []
    sent: dict[str, int] = {}

    def check(case: schemathesis.Case, response: schemathesis.Response) -> None:
        sent[case.path] = sent.get(case.path, 0) + 1
        where = f"{case.method} {case.path} {case.body!r:.300}"
        if response.status_code >= 500:
            problems.append(f"{response.status_code} for {where}: {response.text:.300}")
        elif response.status_code >= 400:
            error = response.json().get("error", {})
            if not isinstance(error, dict) or not error.get("message"):
                problems.append(f"not OpenAI-shaped: {where}: {response.text:.300}")

    with requests.Session() as session:  # closed: no socket left to the garbage collector
        for result in schema.get_all_operations():
            operation = result.ok()

            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def send(case: schemathesis.Case) -> None:
                check(case, case.call(session=session, headers=auth(), timeout=120))

            try:
                send()
            except hypothesis.errors.Unsatisfiable:  # nothing to break in a bodiless GET
                assert mode is GenerationMode.NEGATIVE and operation.method == "get"
    return sent, problems


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(
    small_server: Server, mode: GenerationMode
) -> None:
    sent, problems = probe(small_server, mode)
    posted = ("/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/extras/tokenize",
              "/extras/detokenize")  # fmt: skip
    assert all(sent.get(path, 0) >= EXAMPLES_PER_OPERATION // 2 for path in posted), sent
    assert not problems, "\n".join(problems[:10])
    answer = httpx.post(
        small_server.url + "/v1/completions",
        json={"prompt": "Hello", "max_tokens": 3, "temperature": 0},
        headers=auth(),
        timeout=60,
    )
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] == 3
