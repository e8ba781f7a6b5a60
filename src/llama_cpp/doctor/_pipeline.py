"""The doctor's pipeline: every probe into one report (``collect``), every check over
it into findings (``diagnose``), and the exit status the findings give."""

from __future__ import annotations

import datetime
from typing import Any

from llama_cpp.doctor.checks._build import (
    check_cmake_args,
    check_legacy_flags,
    check_model,
    check_pip_cache,
    check_toolchain,
)
from llama_cpp.doctor.checks._finding import Finding
from llama_cpp.doctor.checks._gpu import (
    check_backend_devices,
    check_cuda_driver,
    check_gpu_backends,
)
from llama_cpp.doctor.checks._install import (
    check_cpu_features,
    check_module_matches_build_info,
    check_other_providers,
    check_runtime,
)
from llama_cpp.doctor.checks._modules import check_backend_modules
from llama_cpp.doctor.checks._rpc_workers import check_rpc
from llama_cpp.doctor.checks._vulkan import check_vulkan
from llama_cpp.doctor.probes._gpus import probe_blas, probe_gpus
from llama_cpp.doctor.probes._rpc_workers import probe_rpc
from llama_cpp.doctor.probes._runtime import probe_install, probe_runtime
from llama_cpp.doctor.probes._system import probe_cpu, probe_environment, probe_memory, probe_system
from llama_cpp.doctor.probes._toolchain import probe_toolchain

REPORT_VERSION = 1


def _build() -> dict[str, Any]:
    from llama_cpp._build_info import build_info

    try:
        return build_info()
    except (OSError, ValueError) as error:
        return {"error": str(error)}


def collect(
    model: str | None = None,
    n_gpu_layers: int = -1,
    shell: str | None = None,
    rpc: str | None = None,
) -> dict[str, Any]:
    """Run every probe (the compiled module in a child process) and return the facts;
    ``rpc``: RPC workers to probe too (host:port,host:port)."""
    system = probe_system()
    if shell:
        system["shell"] = shell
    return {
        "report_version": REPORT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "system": system,
        "cpu": probe_cpu(),
        "memory": probe_memory(),
        "gpus": probe_gpus(),
        "blas": probe_blas(),
        "toolchain": probe_toolchain(),
        "environment": probe_environment(),
        "install": probe_install(),
        "build": _build(),
        "runtime": probe_runtime(model, n_gpu_layers),
        "rpc": probe_rpc(rpc),
    }


def diagnose(report: dict[str, Any]) -> list[Finding]:
    """Every finding for a report: pure, so recorded reports of other machines can be
    diagnosed (the tests do)."""
    findings: list[Finding] = []
    if "error" in (report.get("build") or {}):
        findings.append(
            Finding("build-info", "fail", "the build info is unreadable", report["build"]["error"])
        )
    for check in (
        check_other_providers,
        check_runtime,
        check_module_matches_build_info,
        check_cpu_features,
        check_gpu_backends,
        check_backend_modules,
        check_backend_devices,
        check_vulkan,
        check_cuda_driver,
        check_cmake_args,
        check_pip_cache,
        check_legacy_flags,
        check_rpc,
    ):
        findings += check(report)
    findings += check_toolchain(report, findings)
    findings += check_model(report)
    return findings


def exit_code(findings: list[Finding]) -> int:
    """0 healthy, 1 when any finding is a warning or a failure."""
    return 1 if any(f.severity in ("warn", "fail") for f in findings) else 0
