"""``llama-cpp doctor --rpc host:port,...``: ask each RPC worker whether it answers,
its protocol version, its devices and their memory."""

from __future__ import annotations

from typing import Any


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
