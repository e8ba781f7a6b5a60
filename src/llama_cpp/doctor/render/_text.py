"""The doctor's human output: facts by section, then the findings with OK/INFO/
WARN/FAIL marks (coloured only on a terminal, and never with NO_COLOR set)."""

from __future__ import annotations

import os
import textwrap
from typing import Any, TextIO

from llama_cpp.doctor.checks._finding import Finding

_MARKS = {"ok": " OK ", "info": "INFO", "warn": "WARN", "fail": "FAIL"}
_COLOURS = {"ok": "32", "info": "36", "warn": "33", "fail": "31"}
_WIDTH = 100


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _vulkan_device(device: dict[str, Any]) -> str:
    kind = "software: a CPU emulation" if device.get("software") else device.get("type")
    return f"{device.get('name')} ({kind})"


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.1f} GiB" if n else "?"


def _rows(report: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    system = report.get("system") or {}
    cpu, memory = report.get("cpu") or {}, report.get("memory") or {}
    distro = (system.get("distribution") or {}).get("name")
    gpus = report.get("gpus") or {}
    nvidia = gpus.get("nvidia") or {}
    nvidia_text = (
        ", ".join(g["name"] for g in nvidia.get("gpus", []))
        + f" (driver {nvidia.get('driver_version')}, CUDA {nvidia.get('cuda_version')})"
        if nvidia.get("gpus")
        else "none found"
    )
    amd = gpus.get("amd") or {}
    amd_text = ", ".join(f"{g.get('name')} ({g.get('target')})" for g in amd.get("gpus", []))
    apple = gpus.get("apple") or {}
    vulkan = gpus.get("vulkan") or []
    opencl = gpus.get("opencl") or []
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "System",
            [
                (
                    "OS",
                    f"{system.get('os')} {system.get('os_version', '')}"
                    + (f" ({distro})" if distro else ""),
                ),
                (
                    "arch",
                    f"{system.get('arch')}" + (" (under Rosetta)" if system.get("rosetta") else ""),
                ),
                ("Python", f"{system.get('python')} ({system.get('python_executable', '?')})"),
                ("CPU", f"{cpu.get('model') or '?'}, {cpu.get('cores')} cores"),
                ("features", " ".join(cpu.get("features") or []) or "none detected"),
                ("memory", f"{_gib(memory.get('total'))} ({_gib(memory.get('available'))} free)"),
            ],
        ),
        (
            "GPUs and libraries",
            [
                ("NVIDIA", nvidia_text),
                ("AMD", amd_text or ("ROCm, no GPU" if amd.get("rocm") else "none found")),
                ("Apple", f"{apple.get('chip')}, Metal" if apple.get("silicon") else "-"),
                (
                    "Vulkan",
                    ", ".join(_vulkan_device(d) for d in vulkan) or "none found",
                ),
                ("OpenCL", ", ".join(p["name"] for p in opencl) or "none found"),
                ("BLAS", ", ".join(report.get("blas") or []) or "none found"),
            ],
        ),
        ("Toolchain", _toolchain_rows(report.get("toolchain") or {}, system.get("os", ""))),
        ("Build", _build_rows(report)),
        ("Run time", _runtime_rows(report.get("runtime") or {})),
    ]
    if report.get("rpc"):
        sections.append(("RPC workers", _rpc_rows(report)))
    return sections


def _toolchain_rows(tools: dict[str, Any], os_name: str) -> list[tuple[str, str]]:
    rows = []
    for key, label in (
        ("cmake", "cmake"),
        ("ninja", "ninja"),
        ("c_compiler", "C"),
        ("cxx_compiler", "C++"),
        ("nvcc", "nvcc"),
        ("glslc", "glslc"),
    ):
        tool = tools.get(key)
        rows.append(
            (label, f"{tool.get('version') or '?'} ({tool['path']})" if tool else "not found")
        )
    studio = tools.get("visual_studio")
    if studio is not None:
        installs = studio.get("installations") or []
        text = ", ".join(
            f"{i['name']} ({'C++ workload' if i['has_msvc'] else 'no C++ workload'})"
            for i in installs
        )
        rows.append(("Visual Studio", text or "not found"))
    if os_name == "Darwin":
        rows.append(("Xcode CLT", tools.get("xcode_clt") or "not installed"))
    return rows


def _build_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    build = report.get("build") or {}
    if "error" in build:
        return [("error", build["error"])]
    install = report.get("install") or {}
    origin = install.get("source") or "the package index (or a wheel)"
    if install.get("editable"):
        origin += " (editable)"
    compilers = build.get("compilers") or {}
    cxx = compilers.get("CXX") or {}
    return [
        ("version", f"{build.get('package_version')} ({build.get('mode')} mode), from {origin}"),
        ("llama.cpp", str(build.get("llama_cpp_commit", "?"))[:12]),
        ("backends", ", ".join(build.get("backends") or [])),
        ("CPU features", " ".join(build.get("cpu_features") or []) or "baseline"),
        ("CMAKE_ARGS", build.get("cmake_args") or "(none)"),
        ("compiler", f"{cxx.get('id', '?')} {cxx.get('version', '')}"),
        ("for Python", str(build.get("python_version", "?"))),
    ]


def _runtime_rows(runtime: dict[str, Any]) -> list[tuple[str, str]]:
    if not runtime.get("ok"):
        return [("load", f"failed: {runtime.get('failure')}")]
    devices = ", ".join(
        f"{d['name']} [{d['backend']}] {d['description']} ({_gib(d.get('memory_total'))})"
        for d in runtime.get("devices") or []
    )
    files = runtime.get("backend_files") or {}
    rows = [
        ("backends", ", ".join(runtime.get("backends") or [])),
        *[(f"{name} module", path) for name, path in sorted(files.items())],
        ("devices", devices or "none"),
        ("system info", (runtime.get("system_info") or "").strip()),
    ]
    model = runtime.get("model")
    if model and model.get("ok"):
        rows.append(("model", model["path"]))
        rows.append(
            (
                "speed",
                f"prompt {model['prompt_tokens']} tokens at {model['prompt_tokens_per_second']} "
                f"tok/s, generation {model['generated_tokens']} tokens at "
                f"{model['generation_tokens_per_second']} tok/s",
            )
        )
    return rows


def _rpc_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's "RPC workers" section."""
    rows = []
    for worker in (report.get("rpc") or {}).get("workers") or []:
        if worker["ok"]:
            devices = ", ".join(f"{d['memory_total'] / 2**30:.1f} GiB" for d in worker["devices"])
            rows.append((worker["endpoint"], f"protocol {worker['protocol']}; devices: {devices}"))
        else:
            rows.append((worker["endpoint"], worker["error"]))
    return rows


def render(report: dict[str, Any], findings: list[Finding], stream: TextIO) -> None:
    colour = use_colour(stream)

    def bold(text: str) -> str:
        return f"\033[1m{text}\033[0m" if colour else text

    version = (report.get("build") or {}).get("package_version") or report.get("install", {}).get(
        "package_version"
    )
    print(bold(f"llama-cpp doctor: llama-cpp-pybind {version}"), file=stream)
    for title, rows in _rows(report):
        print("\n" + bold(title), file=stream)
        for label, value in rows:
            wrapped = textwrap.wrap(value, _WIDTH - 16) or [""]
            print(f"  {label:<13} {wrapped[0]}", file=stream)
            for more in wrapped[1:]:
                print(" " * 16 + more, file=stream)
    print("\n" + bold("Findings"), file=stream)
    for finding in findings:
        mark = _MARKS[finding.severity]
        if colour:
            mark = f"\033[{_COLOURS[finding.severity]}m{mark}\033[0m"
        print(f"  [{mark}] {finding.title}", file=stream)
        for line in textwrap.wrap(finding.detail, _WIDTH - 9):
            print(" " * 9 + line, file=stream)
        if finding.fix:
            print(" " * 9 + "fix:", file=stream)
            for line in finding.fix.splitlines():
                print(" " * 11 + line, file=stream)
    problems = sum(f.severity in ("warn", "fail") for f in findings)
    summary = "healthy" if problems == 0 else f"{problems} problem{'s' * (problems != 1)} found"
    print("\n" + bold(summary), file=stream)
