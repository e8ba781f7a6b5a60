"""The shell commands in README.md and docs/install/*.md, run where this machine can.

Every line of every ```bash block is classified: checks (``llama-cpp doctor``,
``python -c ...``, ``python -m llama_cpp --model ...``) run for real; installs of this
checkout run CMake's configure step with the documented CMAKE_ARGS (they must configure,
or stop with one of our own explained errors, never a raw CMake failure); ``apt-get
install`` lines must name packages this Debian knows. Commands for other systems, for a
running server, or taking many minutes are skipped with the reason; a command nobody
classified fails the test, so a new doc command is either run or consciously skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs" / "install").glob("*.md"))]


@dataclass(frozen=True)
class Command:
    doc: str
    text: str
    kind: str  # run, configure, apt, skip
    reason: str = ""
    cmake_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())


SKIPS = [
    (r"^sudo (dnf|pacman|zypper)\b|^brew |^xcode-select|^winget ", "another operating system"),
    (
        r"^(python -m llama_cpp\.server|llama-cpp serve)\b|^curl ",
        "needs a running server (tests/test_server.py starts one)",
    ),
    (
        r"^(llama-cpp rpc-server|python -m llama_cpp\.rpc_server)\b",
        "a worker that runs until stopped (tests/test_rpc.py runs it across namespaces)",
    ),
    (r"ci/build-wheel\.sh", "builds a wheel (over ten minutes); proven by hand, see wheels.md"),
    (r"\bllama-cpp-python$", "llama-cpp-python's own command, quoted in the text"),
    (r"^python -m pytest$", "the test suite itself"),
    (r"\bPACKAGE\b|CMAKE_ARGS=\"\.\.\.\"", "a placeholder to fill in"),
    (
        r"^pip install (--no-deps )?\"?(llama-index|pyyaml|cmake ninja|scikit-build-core|nvidia-)",
        "installs other packages from the package index",
    ),
]
CHECKOUT_INSTALL = re.compile(
    r"^pip install (?:(?:--[\w-]+|-e|-C \S+) )*\"?\.(?:\[\w+\])?\"?(?: -C \S+)*$"
)
INDEX_INSTALL = re.compile(r"^pip install .*--no-binary llama-cpp-pybind llama-cpp-pybind$")


def _split(line: str) -> list[str]:
    return [part.strip() for part in re.split(r"\s&&\s", line) if part.strip()]


def _classify(doc: str, text: str) -> Command:
    text = re.sub(r"\s+#.*$", "", text).strip()
    for pattern, reason in SKIPS:
        if re.search(pattern, text):
            return Command(doc, text, "skip", reason)
    if text.startswith("sudo apt-get install"):
        return Command(doc, text, "apt")
    env: list[tuple[str, str]] = []
    rest = text
    while match := re.match(r'^(\w+)=("[^"]*"|\S+)\s+', rest):
        env.append((match.group(1), match.group(2).strip('"')))
        rest = rest[match.end() :]
    if CHECKOUT_INSTALL.match(rest) or INDEX_INSTALL.match(rest):
        values = dict(env)
        cmake_args = values.pop("CMAKE_ARGS", "")
        # $(bash ci/...) is run by the test (in the checkout), not at collection
        args = [cmake_args] if "$(" in cmake_args else shlex.split(cmake_args)
        args += [f"-D{d}" for d in re.findall(r"-C cmake\.define\.(\S+)", rest)]
        values.pop("FORCE_CMAKE", None)
        return Command(doc, text, "configure", cmake_args=tuple(args), env=tuple(values.items()))
    if rest.startswith("cmake -S . -B "):
        args = [w for w in shlex.split(rest) if w.startswith("-D") and "pybind11_DIR" not in w]
        return Command(doc, text, "configure", cmake_args=tuple(args))
    if re.match(r"^(llama-cpp doctor|python -m llama_cpp\.doctor|python -c |python -m llama_cpp "
                r"--model|python3 -m venv|\. \.venv/bin/activate)", rest):  # fmt: skip
        return Command(doc, text, "run")
    return Command(doc, text, "unclassified")


def doc_commands() -> list[Command]:
    found: list[Command] = []
    for doc in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), re.S):
            for line in re.sub(r"\\\n", " ", block).splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = [_classify(doc.name, part) for part in _split(line)]
                if len(parts) > 1 and all(p.kind == "run" for p in parts):
                    parts = [Command(doc.name, line, "run")]  # one shell: `venv && activate`
                found += parts
    return list(dict.fromkeys(found))


COMMANDS = doc_commands()


def test_every_doc_command_is_classified() -> None:
    unknown = [f"{c.doc}: {c.text}" for c in COMMANDS if c.kind == "unclassified"]
    assert not unknown, "classify these in tests/test_docs_commands.py:\n" + "\n".join(unknown)
    kinds = {c.kind for c in COMMANDS}
    assert {"run", "configure", "apt"} <= kinds
    assert sum(c.kind == "configure" for c in COMMANDS) >= 10


@pytest.fixture(scope="module")
def test_model() -> str:
    sys.path.insert(0, str(REPO / "ci"))
    from fetch_test_model import fetch_test_model

    return str(fetch_test_model())


RUNS = list({c.text: c for c in COMMANDS if c.kind == "run"}.values())


@pytest.mark.parametrize("command", RUNS, ids=[f"{c.doc}:{c.text[:40]}" for c in RUNS])
def test_check_commands_run(command: Command, test_model: str, tmp_path: Path) -> None:
    text = command.text.replace("path/to/model.gguf", test_model)
    text = text.replace("$(python ci/fetch_test_model.py)", test_model)
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "FORCE_CMAKE")}
    cwd = tmp_path if "venv" in text else REPO
    # `python` and `llama-cpp` are this interpreter's, as in an activated environment
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", text], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )
    assert done.returncode == 0, f"{command.doc}: {text}\n{done.stdout[-2000:]}{done.stderr}"


CONFIGURES = list({(c.cmake_args, c.env): c for c in COMMANDS if c.kind == "configure"}.values())


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", CONFIGURES, ids=[" ".join(c.cmake_args) or "defaults" for c in CONFIGURES]
)
def test_install_commands_configure_or_explain(command: Command, configure) -> None:
    env = dict(command.env)
    for variable in ("CC", "CXX"):
        if variable in env and not Path(env[variable]).exists():
            pytest.skip(f"{env[variable]} is not installed here ({command.doc})")
    args = list(command.cmake_args)
    if len(args) == 1 and "$(" in args[0]:
        expanded = subprocess.run(
            ["bash", "-c", f'printf "%s" "{args[0]}"'],
            capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
        )  # fmt: skip
        assert expanded.returncode == 0, f"{command.doc}: {command.text}\n{expanded.stderr}"
        args = shlex.split(expanded.stdout)
    result = configure(*args, env=env)
    if "ci/vulkan-headers.sh" in command.text and shutil.which("glslc"):
        # the Debian 12 recipe brings its own headers: it must configure, not explain
        assert result.returncode == 0, f"{command.doc}: {command.text}\n{result.log}"
    if result.returncode != 0:
        assert "llama-cpp-pybind:" in result.flat, f"{command.doc}: {command.text}\n{result.log}"


APTS = [c for c in COMMANDS if c.kind == "apt"]


@pytest.mark.parametrize("command", APTS, ids=[f"{c.doc}:{c.text[21:60]}" for c in APTS])
def test_apt_packages_exist(command: Command) -> None:
    if shutil.which("apt-cache") is None:
        pytest.skip("not a Debian-like system")
    packages = [w for w in command.text.split()[3:] if not w.startswith("-")]
    for package in packages:
        done = subprocess.run(["apt-cache", "show", package], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout, f"{command.doc}: no package {package}"
