"""What this build contains, recorded at build time into ``_build_info.json``.

Readable without loading the compiled module, so a module that fails to load
(a missing shared library, an instruction this CPU lacks) can still be
explained.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DISTRIBUTION = "llama-cpp-pybind"
"""The name this package is installed under (``pip install`` / ``pip show``)."""

_FILE_NAME = "_build_info.json"


def build_info_path() -> Path | None:
    """Where ``_build_info.json`` lies: beside this file (a wheel install) or
    beside the compiled module (an editable install keeps build outputs apart)."""
    here = Path(__file__).with_name(_FILE_NAME)
    if here.is_file():
        return here
    spec = importlib.util.find_spec("llama_cpp._core")
    if spec is not None and spec.origin:
        beside_core = Path(spec.origin).with_name(_FILE_NAME)
        if beside_core.is_file():
            return beside_core
    return None


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    path = build_info_path()
    if path is None:
        raise FileNotFoundError(
            f"{_FILE_NAME} is missing from the llama_cpp package: the installation is "
            "incomplete. Reinstall with: pip install --force-reinstall --no-cache-dir "
            f"{DISTRIBUTION}"
        )
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def build_info() -> dict[str, Any]:
    """How this package was built, as a dict (a fresh copy each call).

    Keys: ``package_version``, ``mode`` (native/portable), ``cmake_args`` (the raw
    CMAKE_ARGS), ``legacy_flags`` (legacy names translated, as
    ``{"given", "became"}``), ``flags`` (every resolved GGML_* option),
    ``backends`` (compiled in, e.g. ``["CPU", "BLAS"]``), ``cpu_features`` (the
    instruction sets the CPU backend was compiled for; in a portable build, the
    baseline), ``cpu_variants`` (portable builds: the CPU backend variants shipped, of
    which the best for the running CPU is loaded), ``compilers``,
    ``llama_cpp_commit``, ``llama_cpp_source``, ``system``, ``processor``,
    ``build_type``, ``python_version`` and more.
    """
    return copy.deepcopy(_load())
