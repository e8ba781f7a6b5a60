"""Checks that match the GPUs on this machine with the backends in the build:
a GPU without its backend, a backend without a device, a CUDA driver older than
the CUDA the build was compiled with, x86 Python under Rosetta on a Mac."""

from __future__ import annotations

import re
from typing import Any

from llama_cpp._cuda_toolkits import cuda_toolkits
from llama_cpp.doctor.checks._commands import reinstall, system_install
from llama_cpp.doctor.checks._finding import Finding, build_backends, build_name
from llama_cpp.doctor.checks._flags import GPU_BACKENDS
from llama_cpp.doctor.checks._modules import failed_backends


def driver_install(report: dict[str, Any]) -> str | None:
    """The distribution's way to install the NVIDIA driver (Ubuntu picks the version itself;
    Debian's is in non-free, Fedora's in RPM Fusion)."""
    distro = report.get("system", {}).get("distribution") or {}
    if "ubuntu" in f"{distro.get('id', '')} {distro.get('like', '')}".lower():
        return "sudo ubuntu-drivers install"
    return system_install(report, {"debian": "nvidia-driver", "fedora": "akmod-nvidia"})


def nvidia_gpus(report: dict[str, Any]) -> list[str]:
    gpus = report.get("gpus") or {}
    names = [g.get("name") or "NVIDIA GPU" for g in (gpus.get("nvidia") or {}).get("gpus", [])]
    if not names:
        names = ["NVIDIA GPU" for d in gpus.get("pci") or [] if d.get("vendor") == "NVIDIA"]
    return names


def amd_gpus(report: dict[str, Any]) -> list[dict[str, Any]]:
    gpus = report.get("gpus") or {}
    found = list((gpus.get("amd") or {}).get("gpus") or [])
    if not found:
        found = [{"name": "AMD GPU"} for d in gpus.get("pci") or [] if d.get("vendor") == "AMD"]
    return found


def other_vulkan_gpus(report: dict[str, Any]) -> list[str]:
    """Vulkan GPUs that are neither NVIDIA, AMD nor Apple (Intel Arc/Iris, Qualcomm ...)."""
    names = []
    for device in (report.get("gpus") or {}).get("vulkan") or []:
        name = device.get("name") or ""
        if device.get("type") not in ("discrete_gpu", "integrated_gpu"):
            continue
        if not re.search(r"nvidia|geforce|quadro|tesla|radeon|amd|apple", name, re.I):
            names.append(name)
    return names


def _add_flag(report: dict[str, Any], flag: str) -> str:
    """The build's own CMAKE_ARGS with ``flag`` added, so a rebuild keeps the rest."""
    current = ((report.get("build") or {}).get("cmake_args") or "").strip()
    option = flag.split("=")[0]
    kept = [word for word in current.split() if not word.startswith(option + "=")]
    return " ".join([*kept, flag])


def check_gpu_backends(report: dict[str, Any]) -> list[Finding]:
    backends = build_backends(report)
    gpu_backends = [b for b in backends if b in GPU_BACKENDS]
    findings: list[Finding] = []
    findings += _nvidia(report, backends, gpu_backends)
    findings += _amd(report, backends, gpu_backends)
    findings += _apple(report, backends)
    others = other_vulkan_gpus(report)
    if others and not gpu_backends:
        args = _add_flag(report, "-DGGML_VULKAN=on")
        findings.append(
            Finding(
                "gpu-backend",
                "info",
                f"{others[0]} can run models through Vulkan; this build is CPU-only",
                "Vulkan is llama.cpp's backend for Intel and other GPUs.",
                reinstall(report, args),
                rebuild=args,
            )
        )
    if not findings:
        if gpu_backends:
            findings.append(
                Finding("gpu-backend", "ok", f"GPU backends: {', '.join(gpu_backends)}")
            )
        else:
            findings.append(
                Finding("gpu-backend", "ok", "no GPU found; a CPU build is right for this machine")
            )
    return findings


def _nvidia(report: dict[str, Any], backends: list[str], gpu_backends: list[str]) -> list[Finding]:
    names = nvidia_gpus(report)
    if not names:
        return []
    nvidia = (report.get("gpus") or {}).get("nvidia") or {}
    if not nvidia.get("driver_version"):
        return [
            Finding(
                "nvidia-driver",
                "warn",
                "an NVIDIA GPU is on the PCI bus but no NVIDIA driver answers (nvidia-smi, NVML)",
                "Without the driver no backend can use it. Install the driver, then reboot.",
                driver_install(report),
            )
        ]
    if "CUDA" in backends:
        return [Finding("gpu-backend", "ok", f"{names[0]}: the build has CUDA")]
    args = _add_flag(report, "-DGGML_CUDA=on")
    if gpu_backends:
        return [
            Finding(
                "gpu-backend",
                "info",
                f"{names[0]} runs through {', '.join(gpu_backends)}; CUDA is usually faster",
                fix=reinstall(report, args),
                rebuild=args,
            )
        ]
    return [
        Finding(
            "gpu-backend",
            "warn",
            f"{names[0]} found, but this build has no CUDA backend: everything runs on the CPU",
            f"Compiled backends: {', '.join(backends) or 'none recorded'}.",
            reinstall(report, args),
            rebuild=args,
        )
    ]


def _amd(report: dict[str, Any], backends: list[str], gpu_backends: list[str]) -> list[Finding]:
    gpus = amd_gpus(report)
    if not gpus:
        return []
    name = gpus[0].get("name") or "AMD GPU"
    if "ROCm" in backends or "Vulkan" in backends:
        return [Finding("gpu-backend", "ok", f"{name}: the build has ROCm or Vulkan")]
    rocm = ((report.get("gpus") or {}).get("amd") or {}).get("rocm")
    targets = sorted({g["target"] for g in gpus if g.get("target")})
    if rocm and report.get("system", {}).get("os") == "Linux":
        args = "-DGGML_HIP=on" + (f" -DGPU_TARGETS={';'.join(targets)}" if targets else "")
        why = "ROCm is installed: the HIP backend uses it."
    else:
        args = "-DGGML_VULKAN=on"
        why = "Without ROCm, Vulkan runs llama.cpp on AMD GPUs."
    args = _add_flag(report, args)
    severity = "info" if gpu_backends else "warn"
    return [
        Finding(
            "gpu-backend",
            severity,
            f"{name} found, but this build has neither ROCm nor Vulkan",
            why,
            reinstall(report, args),
            rebuild=args,
        )
    ]


def _apple(report: dict[str, Any], backends: list[str]) -> list[Finding]:
    apple = (report.get("gpus") or {}).get("apple") or {}
    system = report.get("system") or {}
    if system.get("rosetta"):
        return [
            Finding(
                "rosetta",
                "fail",
                "this Python is an x86_64 program running under Rosetta on Apple Silicon",
                "Under Rosetta there is no Metal and the CPU code is emulated. Use an arm64 "
                "Python (python.org's universal2 installer, Homebrew in /opt/homebrew, or "
                "conda's osx-arm64), then install this package there.",
            )
        ]
    if not apple.get("silicon"):
        return []
    chip = apple.get("chip") or "Apple Silicon"
    if "Metal" in backends:
        return [Finding("gpu-backend", "ok", f"{chip}: Metal is built in")]
    args = _add_flag(report, "-DGGML_METAL=on")
    return [
        Finding(
            "gpu-backend",
            "fail",
            f"{chip} has Metal, but this build has no Metal backend",
            "Metal is on by default for source builds on Apple Silicon; this build was made "
            "with it off (or on another machine).",
            reinstall(report, args),
            rebuild=args,
        )
    ]


def check_backend_devices(report: dict[str, Any]) -> list[Finding]:
    """A GPU backend compiled in but without a single device at run time."""
    runtime = report.get("runtime") or {}
    if not runtime.get("ok"):
        return []
    registered = {build_name(d.get("backend", "")) for d in runtime.get("devices") or []}
    unloaded = failed_backends(report)  # reported with their reason by backend-load
    findings = []
    for backend in build_backends(report):
        if backend not in GPU_BACKENDS or backend in registered or backend in unloaded:
            continue
        if backend == "Vulkan":
            continue  # check_vulkan tells the cases apart
        hint = {
            "CUDA": "The NVIDIA driver is missing or cannot see a GPU (check nvidia-smi).",
            "ROCm": "ROCm sees no GPU (check rocminfo) or the GPU's target was not compiled.",
            "Metal": "Metal found no device.",
        }.get(backend, "")
        findings.append(
            Finding(
                "backend-devices",
                "fail",
                f"the build has {backend}, but {backend} found no device at run time",
                hint + " Models run on the CPU until it does.",
            )
        )
    return findings


def _major_minor(version: str | None) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def build_cuda_version(report: dict[str, Any]) -> str | None:
    build = report.get("build") or {}
    return build.get("cuda_version") or ((build.get("compilers") or {}).get("CUDA") or {}).get(
        "version"
    )


def minimum_driver(major: str, report: dict[str, Any]) -> str | None:
    """The oldest NVIDIA driver that runs every CUDA ``major``.x build on this system
    (src/llama_cpp/cuda_toolkits.json, shared with the build)."""
    table = cuda_toolkits()["toolkits"]
    system = "windows" if (report.get("system") or {}).get("os") == "Windows" else "linux"
    return (table.get(major) or {}).get("minimum_driver", {}).get(system)


def check_cuda_driver(report: dict[str, Any]) -> list[Finding]:
    if "CUDA" not in build_backends(report):
        return []
    built = build_cuda_version(report)
    driver = ((report.get("gpus") or {}).get("nvidia") or {}).get("cuda_version")
    built_mm, driver_mm = _major_minor(built), _major_minor(driver)
    if built_mm is None or driver_mm is None:
        return []
    if driver_mm >= built_mm:
        return [
            Finding(
                "cuda-driver",
                "ok",
                f"the NVIDIA driver supports CUDA {driver}; the build uses CUDA {built}",
            )
        ]
    severity = "fail" if driver_mm[0] < built_mm[0] else "warn"
    need = f"{built_mm[0]}.{built_mm[1]}"
    minimum = minimum_driver(str(built_mm[0]), report)
    driver_needed = f" (driver {minimum} or newer)" if minimum else ""
    return [
        Finding(
            "cuda-driver",
            severity,
            f"the NVIDIA driver supports CUDA {driver}, older than the CUDA {built} the build uses",
            (
                "A CUDA runtime newer than the driver fails to start "
                "('CUDA driver version is insufficient for CUDA runtime version')."
                if severity == "fail"
                else "Same major version: it runs, but kernels compiled as PTX fail to load "
                "('the provided PTX was compiled with an unsupported toolchain')."
            )
            + f" Update the NVIDIA driver to one whose nvidia-smi shows 'CUDA Version: {need}' "
            f"or newer{driver_needed}, or rebuild with a CUDA Toolkit no newer than {driver}.",
            driver_install(report),
        )
    ]
