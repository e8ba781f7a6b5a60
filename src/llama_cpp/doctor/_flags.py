"""Reading CMAKE_ARGS the way the build does: ``-DNAME[:TYPE]=VALUE`` entries,
legacy ``LLAMA_*`` names mapped to today's ``GGML_*`` ones (the same table as
cmake/LegacyFlags.cmake, checked against it by the tests)."""

from __future__ import annotations

import re
import shlex

LEGACY_RENAMES = {
    "LLAMA_CUBLAS": "GGML_CUDA",
    "LLAMA_CUDA": "GGML_CUDA",
    "LLAMA_METAL": "GGML_METAL",
    "LLAMA_METAL_EMBED_LIBRARY": "GGML_METAL_EMBED_LIBRARY",
    "LLAMA_BLAS": "GGML_BLAS",
    "LLAMA_BLAS_VENDOR": "GGML_BLAS_VENDOR",
    "LLAMA_HIPBLAS": "GGML_HIP",
    "GGML_HIPBLAS": "GGML_HIP",
    "LLAMA_VULKAN": "GGML_VULKAN",
    "LLAMA_KOMPUTE": "GGML_VULKAN",
    "GGML_KOMPUTE": "GGML_VULKAN",
    "LLAMA_CLBLAST": "GGML_VULKAN",
    "LLAMA_NATIVE": "GGML_NATIVE",
    "LLAMA_AVX": "GGML_AVX",
    "LLAMA_AVX2": "GGML_AVX2",
    "LLAMA_AVX512": "GGML_AVX512",
    "LLAMA_FMA": "GGML_FMA",
    "LLAMA_F16C": "GGML_F16C",
    "LLAMA_RPC": "GGML_RPC",
    "LLAMA_SYCL": "GGML_SYCL",
    "LLAMA_CANN": "GGML_CANN",
    "LLAMA_MUSA": "GGML_MUSA",
    "LLAMA_OPENCL": "GGML_OPENCL",
}

# GGML_* option -> the backend name build_info() and ggml's registry use.
BACKEND_OF_OPTION = {
    "GGML_CUDA": "CUDA",
    "GGML_HIP": "ROCm",
    "GGML_METAL": "Metal",
    "GGML_VULKAN": "Vulkan",
    "GGML_BLAS": "BLAS",
    "GGML_SYCL": "SYCL",
    "GGML_OPENCL": "OpenCL",
    "GGML_RPC": "RPC",
    "GGML_MUSA": "MUSA",
    "GGML_CANN": "CANN",
}
GPU_BACKENDS = ("CUDA", "ROCm", "Metal", "Vulkan", "SYCL", "OpenCL", "MUSA", "CANN")
# ggml registry names that differ from the build info's backend names.
BUILD_NAME_OF_REGISTRY = {"MTL": "Metal"}

_TRUE = {"1", "ON", "YES", "TRUE", "Y"}
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
    return value.strip().upper() in _TRUE or (value.strip().isdigit() and int(value) > 0)


def modernise(defines: dict[str, str]) -> dict[str, str]:
    """The same defines with legacy names replaced by today's (``-DLLAMA_CUBLAS=on``
    -> ``GGML_CUDA=on``); a modern name given too wins."""
    modern: dict[str, str] = {}
    for name, value in defines.items():
        if name in LEGACY_RENAMES and LEGACY_RENAMES[name] not in defines:
            modern[LEGACY_RENAMES[name]] = value
        elif name not in LEGACY_RENAMES:
            modern[name] = value
    if defines.get("LLAMA_CLBLAST") is not None and "GGML_VULKAN" not in defines:
        modern["GGML_VULKAN"] = defines["LLAMA_CLBLAST"]
    return modern


def legacy_in(defines: dict[str, str]) -> dict[str, str]:
    """Legacy names among ``defines`` and the name each became."""
    return {name: LEGACY_RENAMES[name] for name in defines if name in LEGACY_RENAMES}


def requested_backends(defines: dict[str, str]) -> tuple[set[str], set[str]]:
    """Backends the (modernised) defines switch on, and those they switch off."""
    on, off = set(), set()
    for name, value in modernise(defines).items():
        backend = BACKEND_OF_OPTION.get(name)
        if backend is not None:
            (on if is_on(value) else off).add(backend)
    return on, off


def render_defines(defines: dict[str, str]) -> str:
    """``{"GGML_CUDA": "on"}`` -> ``-DGGML_CUDA=on``."""
    return " ".join(f"-D{name}={value}" for name, value in defines.items())
