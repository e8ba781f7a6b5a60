"""Checks on what a (re)build is asked for and what it needs: CMAKE_ARGS in the
environment against the installed build (the cached-wheel trap), legacy flags,
FORCE_CMAKE, the toolchain a recommended rebuild needs, and the model run."""

from __future__ import annotations

from typing import Any

from llama_cpp.doctor.checks._commands import (
    VISUAL_STUDIO_BUILD_TOOLS,
    VULKAN_BUILD_PACKAGES,
    add_msvc_workload,
    compiler_install,
    pip_of,
    reinstall,
    set_env_command,
    shell_of,
    system_install,
    unset_env_command,
)
from llama_cpp.doctor.checks._finding import Finding, build_backends
from llama_cpp.doctor.checks._flags import (
    LEGACY_NOTES,
    legacy_in,
    modernise,
    parse_cmake_args,
    render_defines,
    requested_backends,
)
from llama_cpp.doctor.checks._gpu import nvidia_gpus


def check_cmake_args(report: dict[str, Any]) -> list[Finding]:
    """CMAKE_ARGS in this environment asking for a backend the installed build lacks."""
    env_args = (report.get("environment") or {}).get("CMAKE_ARGS")
    if not env_args:
        return []
    build = report.get("build") or {}
    backends = set(build_backends(report))
    on, off = requested_backends(parse_cmake_args(env_args))
    modern = render_defines(modernise(parse_cmake_args(env_args)))
    lacking, unwanted = sorted(on - backends), sorted(off & backends)
    if lacking or unwanted:
        asks = ", ".join([*(f"{b} on" for b in lacking), *(f"{b} off" for b in unwanted)])
        return [
            Finding(
                "cached-wheel",
                "fail",
                f"CMAKE_ARGS asks for {asks}, but the installed build has: "
                f"{', '.join(sorted(backends)) or 'nothing recorded'}",
                "The cached-wheel trap: pip installed a wheel it had cached (or a prebuilt "
                "one) instead of building with your CMAKE_ARGS, which were silently ignored. "
                f"The installed build was made with CMAKE_ARGS={build.get('cmake_args')!r}. "
                "Rebuild without the cache:",
                reinstall(report, modern),
                rebuild=modern,
            )
        ]
    findings = [Finding("cached-wheel", "ok", "CMAKE_ARGS matches the installed build")]
    if "CUDA" in on and not nvidia_gpus(report):
        findings.append(
            Finding(
                "cmake-args-gpu",
                "warn",
                "CMAKE_ARGS asks for CUDA, but no NVIDIA GPU was found on this machine",
                "A CUDA build runs on the CPU here (and needs the CUDA runtime to load).",
            )
        )
    return findings


def check_pip_cache(report: dict[str, Any]) -> list[Finding]:
    """Built wheels of this package in pip's cache: the raw material of the cached-wheel trap."""
    cached = (report.get("environment") or {}).get("pip_cached_wheels") or []
    if not cached:
        return []
    pip = pip_of(report)
    return [
        Finding(
            "pip-cache",
            "info",
            f"pip's cache holds {len(cached)} built wheel(s) of llama-cpp-pybind",
            f"{', '.join(cached[:3])}{' ...' if len(cached) > 3 else ''}. An install without "
            "--no-cache-dir may reuse one instead of building with your CMAKE_ARGS. To clear them:",
            f"{pip} cache remove llama_cpp_pybind",
        )
    ]


def check_legacy_flags(report: dict[str, Any]) -> list[Finding]:
    env = report.get("environment") or {}
    findings: list[Finding] = []
    shell = shell_of(report)
    defines = parse_cmake_args(env.get("CMAKE_ARGS"))
    legacy = legacy_in(defines)
    if legacy:
        mapping = ", ".join(f"{old} -> {new}" for old, new in legacy.items())
        notes = [LEGACY_NOTES[name] for name in legacy if name in LEGACY_NOTES]
        modern = render_defines(modernise(defines))
        findings.append(
            Finding(
                "legacy-flags",
                "warn",
                f"CMAKE_ARGS uses legacy llama.cpp flags: {mapping}",
                "This package translates them, but llama.cpp itself rejects or ignores them, "
                "so guides and other tools using them build CPU-only. "
                + "".join(f"{note} " for note in notes)
                + "Today's names:",
                set_env_command(shell, "CMAKE_ARGS", modern),
            )
        )
    if env.get("FORCE_CMAKE"):
        findings.append(
            Finding(
                "force-cmake",
                "info",
                "FORCE_CMAKE is set; it is not needed (this package always builds with CMake)",
                fix=unset_env_command(shell, "FORCE_CMAKE"),
            )
        )
    built_legacy = (report.get("build") or {}).get("legacy_flags") or []
    if built_legacy:
        mapping = ", ".join(f"{e['given']} -> {e['became']}" for e in built_legacy)
        findings.append(
            Finding("legacy-flags-build", "info", f"the build translated legacy flags: {mapping}")
        )
    return findings


def check_toolchain(report: dict[str, Any], earlier: list[Finding]) -> list[Finding]:
    """What the rebuilds recommended by ``earlier`` findings need, and whether it is here."""
    asking = [f for f in earlier if f.rebuild is not None and f.severity != "ok"]
    rebuilds = [f.rebuild for f in asking if f.rebuild is not None]
    tools = report.get("toolchain") or {}
    if not rebuilds:
        return [Finding("toolchain", "ok", "no rebuild needed; " + _toolchain_summary(tools))]
    # A missing tool blocks a needed rebuild (fail) or only an optional one (info).
    needed = any(f.severity in ("warn", "fail") for f in asking)
    defines: dict[str, str] = {}
    for args in rebuilds:
        defines.update(modernise(parse_cmake_args(args)))
    on, _ = requested_backends(defines)
    findings = _compiler_findings(report, tools)
    if "CUDA" in on:
        findings += _nvcc_findings(report, tools)
    if "Vulkan" in on and not tools.get("glslc"):
        install = system_install(report, VULKAN_BUILD_PACKAGES)
        findings.append(
            Finding(
                "toolchain-vulkan",
                "fail",
                "a Vulkan build needs the Vulkan headers and the glslc shader compiler",
                "" if install else "Install the Vulkan SDK (LunarG) and open a new shell.",
                install,
            )
        )
    if not needed:
        for finding in findings:
            finding.severity = "info"
    if not findings:
        findings.append(
            Finding(
                "toolchain", "ok", "the rebuild has what it needs: " + _toolchain_summary(tools)
            )
        )
    return findings


def _toolchain_summary(tools: dict[str, Any]) -> str:
    parts = []
    for key, label in (("cmake", "cmake"), ("ninja", "ninja"), ("cxx_compiler", "C++")):
        tool = tools.get(key)
        if tool:
            parts.append(f"{label} {tool.get('version') or '?'}")
    if not tools.get("cmake") or not tools.get("ninja"):
        parts.append("pip fetches missing cmake/ninja from the package index")
    return ", ".join(parts) or "no build tools found"


def _compiler_findings(report: dict[str, Any], tools: dict[str, Any]) -> list[Finding]:
    os_name = report.get("system", {}).get("os")
    shell = shell_of(report)
    if os_name == "Windows":
        studio = tools.get("visual_studio") or {}
        installations = studio.get("installations") or []
        if any(i.get("has_msvc") for i in installations):
            return []
        if installations:
            first = installations[0]
            return [
                Finding(
                    "toolchain-msvc",
                    "fail",
                    f"{first.get('name') or 'Visual Studio'} is installed without its C++ "
                    "compiler (the 'Desktop development with C++' workload)",
                    "A rebuild needs MSVC. Add the workload (or use the Visual Studio "
                    "Installer's Modify button):",
                    add_msvc_workload(shell, first.get("path") or "", first.get("product")),
                )
            ]
        return [
            Finding(
                "toolchain-msvc",
                "fail",
                "no Visual Studio with a C++ compiler was found (vswhere)",
                "A rebuild needs MSVC: Visual Studio 2022 (or its Build Tools) with the "
                "'Desktop development with C++' workload. Install the Build Tools:",
                VISUAL_STUDIO_BUILD_TOOLS,
            )
        ]
    if os_name == "Darwin" and not tools.get("xcode_clt"):
        return [
            Finding(
                "toolchain-compiler",
                "fail",
                "Xcode's command line tools are not installed (no compiler)",
                fix="xcode-select --install",
            )
        ]
    if not tools.get("cxx_compiler") or not tools.get("c_compiler"):
        return [
            Finding(
                "toolchain-compiler",
                "fail",
                "no C/C++ compiler found; a rebuild needs one",
                fix=compiler_install(report),
            )
        ]
    return []


def _nvcc_findings(report: dict[str, Any], tools: dict[str, Any]) -> list[Finding]:
    nvcc = tools.get("nvcc")
    shell = shell_of(report)
    if nvcc is None:
        return [
            Finding(
                "toolchain-nvcc",
                "fail",
                "a CUDA build needs the CUDA Toolkit (nvcc), which was not found",
                "Install the CUDA Toolkit from NVIDIA (developer.nvidia.com/cuda-downloads), "
                "in a version the driver supports (nvidia-smi shows it), then open a new shell.",
            )
        ]
    if not nvcc.get("on_path") and not nvcc.get("via_cudacxx"):
        return [
            Finding(
                "toolchain-nvcc",
                "warn",
                f"nvcc {nvcc.get('version') or ''} is at {nvcc['path']} but not on PATH",
                "CMake finds it through CUDACXX; set it before the rebuild:",
                set_env_command(shell, "CUDACXX", nvcc["path"]),
            )
        ]
    return []


def check_model(report: dict[str, Any]) -> list[Finding]:
    model = (report.get("runtime") or {}).get("model")
    if model is None:
        return []
    if not model.get("ok"):
        return [Finding("model", "fail", "the model did not run", model.get("error", ""))]
    offloaded, total = model.get("layers_offloaded"), model.get("layers_total")
    sizes = model.get("model_buffers_mib") or {}
    buffers = ", ".join(f"{k} {v:.0f} MiB" for k, v in sizes.items())
    # where the weights went is what llama.cpp's buffers say: its "offloaded N/M layers
    # to GPU" counts layers even when no device took them (a build with only RPC)
    devices = [name for name in sizes if not name.upper().startswith("CPU")]
    if not devices:
        offloaded = None
    placed = (
        f"{offloaded}/{total} layers on {', '.join(devices)}"
        if offloaded is not None
        else "all layers on the CPU"
    )
    title = (
        f"model ran: prompt {model.get('prompt_tokens_per_second')} tok/s, "
        f"generation {model.get('generation_tokens_per_second')} tok/s; {placed}"
    )
    gpu = [b for b in build_backends(report) if b not in ("CPU", "BLAS", "RPC")]
    if gpu and not offloaded and model.get("n_gpu_layers", 0) != 0:
        return [
            Finding(
                "model",
                "warn",
                title,
                f"The build has {', '.join(gpu)} but no layer went to a GPU ({buffers}).",
            )
        ]
    return [Finding("model", "ok", title, f"model buffers: {buffers}" if buffers else "")]
