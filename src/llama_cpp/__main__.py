"""python -m llama_cpp: show what this build contains, or run a model.

    python -m llama_cpp                       # build summary and devices
    python -m llama_cpp --model M.gguf --prompt "Hello" [-n 32]

Generation here is greedy decoding, to prove a build end to end.
"""

from __future__ import annotations

import argparse
import sys
import time

import llama_cpp


def print_summary() -> None:
    info = llama_cpp.build_info()
    print(
        f"llama-cpp-pybind {info['package_version']} ({info['mode']} build), "
        f"llama.cpp {info['llama_cpp_commit'][:12]}"
    )
    print(f"  backends compiled : {', '.join(info['backends'])}")
    print(f"  CPU features      : {' '.join(info['cpu_features'])}")
    print(f"  CMAKE_ARGS        : {info['cmake_args'] or '(none)'}")
    for legacy in info["legacy_flags"]:
        print(f"  legacy flag       : {legacy['given']} -> {legacy['became']}")
    for device in llama_cpp.devices():
        memory = device["memory_total"] / 2**30
        print(
            f"  device            : {device['name']} ({device['type']}, {device['description']}, "
            f"{memory:.1f} GiB)"
        )
    print(f"  system info       : {llama_cpp.system_info()}")


def generate(model_path: str, prompt: str, n_tokens: int, n_threads: int) -> None:
    """Stream a greedy continuation of ``prompt`` through Llama (the C++ token loop)."""
    llm = llama_cpp.Llama(
        model_path, n_ctx=max(512, n_tokens + 64), n_threads=n_threads or None, verbose=False
    )
    sys.stdout.write(prompt)
    start = time.perf_counter()
    for chunk in llm(prompt, max_tokens=n_tokens, temperature=0.0, stream=True):
        sys.stdout.write(chunk["choices"][0]["text"])
        sys.stdout.flush()
    elapsed = time.perf_counter() - start
    perf = llm.ctx.perf()
    generated = perf["n_eval"]
    llm.close()
    print()
    print(
        f"\n[{perf['n_p_eval']} prompt tokens in {perf['t_p_eval_ms']:.0f} ms, {generated} tokens "
        f"generated at {perf['n_eval'] * 1000 / perf['t_eval_ms'] if perf['t_eval_ms'] else 0:.1f} "
        f"tokens/s; {elapsed:.2f} s in all]",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llama_cpp", description=__doc__.split("\n")[0])
    parser.add_argument("--model", "-m", help="path of a .gguf model")
    parser.add_argument("--prompt", "-p", default="The capital of France is")
    parser.add_argument("-n", "--n-predict", type=int, default=32, help="tokens to generate")
    parser.add_argument("-t", "--threads", type=int, default=0, help="0 = llama.cpp's default")
    args = parser.parse_args(argv)
    if args.model is None:
        print_summary()
        return 0
    try:
        generate(args.model, args.prompt, args.n_predict, args.threads)
    except (OSError, ValueError, llama_cpp.LlamaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
