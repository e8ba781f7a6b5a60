"""llama.cpp's RPC backend across real network hops: two ``llama-cpp rpc-server``
workers and a client, each in its own network namespace (rpc_hosts.py), the test model
split over the workers. Proof comes from llama.cpp's own load report (the buffers it
placed on each worker), never from our flags."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rpc_hosts import Hosts, Worker, can_make_hosts

pytestmark = [pytest.mark.slow]

CLIENT = Path(__file__).with_name("rpc_client.py")


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    reason = can_make_hosts()
    if reason is not None:
        pytest.skip(reason)
    made = Hosts(prefix=f"lp{os.getpid() % 10000}")
    made.create()
    yield made
    made.destroy()


@pytest.fixture(scope="module")
def workers(hosts: Hosts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Worker]]:
    logs = tmp_path_factory.mktemp("workers")
    started = [Worker(hosts, i, logs / f"worker{i}.log").start() for i in range(2)]
    yield started
    for worker in started:
        worker.stop()


def client(hosts: Hosts, *args: str, timeout: float = 300) -> tuple[dict, str, int]:
    """Run rpc_client.py in the client namespace: its JSON, its stderr, its exit code."""
    proc = hosts.run_in(hosts.client, [sys.executable, str(CLIENT), *args],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no result (exit {proc.returncode}):\n{out}\n{err[-4000:]}"
    return json.loads(lines[-1]), err, proc.returncode


def test_workers_say_what_they_serve(workers: list[Worker]) -> None:
    for worker in workers:
        text = worker.output()
        assert f"endpoint {worker.endpoint}" in text and "protocol 7." in text, text
        assert re.search(r"serving CPU: .+ MiB free", text), text
        assert "WARNING: listening on 10.231." in text and "never expose" in text.lower(), text


def test_layers_and_kv_cache_live_on_both_workers(
    hosts: Hosts, workers: list[Worker], model_path: Path
) -> None:
    endpoints = ",".join(w.endpoint for w in workers)
    result, log, code = client(hosts, "generate", str(model_path), endpoints)
    assert code == 0, log[-3000:]
    for worker in workers:
        # llama.cpp names a worker's buffers after its endpoint: "RPC0[10.231.2.2:50052]"
        device = rf"RPC\d+\[{re.escape(worker.endpoint)}\]"
        weights = re.search(device + r" model buffer size = +([\d.]+) MiB", log)
        kv = re.search(device + r" KV buffer size = +([\d.]+) MiB", log)
        assert weights and float(weights.group(1)) > 10, (worker.endpoint, log[-3000:])
        assert kv and float(kv.group(1)) > 0, (worker.endpoint, log[-3000:])
    assert "offloaded 31/31 layers to GPU" in log, log[-3000:]
    assert result["devices"] == ["RPC0", "RPC1"]
    # greedy through two workers equals greedy on this host
    assert result["remote"] == result["local"] and result["remote"].strip(), result
    # a model loaded without rpc_servers in the same process stays on this host
    assert result["local_devices"] == []
    # LangChain's LlamaCpp passes model_kwargs={"rpc_servers": ...} through
    assert result["langchain_devices"] == ["RPC0", "RPC1"]
    assert result["langchain"] == result["langchain_local"], result
    for worker in workers:
        assert "Accepted client connection" in worker.output()


def test_an_unreachable_endpoint_is_a_value_error_in_bounded_time(
    hosts: Hosts, workers: list[Worker], model_path: Path
) -> None:
    # nobody at that address (the link is up, no host answers) and nobody on that port
    for endpoint, bound in (("10.231.1.77:50052", 12.0), (f"{hosts.worker_ip[0]}:50099", 3.0)):
        result, log, code = client(hosts, "load", str(model_path), endpoint)
        assert code == 0, log[-3000:]
        assert result["error"] == "ValueError", result
        assert endpoint in result["message"], result
        assert result["seconds"] < bound, result


def test_a_peer_of_another_protocol_is_refused(hosts: Hosts, model_path: Path) -> None:
    garbage = (
        "import socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('{hosts.worker_ip[1]}', 50060)); s.listen()\n"
        "while True:\n"
        "    c, _ = s.accept(); c.recv(64)\n"
        "    c.sendall(b'HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n'); c.close()\n"
    )
    peer = hosts.run_in(hosts.worker_ns[1], [sys.executable, "-c", garbage])
    try:
        time.sleep(1.0)
        result, log, code = client(hosts, "load", str(model_path), f"{hosts.worker_ip[1]}:50060")
    finally:
        peer.kill()
        peer.wait()
    assert code == 0, log[-3000:]
    assert result["error"] == "ValueError", result
    assert "not a ggml RPC worker" in result["message"], result
    assert f"{hosts.worker_ip[1]}:50060" in result["message"], result


def test_sigterm_stops_a_worker_and_frees_its_port(hosts: Hosts, tmp_path: Path) -> None:
    worker = Worker(hosts, 0, tmp_path / "w.log", port=50070).start()
    assert worker.stop(signal.SIGTERM) == 0, worker.output()
    assert "llama-cpp rpc-server: stopped" in worker.output()
    again = Worker(hosts, 0, tmp_path / "again.log", port=50070).start()
    assert again.stop(signal.SIGINT) == 0, again.output()


def test_a_worker_killed_mid_generation_is_a_clear_error_within_seconds(
    hosts: Hosts, model_path: Path, tmp_path: Path
) -> None:
    pair = [Worker(hosts, i, tmp_path / f"k{i}.log", port=50080).start() for i in range(2)]
    try:
        victim = pair[1]
        assert victim.process is not None
        endpoints = ",".join(w.endpoint for w in pair)
        result, log, code = client(hosts, "kill", str(model_path), endpoints,
                                   str(victim.process.pid))  # fmt: skip
    finally:
        for worker in pair:
            worker.stop(signal.SIGKILL)
    assert code == 0, f"the client process died (exit {code}):\n{log[-3000:]}"
    assert result["error"] == "LlamaError", result
    assert f"not accepting connections now: {victim.endpoint}" in result["message"], result
    assert result["seconds"] < 5.0, result
    assert 8 <= result["chunks"] < 900, result
    assert result["next"] and result["next"].startswith("LlamaError"), result
    assert "restart" in result["next"], result


def test_the_server_with_rpc_servers_serves_eight_streams_then_reports_a_lost_worker(
    hosts: Hosts, model_path: Path, tmp_path: Path
) -> None:
    pair = [Worker(hosts, i, tmp_path / f"s{i}.log", port=50085).start() for i in range(2)]
    try:
        victim = pair[0].process
        assert victim is not None
        endpoints = ",".join(w.endpoint for w in pair)
        result, log, code = client(hosts, "server", str(model_path), endpoints, str(victim.pid))
    finally:
        for worker in pair:
            worker.stop(signal.SIGKILL)
    assert code == 0 and result["error"] is None, (result, log[-3000:])
    for outcome in result["clients"]:
        assert outcome.get("status") == 200 and outcome["done"] and outcome["chars"] > 0, result
    status, body = result["after"]
    assert status == 500 and body["error"]["type"] == "server_error", result["after"]
    assert pair[0].endpoint in body["error"]["message"], body
    status, health = result["health"]
    assert status == 503 and "RPC worker" in health["error"], health


def test_doctor_reports_each_worker(hosts: Hosts, workers: list[Worker]) -> None:
    absent = f"{hosts.worker_ip[1]}:50099"
    argv = [sys.executable, "-m", "llama_cpp.doctor", "--json", "--rpc",
            f"{workers[0].endpoint},{absent}"]  # fmt: skip
    proc = hosts.run_in(hosts.client, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]  # one worker cannot be used
    report = json.loads(out)
    live, dead = report["rpc"]["workers"]
    assert live["ok"] and live["protocol"].startswith("7.") and live["devices"], live
    assert live["devices"][0]["memory_total"] > 0
    assert not dead["ok"] and "connection refused" in dead["error"], dead
    checks = {(f["check"], f["severity"]) for f in report["findings"]}
    assert ("rpc-worker", "ok") in checks and ("rpc-worker", "fail") in checks, checks
    fix = next(f["fix"] for f in report["findings"] if f["severity"] == "fail")
    assert f"llama-cpp rpc-server --host {hosts.worker_ip[1]} --port 50099" in fix
