"""What the GPU backends' tests (test_vulkan.py, test_cuda.py) share: a model loaded with
llama.cpp's own log captured, where that log says the layers went, the teacher-forced
comparison with the CPU backend, and the server run with every layer on the GPU."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import llama_cpp

# A top-1 token may differ between backends only where the CPU's two best tokens are
# closer than this (see test_vulkan.py's teacher-forced test for the reasoning).
NEAR_TIE_NATS = 0.5


def load_with_log(model_path: Path, **kwargs: Any) -> tuple[llama_cpp.Llama, str]:
    """A Llama and llama.cpp's load log."""
    lines: list[str] = []
    llama_cpp.set_log_callback(lambda _level, text: lines.append(text.decode(errors="replace")))
    try:
        llm = llama_cpp.Llama(str(model_path), n_ctx=512, verbose=False, **kwargs)
    finally:
        llama_cpp.set_log_callback(None)
    return llm, "".join(lines)


def offloaded(log: str) -> tuple[int, int]:
    """(layers offloaded, layers) from llama.cpp's load log."""
    match = re.search(r"offloaded (\d+)/(\d+) layers to GPU", log)
    assert match, log
    return int(match.group(1)), int(match.group(2))


def _logprobs(llm: llama_cpp.Llama, tokens: list[int]) -> np.ndarray:
    llm.ctx.clear()
    logits = llm.ctx.decode(tokens, all_logits=True).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@dataclass
class TeacherForced:
    """Both backends read the CPU's greedy text: per position, |delta logprob| of the
    forced token, whether the top-1 tokens agree, and where the CPU's lead is clear."""

    delta: np.ndarray
    agree: np.ndarray
    clear_lead: np.ndarray

    @property
    def report(self) -> str:
        return (
            f"positions {len(self.delta)}, top-1 agreement {int(self.agree.sum())}, "
            f"mean |delta| {self.delta.mean():.3f}, max {self.delta.max():.3f}"
        )


def teacher_forced(cpu: llama_cpp.Llama, gpu: llama_cpp.Llama, prompt: str) -> TeacherForced:
    text = cpu(prompt, max_tokens=48, temperature=0)["choices"][0]["text"]
    tokens = cpu.tokenize((prompt + text).encode())
    assert len(tokens) > 40
    expected, got = _logprobs(cpu, tokens), _logprobs(gpu, tokens)
    positions = np.arange(len(tokens) - 1)
    forced = np.array(tokens[1:])
    delta = np.abs(expected[positions, forced] - got[positions, forced])
    ranked = np.sort(expected[:-1], axis=1)
    return TeacherForced(
        delta=delta,
        agree=expected[:-1].argmax(axis=1) == got[:-1].argmax(axis=1),
        clear_lead=(ranked[:, -1] - ranked[:, -2]) >= NEAR_TIE_NATS,
    )


def server_on_gpu(model_path: Path, tmp_path: Path, prompt: str) -> tuple[Any, str]:
    """The server with every layer on the GPU: its reply to one completion, and its log."""
    import httpx
    from server_process import Server, auth

    output = tmp_path / "server.log"
    server = Server(model_path, "--n_gpu_layers", "-1", "--verbose", "true", output=output)
    try:
        reply = httpx.post(
            server.url + "/v1/completions",
            json={"prompt": prompt, "max_tokens": 6, "temperature": 0},
            headers=auth(),
            timeout=300,
        )
    finally:
        server.stop()
    return reply, output.read_text()


def doctor_report() -> dict[str, Any]:
    """``llama-cpp doctor --json``, run as a user would (its own process)."""
    done = subprocess.run(
        [sys.executable, "-m", "llama_cpp.doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return json.loads(done.stdout)
