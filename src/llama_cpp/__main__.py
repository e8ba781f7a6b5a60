"""python -m llama_cpp: show what this build contains, or run a model.

    python -m llama_cpp                       # build summary and devices
    python -m llama_cpp --model M.gguf --prompt "Hello" [-n 32]

Generation here is greedy decoding, to prove a build end to end.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import llama_cpp
from llama_cpp import _core


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
    model = _core.Model(model_path)
    context = _core.Context(model, n_ctx=max(512, n_tokens + 64), n_threads=n_threads)
    tokens = model.tokenize(prompt)
    start = time.perf_counter()
    context.decode(tokens)
    prompt_s = time.perf_counter() - start
    sys.stdout.write(prompt)
    pending = b""
    generated = 0
    start = time.perf_counter()
    for _ in range(n_tokens):
        token = int(np.argmax(context.logits()))
        if model.is_eog(token):
            break
        pending += model.token_to_piece(token)
        try:
            sys.stdout.write(pending.decode("utf-8"))
            pending = b""
        except UnicodeDecodeError:
            pass  # a multi-byte character continues in the next token
        sys.stdout.flush()
        context.decode([token])
        generated += 1
    gen_s = time.perf_counter() - start
    print(pending.decode("utf-8", errors="replace"))
    print(
        f"\n[{len(tokens)} prompt tokens in {prompt_s * 1000:.0f} ms, {generated} tokens generated "
        f"at {generated / gen_s if gen_s else 0:.1f} tokens/s]",
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
