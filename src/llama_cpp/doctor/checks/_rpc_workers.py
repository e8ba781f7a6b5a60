"""Checks for ``llama-cpp doctor --rpc``: the build has the RPC backend, and each worker
answers in this build's protocol."""

from __future__ import annotations

from typing import Any

from llama_cpp.doctor.checks._commands import reinstall
from llama_cpp.doctor.checks._finding import Finding


def check_rpc(report: dict[str, Any]) -> list[Finding]:
    """Findings for ``--rpc``: the build must have the RPC backend, each worker must
    answer in this build's protocol."""
    rpc = report.get("rpc")
    if not rpc:
        return []
    findings: list[Finding] = []
    backends = (report.get("build") or {}).get("backends") or []
    if "RPC" not in backends:
        findings.append(Finding(
            "rpc-build", "fail", "this build has no RPC backend",
            "Llama(rpc_servers=...) and llama-cpp rpc-server need it; it is in every build "
            "unless -DGGML_RPC=OFF was given.",
            fix=reinstall(report, "-DGGML_RPC=ON"), rebuild="-DGGML_RPC=ON",
        ))  # fmt: skip
    if rpc.get("error"):
        findings.append(Finding("rpc-workers", "fail", "the RPC workers could not be checked",
                                rpc["error"]))  # fmt: skip
    for worker in rpc.get("workers") or []:
        endpoint = worker["endpoint"]
        if worker["ok"]:
            memory = ", ".join(f"{d['memory_total'] / 2**30:.1f} GiB "
                               f"({d['memory_free'] / 2**30:.1f} GiB free)"
                               for d in worker["devices"])  # fmt: skip
            findings.append(Finding(
                "rpc-worker", "ok",
                f"RPC worker {endpoint}: protocol {worker['protocol']}, "
                f"{len(worker['devices'])} device(s): {memory}",
            ))  # fmt: skip
        else:
            host, _, port = endpoint.rpartition(":")
            findings.append(Finding(
                "rpc-worker", "fail", f"RPC worker {endpoint} cannot be used", worker["error"],
                fix=f"# on {host}:\nllama-cpp rpc-server --host {host} --port {port}",
            ))  # fmt: skip
    return findings
