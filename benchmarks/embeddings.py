"""Embedding throughput: ``Llama.create_embedding`` of this package against llama-cpp-python's.

Side by side in one run, same model, same threads, same ``n_ctx`` and ``n_batch``: each
side is a process of its own (ours: this interpreter; llama-cpp-python: the version the
lock pins, in its own venv from ``benchmarks/_baselines.py``) that loads
``Llama(model, embedding=True)`` once, embeds a warm-up list, then times
``create_embedding`` of N short distinct texts (default 1,000) per round. The sides take
turns going first; the ratio is taken within each round and the median printed.

Embedding is prompt processing with every token's hidden state kept, so its ceiling is
llama.cpp's own prompt decode at the same batch: each round also runs the pinned
llama.cpp's ``llama-bench -p N_CTX -n 0 -embd 1`` (same threads, flash attention left to
llama.cpp as on both sides; the better of its two runs, so the ceiling errs high) and the
run prints each side's share of that ceiling and the largest ratio over llama-cpp-python
the ceiling leaves room for. Nothing here asserts a threshold.

    python benchmarks/embeddings.py                # builds both baselines on first use
    python benchmarks/embeddings.py --texts 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _baselines import llama_cpp_python, llama_tool
from generation import clean_env, default_model

# Runs in either side's interpreter: loads once, then answers "embed ROUND" with seconds.
WORKER = r"""
import json, sys, time
from llama_cpp import Llama
model, threads, n_ctx, n_texts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model, embedding=True, n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads,
            n_threads_batch=threads, verbose=False)
words = ["river", "engine", "blue", "seven", "quietly", "paper", "storm", "garden", "cat"]
def texts(seed):
    return [f"{words[(i + seed) % 9]} {words[(i * 7 + seed) % 9]} number {i} of round {seed}"
            for i in range(n_texts)]
out = llm.create_embedding(texts(-1)[:64])
print(json.dumps({"ready": True, "dims": len(out["data"][0]["embedding"])}), flush=True)
for line in sys.stdin:
    seed = int(line.split()[1])
    batch = texts(seed)
    start = time.perf_counter()
    out = llm.create_embedding(batch)
    seconds = time.perf_counter() - start
    assert len(out["data"]) == len(batch)
    print(json.dumps({"seconds": seconds, "tokens": out["usage"]["prompt_tokens"]}), flush=True)
"""


class Side:
    def __init__(self, label: str, python: Path, args: argparse.Namespace):
        self.label = label
        command = [str(python), "-c", WORKER, str(args.model), str(args.threads),
                   str(args.n_ctx), str(args.texts)]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=clean_env())  # fmt: skip
        self.ready = self._read()

    def _read(self) -> dict[str, float]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"{self.label}: the worker exited ({self.process.wait()})")
        return dict(json.loads(line))

    def embed(self, seed: int) -> dict[str, float]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"embed {seed}\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def ceiling_tokens_per_second(args: argparse.Namespace) -> float:
    """llama.cpp's prompt decode with embeddings on: one sequence of n_ctx tokens."""
    command = [str(llama_tool("llama-bench")), "-m", str(args.model), "-t", str(args.threads),
               "-p", str(args.n_ctx), "-n", "0", "-b", str(args.n_ctx), "-ub", str(args.n_ctx),
               "-embd", "1", "-r", "2", "-o", "json"]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=clean_env())
    return max(float(ts) for row in json.loads(out.stdout) for ts in row["samples_ts"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the test model)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--texts", type=int, default=1000, help="texts per create_embedding")
    parser.add_argument("--n-ctx", type=int, default=512, help="n_ctx and n_batch of both")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    args.model = args.model or default_model()
    sides = [Side("llama-cpp-pybind", Path(sys.executable), args)]
    try:
        sides.append(Side("llama-cpp-python", llama_cpp_python(), args))
        rounds: list[dict[str, dict[str, float]]] = []
        ceiling: list[float] = []
        for index in range(args.rounds):
            order = sides if index % 2 == 0 else sides[::-1]
            rounds.append({side.label: side.embed(index) for side in order})
            ceiling.append(ceiling_tokens_per_second(args))
    finally:
        for side in sides:
            side.close()
    print(f"model {args.model.name}, {args.threads} threads, n_ctx = n_batch = {args.n_ctx}, "
          f"{args.texts} texts per call, {args.rounds} rounds (medians)")  # fmt: skip
    for side in sides:
        rate = statistics.median(args.texts / r[side.label]["seconds"] for r in rounds)
        tokens = rounds[0][side.label]["tokens"]
        print(f"{side.label:18} {rate:8.1f} texts/s  ({tokens:.0f} tokens per call, "
              f"{side.ready['dims']:.0f} numbers per embedding)")  # fmt: skip
    ratio = statistics.median(
        r["llama-cpp-python"]["seconds"] / r["llama-cpp-pybind"]["seconds"] for r in rounds
    )
    print(f"texts/s: ours / llama-cpp-python = {ratio:.2f}  (median of per-round ratios)")
    report_ceiling(args, rounds, ceiling)
    return 0


def report_ceiling(args: argparse.Namespace, rounds: list[dict[str, dict[str, float]]],
                   ceiling: list[float]) -> None:  # fmt: skip
    """Each side's share of llama.cpp's own decode speed, and the ratio that leaves."""

    rates = [{label: side["tokens"] / side["seconds"] for label, side in r.items()} for r in rounds]
    top = statistics.median(ceiling)
    tokens_per_text = rounds[0]["llama-cpp-python"]["tokens"] / args.texts
    texts_per_second = top / tokens_per_text
    print(f"ceiling: llama-bench pp{args.n_ctx} with embeddings on {top:.0f} tok/s "
          f"= {texts_per_second:.1f} texts/s at {tokens_per_text:.1f} tokens per text")  # fmt: skip
    for label in ("llama-cpp-pybind", "llama-cpp-python"):
        share = statistics.median(r[label] / c for r, c in zip(rates, ceiling, strict=True))
        print(f"{label:18} {share:6.1%} of the ceiling")
    room = statistics.median(c / r["llama-cpp-python"] for r, c in zip(rates, ceiling, strict=True))
    print(f"largest ratio over llama-cpp-python the ceiling allows: {room:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
