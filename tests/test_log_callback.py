"""llama.cpp's log routed to a Python callback (set_log_callback, llama_log_set)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llama_cpp
from llama_cpp import Llama


@pytest.fixture(autouse=True)
def no_callback_left_behind() -> Iterator[None]:
    yield
    llama_cpp.set_log_callback(None)


def test_callback_sees_the_load_log_until_removed(model_path: Path) -> None:
    seen: list[tuple[int, bytes]] = []
    llama_cpp.set_log_callback(lambda level, text: seen.append((level, text)))
    Llama(str(model_path), n_ctx=128, verbose=False).close()
    text = b"".join(t for _, t in seen)
    assert b"SmolLM2" in text or b"smollm2" in text.lower()
    assert {level for level, _ in seen} <= {1, 2, 3, 4, 5}
    assert all(isinstance(t, bytes) for _, t in seen)
    llama_cpp.set_log_callback(None)
    count = len(seen)
    Llama(str(model_path), n_ctx=128, verbose=False).close()
    assert len(seen) == count


def test_llama_log_set_passes_user_data(model_path: Path) -> None:
    seen: list[Any] = []

    @llama_cpp.llama_log_callback
    def on_log(level: int, text: bytes, user_data: Any) -> None:
        seen.append(user_data)

    llama_cpp.llama_log_set(on_log, "mine")
    Llama(str(model_path), n_ctx=128, verbose=False).close()
    assert seen and set(seen) == {"mine"}


def test_callback_runs_on_the_logging_thread(model_path: Path) -> None:
    threads: set[str] = set()
    llama_cpp.set_log_callback(lambda _level, _text: threads.add(threading.current_thread().name))
    worker = threading.Thread(
        target=lambda: Llama(str(model_path), n_ctx=128, verbose=False).close(), name="loader"
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert "loader" in threads


def test_a_failing_callback_does_not_break_loading(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))

    def explode(level: int, text: bytes) -> None:
        raise RuntimeError("callback failed")

    llama_cpp.set_log_callback(explode)
    with Llama(str(model_path), n_ctx=128, verbose=False) as llm:
        assert (
            "Paris"
            in llm("The capital of France is", max_tokens=4, temperature=0.0)["choices"][0]["text"]
        )
    assert reported and isinstance(reported[0], RuntimeError)


def test_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="must be callable"):
        llama_cpp.set_log_callback("print")  # type: ignore[arg-type]
