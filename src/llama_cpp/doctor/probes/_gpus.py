"""GPUs and the compute libraries around them: NVIDIA (nvidia-smi, NVML), AMD
(rocminfo), Apple Silicon (Metal), Vulkan devices, OpenCL platforms, PCI display
devices (Linux), and BLAS libraries."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import re
from pathlib import Path
from typing import Any

from llama_cpp.doctor.probes._run import run
from llama_cpp.doctor.probes._vulkan import probe_vulkan

_PCI_VENDORS = {"0x10de": "NVIDIA", "0x1002": "AMD", "0x8086": "Intel", "0x106b": "Apple"}


def probe_gpus() -> dict[str, Any]:
    """Every GPU source this OS offers; each entry is empty when its tool is absent."""
    return {
        "nvidia": probe_nvidia(),
        "amd": probe_amd(),
        "apple": probe_apple(),
        **_vulkan_entries(probe_vulkan()),
        "opencl": probe_opencl(),
        "pci": probe_pci_display(),
    }


def _vulkan_entries(vulkan: dict[str, Any]) -> dict[str, Any]:
    """``vulkan``: the devices; ``vulkan_loader``: the loader and its drivers (ICDs)."""
    return {"vulkan": vulkan.pop("devices"), "vulkan_loader": vulkan}


def probe_nvidia() -> dict[str, Any]:
    """Driver version, the newest CUDA version the driver supports, and the GPUs."""
    result: dict[str, Any] = {
        "source": None,
        "driver_version": None,
        "cuda_version": None,
        "gpus": [],
    }
    query = run(
        [
            "nvidia-smi",
            "--query-gpu=name,driver_version,memory.total,compute_cap",
            "--format=csv,noheader,nounits",
        ]
    )
    if query is not None and query.returncode == 0:
        header = run(["nvidia-smi"])
        return parse_nvidia_smi(query.stdout, header.stdout if header is not None else "")
    if query is not None:
        result["error"] = (query.stderr or query.stdout).strip()[:300]
    return _nvml(result)


def parse_nvidia_smi(query_csv: str, banner: str) -> dict[str, Any]:
    """``nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap
    --format=csv,noheader,nounits`` plus plain ``nvidia-smi`` (whose banner
    names the newest CUDA version the driver supports)."""
    result: dict[str, Any] = {"source": "nvidia-smi", "driver_version": None, "gpus": []}
    for line in query_csv.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        result["driver_version"] = parts[1]
        memory = int(parts[2]) * 1024 * 1024 if parts[2].isdigit() else None
        result["gpus"].append(
            {"name": parts[0], "memory_total": memory, "compute_capability": parts[3]}
        )
    match = re.search(r"CUDA Version:\s*([\d.]+)", banner)
    result["cuda_version"] = match.group(1) if match else None
    return result


def _nvml(result: dict[str, Any]) -> dict[str, Any]:
    """The same facts through NVML, the library nvidia-smi is built on."""
    names = ["nvml.dll"] if platform.system() == "Windows" else ["libnvidia-ml.so.1"]
    lib = None
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None or lib.nvmlInit_v2() != 0:
        return result
    try:
        buffer = ctypes.create_string_buffer(96)
        if lib.nvmlSystemGetDriverVersion(buffer, 96) == 0:
            result["driver_version"] = buffer.value.decode()
        version = ctypes.c_int()
        if lib.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(version)) == 0:
            result["cuda_version"] = f"{version.value // 1000}.{version.value % 1000 // 10}"
        count = ctypes.c_uint()
        if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0:
            for i in range(count.value):
                handle = ctypes.c_void_p()
                if lib.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(handle)) != 0:
                    continue
                if lib.nvmlDeviceGetName(handle, buffer, 96) == 0:
                    result["gpus"].append({"name": buffer.value.decode()})
        result["source"] = "NVML"
    finally:
        lib.nvmlShutdown()
    return result


def probe_amd() -> dict[str, Any]:
    """AMD GPUs ROCm sees (rocminfo): marketing name and gfx target."""
    out = run(["rocminfo"])
    if out is None or out.returncode != 0:
        return {"rocm": False, "gpus": []}
    return parse_rocminfo(out.stdout)


def parse_rocminfo(text: str) -> dict[str, Any]:
    """The GPU agents in ``rocminfo``'s output."""
    gpus = []
    for agent in re.split(r"\n\*+\s*\n\s*Agent \d+", text):
        if not re.search(r"Device Type:\s*GPU", agent):
            continue
        name = re.search(r"Marketing Name:\s*(.+)", agent)
        target = re.search(r"^\s*Name:\s*(gfx\w+)", agent, re.M)
        gpus.append(
            {
                "name": name.group(1).strip() if name else None,
                "target": target.group(1) if target else None,
            }
        )
    return {"rocm": True, "gpus": gpus}


def probe_apple() -> dict[str, Any]:
    """Apple Silicon: the chip, and Metal (every Apple Silicon Mac has it)."""
    if platform.system() != "Darwin":
        return {"silicon": False, "chip": None, "metal": False}
    silicon = platform.machine() == "arm64"
    out = run(["sysctl", "-n", "machdep.cpu.brand_string"])
    chip = out.stdout.strip() if out is not None and out.returncode == 0 else None
    return {"silicon": silicon, "chip": chip, "metal": silicon}


def probe_opencl() -> list[dict[str, Any]]:
    """OpenCL platforms and their devices from ``clinfo -l``."""
    out = run(["clinfo", "-l"])
    if out is None or out.returncode != 0:
        return []
    return parse_clinfo(out.stdout)


def parse_clinfo(text: str) -> list[dict[str, Any]]:
    """Platforms and devices in ``clinfo -l``'s output."""
    platforms: list[dict[str, Any]] = []
    for line in text.splitlines():
        platform_match = re.match(r"Platform #\d+:\s*(.+)", line)
        device_match = re.search(r"Device #\d+:\s*(.+)", line)
        if platform_match:
            platforms.append({"name": platform_match.group(1).strip(), "devices": []})
        elif device_match and platforms:
            platforms[-1]["devices"].append(device_match.group(1).strip())
    return platforms


def probe_pci_display() -> list[dict[str, str]]:
    """Display controllers on the PCI bus (Linux sysfs): finds a GPU even without its driver."""
    root = Path("/sys/bus/pci/devices")
    if not root.is_dir():
        return []
    found = []
    for device in sorted(root.iterdir()):
        try:
            klass = (device / "class").read_text().strip()
            vendor = (device / "vendor").read_text().strip()
        except OSError:
            continue
        if klass.startswith("0x03"):
            driver = device / "driver"
            found.append(
                {
                    "vendor": _PCI_VENDORS.get(vendor, vendor),
                    "slot": device.name,
                    "driver": driver.resolve().name if driver.exists() else "",
                }
            )
    return found


def probe_blas() -> list[str]:
    """BLAS libraries the dynamic loader can find (OpenBLAS, MKL, BLIS, Accelerate ...)."""
    found = []
    for name in ("openblas", "mkl_rt", "blis", "blas"):
        path = ctypes.util.find_library(name)
        if path:
            found.append(path)
    if platform.system() == "Darwin":
        found.append("Accelerate.framework")
    return found
