"""The server's prompt cache (``--cache``, llama-cpp-python's setting): a finished
request's state is kept, and a later prompt that extends it is restored into a slot even
after the slot has served something else; ``usage.prompt_tokens_details.cached_tokens``
says how much of the prompt was not evaluated again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_process import Server

STORY = (
    "Once upon a time, in a village by a wide river, there lived an old baker who rose "
    "before dawn every day to light his oven. The children of the village loved the smell "
    "of fresh bread that drifted through the streets, and"
)


def complete(server: Server, prompt: str) -> dict:
    body = {"prompt": prompt, "max_tokens": 4, "temperature": 0}
    response = httpx.post(server.url + "/v1/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module", params=["no cache", "ram", "disk"])
def server(request: pytest.FixtureRequest, model_path: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # fmt: skip
    options = ["--n_ctx", "256", "--n_parallel", "1"]
    if request.param != "no cache":
        cache_dir = tmp_path_factory.mktemp("prompt_cache")
        options += ["--cache", "true", "--cache_type", request.param,
                    "--cache_dir", str(cache_dir)]  # fmt: skip
    srv = Server(model_path, *options)
    srv.kind = request.param  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.mark.slow
def test_a_prompt_extending_an_earlier_one_is_restored(server: Server) -> None:
    first = complete(server, STORY)
    complete(server, "The capital of France is")  # the only slot now holds this
    again = complete(server, STORY + " the")
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    prompt = again["usage"]["prompt_tokens"]
    if server.kind == "no cache":  # type: ignore[attr-defined]
        assert cached <= 1, "the slot alone kept nothing of STORY (the control)"
    else:
        assert cached >= first["usage"]["prompt_tokens"] - 1, (cached, prompt)
        assert cached < prompt
