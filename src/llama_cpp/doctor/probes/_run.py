"""Running a probe command without ever raising or hanging."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass


@dataclass
class Output:
    """What a probe command printed, and how it ended."""

    returncode: int
    stdout: str
    stderr: str


def run(
    command: list[str], timeout: float = 15.0, env: dict[str, str] | None = None
) -> Output | None:
    """Run ``command``; None when it is not installed, cannot start, or times out."""
    if shutil.which(command[0]) is None and not os.path.isfile(command[0]):
        return None
    try:
        return run_or_raise(command, timeout, env)
    except (OSError, subprocess.SubprocessError):
        return None


def run_or_raise(command: list[str], timeout: float, env: dict[str, str] | None = None) -> Output:
    """Run ``command`` with text output and no stdin; raises on timeout or a failed start."""
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return Output(done.returncode, done.stdout, done.stderr)


def first_line(command: list[str], timeout: float = 15.0) -> str | None:
    """The first non-empty line a successful command prints (stdout, else stderr)."""
    out = run(command, timeout)
    if out is None or out.returncode != 0:
        return None
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        if line.strip():
            return line.strip()
    return None
