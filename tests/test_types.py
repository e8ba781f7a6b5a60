"""The package type-checks: mypy over src/llama_cpp with the compiled module's stubs
(_core.pyi), configured in pyproject.toml ([tool.mypy]: unused ``type: ignore`` comments
are errors too, so each one left is needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_package_type_checks() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout
