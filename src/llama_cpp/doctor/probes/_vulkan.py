"""What Vulkan sees on this machine, asked the way ggml asks: the Vulkan loader
(libvulkan.so.1, vulkan-1.dll) through ctypes, in a child process (a broken driver
cannot take the doctor down), and the installable client drivers (ICDs) the loader
would read. No vulkan-tools needed; ``vulkaninfo --summary`` is the fallback.

A software device (Mesa's llvmpipe/lavapipe, Google's SwiftShader) is a CPU emulation of
a GPU: ggml skips it unless ``GGML_VK_VISIBLE_DEVICES`` names it.

Run as a script (``python -m llama_cpp.doctor.probes._vulkan``) it prints the devices as JSON.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from llama_cpp.doctor.probes._run import run

SOFTWARE_DEVICE = re.compile(r"llvmpipe|lavapipe|swiftshader", re.I)
# VkPhysicalDeviceType
_DEVICE_TYPES = {0: "other", 1: "integrated_gpu", 2: "discrete_gpu", 3: "virtual_gpu", 4: "cpu"}
_LOADERS = {"linux": ["libvulkan.so.1"], "win32": ["vulkan-1.dll"], "darwin": ["libvulkan.1.dylib"]}
# Where the loader looks for ICD manifests on Linux (after its environment overrides).
_ICD_DIRS = [
    "{XDG_CONFIG_HOME}/vulkan/icd.d",
    "/etc/xdg/vulkan/icd.d",
    "/etc/vulkan/icd.d",
    "{XDG_DATA_HOME}/vulkan/icd.d",
    "/usr/local/share/vulkan/icd.d",
    "/usr/share/vulkan/icd.d",
]


def is_software(device: dict[str, Any]) -> bool:
    """A CPU emulation of a GPU (llvmpipe, lavapipe, SwiftShader)."""
    return device.get("type") == "cpu" or bool(SOFTWARE_DEVICE.search(device.get("name") or ""))


def probe_vulkan() -> dict[str, Any]:
    """``{"loader": name or None, "drivers": [ICD manifests], "devices": [...], "error": ...}``;
    each device has name, type (discrete_gpu, integrated_gpu, cpu, ...), api_version,
    vendor_id and software (True for a CPU emulation)."""
    result: dict[str, Any] = {"loader": None, "drivers": icd_manifests(), "devices": []}
    out = run([sys.executable, "-m", "llama_cpp.doctor.probes._vulkan"], timeout=60)
    if out is not None and out.returncode == 0 and out.stdout.strip():
        result.update(json.loads(out.stdout.strip().splitlines()[-1]))
    elif out is not None:
        result["error"] = (out.stderr or out.stdout).strip()[-300:] or f"exit {out.returncode}"
    if result["loader"] is None or result.get("error"):
        summary = run(["vulkaninfo", "--summary"])
        if summary is not None and summary.returncode == 0:
            result["devices"] = parse_vulkaninfo(summary.stdout)
    return result


def icd_manifests(environ: Any = None) -> list[str]:
    """The ICD manifests the Vulkan loader would read on Linux: those named by
    VK_DRIVER_FILES / VK_ICD_FILENAMES (which replace the search) or found in its folders."""
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return []
    named = environ.get("VK_DRIVER_FILES") or environ.get("VK_ICD_FILENAMES")
    if named:
        found = []
        for entry in named.split(os.pathsep):
            path = Path(entry)
            found += sorted(str(p) for p in path.glob("*.json")) if path.is_dir() else [entry]
        return [f for f in found if Path(f).is_file()]
    home = Path.home()
    values = {
        "XDG_CONFIG_HOME": environ.get("XDG_CONFIG_HOME") or str(home / ".config"),
        "XDG_DATA_HOME": environ.get("XDG_DATA_HOME") or str(home / ".local" / "share"),
    }
    manifests: list[str] = []
    for template in _ICD_DIRS:
        folder = Path(template.format(**values))
        if folder.is_dir():
            manifests += sorted(str(p) for p in folder.glob("*.json"))
    return manifests


def parse_vulkaninfo(text: str) -> list[dict[str, Any]]:
    """The devices in ``vulkaninfo --summary``'s output."""
    devices: list[dict[str, Any]] = []
    for block in re.split(r"\nGPU\d+:\n", text)[1:]:
        fields = dict(re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*$", block, re.M))
        kind = fields.get("deviceType", "").replace("PHYSICAL_DEVICE_TYPE_", "").lower()
        device = {
            "name": fields.get("deviceName"),
            "type": kind or None,
            "api_version": fields.get("apiVersion"),
            "driver": fields.get("driverName") or fields.get("driverID"),
        }
        device["software"] = is_software(device)
        devices.append(device)
    return devices


class _InstanceCreateInfo(ctypes.Structure):
    _fields_ = [
        ("sType", ctypes.c_int),
        ("pNext", ctypes.c_void_p),
        ("flags", ctypes.c_uint32),
        ("pApplicationInfo", ctypes.c_void_p),
        ("enabledLayerCount", ctypes.c_uint32),
        ("ppEnabledLayerNames", ctypes.c_void_p),
        ("enabledExtensionCount", ctypes.c_uint32),
        ("ppEnabledExtensionNames", ctypes.c_void_p),
    ]


_VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO = 1
# VkPhysicalDeviceProperties starts with apiVersion, driverVersion, vendorID, deviceID,
# deviceType (uint32 each) and deviceName[256]; the rest (limits ...) fits in the buffer.
_PROPERTIES_SIZE = 4096


def _api_version(packed: int) -> str:
    return f"{(packed >> 22) & 0x7F}.{(packed >> 12) & 0x3FF}.{packed & 0xFFF}"


def loader_devices() -> dict[str, Any]:
    """Ask the Vulkan loader for its physical devices (run in a child process)."""
    loader = None
    library = None
    for name in _LOADERS.get(sys.platform, _LOADERS["linux"]):
        try:
            library = ctypes.CDLL(name)
        except OSError:
            continue
        loader = name
        break
    if library is None:
        return {"loader": None, "devices": []}
    instance = ctypes.c_void_p()
    info = _InstanceCreateInfo(sType=_VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO)
    status = library.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance))
    if status != 0:
        # VK_ERROR_INCOMPATIBLE_DRIVER (-9): no driver (ICD) at all
        return {"loader": loader, "devices": [], "instance_error": int(status)}
    try:
        count = ctypes.c_uint32(0)
        library.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
        handles = (ctypes.c_void_p * count.value)()
        library.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), handles)
        devices = []
        for handle in handles[: count.value]:
            buffer = ctypes.create_string_buffer(_PROPERTIES_SIZE)
            library.vkGetPhysicalDeviceProperties(ctypes.c_void_p(handle), buffer)
            api, _driver, vendor, _device, kind = (
                int.from_bytes(buffer.raw[i : i + 4], sys.byteorder) for i in range(0, 20, 4)
            )
            name = buffer.raw[20:276].split(b"\0", 1)[0].decode("utf-8", "replace")
            device: dict[str, Any] = {
                "name": name,
                "type": _DEVICE_TYPES.get(kind, "other"),
                "api_version": _api_version(api),
                "vendor_id": f"0x{vendor:04x}",
            }
            device["software"] = is_software(device)
            devices.append(device)
    finally:
        library.vkDestroyInstance(instance, None)
    return {"loader": loader, "devices": devices}


if __name__ == "__main__":
    print(json.dumps(loader_devices()))
