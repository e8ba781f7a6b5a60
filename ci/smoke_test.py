#!/usr/bin/env python3
"""Smoke test of an installed llama-cpp-pybind (run with the Python it is installed in).

    python ci/smoke_test.py [--model MODEL.gguf] [--expect-mode portable] [--no-doctor]
                            [--gpu-optional] [--on-gpu BACKEND] [--expect-finding CHECK]

Checks: the package imports from outside the source tree; the build info reads; in a
portable build the CPU backend variant chosen for this CPU is reported; ``llama-cpp
doctor --json`` runs and finds no problem (skip with --no-doctor, e.g. under qemu-user,
which does not emulate the doctor's child process); a short greedy generation on the
model produces text (by default the test model, fetched by ci/fetch_test_model.py beside
this script). A backend module shipped but not loaded fails the test. --gpu-optional
accepts a GPU build on a machine without that GPU (CI runners building CUDA or Vulkan
wheels): the doctor's findings about missing GPU devices, and a backend module that lacks
only the GPU driver's library, are then not failures. Prints one JSON line with what it
saw; exits non-zero on failure. --on-gpu Vulkan (or CUDA, Metal) generates with every
layer offloaded and requires llama.cpp's load log to say they all went to that backend's
first device ("offloaded 31/31 layers", "Vulkan0 model buffer"). --expect-finding CHECK
requires the doctor to report that problem (e.g. backend-load where a library the
backend module needs was hidden on purpose).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

# The doctor's findings that only say "this GPU build has no GPU here".
GPU_ABSENT_CHECKS = {"backend-devices", "cuda-driver", "cmake-args-gpu"}
# Libraries that only a machine with the GPU's driver has: a backend module that fails
# to load for want of one of them is tolerated with --gpu-optional (anything else, e.g.
# a CUDA runtime missing from the CUDA wheel's extra, is a failure).
DRIVER_LIBRARIES = ("libcuda.so", "nvcuda.dll", "libvulkan.so", "vulkan-1.dll")


def tolerated(check: str, text: str, gpu_optional: bool) -> bool:
    if not gpu_optional:
        return False
    if check == "backend-load":
        return any(name in text for name in DRIVER_LIBRARIES)
    return check in GPU_ABSENT_CHECKS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a GGUF file (default: the test model)")
    parser.add_argument("--expect-mode", choices=("native", "portable"))
    parser.add_argument("--no-doctor", action="store_true")
    parser.add_argument("--gpu-optional", action="store_true")
    parser.add_argument("--on-gpu", metavar="BACKEND", help="e.g. Vulkan: run every layer on it")
    parser.add_argument("--expect-finding", metavar="CHECK", action="append", default=[])
    args = parser.parse_args()
    if args.model is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from fetch_test_model import fetch_test_model

        args.model = str(fetch_test_model())
    return args


def check_installation(args: argparse.Namespace, seen: dict[str, object]) -> None:
    """The package is an installed one, with the build and the backends it should have."""
    import llama_cpp
    from llama_cpp._loader import backend_failures, loaded_backend_files

    seen["package"] = str(Path(llama_cpp.__file__).parent)
    if "site-packages" not in seen["package"] and "dist-packages" not in seen["package"]:
        raise SystemExit(f"llama_cpp was imported from {seen['package']}, not an installation")
    info = llama_cpp.build_info()
    seen.update(mode=info["mode"], backends=info["backends"], cpu_variants=info.get("cpu_variants"))
    if args.expect_mode and info["mode"] != args.expect_mode:
        raise SystemExit(f"expected a {args.expect_mode} build, got {info['mode']}")
    seen["registered"] = llama_cpp.backends()
    if "RPC" not in info["backends"] or "RPC" not in seen["registered"]:
        # every wheel can be an RPC worker or client (docs/install/rpc.md)
        raise SystemExit(f"the RPC backend is missing: built {info['backends']}, "
                         f"registered {seen['registered']}")  # fmt: skip
    seen["backend_files"] = {k: Path(v).name for k, v in loaded_backend_files().items()}
    if info["mode"] == "portable" and "CPU" not in seen["backend_files"]:
        raise SystemExit("portable build, but no CPU backend module was loaded")
    seen["backend_failures"] = backend_failures()
    for name, reason in backend_failures().items():
        if not tolerated("backend-load", reason, args.gpu_optional):
            raise SystemExit(f"the backend module {name} could not be loaded: {reason}")
    seen["system_info"] = llama_cpp.system_info().strip()


def check_doctor(args: argparse.Namespace, seen: dict[str, object]) -> None:
    """``llama-cpp doctor --json`` reports no problem, and every expected finding."""
    doctor = subprocess.run(
        [sys.executable, "-m", "llama_cpp.doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(doctor.stdout)
    problems = [
        f
        for f in report["findings"]
        if f["severity"] in ("warn", "fail")
        and not tolerated(f["check"], f["title"], args.gpu_optional)
    ]
    seen["doctor_exit"] = doctor.returncode
    reported = {f["check"]: f for f in report["findings"] if f["severity"] in ("warn", "fail")}
    seen["doctor_findings"] = {c: (f["title"], f["fix"]) for c, f in reported.items()}
    for check in args.expect_finding:
        if check not in reported:
            raise SystemExit(f"llama-cpp doctor did not report {check}: {report['findings']}")
    if problems:
        raise SystemExit(f"llama-cpp doctor found problems: {problems}\n{doctor.stderr}")


def check_offload(backend: str, load_log: str, seen: dict[str, object]) -> None:
    """llama.cpp's load log says every layer went to ``backend``'s first device."""
    offloaded = re.search(r"offloaded (\d+)/(\d+) layers to GPU", load_log)
    seen["offloaded"] = offloaded.group(0) if offloaded else None
    if not offloaded or offloaded.group(1) != offloaded.group(2):
        raise SystemExit(f"not every layer went to the GPU:\n{load_log[-3000:]}")
    if f"{backend}0 model buffer size" not in load_log:
        raise SystemExit(f"no {backend}0 model buffer in llama.cpp's load log")


def check_generation(args: argparse.Namespace, seen: dict[str, object]) -> None:
    """The model loads (on the GPU with --on-gpu) and a greedy generation gives text."""
    import llama_cpp

    started = time.perf_counter()
    log: list[str] = []
    llama_cpp.set_log_callback(lambda _level, text: log.append(text.decode(errors="replace")))
    try:
        llm = llama_cpp.Llama(
            args.model, n_ctx=256, n_gpu_layers=-1 if args.on_gpu else 0, verbose=False
        )
    finally:
        llama_cpp.set_log_callback(None)
    if args.on_gpu:
        check_offload(args.on_gpu, "".join(log), seen)
    out = llm("The capital of France is", max_tokens=16, temperature=0.0)
    seen["generation_seconds"] = round(time.perf_counter() - started, 2)
    text = out["choices"][0]["text"]
    seen["text"] = text
    if not text.strip():
        raise SystemExit("the model generated no text")


def main() -> int:
    args = parse_args()
    seen: dict[str, object] = {}
    check_installation(args, seen)
    if not args.no_doctor:
        check_doctor(args, seen)
    check_generation(args, seen)
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
