"""Run in a child process by the doctor: load the compiled module (and, with
``--model``, a model) and print what registered, as one JSON line after MARKER (and the
model run's result after MODEL_MARKER).

A crash here (SIGILL from an instruction the CPU lacks, a segfault in a driver)
ends this process only; the doctor reads the exit status and explains it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

MARKER = "LLAMA_CPP_DOCTOR_RESULT "
MODEL_MARKER = "LLAMA_CPP_DOCTOR_MODEL "

_PROMPT = (
    "The history of computing began with mechanical calculators and moved through "
    "vacuum tubes, transistors and integrated circuits to the microprocessors of today. "
    "Summarise that history in one sentence:"
)


def _core_facts(core: Any) -> dict[str, Any]:
    backends = core.backends()
    features = {}
    for name in backends:
        try:
            features[name] = core.backend_features(name)
        except ValueError:
            features[name] = {}
    return {
        "ok": True,
        "core_file": getattr(core, "__file__", None),
        "core_version": getattr(core, "__version__", None),
        "core_llama_cpp_commit": getattr(core, "LLAMA_CPP_COMMIT", None),
        "backends": backends,
        "backend_features": features,
        "devices": core.devices(),
        "system_info": core.system_info(),
        "supports_gpu_offload": bool(core.supports_gpu_offload()),
    }


def _model_check(path: str, n_gpu_layers: int) -> dict[str, Any]:
    """Load the model, run a short prompt and generation, time both."""
    import llama_cpp

    log: list[str] = []
    llama_cpp.set_log_callback(lambda _level, text: log.append(text.decode(errors="replace")))
    started = time.perf_counter()
    try:
        llm = llama_cpp.Llama(path, n_gpu_layers=n_gpu_layers, n_ctx=512, verbose=False)
    except Exception as error:  # every load failure is a finding, not a doctor crash
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    load_s = time.perf_counter() - started
    try:
        result = llm.create_completion(_PROMPT, max_tokens=48, temperature=0.0)
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    assert isinstance(result, dict)  # not streamed
    perf = llm.ctx.perf()
    text = "".join(log)
    offloaded = re.search(r"offloaded (\d+)/(\d+) layers to GPU", text)
    buffers = re.findall(r"load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB", text)
    llm.close()
    return {
        "ok": True,
        "path": path,
        "n_gpu_layers": n_gpu_layers,
        "load_seconds": round(load_s, 3),
        "layers_offloaded": int(offloaded.group(1)) if offloaded else None,
        "layers_total": int(offloaded.group(2)) if offloaded else None,
        "model_buffers_mib": {name: float(size) for name, size in buffers},
        "prompt_tokens": perf["n_p_eval"],
        "prompt_tokens_per_second": _rate(perf["n_p_eval"], perf["t_p_eval_ms"]),
        "generated_tokens": perf["n_eval"],
        "generation_tokens_per_second": _rate(perf["n_eval"], perf["t_eval_ms"]),
        "text": result["choices"][0]["text"],
    }


def _rate(n: float, ms: float) -> float | None:
    return round(1000.0 * n / ms, 1) if ms > 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llama_cpp.doctor.probes._child")
    parser.add_argument("--model")
    parser.add_argument("--n-gpu-layers", type=int, default=-1)
    args = parser.parse_args(argv)
    from llama_cpp._loader import (
        backend_failures,
        load_core,
        loaded_backend_files,
        preloaded_libraries,
    )

    try:
        core = load_core()
    except ImportError as error:
        result: dict[str, Any] = {"ok": False, "import_error": str(error)}
        package = Path(importlib.import_module("llama_cpp").__file__ or ".").parent
        result["core_files"] = sorted(
            p.name for p in package.glob("_core.*") if p.suffix in (".so", ".pyd", ".dylib")
        )
        print(MARKER + json.dumps(result), flush=True)
        return 1
    facts = _core_facts(core)
    facts["backend_files"] = loaded_backend_files()
    facts["backend_failures"] = backend_failures()
    facts["preloaded_libraries"] = preloaded_libraries()
    # the facts first: if the model run crashes the process, they are already out
    print(MARKER + json.dumps(facts), flush=True)
    if args.model:
        print(MODEL_MARKER + json.dumps(_model_check(args.model, args.n_gpu_layers)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
