"""llama.cpp's RPC backend from Python: endpoints checked, workers probed, attached once.

A worker is a ``llama-cpp rpc-server`` (or llama.cpp's ``rpc-server``) on another host;
attaching it registers its devices (``RPC0``, ``RPC1``, ...) in this process, and a model
placed on them keeps its layers and KV cache there. Before llama.cpp connects, each
worker is probed here with a bounded timeout, in the worker's own protocol, so an
unreachable, busy or foreign endpoint is a clear ``ValueError`` rather than a hang or an
abort inside llama.cpp.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from llama_cpp import _core

DEFAULT_PORT = 50052
PROBE_TIMEOUT_S = 5.0

# The wire format of ggml's RPC protocol (ggml/src/ggml-rpc/ggml-rpc.cpp): a request is
# | command (1 byte) | size (u64) | payload |, a reply | size (u64) | payload |, little-endian.
_CMD_GET_DEVICE_MEMORY = 11
_CMD_HELLO = 14
_CMD_DEVICE_COUNT = 15
_CONN_CAPS_SIZE = 24
_HELLO_REPLY_SIZE = 4 + _CONN_CAPS_SIZE

_attached: dict[str, list[str]] = {}  # endpoint -> its device names, in this process
_attach_lock = threading.Lock()


@dataclass
class WorkerInfo:
    """What a worker told the probe: its protocol version and devices' memory."""

    endpoint: str
    version: tuple[int, int, int]
    memory: list[tuple[int, int]] = field(default_factory=list)  # (free, total) bytes


def parse_endpoints(value: str | Sequence[str] | None) -> list[str]:
    """``"host:port,host:port"`` (llama-cpp-python's and llama.cpp's form) or a list of
    ``host:port`` strings, checked; ``None`` or empty gives no endpoints."""
    if value is None:
        return []
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, Sequence):
        items = []
        for part in value:
            if not isinstance(part, str):
                raise TypeError(f"rpc_servers entries must be 'host:port' strings, got {part!r}")
            items.append(part.strip())
    else:
        raise TypeError(
            "rpc_servers must be a 'host:port,host:port' string or a list of 'host:port' "
            f"strings, got {type(value).__name__}"
        )
    endpoints: list[str] = []
    for item in items:
        if not item:
            if isinstance(value, str) and not value.strip():
                return []
            raise ValueError(f"rpc_servers {value!r} has an empty entry; write host:port,host:port")
        host, sep, port = item.rpartition(":")
        if not sep or not host or ":" in host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"rpc_servers entry {item!r} is not host:port (e.g. 10.0.0.2:{DEFAULT_PORT}; "
                "IPv6 addresses are not supported by llama.cpp's RPC client: use a host name)"
            )
        if item not in endpoints:
            endpoints.append(item)
    return endpoints


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed the connection")
        data += chunk
    return data


def _request(sock: socket.socket, command: int, payload: bytes, reply_size: int) -> bytes:
    sock.sendall(struct.pack("<BQ", command, len(payload)) + payload)
    (size,) = struct.unpack("<Q", _recv_exact(sock, 8))
    if size != reply_size:
        raise ProtocolError(f"answered with {size} bytes where {reply_size} were expected")
    return _recv_exact(sock, size)


class ProtocolError(Exception):
    """The peer does not speak ggml's RPC protocol as this build does."""


def probe(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> WorkerInfo:
    """Connect to the worker at ``endpoint``, say hello in its protocol and ask for its
    devices' memory; ``ValueError`` naming the endpoint and the reason otherwise."""
    host, _, port = endpoint.rpartition(":")
    ours = tuple(_core.RPC_PROTOCOL_VERSION)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            reply = _request(sock, _CMD_HELLO, bytes(_CONN_CAPS_SIZE), _HELLO_REPLY_SIZE)
            version = (reply[0], reply[1], reply[2])
            if version[0] != ours[0] or version[1] > ours[1]:
                raise ValueError(
                    f"the RPC worker at {endpoint} speaks protocol {'.'.join(map(str, version))} "
                    f"and this build {'.'.join(map(str, ours))}: run the same llama-cpp-pybind "
                    "(or a llama.cpp of the same RPC protocol) on both sides"
                )
            (count,) = struct.unpack("<I", _request(sock, _CMD_DEVICE_COUNT, b"", 4))
            if count > 64:
                raise ProtocolError(f"claims {count} devices")
            memory = []
            for device in range(count):
                free, total = struct.unpack(
                    "<QQ", _request(sock, _CMD_GET_DEVICE_MEMORY, struct.pack("<I", device), 16)
                )
                memory.append((free, total))
            return WorkerInfo(endpoint, version, memory)
    except socket.gaierror as exc:
        raise ValueError(f"RPC worker {endpoint}: cannot resolve host {host!r} ({exc})") from None
    except ConnectionRefusedError:
        raise ValueError(
            f"RPC worker {endpoint}: connection refused (no worker listens there; start one "
            f"with: llama-cpp rpc-server --host <its address> --port {port})"
        ) from None
    except TimeoutError:
        raise ValueError(
            f"RPC worker {endpoint}: no answer within {timeout_s:g} s (unreachable, behind a "
            "firewall, or busy: a worker serves one client at a time)"
        ) from None
    except ProtocolError as exc:
        raise ValueError(
            f"RPC worker {endpoint}: not a ggml RPC worker of this protocol ({exc})"
        ) from None
    except ConnectionError as exc:
        raise ValueError(
            f"RPC worker {endpoint}: {exc} during the handshake (not a ggml RPC worker, or "
            "one of another protocol version, which drops clients it does not understand)"
        ) from None
    except OSError as exc:
        raise ValueError(f"RPC worker {endpoint}: {exc.strerror or exc}") from None


def attach(endpoints: Sequence[str]) -> list[str]:
    """Probe and attach each worker not yet attached in this process; the device names
    of all of them, in the order given."""
    names: list[str] = []
    with _attach_lock:
        lost = _core.rpc_connection_lost()
        if lost is not None and endpoints:
            raise ValueError(
                f"cannot use RPC workers {', '.join(endpoints)}: a worker connection broke "
                f"earlier in this process ({lost}; down now: "
                f"{', '.join(broken_workers(list(_attached))) or 'none'}). llama.cpp cannot "
                "reconnect within a process: restart it"
            )
        for endpoint in endpoints:
            if endpoint not in _attached:
                probe(endpoint)
                try:
                    devices = _core.rpc_add_server(endpoint)
                except _core.LlamaError as exc:
                    raise ValueError(f"RPC worker {endpoint}: {exc}") from None
                _attached[endpoint] = [d["name"] for d in devices]
            names.extend(_attached[endpoint])
    return names


def model_devices(endpoints: Sequence[str]) -> list[str] | None:
    """The devices a model may use: the given workers' (first, as llama.cpp orders them)
    then this host's GPUs. ``None`` (llama.cpp's own choice) while no worker is attached
    in this process, so a model without ``rpc_servers`` never lands on another's workers."""
    remote = attach(endpoints) if endpoints else []
    if not _attached:
        return None
    local = [d for d in _core.devices() if d["backend"] != "RPC"]
    gpus = [d["name"] for d in local if d["type"] == "gpu"]
    if not gpus:
        gpus = [d["name"] for d in local if d["type"] == "igpu"][:1]
    return remote + gpus


def broken_workers(endpoints: Sequence[str]) -> list[str]:
    """Of ``endpoints``, those that do not accept a connection now (after a failure)."""
    down = []
    for endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=1.0).close()
        except OSError:
            down.append(endpoint)
    return down
