"""Serving throughput: our server, llama.cpp's ``llama-server`` and llama-cpp-python's server.

Side by side in one run, same model, same threads, same context per request:

* ``python -m llama_cpp.server --n_parallel 8`` (this package);
* ``llama-server -np 8`` built from the pinned llama.cpp (``benchmarks/_baselines.py``);
* llama-cpp-python's ``python -m llama_cpp.server`` (the version the lock pins, its own
  venv), once as it starts by default and once with ``--interrupt_requests False`` (it
  then runs requests one after another instead of cutting a running stream);
* the Python API (``Llama.__call__``) for the one-client comparison.

Each round sends, to each server in turn (they take turns going first), C concurrent
streaming ``/v1/completions`` requests (default 8) of N tokens (default 64; greedy,
end-of-text biased away so that every request makes exactly N), each prompt distinct so
that no prompt cache helps. After all the rounds, one client alone (as many times): our server vs
the Python API in a process of its own. Figures per server: aggregate
tokens/s (tokens delivered by all streams / wall time from the first request to the
last stream's end), the median time to first token, the server process's CPU time per
token delivered, and broken streams (an error, no
``[DONE]``, or a finish reason other than ``length``). Ratios are taken within each
round and the medians printed, so a drifting machine hits both sides alike. The resident
memory of our server and llama-server (same slots, same positions per slot) is read after
each round and printed for the first and the last, with the resident memory of our
Python stack alone (this interpreter importing the server's modules, no model) so that
the part llama.cpp holds can be compared on its own. Nothing here asserts a threshold.

    python benchmarks/server.py                    # builds the baselines on first use
    python benchmarks/server.py --rounds 7 --clients 8 --tokens 64
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from _baselines import REPO, llama_cpp_python_server, llama_tool
from generation import ApiSide, clean_env, default_model

LOGS = REPO / "build" / "bench" / "logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` now (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class ServerProcess:
    """One server, started and waited for; ``url`` is its base URL."""

    def __init__(self, label: str, command: list[str], port: int):
        self.label, self.url = label, f"http://127.0.0.1:{port}"
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / (label.replace(" ", "-") + ".log")
        with self.log.open("wb") as log:  # a file, not a pipe: a chatty server never blocks
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=clean_env()
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.log.read_text(errors="replace")
                raise SystemExit(f"{label} exited: {error[-2000:]}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"{label} did not answer within 120 s; see {self.log}")

    def cpu_s(self) -> float:
        """CPU time the server process has used so far (Linux), in seconds."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident memory of the server process now (Linux), in MB."""
        return rss_mb(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Stream:
    ttft: float  # seconds from sending to the first text
    end: float  # perf_counter() when the stream ended
    tokens: int  # tokens delivered (N when complete, else the text chunks seen)
    broken: str  # why the stream is not complete and well-formed ("" when it is)


def stream_completion(
    http: httpx.Client, url: str, prompt: str, args: argparse.Namespace
) -> Stream:
    body = {"prompt": prompt, "max_tokens": args.tokens, "temperature": 0.0, "stream": True,
            "logit_bias": {str(args.eos): -100.0}}  # fmt: skip
    start = time.perf_counter()
    first, chunks, reason, done, broken = 0.0, 0, None, False, ""
    try:
        with http.stream("POST", url + "/v1/completions", json=body) as response:
            if response.status_code != 200:
                broken = f"status {response.status_code}"
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: ") :]
                if data == "[DONE]":
                    done = True
                    break
                event = json.loads(data)
                if "error" in event:
                    broken = f"error event: {event['error']}"
                    break
                choice = event["choices"][0]
                if choice.get("text"):
                    chunks += 1
                    first = first or time.perf_counter()
                reason = choice.get("finish_reason") or reason
    except (httpx.HTTPError, json.JSONDecodeError, KeyError, IndexError) as error:
        broken = f"{type(error).__name__}: {error}"
    end = time.perf_counter()
    if not broken and not done:
        broken = "no [DONE]"
    if not broken and reason != "length":
        broken = f"finish_reason {reason!r}"
    return Stream(ttft=(first or end) - start, end=end,
                  tokens=args.tokens if not broken else chunks, broken=broken)  # fmt: skip


def concurrent_streams(url: str, clients: int, round_index: int,
                       args: argparse.Namespace) -> dict[str, float]:  # fmt: skip
    results: list[Stream | None] = [None] * clients
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        prompt = f"Round {round_index}, story {index}: once upon a time, in a small town,"
        with httpx.Client(timeout=300) as http:  # made before the start: not timed
            barrier.wait()
            results[index] = stream_completion(http, url, prompt, args)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    streams = [s for s in results if s is not None]
    wall = max(s.end for s in streams) - start
    reasons = sorted({s.broken for s in streams if s.broken})
    return {
        "tok_s": sum(s.tokens for s in streams) / wall,
        "ttft_p50": statistics.median(s.ttft for s in streams),
        "broken": float(sum(1 for s in streams if s.broken)),
        "reasons": reasons,  # type: ignore[dict-item]
    }


def start_servers(args: argparse.Namespace, servers: list[ServerProcess]) -> None:
    """Starts every server, adding each to ``servers`` as it answers."""
    threads, ctx, slots = str(args.threads), args.n_ctx, args.clients
    ours = [sys.executable, "-m", "llama_cpp.server", "--model", str(args.model),
            "--n_parallel", str(slots), "--n_ctx", str(ctx), "--n_threads", threads]  # fmt: skip
    port = free_port()
    servers.append(ServerProcess("llama-cpp-pybind", [*ours, "--port", str(port)], port))
    port = free_port()
    llama_server = [str(llama_tool("llama-server")), "-m", str(args.model), "-np", str(slots),
                    "-c", str(ctx * slots), "-t", threads, "-tb", threads, "--no-webui",
                    "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    servers.append(ServerProcess("llama-server", llama_server, port))
    if not args.skip_llama_cpp_python:
        python = str(llama_cpp_python_server())
        theirs = [python, "-m", "llama_cpp.server", "--model", str(args.model),
                  "--n_ctx", str(ctx), "--n_threads", threads,
                  "--n_threads_batch", threads]  # fmt: skip
        port = free_port()
        servers.append(ServerProcess("llama-cpp-python", [*theirs, "--port", str(port)], port))
        port = free_port()
        serial = [*theirs, "--interrupt_requests", "False", "--port", str(port)]
        servers.append(ServerProcess("llama-cpp-python serial", serial, port))


def single_client(url: str, args: argparse.Namespace) -> float:
    """Tokens/s of one client alone: N / wall time of a streamed request, best of repeats."""
    best = float("inf")
    with httpx.Client(timeout=300) as http:
        for _ in range(args.repeats):
            start = time.perf_counter()
            stream = stream_completion(http, url, "Once upon a time", args)
            if stream.broken:
                raise SystemExit(f"a lone stream broke: {stream.broken}")
            best = min(best, time.perf_counter() - start)
    return args.tokens / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the test model)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--clients", type=int, default=8, help="concurrent streams (slots)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per request")
    parser.add_argument("--n-ctx", type=int, default=256, help="context positions per request")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="one-client runs; the best counts")
    parser.add_argument("--skip-llama-cpp-python", action="store_true")
    args = parser.parse_args()
    args.model = args.model or default_model()
    import llama_cpp

    vocab = llama_cpp.Llama(str(args.model), vocab_only=True, verbose=False)
    args.eos = vocab.token_eos()
    vocab.close()

    servers: list[ServerProcess] = []
    try:
        start_servers(args, servers)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    api_args = argparse.Namespace(model=args.model, threads=args.threads, prompt_tokens=8,
                                  tokens=args.tokens, repeats=args.repeats,
                                  backend="cpu")  # fmt: skip
    api = ApiSide(Path(sys.executable), api_args)
    rounds: list[dict[str, dict[str, float]]] = []
    one_client: list[dict[str, float]] = []
    memory: dict[str, list[float]] = {s.label: [] for s in servers[:2]}
    try:
        for index in range(args.rounds):
            print(f"round {index + 1}/{args.rounds}", file=sys.stderr, flush=True)
            order = servers[index % len(servers) :] + servers[: index % len(servers)]
            measured = {}
            for server in order:
                cpu = server.cpu_s()
                measured[server.label] = concurrent_streams(server.url, args.clients, index, args)
                spent = server.cpu_s() - cpu
                measured[server.label]["cpu_ms"] = 1000 * spent / (args.clients * args.tokens)
            rounds.append(measured)
            for server in servers[:2]:  # after each round: every slot has been used
                memory[server.label].append(server.rss_mb())
        # The one-client comparison comes after every concurrent round: run between them,
        # the Python API's process (a second copy of the model and its threads) left the
        # later rounds 0.79x where rounds without it read 1.00-1.02x (measured here)
        for _ in range(args.rounds):
            api_best = min(api.seconds(f"gen {args.tokens}") for _ in range(args.repeats))
            api_streamed = min(api.seconds(f"stream {args.tokens}") for _ in range(args.repeats))
            one_client.append({
                "server": single_client(servers[0].url, args),
                "api": args.tokens / api_best,
                "api_stream": args.tokens / api_streamed,
            })  # fmt: skip
    finally:
        api.close()
        for server in servers:
            server.stop()
    report(args, [s.label for s in servers], rounds, one_client)
    ours, theirs = memory["llama-cpp-pybind"], memory["llama-server"]
    print(f"RSS after the first round: ours {ours[0]:.0f} MB, llama-server {theirs[0]:.0f} MB, "
          f"ratio {ours[0] / theirs[0]:.3f}; after the last: {ours[-1]:.0f} MB vs "
          f"{theirs[-1]:.0f} MB, ratio {ours[-1] / theirs[-1]:.3f}")  # fmt: skip
    stack = python_stack_mb()
    print(f"our Python stack alone (interpreter + the server's modules, no model): {stack:.0f} MB; "
          f"ours without it after the first round {ours[0] - stack:.0f} MB vs llama-server "
          f"{theirs[0]:.0f} MB (ratio {(ours[0] - stack) / theirs[0]:.3f})")  # fmt: skip
    return 0


def python_stack_mb() -> float:
    """Resident MB of an interpreter that has imported the server's modules (no model)."""
    stack = "import sys, llama_cpp.server.app; print('ready', flush=True); sys.stdin.read()"
    process = subprocess.Popen([sys.executable, "-c", stack], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=clean_env())  # fmt: skip
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"importing llama_cpp.server.app failed ({process.wait()})")
        return rss_mb(process.pid)
    finally:
        process.communicate()


def report(args: argparse.Namespace, labels: list[str],
           rounds: list[dict[str, dict[str, float]]],
           one_client: list[dict[str, float]]) -> None:  # fmt: skip
    def median(label: str, key: str) -> float:
        return statistics.median(r[label][key] for r in rounds)

    def per_round(key: str, other: str) -> list[float]:
        return [r["llama-cpp-pybind"][key] / r[other][key] for r in rounds]

    def ratio(key: str, other: str) -> float:
        return statistics.median(per_round(key, other))

    print(f"model {args.model.name}, {args.threads} threads, {args.clients} concurrent "
          f"streams x {args.tokens} tokens, {args.rounds} rounds (medians)")  # fmt: skip
    print(f"{'':26}{'tok/s':>9}{'p50 TTFT ms':>13}{'CPU ms/token':>14}{'broken streams':>16}")
    for label in labels:
        broken = int(sum(r[label]["broken"] for r in rounds))
        total = args.clients * len(rounds)
        print(f"{label:26}{median(label, 'tok_s'):9.1f}{median(label, 'ttft_p50') * 1000:13.0f}"
              f"{median(label, 'cpu_ms'):14.2f}{broken:>10} of {total}")  # fmt: skip
        reasons = sorted({why for r in rounds for why in r[label]["reasons"]})  # type: ignore[attr-defined]
        for why in reasons[:3]:
            print(f"{'':28}e.g. {why[:100]}")
    print(
        f"aggregate tok/s: ours / llama-server = {ratio('tok_s', 'llama-server'):.3f} "
        f"(per round: {', '.join(f'{r1:.3f}' for r1 in per_round('tok_s', 'llama-server'))})"
    )
    print(f"CPU per token: ours / llama-server = {ratio('cpu_ms', 'llama-server'):.3f}")
    print(f"p50 TTFT: ours / llama-server = {ratio('ttft_p50', 'llama-server'):.3f}")
    for label in labels[2:]:
        print(f"aggregate tok/s: ours / {label} = {ratio('tok_s', label):.3f}")
    for api, how in (("api", "Llama()(...)"), ("api_stream", "Llama()(..., stream=True)")):
        one = statistics.median(r["server"] / r[api] for r in one_client)
        server_tok_s = statistics.median(r["server"] for r in one_client)
        api_tok_s = statistics.median(r[api] for r in one_client)
        print(f"one client: server {server_tok_s:.1f} tok/s, {how} {api_tok_s:.1f} tok/s, "
              f"ratio {one:.3f}")  # fmt: skip
    print("(ratios: median of per-round ratios)")


if __name__ == "__main__":
    raise SystemExit(main())
