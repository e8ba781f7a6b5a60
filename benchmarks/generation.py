"""Generation and prompt speed through ``Llama.__call__``, against llama.cpp and llama-cpp-python.

Side by side in one run, same model, same thread count:

* ``llama-bench -p P -n N`` built from the pinned llama.cpp (the engine's ceiling);
* ``Llama(...)(prompt, max_tokens=N, temperature=0, logit_bias={eos: -1e9})`` with this
  package, in its own process;
* the same call with llama-cpp-python (the version the lock pins), in its own venv;
* ``import llama_cpp`` time of both packages (fresh interpreters, median);
* with ``--versus PYTHON``: the same call through another installation of this package
  (say a venv holding the portable wheel from ci/build-wheel.sh), reported as a ratio to
  ours, e.g. portable / native.

Each round measures every side back to back (each measurement the fastest of --repeats
runs, llama-bench's included), and the ratios are taken within the round, so that the
drift of a shared machine hits both sides of a ratio alike; the figures printed are
medians over the rounds.

Generation tokens/s = (N - 1) / (wall time of a call making N tokens - wall time of the
same call making 1): token steps only, no prompt, like llama-bench's tg; the whole
call's N / wall time is printed too. Prompt tokens/s = P / wall time of a call with a
P-token prompt and ``max_tokens=1``. Both are what a caller sees, sampling and
detokenizing included. Nothing here asserts a threshold.

    python benchmarks/generation.py                 # builds the baselines on first use
    python benchmarks/generation.py --rounds 15 --threads 2
    python benchmarks/generation.py --skip-llama-cpp-python --versus /tmp/wheel-venv/bin/python
    GGML_VK_VISIBLE_DEVICES=0 build/vulkan-venv/bin/python benchmarks/generation.py \
        --backend vulkan --skip-llama-cpp-python     # on lavapipe (ci/test-vulkan.sh's venv)
    build/cuda-venv/bin/python benchmarks/generation.py \
        --backend cuda --skip-llama-cpp-python       # on an NVIDIA GPU (ci/test-cuda.sh's venv)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _baselines import REPO, llama_cpp_python, llama_tool

WORKER = Path(__file__).resolve().parent / "_api_worker.py"
IMPORT_TIMER = (
    "import time; t = time.perf_counter(); from llama_cpp import Llama; "
    "print(time.perf_counter() - t)"
)


def default_model() -> Path:
    sys.path.insert(0, str(REPO / "ci"))
    from fetch_test_model import fetch_test_model

    return Path(fetch_test_model())


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


class ApiSide:
    """A worker process holding one loaded Llama."""

    def __init__(self, python: Path, args: argparse.Namespace):
        command = [str(python), str(WORKER), "--model", str(args.model),
                   "--threads", str(args.threads), "--prompt-tokens", str(args.prompt_tokens),
                   "--n-ctx", str(2 * (args.prompt_tokens + args.tokens)),
                   "--n-gpu-layers", str(-1 if args.backend != "cpu" else 0)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean_env()
        )
        if self._read() != "ready":
            raise SystemExit(f"{python}: the benchmark worker did not start")

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line:
            raise SystemExit(f"the benchmark worker exited with {self.process.wait()}")
        return line

    def seconds(self, command: str) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return float(self._read())

    def measure(self, args: argparse.Namespace) -> dict[str, float]:
        def best(command: str) -> float:
            return min(self.seconds(command) for _ in range(args.repeats))

        long_call = best(f"gen {args.tokens}")
        one_token_call = best("gen 1")
        return {
            "tg": (args.tokens - 1) / (long_call - one_token_call),
            "call": args.tokens / long_call,
            "pp": args.prompt_tokens / best("pp"),
        }

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def llama_bench(binary: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [str(binary), "-m", str(args.model), "-t", str(args.threads),
               "-p", str(args.prompt_tokens), "-n", str(args.tokens),
               "-r", str(args.repeats), "-o", "json",
               "-ngl", "99" if args.backend != "cpu" else "0"]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return {
        ("pp" if row["n_prompt"] else "tg"): max(float(ts) for ts in row["samples_ts"])
        for row in json.loads(out)
    }


def import_seconds(python: Path, times: int = 9) -> float:
    samples = []
    for _ in range(times):
        run = subprocess.run([str(python), "-c", IMPORT_TIMER], check=True,
                             capture_output=True, text=True, env=clean_env(), cwd="/")  # fmt: skip
        samples.append(float(run.stdout.strip()))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the test model)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per call")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per side and round; the fastest counts"
    )
    parser.add_argument("--skip-llama-cpp-python", action="store_true")
    parser.add_argument(
        "--backend",
        choices=("cpu", "vulkan", "cuda"),
        default="cpu",
        help="vulkan, cuda: every layer on the GPU, ours (run this script with the Python "
        "of a build with that backend) and a llama-bench built with it (-ngl 99)",
    )
    parser.add_argument(
        "--versus",
        type=Path,
        help="an interpreter with another installation of llama-cpp-pybind, compared to ours",
    )
    args = parser.parse_args()
    args.model = args.model or default_model()

    bench = llama_tool("llama-bench", args.backend)
    ours = ApiSide(Path(sys.executable), args)
    theirs = None if args.skip_llama_cpp_python else ApiSide(llama_cpp_python(), args)
    versus = ApiSide(args.versus, args) if args.versus else None
    rounds: list[dict[str, dict[str, float]]] = []
    for index in range(args.rounds):
        print(f"round {index + 1}/{args.rounds}", file=sys.stderr, flush=True)
        measured = {"llama-bench": llama_bench(bench, args), "ours": ours.measure(args)}
        if theirs is not None:
            measured["theirs"] = theirs.measure(args)
        if versus is not None:
            measured["versus"] = versus.measure(args)
        rounds.append(measured)
    for side in (ours, theirs, versus):
        if side is not None:
            side.close()
    report(args, rounds, theirs is not None)
    return 0


def report(args: argparse.Namespace, rounds: list[dict[str, dict[str, float]]], lcp: bool) -> None:
    def median(side: str, kind: str) -> float:
        return statistics.median(r[side][kind] for r in rounds)

    def ratio(kind: str, other: str) -> float:
        return statistics.median(r["ours"][kind] / r[other][kind] for r in rounds)

    offload = " (every layer offloaded)" if args.backend != "cpu" else ""
    print(f"model {args.model.name}, {args.threads} threads, {args.rounds} rounds (medians), "
          f"backend {args.backend}{offload}")  # fmt: skip
    print(f"{'':28}{'tg' + str(args.tokens):>10}{'pp' + str(args.prompt_tokens):>10}"
          f"{'whole call':>12}  tok/s")  # fmt: skip
    names = {"llama-bench": "llama-bench (llama.cpp)", "ours": "llama-cpp-pybind Llama()",
             "theirs": "llama-cpp-python Llama()", "versus": "--versus Llama()"}  # fmt: skip
    for side, label in names.items():
        if side in rounds[0]:
            whole = f"{median(side, 'call'):12.1f}" if side != "llama-bench" else ""
            print(f"{label:28}{median(side, 'tg'):10.1f}{median(side, 'pp'):10.1f}{whole}")
    for kind in ("tg", "pp"):
        line = f"{kind}: ours / llama-bench = {ratio(kind, 'llama-bench'):.3f}"
        if lcp:
            line += f"   ours / llama-cpp-python = {ratio(kind, 'theirs'):.3f}"
        print(line + "   (median of per-round ratios)")
    if "versus" in rounds[0]:
        for kind in ("tg", "pp", "call"):
            versus_ratio = statistics.median(r["versus"][kind] / r["ours"][kind] for r in rounds)
            print(f"{kind}: --versus / ours = {versus_ratio:.3f}   (median of per-round ratios)")
    ours_import = import_seconds(Path(sys.executable))
    line = f"from llama_cpp import Llama: ours {ours_import * 1000:.0f} ms"
    if lcp:
        theirs_import = import_seconds(llama_cpp_python())
        line += f", llama-cpp-python {theirs_import * 1000:.0f} ms, "
        line += f"ratio {ours_import / theirs_import:.2f}"
    print(line)


if __name__ == "__main__":
    raise SystemExit(main())
