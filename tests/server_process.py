"""The OpenAI-compatible server as a real process, for the server tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

KEY = "test-key"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self,
        model_path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        output: Path | None = None,
    ):
        """``output``: the file that gets the server's stdout and stderr (its log; a
        temporary file when not given: a pipe nobody reads would fill and block it)."""
        if output is None:
            handle, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            os.close(handle)
            output = Path(name)
        self.output = output
        self._output_file = output.open("w")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
                   "--model_alias", "smol", "--port", str(self.port), *args]  # fmt: skip
        inherited = {k: v for k, v in os.environ.items()
                     if k not in ("MODEL", "API_KEY", "PORT", "CORS_ORIGINS")}  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=self._output_file,
            stderr=subprocess.STDOUT,
            text=True,
            env={**inherited, **(env or {})},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                said = output.read_text()
                self.stop()
                raise AssertionError(f"the server exited: {said}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("the server did not start within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._output_file.close()

    def log(self) -> str:
        """What the server has written so far."""
        return self.output.read_text(errors="replace")

    def health(self) -> dict[str, Any]:
        return httpx.get(self.url + "/health").json()["models"]["smol"]
