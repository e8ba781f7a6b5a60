"""``llama-cpp rpc-server``: serve this build's devices to other hosts over ggml's RPC
protocol (llama.cpp's ``rpc-server``, in-process), so a model too large for one machine
can spread its layers over several (docs/install/rpc.md).

    llama-cpp rpc-server                              # 127.0.0.1:50052, the best device
    llama-cpp rpc-server --host 10.0.0.2 -p 50052 -d Vulkan0 --cache
    python -m llama_cpp.rpc_server --help

The protocol has no authentication or encryption: keep workers on loopback or a private
network (an SSH tunnel or WireGuard between hosts), never on an open network.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from llama_cpp import _rpc

LOOPBACK = ("127.0.0.1", "localhost")


def default_cache_dir() -> Path:
    """Where llama.cpp's rpc-server keeps received tensors: $LLAMA_CACHE/rpc, else the
    user cache folder's llama.cpp/rpc (shared with llama.cpp's own workers)."""
    if os.environ.get("LLAMA_CACHE"):
        return Path(os.environ["LLAMA_CACHE"]) / "rpc"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "llama.cpp" / "rpc"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llama-cpp rpc-server",
        description="Serve this build's devices to llama.cpp RPC clients "
        "(Llama(rpc_servers=...), llama-cpp serve --rpc_servers, llama.cpp's --rpc).",
    )
    p.add_argument("-H", "--host", default="127.0.0.1", help="address to listen on (default: "
                   "127.0.0.1; any other address exposes an unauthenticated protocol)")  # fmt: skip
    p.add_argument("-p", "--port", type=int, default=_rpc.DEFAULT_PORT,
                   help=f"port (default: {_rpc.DEFAULT_PORT})")  # fmt: skip
    p.add_argument("-d", "--device", action="append", default=[], metavar="NAME",
                   help="device to serve (repeat or comma-separate; default: every GPU, "
                   "else the CPU); see `llama-cpp doctor` for the names")  # fmt: skip
    p.add_argument("-t", "--threads", type=int, default=os.cpu_count() or 1,
                   help="threads for the CPU device (default: one per core)")  # fmt: skip
    p.add_argument("-c", "--cache", nargs="?", const="", default=None, metavar="DIR",
                   help="keep received weights on disk so a client reconnecting sends only "
                   f"hashes (default folder: {default_cache_dir()})")  # fmt: skip
    return p


def _check_port_free(host: str, port: int) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except socket.gaierror as exc:
        raise SystemExit(f"llama-cpp rpc-server: cannot resolve --host {host!r} ({exc})") from None
    except OSError as exc:
        raise SystemExit(
            f"llama-cpp rpc-server: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(another process on the port? choose another with --port; an address this "
            "host does not have? see `ip addr`)"
        ) from None


def _flush_c_stdio() -> None:
    """ggml prints with C's stdio; os._exit would drop what it has buffered."""
    if sys.platform != "win32":
        import ctypes

        ctypes.CDLL(None).fflush(None)


def main(argv: list[str] | None = None) -> int:
    """Run the worker until SIGINT or SIGTERM (exit 0), or fail to start (exit 1)."""
    args = parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise SystemExit(f"llama-cpp rpc-server: --port must be 1..65535, got {args.port}")
    if args.threads < 1:
        raise SystemExit(f"llama-cpp rpc-server: --threads must be >= 1, got {args.threads}")
    names = [n.strip() for item in args.device for n in item.split(",") if n.strip()]
    _check_port_free(args.host, args.port)

    from llama_cpp import _core

    try:
        devices = _core.rpc_served_devices(names)
    except ValueError as exc:
        raise SystemExit(f"llama-cpp rpc-server: {exc}") from None
    cache_dir: str | None = None
    if args.cache is not None:
        folder = Path(args.cache) if args.cache else default_cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        cache_dir = str(folder)
    endpoint = f"{args.host}:{args.port}"
    if args.host not in LOOPBACK:
        print(
            f"WARNING: listening on {args.host}, not loopback. The RPC protocol has no "
            "authentication and no encryption: anyone who can reach this port can run code "
            "paths on this machine's devices and read what they hold. Never expose it to an "
            "open network; use a private network, an SSH tunnel or WireGuard.",
            file=sys.stderr,
            flush=True,
        )
    version = ".".join(map(str, _core.RPC_PROTOCOL_VERSION))
    print(f"llama-cpp rpc-server: protocol {version}, endpoint {endpoint}", flush=True)
    for d in devices:
        mib = 2**20
        print(
            f"  serving {d['name']}: {d['description']} ({d['memory_total'] // mib} MiB, "
            f"{d['memory_free'] // mib} MiB free)",
            flush=True,
        )
    print(f"  tensor cache: {cache_dir or 'off (--cache to keep weights between clients)'}",
          flush=True)  # fmt: skip

    stop = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            _core.rpc_start_server(endpoint, cache_dir, args.threads, [d["name"] for d in devices])
        except BaseException as exc:  # it returns only when it could not listen
            failure.append(exc)
        stop.set()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    threading.Thread(target=serve, name="rpc-server", daemon=True).start()
    while not stop.wait(0.5):
        pass
    sys.stderr.flush()
    _flush_c_stdio()
    if failure:
        print(f"llama-cpp rpc-server: {failure[0]}", file=sys.stderr, flush=True)
        os._exit(1)
    print("llama-cpp rpc-server: stopped", flush=True)
    # ggml's server loop cannot be interrupted; ending the process closes its sockets.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
