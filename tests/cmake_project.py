"""Running the top-level CMake project configure-only (no compiling), for the tests
that check what configure accepts, refuses and records (test_configure, test_docs_commands)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(module_name: str, executable: str) -> str:
    module = pytest.importorskip(module_name, reason=f"pip install {module_name}")
    bin_dir = Path(module.BIN_DIR if module_name == "ninja" else module.CMAKE_BIN_DIR)
    return str(bin_dir / executable)


CMAKE = _tool("cmake", "cmake")
NINJA = _tool("ninja", "ninja")


@dataclass
class Configure:
    returncode: int
    log: str
    build_dir: Path

    @property
    def flat(self) -> str:
        """The log with CMake's line wrapping undone, for matching messages."""
        return " ".join(self.log.split())

    def cache(self, name: str) -> str | None:
        text = (self.build_dir / "CMakeCache.txt").read_text(encoding="utf-8")
        match = re.search(rf"^{re.escape(name)}:[A-Z]+=(.*)$", text, re.MULTILINE)
        return match.group(1) if match else None

    def build_info(self) -> dict:
        return json.loads((self.build_dir / "_build_info.json").read_text(encoding="utf-8"))

    def summary_backends(self) -> list[str]:
        match = re.search(r"backends\s*: (.*)", self.log)
        assert match, self.log
        return [name.strip() for name in match.group(1).split(",")]


def configure_in(tmp_path: Path) -> Callable[..., Configure]:
    """A function that configures the project in ``tmp_path/build`` with the given flags
    (and extra environment) and returns the result; the ``configure`` fixture."""
    pybind11_dir = subprocess.run(
        [sys.executable, "-m", "pybind11", "--cmakedir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def run(*flags: str, env: dict[str, str] | None = None) -> Configure:
        build_dir = tmp_path / "build"
        command = [
            CMAKE,
            "-S",
            str(REPO),
            "-B",
            str(build_dir),
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={NINJA}",
            f"-Dpybind11_DIR={pybind11_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            *flags,
        ]
        base_env = {k: v for k, v in os.environ.items() if k not in ("FORCE_CMAKE", "CMAKE_ARGS")}
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**base_env, **(env or {})},
            timeout=300,
            check=False,
        )
        return Configure(result.returncode, result.stdout + result.stderr, build_dir)

    return run
