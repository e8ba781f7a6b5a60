#!/usr/bin/env python3
"""The wheel variants: what each one passes to CMake and keeps out of the wheel.

One table for ci/build-wheel.sh, the cibuildwheel settings in pyproject.toml and the
workflow in .github/workflows/wheels.yml (the CUDA architectures come from
src/llama_cpp/cuda_toolkits.json). The variant comes from the command line or
from $LLAMA_PYBIND_VARIANT (default ``cpu``); the platform is the running one.

    python ci/variant.py cmake-args [VARIANT]        print CMAKE_ARGS
    python ci/variant.py repair WHEEL DEST [VARIANT] repair a wheel (auditwheel on Linux,
                                                     delocate on macOS, delvewheel on Windows)
    python ci/variant.py list                        print the variants, one per line

Standard library only.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

PORTABLE = "-DLLAMA_PYBIND_MODE=portable"
# every GPU from Turing on: the list a CUDA build without a visible GPU gets by default
CUDA_ARCHITECTURES = json.loads(
    (Path(__file__).resolve().parent.parent / "src" / "llama_cpp" / "cuda_toolkits.json").read_text(
        encoding="utf-8"
    )
)["architectures_without_gpu"]

VARIANTS = {
    "cpu": [],
    "openblas": ["-DGGML_BLAS=ON", "-DGGML_BLAS_VENDOR=OpenBLAS"],
    "vulkan": ["-DGGML_VULKAN=ON"],
    # a toolkit of that CUDA major version: the machine's, or NVIDIA's packages
    "cuda12": [
        "-DGGML_CUDA=ON",
        "-DLLAMA_PYBIND_CUDA_MAJOR=12",
        f"-DCMAKE_CUDA_ARCHITECTURES={CUDA_ARCHITECTURES}",
    ],
    "cuda13": [
        "-DGGML_CUDA=ON",
        "-DLLAMA_PYBIND_CUDA_MAJOR=13",
        f"-DCMAKE_CUDA_ARCHITECTURES={CUDA_ARCHITECTURES}",
    ],
    "metal": ["-DGGML_METAL=ON", "-DGGML_METAL_EMBED_LIBRARY=ON"],
}

# Libraries the user's system provides (GPU driver, Vulkan loader, CUDA runtime from the
# toolkit or NVIDIA's packages): never copied into a wheel.
EXCLUDED = {
    "Linux": {
        "vulkan": ["libvulkan.so.1"],
        "cuda12": ["libcuda.so.1", "libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12"],
        "cuda13": ["libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13"],
    },
    "Windows": {
        "vulkan": ["vulkan-1.dll"],
        "cuda12": ["nvcuda.dll", "cudart64_12.dll", "cublas64_12.dll", "cublasLt64_12.dll"],
        "cuda13": ["nvcuda.dll", "cudart64_13.dll", "cublas64_13.dll", "cublasLt64_13.dll"],
    },
}


def variant_name(argv: list[str], index: int) -> str:
    name = argv[index] if len(argv) > index else os.environ.get("LLAMA_PYBIND_VARIANT", "cpu")
    if name not in VARIANTS:
        raise SystemExit(f"unknown wheel variant {name!r}; choose one of: {', '.join(VARIANTS)}")
    return name


def cmake_args(variant: str) -> str:
    args = [PORTABLE, *VARIANTS[variant]]
    if platform.system() == "Darwin" and variant == "cpu":
        args += ["-DGGML_METAL=OFF"]  # the Intel Mac wheel: CPU variants and Accelerate
    return " ".join(args)


def repair_command(wheel: str, dest: str, variant: str) -> list[str]:
    system = platform.system()
    excluded = EXCLUDED.get(system, {}).get(variant, [])
    if system == "Linux":
        exclusions = [arg for name in excluded for arg in ("--exclude", name)]
        return [sys.executable, "-m", "auditwheel", "repair", *exclusions, "-w", dest, wheel]
    if system == "Darwin":
        return ["delocate-wheel", "-w", dest, "-v", wheel]
    exclusions = ["--no-dll", ";".join(excluded)] if excluded else []
    return [sys.executable, "-m", "delvewheel", "repair", *exclusions, "-w", dest, wheel]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in ("cmake-args", "repair", "list"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "list":
        print("\n".join(VARIANTS))
        return 0
    if argv[1] == "cmake-args":
        print(cmake_args(variant_name(argv, 2)))
        return 0
    if len(argv) < 4:
        raise SystemExit("usage: python ci/variant.py repair WHEEL DEST [VARIANT]")
    command = repair_command(argv[2], argv[3], variant_name(argv, 4))
    print("+ " + " ".join(command), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
