"""python -m llama_cpp: show what this build contains, or run a model.

    python -m llama_cpp                       # build summary and devices
    python -m llama_cpp --model M.gguf --prompt "Hello" [-n 32]

With a model this is ``llama-cpp run`` (the same flags, see docs/cli.md) with other defaults:
greedy decoding (--temp 0), 32 tokens, a 512-token context and a prompt of its own, to
prove a build end to end.
"""

from __future__ import annotations

import sys

import llama_cpp
from llama_cpp._cli import run


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


def main(argv: list[str] | None = None) -> int:
    parser = run.build_parser(
        "python -m llama_cpp", model_required=False, n_predict=32, ctx_size=512
    )
    parser.description = __doc__.split("\n")[0]
    parser.set_defaults(temp=0.0, prompt="The capital of France is")
    options = parser.parse(argv)
    if options.model is None:
        print_summary()
        return 0
    return run.run_command(options)


if __name__ == "__main__":
    sys.exit(main())
