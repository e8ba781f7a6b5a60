"""The installed package: where it came from, what it was built with, and what
happens when its compiled module is loaded (in a child process, so a crash is
diagnosed instead of suffered)."""

from __future__ import annotations

import importlib.machinery
import json
import os
import re
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from llama_cpp._build_info import DISTRIBUTION
from llama_cpp.doctor.probes._child import MARKER, MODEL_MARKER
from llama_cpp.doctor.probes._run import run_or_raise

# Windows NTSTATUS exit codes of a process that died.
_WINDOWS_STATUS = {
    0xC000001D: "illegal_instruction",
    0xC0000005: "crash",
    0xC0000135: "missing_library",
    0xC0000409: "crash",
}


def probe_install() -> dict[str, Any]:
    """This distribution's version and origin, and any other package providing ``llama_cpp``."""
    import llama_cpp

    package_dir = Path(llama_cpp.__file__ or ".").parent
    result: dict[str, Any] = {
        "package_dir": str(package_dir),
        "package_version": getattr(llama_cpp, "__version__", None),
        "distribution_version": None,
        "source": None,
        "editable": False,
        "other_providers": [],
    }
    try:
        dist = metadata.distribution(DISTRIBUTION)
        result["distribution_version"] = dist.version
        direct = dist.read_text("direct_url.json")
        if direct:
            data = json.loads(direct)
            url = str(data.get("url", ""))
            source = _file_url_to_path(url) if url.startswith("file://") else ""
            # a checkout that still exists: fixes rebuild from it
            if "dir_info" in data and (Path(source) / "pyproject.toml").is_file():
                result["source"] = source
                result["editable"] = bool(data["dir_info"].get("editable"))
    except metadata.PackageNotFoundError:
        pass
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name == DISTRIBUTION:
            continue
        top = (dist.read_text("top_level.txt") or "").split()
        files = dist.files or []
        if "llama_cpp" in top or any(str(f).startswith("llama_cpp/") for f in files):
            result["other_providers"].append(
                {"name": dist.metadata["Name"], "version": dist.version}
            )
    return result


def _file_url_to_path(url: str) -> str:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(url)
    path = unquote(parsed.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]
    return path


def probe_runtime(
    model: str | None = None, n_gpu_layers: int = -1, timeout: float = 120.0
) -> dict[str, Any]:
    """Load ``llama_cpp._core`` in a child process and report what registered.

    On failure: ``{"ok": False, "failure": kind, ...}`` where kind is one of
    ``illegal_instruction``, ``missing_library``, ``undefined_symbol``,
    ``abi_mismatch``, ``not_built``, ``import_error``, ``crash``, ``timeout``.
    """
    command = [sys.executable, "-m", "llama_cpp.doctor.probes._child"]
    if model:
        command += ["--model", model, "--n-gpu-layers", str(n_gpu_layers)]
        timeout = max(timeout, 600.0)
    try:
        done = run_or_raise(command, timeout)
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "failure": "timeout",
            "detail": f"loading the compiled module did not finish in {timeout:.0f} s",
        }
    return classify_child(done.returncode, done.stdout, done.stderr, model_requested=bool(model))


def classify_child(
    returncode: int, stdout: str, stderr: str, model_requested: bool = False
) -> dict[str, Any]:
    """Turn the child's exit status and output into a runtime report."""
    result = model = None
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER) :])
        elif line.startswith(MODEL_MARKER):
            model = json.loads(line[len(MODEL_MARKER) :])
    tail = "\n".join((stderr or stdout).strip().splitlines()[-8:])
    if result is not None and result.get("ok"):
        if model is not None:
            result["model"] = model
        elif model_requested:
            died = _death(returncode)[1]
            result["model"] = {"ok": False, "error": f"the model run crashed: {died}\n{tail}"}
        return result
    if result is not None and "import_error" in result:
        return classify_import_error(result["import_error"], result.get("core_files", []))
    kind, detail = _death(returncode)
    return {"ok": False, "failure": kind, "detail": detail, "output": tail}


def _death(returncode: int) -> tuple[str, str]:
    """How a child process ended: its failure kind and a sentence."""
    if returncode < 0:
        number = -returncode
        kind = "illegal_instruction" if number == signal.SIGILL else "crash"
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else ""
        return kind, f"the process was killed by signal {number} {name}".rstrip()
    if returncode & 0xFFFFFFFF in _WINDOWS_STATUS:
        status = returncode & 0xFFFFFFFF
        return _WINDOWS_STATUS[status], f"the process ended with status 0x{status:08X}"
    return "crash", f"the process exited with status {returncode}"


def classify_import_error(message: str, core_files: list[str]) -> dict[str, Any]:
    """What an ImportError of ``llama_cpp._core`` means."""
    result: dict[str, Any] = {"ok": False, "detail": message, "core_files": core_files}
    missing = re.search(r"([^\s:]+): cannot open shared object file", message) or re.search(
        r"Library not loaded: (\S+)", message
    )
    if missing:
        result.update(failure="missing_library", library=Path(missing.group(1)).name)
    elif "DLL load failed" in message:
        result.update(failure="missing_library", library=None)
    elif "undefined symbol" in message or "Symbol not found" in message:
        result["failure"] = "undefined_symbol"
    elif "No module named" in message:
        built_for = [name for name in core_files if not _loadable_here(name)]
        if built_for:
            result.update(
                failure="abi_mismatch",
                built_for=[abi_tag(name) for name in built_for],
                running=abi_tag("_core" + importlib.machinery.EXTENSION_SUFFIXES[0]),
            )
        else:
            result["failure"] = "not_built"
    else:
        result["failure"] = "import_error"
    return result


def _loadable_here(file_name: str) -> bool:
    """Whether this interpreter would load an extension file of this name: its ABI
    tag is this Python's (or the stable ABI), or it carries no tag at all."""
    if abi_tag(file_name) == "unversioned" or ".abi3." in file_name:
        return True
    own = importlib.machinery.EXTENSION_SUFFIXES[0]
    return file_name.endswith(own)


def abi_tag(file_name: str) -> str:
    """``_core.cpython-312-x86_64-linux-gnu.so`` -> ``cpython-312``,
    ``_core.cp311-win_amd64.pyd`` -> ``cp311``, a bare ``_core.so`` -> ``unversioned``."""
    parts = file_name.split(".")
    match = re.match(r"cpython-\d+|cp\d+|pypy\d+", parts[1]) if len(parts) >= 3 else None
    return match.group(0) if match else "unversioned"


def python_of_tag(tag: str) -> str | None:
    """``cpython-312`` or ``cp312`` -> ``3.12``; None for other tags."""
    match = re.fullmatch(r"(?:cpython-|cp)(\d)(\d+)", tag)
    return f"{match.group(1)}.{match.group(2)}" if match else None
