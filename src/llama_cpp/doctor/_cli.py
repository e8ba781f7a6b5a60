"""The doctor's command line: options, JSON or human output, exit status."""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from llama_cpp.doctor._pipeline import collect, diagnose, exit_code
from llama_cpp.doctor.render._text import render


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llama-cpp doctor",
        description="Check this machine, the installed llama-cpp-pybind build and how they "
        "match; print the exact command that fixes each problem. Exit status: 0 healthy, "
        "1 problems found, 2 the doctor itself failed.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--model", metavar="PATH", help="also load this GGUF model and time a short generation"
    )
    parser.add_argument(
        "--n-gpu-layers",
        type=int,
        default=-1,
        help="layers to offload with --model (default -1: all that fit)",
    )
    parser.add_argument(
        "--rpc",
        metavar="HOST:PORT[,HOST:PORT]",
        help="also connect to these RPC workers (llama-cpp rpc-server) and report "
        "reachability, protocol version, devices and memory",
    )
    parser.add_argument(
        "--shell",
        choices=("posix", "powershell", "cmd"),
        help="write fix commands for this shell (default: detected)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the doctor; returns (and as a script exits with) 0, 1 or 2."""
    args = _parser().parse_args(argv)
    try:
        report = collect(args.model, args.n_gpu_layers, args.shell, args.rpc)
        findings = diagnose(report)
    except Exception:  # the doctor's own failure: say so, exit 2
        print("llama-cpp doctor failed:\n" + traceback.format_exc(), file=sys.stderr)
        return 2
    if args.json:
        report["findings"] = [f.as_dict() for f in findings]
        report["exit_code"] = exit_code(findings)
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        render(report, findings, sys.stdout)
    return exit_code(findings)
