"""Generation through two RPC workers: ours against llama.cpp's own ``llama-bench --rpc``
on the same workers, and against the same model on one host, side by side in one run.

Three network namespaces joined by veth pairs (tests/rpc_hosts.py; needs root): two
``llama-cpp rpc-server`` workers and a client. Each round runs, in the client namespace,
llama.cpp's ``llama-bench -p 0 -n N --rpc A,B -ngl 99`` (built from the pinned tree with
``-DGGML_RPC=ON`` in build/llama-tools-rpc on first use), then our ``Llama(...,
rpc_servers="A,B", n_gpu_layers=-1)`` generating N tokens, then ours without workers.
Ours is timed from the first generated token to the last (decode, sampling and the
Python loop); llama-bench times its decodes alone. Every process has one CPU thread (on
a small machine, a client's idle threads would compete with the workers'). Then a worker
is killed in the middle of a stream and the time until the client's error is measured.

    sudo "$(command -v python)" benchmarks/rpc.py [--rounds 3] [--tokens 64]   # root: netns
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import llama_tool  # noqa: E402
from rpc_hosts import Hosts, Worker, can_make_hosts  # noqa: E402

OURS = r"""
import json, sys, time
import llama_cpp
model, servers, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
kwargs = {"rpc_servers": servers, "n_gpu_layers": -1} if servers else {}
llm = llama_cpp.Llama(model, n_ctx=512, n_threads=1, verbose=False, **kwargs)
ban = {llm.token_eos(): -100.0}
llm("Warm up", max_tokens=4, temperature=0)
stamps = []
for _ in llm("Once upon a time", max_tokens=tokens, temperature=0, stream=True,
             logit_bias=ban):
    stamps.append(time.perf_counter())
print(json.dumps({"tok_s": (len(stamps) - 1) / (stamps[-1] - stamps[0]), "n": len(stamps)}))
"""


def run_in_client(hosts: Hosts, argv: list[str]) -> str:
    proc = hosts.run_in(hosts.client, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}):\n{err[-3000:]}")
    return out


def llama_bench(hosts: Hosts, bench: Path, model: Path, servers: str, tokens: int) -> float:
    out = run_in_client(hosts, [str(bench), "-m", str(model), "--rpc", servers, "-ngl", "99",
                                "-t", "1", "-p", "0", "-n", str(tokens), "-r", "3",
                                "-o", "json"])  # fmt: skip
    return float(json.loads(out)[0]["avg_ts"])


def ours(hosts: Hosts, model: Path, servers: str, tokens: int) -> float:
    out = run_in_client(hosts, [sys.executable, "-c", OURS, str(model), servers, str(tokens)])
    return float(json.loads(out.splitlines()[-1])["tok_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the test model)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    reason = can_make_hosts()
    if reason:
        raise SystemExit(f"benchmarks/rpc.py: {reason}")
    if args.model is None:
        fetch = subprocess.run([sys.executable, str(REPO / "ci" / "fetch_test_model.py")],
                               check=True, capture_output=True, text=True)  # fmt: skip
        args.model = Path(fetch.stdout.strip().splitlines()[-1])
    bench = llama_tool("llama-bench", "rpc")
    hosts = Hosts(prefix=f"lb{os.getpid() % 10000}")
    hosts.create()
    logs = Path(tempfile.mkdtemp(prefix="rpc-bench-"))
    workers: list[Worker] = []
    try:
        workers = [Worker(hosts, i, logs / f"w{i}.log").start() for i in range(2)]
        servers = ",".join(w.endpoint for w in workers)
        rows = []
        for index in range(args.rounds):
            print(f"round {index + 1}/{args.rounds}", file=sys.stderr, flush=True)
            theirs = llama_bench(hosts, bench, args.model, servers, args.tokens)
            mine = ours(hosts, args.model, servers, args.tokens)
            local = ours(hosts, args.model, "", args.tokens)
            rows.append((theirs, mine, local))
        kill_workers = [Worker(hosts, i, logs / f"k{i}.log", port=50081).start() for i in range(2)]
        victim = kill_workers[1].process
        assert victim is not None
        out = run_in_client(hosts, [sys.executable, str(REPO / "tests" / "rpc_client.py"), "kill",
                                    str(args.model), ",".join(w.endpoint for w in kill_workers),
                                    str(victim.pid)])  # fmt: skip
        killed = json.loads(out.splitlines()[-1])
        for worker in kill_workers:
            worker.stop()
    finally:
        for worker in workers:
            worker.stop()
        hosts.destroy()
    print(f"\n{args.tokens} tokens generated through two workers (netns, one thread per process)")
    print(f"{'round':>5} {'llama-bench --rpc':>18} {'ours --rpc':>11} {'ours local':>11}")
    for i, (theirs, mine, local) in enumerate(rows, 1):
        print(f"{i:>5} {theirs:>14.1f} t/s {mine:>7.1f} t/s {local:>7.1f} t/s")
    vs_bench = statistics.median(m / t for t, m, _ in rows)
    vs_local = statistics.median(m / lo for _, m, lo in rows)
    print(f"ours / llama-bench --rpc: {vs_bench:.3f} (per round: "
          f"{', '.join(f'{m / t:.3f}' for t, m, _ in rows)})")  # fmt: skip
    print(f"ours through two workers / ours on one host: {vs_local:.3f}")
    error, seconds = killed.get("error"), killed.get("seconds", 0.0)
    print(f"a worker killed mid-stream: {error} after {seconds:.2f} s "
          f"({killed.get('chunks')} chunks streamed)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
