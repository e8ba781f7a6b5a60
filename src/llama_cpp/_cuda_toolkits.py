"""The tested sets of NVIDIA's CUDA packages (``cuda_toolkits.json``, shared with the
build: cmake/CudaToolkit.cmake and build_backend/ read the same file)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_TABLE = Path(__file__).with_name("cuda_toolkits.json")


@lru_cache(maxsize=1)
def cuda_toolkits() -> dict[str, Any]:
    """The whole table; ``["toolkits"][major]`` has ``run``, ``roots``, ``minimum_driver``."""
    return json.loads(_TABLE.read_text(encoding="utf-8"))


def nvidia_package_folders() -> tuple[str, ...]:
    """The folders under ``site-packages/nvidia`` where NVIDIA's packages keep the CUDA
    runtime and cuBLAS, for every CUDA major version, oldest first:
    ``("cuda_runtime", "cublas", "cu13")``."""
    toolkits = cuda_toolkits()["toolkits"]
    roots = [r for major in sorted(toolkits, key=int) for r in toolkits[major]["roots"]]
    return tuple(dict.fromkeys(root.removeprefix("nvidia/") for root in roots))
