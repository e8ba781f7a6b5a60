"""Checks on the installed package: other providers of ``llama_cpp``, whether the
compiled module loads, whether it matches its build info, and the CPU features."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from llama_cpp.doctor.checks._commands import (
    LIBRARY_PACKAGES,
    classify_missing_library,
    pip_of,
    reinstall,
    system_install,
)
from llama_cpp.doctor.checks._finding import Finding
from llama_cpp.doctor.probes._runtime import python_of_tag


def check_other_providers(report: dict[str, Any]) -> list[Finding]:
    others = (report.get("install") or {}).get("other_providers") or []
    if not others:
        return []
    names = ", ".join(f"{o['name']} {o['version']}" for o in others)
    pip = pip_of(report)
    uninstall = " ".join(o["name"] for o in others)
    return [
        Finding(
            "package-conflict",
            "fail",
            f"{names} is installed too and also provides the llama_cpp package",
            "Both distributions write the same llama_cpp/ files; whichever was installed "
            "last owns them, and uninstalling either breaks the other. This usually comes "
            "from an integration that depends on llama-cpp-python (llama-index-llms-llama-cpp: "
            "install it with --no-deps).",
            f"{pip} uninstall -y {uninstall}\n" + reinstall(report, None),
            rebuild="",
        )
    ]


def check_runtime(report: dict[str, Any]) -> list[Finding]:
    runtime = report.get("runtime") or {}
    if runtime.get("ok"):
        backends = ", ".join(runtime.get("backends") or [])
        return [Finding("compiled-module", "ok", f"compiled module loads (backends: {backends})")]
    failure = runtime.get("failure", "crash")
    explain = _FAILURES.get(failure, _explain_crash)
    return [explain(report, runtime)]


def _explain_illegal_instruction(report: dict[str, Any], _runtime: dict[str, Any]) -> Finding:
    missing = missing_cpu_features(report)
    named = f" ({', '.join(missing)})" if missing else ""
    return Finding(
        "compiled-module",
        "fail",
        "the compiled module dies with an illegal instruction: it was built for a CPU "
        f"with instruction sets this one lacks{named}",
        "A build made on another machine (a newer CPU, a Docker image, a copied "
        "environment) or with CPU flags forced on. Rebuilding here compiles for this CPU.",
        reinstall(report, None),
        rebuild="",
    )


def _explain_missing_library(report: dict[str, Any], runtime: dict[str, Any]) -> Finding:
    library = runtime.get("library")
    title = (
        f"the compiled module needs {library}, which the loader cannot find"
        if library
        else "a DLL the compiled module needs cannot be found"
    )
    fix: str | None = None
    rebuild: str | None = None
    detail = runtime.get("detail", "")
    kind, name = classify_missing_library(library or "") or ("", "")
    if kind == "package":
        fix = system_install(report, LIBRARY_PACKAGES[name])
    elif kind == "cuda-runtime":
        detail += (
            "\nThe CUDA runtime libraries are missing: install the CUDA Toolkit this build "
            "was made with, or rebuild without CUDA:"
        )
        fix, rebuild = reinstall(report, "-DGGML_CUDA=off"), "-DGGML_CUDA=off"
    elif kind == "nvidia-driver":
        detail += (
            "\nlibcuda is the NVIDIA driver itself: install the driver, or rebuild without CUDA."
        )
        fix, rebuild = reinstall(report, "-DGGML_CUDA=off"), "-DGGML_CUDA=off"
    if fix is None:
        fix, rebuild = reinstall(report, None), ""
    return Finding("compiled-module", "fail", title, detail, fix, rebuild)


def _explain_abi_mismatch(report: dict[str, Any], runtime: dict[str, Any]) -> Finding:
    built = ", ".join(python_of_tag(tag) or tag for tag in runtime.get("built_for", []))
    running = report.get("system", {}).get("python", "?")
    return Finding(
        "compiled-module",
        "fail",
        f"the compiled module was built for Python {built}, but this is Python {running}",
        "The package was installed by another Python (or copied between environments). "
        "Install it with this interpreter's pip:",
        reinstall(report, None),
        rebuild="",
    )


def _explain_rebuild(title: str) -> Callable[[dict[str, Any], dict[str, Any]], Finding]:
    def explain(report: dict[str, Any], runtime: dict[str, Any]) -> Finding:
        return Finding(
            "compiled-module",
            "fail",
            title,
            runtime.get("detail", ""),
            reinstall(report, None),
            rebuild="",
        )

    return explain


def _explain_crash(_report: dict[str, Any], runtime: dict[str, Any]) -> Finding:
    detail = runtime.get("detail", "")
    if runtime.get("output"):
        detail += "\n" + runtime["output"]
    return Finding(
        "compiled-module",
        "fail",
        f"loading the compiled module failed ({runtime.get('failure', 'crash')})",
        detail + "\nReport it with the output of: llama-cpp doctor --json",
    )


_FAILURES = {
    "illegal_instruction": _explain_illegal_instruction,
    "missing_library": _explain_missing_library,
    "abi_mismatch": _explain_abi_mismatch,
    "undefined_symbol": _explain_rebuild(
        "the compiled module does not match the libraries it loads (undefined symbol)"
    ),
    "not_built": _explain_rebuild("the compiled module is missing from the package"),
    "import_error": _explain_rebuild("the compiled module cannot be imported"),
}


def check_module_matches_build_info(report: dict[str, Any]) -> list[Finding]:
    runtime = report.get("runtime") or {}
    build = report.get("build") or {}
    if not runtime.get("ok") or "package_version" not in build:
        return []
    pairs = [
        ("version", runtime.get("core_version"), build.get("package_version")),
        ("llama.cpp commit", runtime.get("core_llama_cpp_commit"), build.get("llama_cpp_commit")),
    ]
    wrong = [f"{what}: module {a}, build info {b}" for what, a, b in pairs if a and b and a != b]
    if not wrong:
        return []
    return [
        Finding(
            "stale-module",
            "warn",
            "the compiled module and the build info describe different builds",
            "; ".join(wrong) + ". Files from two installs are mixed.",
            reinstall(report, None),
            rebuild="",
        )
    ]


def missing_cpu_features(report: dict[str, Any]) -> list[str]:
    """Instruction sets the build was compiled for that this CPU is known to lack."""
    build = report.get("build") or {}
    cpu = report.get("cpu") or {}
    known = set(cpu.get("features_known") or [])
    have = set(cpu.get("features") or [])
    return [f for f in build.get("cpu_features") or [] if f in known and f not in have]


def check_cpu_features(report: dict[str, Any]) -> list[Finding]:
    build = report.get("build") or {}
    if "cpu_features" not in build:
        return []
    if build.get("mode") == "portable" or build.get("cpu_variants"):
        # (a native CUDA build has CPU variants too: ggml loads no -march=native module)
        cpu_file = ((report.get("runtime") or {}).get("backend_files") or {}).get("CPU", "")
        variant = re.search(r"ggml-cpu-([\w.]+?)\.(?:so|dll|dylib)$", cpu_file)
        chosen = f" (loaded: {variant.group(1)})" if variant else ""
        return [
            Finding(
                "cpu-features",
                "ok",
                f"{build.get('mode', 'portable')} build: the CPU variant is chosen for this CPU "
                f"at run time{chosen}",
            )
        ]
    missing = missing_cpu_features(report)
    compiled = " ".join(build.get("cpu_features") or []) or "baseline only"
    if not missing:
        return [
            Finding(
                "cpu-features",
                "ok",
                f"this CPU has every instruction set the build uses ({compiled})",
            )
        ]
    return [
        Finding(
            "cpu-features",
            "fail",
            f"the build uses {', '.join(missing)}, which this CPU lacks",
            f"Compiled for: {compiled}. Running it ends in 'Illegal instruction'. "
            "Rebuild on this machine (the native build targets the CPU it is built on):",
            reinstall(report, None),
            rebuild="",
        )
    ]
