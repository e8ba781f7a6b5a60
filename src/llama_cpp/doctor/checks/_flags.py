"""Reading CMAKE_ARGS the way the build does: ``-DNAME[:TYPE]=VALUE`` entries,
legacy ``LLAMA_*`` names mapped to today's ``GGML_*`` ones.

The rows come from ``llama_cpp/flag_table.json``, the file cmake/LegacyFlags.cmake and
cmake/BuildInfo.cmake read too (tests/test_flag_table.py checks both against it)."""

from __future__ import annotations

import functools
import json
import re
import shlex
from importlib import resources
from typing import Any

TABLE_FILE = "flag_table.json"


@functools.cache
def flag_table() -> dict[str, Any]:
    """The parsed ``llama_cpp/flag_table.json`` (read once)."""
    source = resources.files("llama_cpp").joinpath(TABLE_FILE)
    try:
        table: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(
            f"llama_cpp/{TABLE_FILE} is missing or unreadable ({exc}); the installation is "
            "damaged: reinstall llama-cpp-pybind"
        ) from exc
    return table


def _rows(section: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = flag_table()[section]
    return rows


# legacy name -> today's name (LLAMA_CUBLAS -> GGML_CUDA), in the table's order
LEGACY_RENAMES: dict[str, str] = {row["legacy"]: row["modern"] for row in _rows("legacy_renames")}
# legacy name -> what its notice adds (why CLBlast and Kompute became Vulkan)
LEGACY_NOTES: dict[str, str] = {
    row["legacy"]: row["note"] for row in _rows("legacy_renames") if "note" in row
}
# legacy name -> further flags a true value sets (LLAMA_OPENBLAS -> GGML_BLAS_VENDOR=OpenBLAS)
LEGACY_WHEN_ON: dict[str, dict[str, str]] = {
    row["legacy"]: dict(row["when_on"]) for row in _rows("legacy_renames") if "when_on" in row
}
# legacy flags the build accepts and drops -> why
LEGACY_DROPPED: dict[str, str] = {row["legacy"]: row["reason"] for row in _rows("legacy_dropped")}
# today's LLAMA_* options: not legacy, not unknown
CURRENT_LLAMA_FLAGS: frozenset[str] = frozenset(flag_table()["current_llama_flags"])
# GGML_* option -> the backend name build_info() and ggml's registry use
BACKEND_OF_OPTION: dict[str, str] = {
    row["option"]: row["backend"] for row in _rows("backend_options")
}
# ggml registry names that differ from the build info's backend names (MTL -> Metal)
BUILD_NAME_OF_REGISTRY: dict[str, str] = {
    row["registry"]: row["backend"] for row in _rows("backend_options") if "registry" in row
}
GPU_BACKENDS = ("CUDA", "ROCm", "Metal", "Vulkan", "SYCL", "OpenCL", "MUSA", "CANN")

_RANK = {name: rank for rank, name in enumerate(LEGACY_RENAMES)}
# CMake's false constants (``if(<variable>)``); any other value is true
_FALSE = {"", "0", "OFF", "NO", "FALSE", "N", "IGNORE", "NOTFOUND"}
_DEFINE = re.compile(r"^-D([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z]+)?=(.*)$")


def parse_cmake_args(text: str | None) -> dict[str, str]:
    """``-DNAME=VALUE`` entries of a CMAKE_ARGS string, by name (the last one wins)."""
    if not text:
        return {}
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        words = text.split()
    found: dict[str, str] = {}
    for word in words:
        match = _DEFINE.match(word)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def is_on(value: str) -> bool:
    """Whether CMake reads ``value`` as true: anything but a false constant
    (``OFF``, ``0``, ``NO``, ``FALSE``, ``N``, ``IGNORE``, ``NOTFOUND``, ``*-NOTFOUND``, empty)."""
    word = value.strip().upper()
    return word not in _FALSE and not word.endswith("-NOTFOUND")


def _implied(name: str, value: str) -> dict[str, str]:
    """What the legacy ``name=value`` sets, as the build does."""
    implied = {LEGACY_RENAMES[name]: value}
    if is_on(value):
        implied.update(LEGACY_WHEN_ON.get(name, {}))
    return implied


def modernise(defines: dict[str, str]) -> dict[str, str]:
    """The same defines as the build reads them: legacy names replaced by today's
    (``-DLLAMA_CUBLAS=on`` -> ``GGML_CUDA=on``), dropped ones left out. A modern name given
    too wins; where two legacy names give one modern flag, the later row of the table wins."""
    modern: dict[str, str] = {}
    set_by: dict[str, int] = {}
    for name, value in defines.items():
        if name in LEGACY_DROPPED:
            continue
        if name not in LEGACY_RENAMES:
            modern[name] = value
            continue
        for target, target_value in _implied(name, value).items():
            if target in defines or set_by.get(target, -1) > _RANK[name]:
                continue
            modern[target] = target_value
            set_by[target] = _RANK[name]
    return modern


def legacy_in(defines: dict[str, str]) -> dict[str, str]:
    """Legacy names among ``defines`` and the name each became."""
    return {name: LEGACY_RENAMES[name] for name in defines if name in LEGACY_RENAMES}


def requested_backends(defines: dict[str, str]) -> tuple[set[str], set[str]]:
    """Backends the (modernised) defines switch on, and those they switch off."""
    on: set[str] = set()
    off: set[str] = set()
    for name, value in modernise(defines).items():
        backend = BACKEND_OF_OPTION.get(name)
        if backend is not None:
            (on if is_on(value) else off).add(backend)
    return on, off


def render_defines(defines: dict[str, str]) -> str:
    """``{"GGML_CUDA": "on"}`` -> ``-DGGML_CUDA=on``."""
    return " ".join(f"-D{name}={value}" for name, value in defines.items())
