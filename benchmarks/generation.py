"""Generation and prompt speed through ``Llama.__call__``, against llama.cpp and llama-cpp-python.

Side by side in one run, same model, same thread count, rounds interleaved so that
machine drift hits every side alike:

* ``llama-bench -p P -n N`` built from the pinned llama.cpp (the engine's ceiling);
* ``Llama(...)(prompt, max_tokens=N, temperature=0, logit_bias={eos: -1e9})`` with this
  package, in a fresh process;
* the same call with llama-cpp-python (the version the lock pins), in its own venv;
* ``import llama_cpp`` time of both packages (fresh interpreters, median).

Generation tokens/s = N / wall time of the whole call (a 4-token prompt included);
prompt tokens/s = P / wall time of a call with a P-token prompt and ``max_tokens=1``.
Both are what a caller sees, sampling and detokenizing included. Prints the medians and
the ratios; asserts nothing.

    python benchmarks/generation.py                 # builds the baselines on first use
    python benchmarks/generation.py --rounds 5 --threads 2
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
    "import time; t = time.perf_counter(); import llama_cpp; print(time.perf_counter() - t)"
)


def default_model() -> Path:
    sys.path.insert(0, str(REPO / "ci"))
    from fetch_test_model import fetch_test_model

    return Path(fetch_test_model())


def llama_bench(binary: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [str(binary), "-m", str(args.model), "-t", str(args.threads),
               "-p", str(args.prompt_tokens), "-n", str(args.tokens),
               "-r", str(args.repeats), "-o", "json"]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    speeds = {}
    for row in rows:
        kind = "pp" if row["n_prompt"] else "tg"
        speeds[kind] = float(row["avg_ts"])
    return speeds


def api(python: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [str(python), str(WORKER), "--model", str(args.model),
               "--threads", str(args.threads), "--tokens", str(args.tokens),
               "--prompt-tokens", str(args.prompt_tokens),
               "--repeats", str(args.repeats)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {"tg": statistics.median(result["tg"]), "pp": statistics.median(result["pp"])}


def import_seconds(python: Path, times: int = 7) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    samples = []
    for _ in range(times):
        run = subprocess.run([str(python), "-c", IMPORT_TIMER], check=True,
                             capture_output=True, text=True, env=env, cwd="/")  # fmt: skip
        samples.append(float(run.stdout.strip()))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the test model)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per call")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="measurements per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--skip-llama-cpp-python", action="store_true")
    args = parser.parse_args()
    args.model = args.model or default_model()

    bench = llama_tool("llama-bench")
    theirs = None if args.skip_llama_cpp_python else llama_cpp_python()
    sides: dict[str, list[dict[str, float]]] = {"llama-bench": [], "ours": [], "theirs": []}
    for round_index in range(args.rounds):
        print(f"round {round_index + 1}/{args.rounds}", file=sys.stderr, flush=True)
        sides["llama-bench"].append(llama_bench(bench, args))
        sides["ours"].append(api(Path(sys.executable), args))
        if theirs is not None:
            sides["theirs"].append(api(theirs, args))

    def median(side: str, kind: str) -> float:
        return statistics.median(run[kind] for run in sides[side])

    print(f"model {args.model.name}, {args.threads} threads, {args.rounds} rounds "
          f"x {args.repeats} runs (medians)")  # fmt: skip
    print(f"{'':28}{'tg' + str(args.tokens):>12}{'pp' + str(args.prompt_tokens):>12}  tok/s")
    names = {"llama-bench": "llama-bench (llama.cpp)", "ours": "llama-cpp-pybind Llama()",
             "theirs": "llama-cpp-python Llama()"}  # fmt: skip
    for side, label in names.items():
        if sides[side]:
            print(f"{label:28}{median(side, 'tg'):12.1f}{median(side, 'pp'):12.1f}")
    for kind in ("tg", "pp"):
        ours = median("ours", kind)
        print(f"{kind}: ours / llama-bench = {ours / median('llama-bench', kind):.3f}", end="")
        if sides["theirs"]:
            print(f"   ours / llama-cpp-python = {ours / median('theirs', kind):.3f}", end="")
        print()
    ours_import = import_seconds(Path(sys.executable))
    print(f"import llama_cpp: ours {ours_import * 1000:.0f} ms", end="")
    if theirs is not None:
        theirs_import = import_seconds(theirs)
        print(f", llama-cpp-python {theirs_import * 1000:.0f} ms, "
              f"ratio {ours_import / theirs_import:.2f}", end="")  # fmt: skip
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
