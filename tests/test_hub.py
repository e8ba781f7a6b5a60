"""Llama.from_pretrained from the Hugging Face Hub cache, with no network.

The test writes a hub cache holding the test model the way huggingface_hub lays one out
(blobs, a snapshot, refs/main), then loads from it in a fresh interpreter twice: with
HF_HUB_OFFLINE=1, and with the hub simply unreachable (a closed local port), which is
what a machine without network looks like when nobody set the variable.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ID = "example-org/SmolLM2-135M-Instruct-GGUF"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

LOAD = """
import json, sys
from llama_cpp import Llama
llm = Llama.from_pretrained(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3], n_ctx=128,
                            verbose=False)
out = llm("The capital of France is", max_tokens=4, temperature=0.0)
print(json.dumps({"path": llm.model_path, "text": out["choices"][0]["text"]}))
"""


@pytest.fixture(scope="module")
def hub_cache(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("hub")
    repo = cache / ("models--" + REPO_ID.replace("/", "--"))
    blob = repo / "blobs" / hashlib.sha256(FILENAME.encode()).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.symlink_to(model_path)
    snapshot = repo / "snapshots" / COMMIT / "gguf"
    snapshot.mkdir(parents=True)
    (snapshot / FILENAME).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache


def load(hub_cache: Path, filename: str, **env: str) -> dict[str, str]:
    environment = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    run = subprocess.run(
        [sys.executable, "-c", LOAD, REPO_ID, filename, str(hub_cache)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("filename", [f"gguf/{FILENAME}", "*Q4_1.gguf"])
@pytest.mark.parametrize(
    "env",
    [{"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}],
    ids=["offline-mode", "hub-unreachable"],
)
def test_from_pretrained_loads_from_the_cache(
    hub_cache: Path, filename: str, env: dict[str, str]
) -> None:
    result = load(hub_cache, filename, **env)
    assert (
        Path(result["path"]).resolve()
        == (
            hub_cache
            / ("models--" + REPO_ID.replace("/", "--"))
            / "snapshots"
            / COMMIT
            / "gguf"
            / FILENAME
        ).resolve()
    )
    assert "Paris" in result["text"]


def test_a_glob_matching_nothing_lists_what_is_there(hub_cache: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", LOAD, REPO_ID, "*Q8_0.gguf", str(hub_cache)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
        check=False,
    )
    assert run.returncode == 1
    assert "no file in" in run.stderr and f"gguf/{FILENAME}" in run.stderr
