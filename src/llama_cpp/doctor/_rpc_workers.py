"""``llama-cpp doctor --rpc host:port,...``: probe RPC workers (reachability, protocol
version, devices and memory) and check them against this build."""

from __future__ import annotations

from typing import Any

from llama_cpp.doctor._commands import reinstall
from llama_cpp.doctor._finding import Finding


def probe_rpc(endpoints: str | None) -> dict[str, Any] | None:
    """What each worker answered, or why it could not be asked; None without --rpc."""
    if not endpoints:
        return None
    try:
        from llama_cpp import _rpc
    except ImportError as error:  # the compiled module: reported by the runtime check
        return {"error": f"the compiled module does not load ({error})", "workers": []}
    try:
        parsed = _rpc.parse_endpoints(endpoints)
    except (TypeError, ValueError) as error:
        return {"error": str(error), "workers": []}
    workers = []
    for endpoint in parsed:
        try:
            info = _rpc.probe(endpoint)
        except ValueError as error:
            workers.append({"endpoint": endpoint, "ok": False, "error": str(error)})
            continue
        workers.append({
            "endpoint": endpoint,
            "ok": True,
            "protocol": ".".join(map(str, info.version)),
            "devices": [{"memory_free": free, "memory_total": total}
                        for free, total in info.memory],
        })  # fmt: skip
    return {"error": None, "workers": workers}


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


def rpc_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's "RPC workers" section."""
    rows = []
    for worker in (report.get("rpc") or {}).get("workers") or []:
        if worker["ok"]:
            devices = ", ".join(f"{d['memory_total'] / 2**30:.1f} GiB" for d in worker["devices"])
            rows.append((worker["endpoint"], f"protocol {worker['protocol']}; devices: {devices}"))
        else:
            rows.append((worker["endpoint"], worker["error"]))
    return rows
