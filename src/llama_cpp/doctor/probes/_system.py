"""The operating system, the Python running the doctor, the CPU and the memory."""

from __future__ import annotations

import ctypes
import os
import platform
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from llama_cpp.doctor.probes._run import first_line, run

# /proc/cpuinfo flag -> ggml's feature name (the names build_info() and
# ggml_backend_cpu_get_features() use).
_LINUX_X86_FLAGS = {
    "pni": "SSE3",
    "ssse3": "SSSE3",
    "sse4_2": "SSE4.2",
    "avx": "AVX",
    "avx_vnni": "AVX_VNNI",
    "avx2": "AVX2",
    "f16c": "F16C",
    "fma": "FMA",
    "bmi2": "BMI2",
    "avx512f": "AVX512",
    "avx512vbmi": "AVX512_VBMI",
    "avx512_vnni": "AVX512_VNNI",
    "avx512_bf16": "AVX512_BF16",
    "amx_int8": "AMX_INT8",
    "amx_bf16": "AMX_BF16",
    "amx_tile": "AMX_TILE",
}
_LINUX_ARM_FLAGS = {
    "asimd": "NEON",
    "asimdhp": "FP16_VA",
    "asimddp": "DOTPROD",
    "i8mm": "MATMUL_INT8",
    "sve": "SVE",
    "sve2": "SVE2",
    "sme": "SME",
}
# sysctl hw.optional.* -> ggml name (Apple Silicon)
_MACOS_ARM_SYSCTL = {
    "hw.optional.neon": "NEON",
    "hw.optional.arm.FEAT_FP16": "FP16_VA",
    "hw.optional.arm.FEAT_DotProd": "DOTPROD",
    "hw.optional.arm.FEAT_I8MM": "MATMUL_INT8",
    "hw.optional.arm.FEAT_SME": "SME",
}
# machdep.cpu.features / leaf7_features words -> ggml name (Intel Macs)
_MACOS_X86_WORDS = {
    "SSE3": "SSE3",
    "SSSE3": "SSSE3",
    "SSE4.2": "SSE4.2",
    "AVX1.0": "AVX",
    "AVX2": "AVX2",
    "F16C": "F16C",
    "FMA": "FMA",
    "BMI2": "BMI2",
    "AVX512F": "AVX512",
    "AVX512VBMI": "AVX512_VBMI",
    "AVX512VNNI": "AVX512_VNNI",
}
# IsProcessorFeaturePresent ids -> ggml name (Windows can only tell these)
_WINDOWS_FEATURES = {
    13: "SSE3",
    36: "SSSE3",
    38: "SSE4.2",
    39: "AVX",
    40: "AVX2",
    41: "AVX512",
    19: "NEON",
    43: "DOTPROD",
}
X86_FEATURES = sorted(set(_LINUX_X86_FLAGS.values()))
ARM_FEATURES = sorted(set(_LINUX_ARM_FLAGS.values()) | {"ARM_FMA"})


def probe_system() -> dict[str, Any]:
    """OS, architecture, Python, the shell a fix should be written for, pip's command."""
    system = platform.system()
    info: dict[str, Any] = {
        "os": system,
        "os_version": platform.release(),
        "distribution": _linux_distribution() if system == "Linux" else None,
        "arch": _normalised_arch(platform.machine()),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "shell": detect_shell(),
        "pip": pip_command(),
    }
    if system == "Darwin":
        info["os_version"] = platform.mac_ver()[0] or info["os_version"]
        # an x86_64 Python on Apple Silicon runs translated by Rosetta 2
        info["rosetta"] = first_line(["sysctl", "-n", "sysctl.proc_translated"]) == "1"
    return info


def _normalised_arch(machine: str) -> str:
    machine = machine.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine)


def _linux_distribution() -> dict[str, str] | None:
    path = Path("/etc/os-release")
    if not path.is_file():
        return None
    values: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    like = values.get("ID_LIKE", "")
    return {"id": values.get("ID", ""), "like": like, "name": values.get("PRETTY_NAME", "")}


def detect_shell() -> str:
    """posix (bash, zsh ...), powershell or cmd: the syntax a fix command is written in."""
    if os.name != "nt":
        return "posix"
    # cmd.exe defines PROMPT for its children; PowerShell does not.
    return "cmd" if "PROMPT" in os.environ else "powershell"


def pip_command() -> str:
    """``pip`` when the pip on PATH belongs to this interpreter, else ``<python> -m pip``."""
    pip = shutil.which("pip")
    if pip is not None:
        scripts = Path(sys.executable).parent
        candidates = {scripts.resolve(), (scripts / "Scripts").resolve()}
        if Path(pip).resolve().parent in candidates or Path(pip).parent in candidates:
            return "pip"
    python = sys.executable
    if " " in python:
        python = f'"{python}"' if os.name != "nt" else f'& "{python}"'
    return f"{python} -m pip"


def probe_cpu() -> dict[str, Any]:
    """CPU model, core count and instruction-set features in ggml's names.

    ``features_known`` lists the features this probe can tell on this OS, so a
    feature missing from ``features`` but known is really absent.
    """
    system = platform.system()
    arch = _normalised_arch(platform.machine())
    model: str | None = None
    features: set[str] = set()
    known: list[str] = X86_FEATURES if arch == "x86_64" else ARM_FEATURES
    if system == "Linux":
        model, features = _linux_cpu(arch)
    elif system == "Darwin":
        model, features = _macos_cpu(arch)
    elif system == "Windows":
        model = _windows_cpu_model()
        features = _windows_cpu_features()
        known = sorted(set(_WINDOWS_FEATURES.values()) & set(known))
    return {
        "model": model or platform.processor() or None,
        "cores": os.cpu_count(),
        "features": sorted(features),
        "features_known": known,
    }


def _linux_cpu(arch: str) -> tuple[str | None, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None, set()
    model = None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    table = _LINUX_X86_FLAGS if arch == "x86_64" else _LINUX_ARM_FLAGS
    features = {name for flag, name in table.items() if flag in flags}
    if "NEON" in features:
        features.add("ARM_FMA")  # AArch64's Advanced SIMD always has fused multiply-add
    if model is None and arch != "x86_64":
        out = run(["lscpu"])
        if out is not None:
            match = re.search(r"^Model name:\s*(.+)$", out.stdout, re.M)
            model = match.group(1).strip() if match else None
    return model, features


def _macos_cpu(arch: str) -> tuple[str | None, set[str]]:
    model = first_line(["sysctl", "-n", "machdep.cpu.brand_string"])
    features: set[str] = set()
    if arch == "arm64":
        out = run(["sysctl", *_MACOS_ARM_SYSCTL])
        if out is not None:
            for line in out.stdout.splitlines():
                key, _, value = line.partition(":")
                if value.strip() == "1" and key.strip() in _MACOS_ARM_SYSCTL:
                    features.add(_MACOS_ARM_SYSCTL[key.strip()])
        features.add("ARM_FMA")
    else:
        out = run(["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"])
        words = set(out.stdout.split()) if out is not None else set()
        features = {name for word, name in _MACOS_X86_WORDS.items() if word in words}
    return model, features


def _windows_cpu_model() -> str | None:
    if sys.platform != "win32":
        return None
    try:
        import winreg

        key = winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
        )
        return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    except OSError:
        return None


def _windows_cpu_features() -> set[str]:
    present = ctypes.windll.kernel32.IsProcessorFeaturePresent  # type: ignore[attr-defined]
    return {name for number, name in _WINDOWS_FEATURES.items() if present(number)}


def probe_memory() -> dict[str, int | None]:
    """Total and available RAM in bytes (None where the OS does not say)."""
    system = platform.system()
    if system == "Linux":
        try:
            text = Path("/proc/meminfo").read_text()
        except OSError:
            return {"total": None, "available": None}
        values = {
            m.group(1): int(m.group(2)) * 1024
            for m in re.finditer(r"^(\w+):\s+(\d+) kB", text, re.M)
        }
        return {"total": values.get("MemTotal"), "available": values.get("MemAvailable")}
    if system == "Darwin":
        total = first_line(["sysctl", "-n", "hw.memsize"])
        return {"total": int(total) if total and total.isdigit() else None, "available": None}
    if system == "Windows":
        return _windows_memory()
    return {"total": None, "available": None}


def _windows_memory() -> dict[str, int | None]:
    class MemoryStatus(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return {"total": None, "available": None}
    return {"total": int(status.ullTotalPhys), "available": int(status.ullAvailPhys)}


def probe_environment() -> dict[str, Any]:
    """The environment variables that change what a rebuild produces or which devices
    Vulkan offers, and the wheels of this package pip keeps in its cache (which an install
    without --no-cache-dir reuses)."""
    names = ("CMAKE_ARGS", "FORCE_CMAKE", "CUDACXX", "CUDA_PATH", "CUDA_HOME", "CC", "CXX",
             "GGML_VK_VISIBLE_DEVICES", "VK_DRIVER_FILES", "VK_ICD_FILENAMES")  # fmt: skip
    found: dict[str, Any] = {name: os.environ.get(name) for name in names}
    found["pip_cached_wheels"] = pip_cached_wheels()
    return found


def pip_cached_wheels() -> list[str]:
    """File names of llama-cpp-pybind wheels in pip's cache (``pip cache list``)."""
    out = run(
        [sys.executable, "-m", "pip", "cache", "list", "llama_cpp_pybind", "--format", "abspath"],
        timeout=30,
    )
    if out is None or out.returncode != 0:
        return []
    return sorted(Path(line.strip()).name for line in out.stdout.splitlines() if line.strip())
