"""Backend modules a portable build ships in ``llama_cpp/lib`` that did not load.

ggml loads backend modules silently, so a CUDA wheel on a machine without the CUDA
runtime quietly runs on the CPU. The loader records each module's failure
(``llama_cpp._loader.backend_failures``); this turns the reason into the fix."""

from __future__ import annotations

import re
from typing import Any

from llama_cpp._build_info import DISTRIBUTION
from llama_cpp._cuda_toolkits import cuda_toolkits
from llama_cpp.doctor.checks._commands import (
    LIBRARY_PACKAGES,
    classify_missing_library,
    pip_of,
    reinstall,
    system_install,
)
from llama_cpp.doctor.checks._finding import Finding
from llama_cpp.doctor.checks._flags import BACKEND_OF_OPTION

# a backend module's file name part -> the build info's backend name (ggml names both
# after the option: GGML_CUDA builds libggml-cuda)
BACKEND_OF_MODULE = {
    option.removeprefix("GGML_").lower(): backend for option, backend in BACKEND_OF_OPTION.items()
}
_MODULE = re.compile(r"^(?:lib)?ggml-([a-z]+)")


def cuda_runtime_packages(major: str) -> str | None:
    """NVIDIA's pip packages with the CUDA runtime and cuBLAS of a CUDA major version,
    quoted for a shell: ``"nvidia-cuda-runtime>=13,<14" "nvidia-cublas>=13,<14"``."""
    table = cuda_toolkits()["toolkits"]
    if major not in table:
        return None
    return " ".join(f'"{package}"' for package in table[major]["run"])


def module_backend(file_name: str) -> str:
    """The backend a module file belongs to: libggml-cuda.so -> CUDA."""
    match = _MODULE.match(file_name)
    part = match.group(1) if match else file_name
    return BACKEND_OF_MODULE.get(part, part)


def failed_backends(report: dict[str, Any]) -> set[str]:
    failures = (report.get("runtime") or {}).get("backend_failures") or {}
    return {module_backend(name) for name in failures}


def _fix(report: dict[str, Any], reason: str) -> tuple[str, str | None]:
    """(what the reason means, the command that fixes it or None)."""
    pip = pip_of(report)
    kind, name = classify_missing_library(reason) or ("", "")
    if kind == "cuda-runtime":
        packages = cuda_runtime_packages(name)
        detail = (
            f"The CUDA {name} runtime or cuBLAS is missing: the wheels leave them out. "
            f"NVIDIA's pip packages provide them (llama_cpp loads them from there), "
            f"as does a CUDA {name}.x toolkit on the loader's path."
        )
        return detail, f"{pip} install {packages}" if packages else None
    if kind == "nvidia-driver":
        from llama_cpp.doctor.checks._gpu import driver_install

        return "The NVIDIA driver is not installed (it provides libcuda).", driver_install(report)
    if kind == "package":
        where = "a GPU driver on Windows, " if name == "libvulkan" else ""
        return (
            f"{name} is missing from the system ({where}the distribution's package provides it).",
            system_install(report, LIBRARY_PACKAGES[name]),
        )
    if (report.get("install") or {}).get("source"):
        return "The installation may be incomplete or damaged.", reinstall(report, None)
    # a wheel: reinstall the same wheel (a source build would give a different build)
    return (
        "The installation may be incomplete or damaged.",
        f"{pip} install --force-reinstall --no-cache-dir {DISTRIBUTION}",
    )


def check_backend_modules(report: dict[str, Any]) -> list[Finding]:
    runtime = report.get("runtime") or {}
    findings = []
    for name, reason in sorted((runtime.get("backend_failures") or {}).items()):
        backend = module_backend(name)
        detail, fix = _fix(report, reason)
        findings.append(
            Finding(
                "backend-load",
                "fail",
                f"the {backend} backend ({name}) could not be loaded: {reason}",
                detail + f" Until it loads, models run without {backend}.",
                fix,
            )
        )
    preloaded = runtime.get("preloaded_libraries") or []
    if preloaded:
        names = ", ".join(sorted({p.replace("\\", "/").rsplit("/", 1)[-1] for p in preloaded}))
        findings.append(
            Finding(
                "cuda-libraries",
                "info",
                f"CUDA libraries loaded from NVIDIA's pip packages: {names}",
            )
        )
    return findings
