"""Hosts for RPC tests: network namespaces joined by veth pairs (root only), and
``llama-cpp rpc-server`` workers running in them.

    client ns  10.231.1.1 <-veth-> 10.231.1.2  worker ns 1
               10.231.2.1 <-veth-> 10.231.2.2  worker ns 2

Every process a test starts in a namespace talks over real sockets across a real
(virtual) link; nothing reaches outside the namespaces made here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PORT = 50052


def can_make_hosts() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Hosts:
    """A client namespace and worker namespaces, each worker on its own link."""

    prefix: str
    workers: int = 2
    client: str = field(init=False)
    worker_ns: list[str] = field(init=False)
    worker_ip: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.client = f"{self.prefix}c"
        self.worker_ns = [f"{self.prefix}w{i + 1}" for i in range(self.workers)]
        self.worker_ip = [f"10.231.{i + 1}.2" for i in range(self.workers)]

    def create(self) -> None:
        self.destroy()
        _ip("netns", "add", self.client)
        _ip("-n", self.client, "link", "set", "lo", "up")
        for i, ns in enumerate(self.worker_ns):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            here, there = f"{self.prefix}c{i + 1}", f"{self.prefix}x{i + 1}"
            _ip("link", "add", here, "netns", self.client, "type", "veth", "peer", "name", there,
                "netns", ns)  # fmt: skip
            _ip("-n", self.client, "addr", "add", f"10.231.{i + 1}.1/24", "dev", here)
            _ip("-n", ns, "addr", "add", f"{self.worker_ip[i]}/24", "dev", there)
            _ip("-n", self.client, "link", "set", here, "up")
            _ip("-n", ns, "link", "set", there, "up")

    def destroy(self) -> None:
        for ns in [self.client, *self.worker_ns]:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def endpoint(self, worker: int, port: int = PORT) -> str:
        return f"{self.worker_ip[worker]}:{port}"

    def run_in(self, ns: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        """Start ``argv`` inside namespace ``ns``."""
        return subprocess.Popen(["ip", "netns", "exec", ns, *argv], text=True, **kwargs)  # type: ignore[call-overload]


@dataclass
class Worker:
    """``python -m llama_cpp.rpc_server`` in a worker namespace; its output in a file."""

    hosts: Hosts
    index: int
    log: Path
    port: int = PORT
    process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return self.hosts.endpoint(self.index, self.port)

    def start(self, *extra: str) -> Worker:
        argv = [sys.executable, "-m", "llama_cpp.rpc_server", "--host",
                self.hosts.worker_ip[self.index], "--port", str(self.port), "--threads", "1",
                *extra]  # fmt: skip
        with self.log.open("w") as out:  # the child keeps its own descriptor
            self.process = self.hosts.run_in(self.hosts.worker_ns[self.index], argv, stdout=out,
                                             stderr=subprocess.STDOUT)  # fmt: skip
        self.wait_listening()
        return self

    def wait_listening(self, timeout_s: float = 60.0) -> None:
        """Until the port accepts connections (checked from the worker's namespace)."""
        deadline = time.monotonic() + timeout_s
        ns = self.hosts.worker_ns[self.index]
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.endpoint} exited:\n{self.output()}")
            ss = ["ip", "netns", "exec", ns, "ss", "-ltnH", f"sport = :{self.port}"]
            listening = subprocess.run(ss, capture_output=True, text=True)
            if listening.stdout.strip():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.endpoint} did not listen within {timeout_s} s")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
