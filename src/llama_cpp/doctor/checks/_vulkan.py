"""Checks of a build with Vulkan: which devices ggml uses, a software device used or
skipped, and why Vulkan has no device (no driver at all, only a CPU emulation, or a GPU
whose Vulkan driver is missing)."""

from __future__ import annotations

from typing import Any

from llama_cpp.doctor.checks._commands import (
    set_env_command,
    shell_of,
    system_install,
    unset_env_command,
)
from llama_cpp.doctor.checks._finding import Finding, build_backends, build_name
from llama_cpp.doctor.checks._gpu import driver_install
from llama_cpp.doctor.checks._modules import failed_backends
from llama_cpp.doctor.probes._vulkan import SOFTWARE_DEVICE

SOFTWARE_NOTE = (
    "a CPU emulation of a GPU, ignored by ggml unless GGML_VK_VISIBLE_DEVICES selects it; "
    "slower than the CPU backend; for tests only"
)
# The Vulkan driver of each GPU vendor, per distribution family (NVIDIA's comes with its
# driver: see driver_install).
MESA_VULKAN = {"debian": "mesa-vulkan-drivers", "fedora": "mesa-vulkan-drivers"}
ARCH_VULKAN = {"AMD": "vulkan-radeon", "Intel": "vulkan-intel"}


def _vendor_driver(report: dict[str, Any], vendor: str) -> str | None:
    if vendor == "NVIDIA":
        return driver_install(report)
    return system_install(report, {**MESA_VULKAN, "arch": ARCH_VULKAN[vendor]})


def check_vulkan(report: dict[str, Any]) -> list[Finding]:
    if "Vulkan" not in build_backends(report):
        return []
    runtime = report.get("runtime") or {}
    if not runtime.get("ok") or "Vulkan" in failed_backends(report):
        return []  # the runtime and backend-load checks explain these
    used = [d for d in runtime.get("devices") or [] if build_name(d.get("backend", "")) == "Vulkan"]
    if used:
        return _used(used)
    selected = (report.get("environment") or {}).get("GGML_VK_VISIBLE_DEVICES")
    if selected is not None:
        return [_selected_none(report, selected)]
    return [_no_device(report)]


def _selected_none(report: dict[str, Any], selected: str) -> Finding:
    """GGML_VK_VISIBLE_DEVICES names indices of the loader's device list; ggml refuses
    the whole backend when one of them does not exist."""
    seen = (report.get("gpus") or {}).get("vulkan") or []
    listing = ", ".join(f"{i} = {d.get('name')}" for i, d in enumerate(seen)) or "none"
    hardware = [str(i) for i, d in enumerate(seen) if not d.get("software")]
    shell = shell_of(report)
    return Finding(
        "backend-devices",
        "fail",
        f"GGML_VK_VISIBLE_DEVICES={selected} selects no Vulkan device that exists, so ggml's "
        "Vulkan backend is off",
        f"It takes indices of the Vulkan loader's devices ({listing}). Models run on the CPU.",
        set_env_command(shell, "GGML_VK_VISIBLE_DEVICES", ",".join(hardware))
        if hardware
        else unset_env_command(shell, "GGML_VK_VISIBLE_DEVICES"),
    )


def _used(used: list[dict[str, Any]]) -> list[Finding]:
    findings = []
    for device in used:
        description = device.get("description") or ""
        if SOFTWARE_DEVICE.search(description):
            findings.append(
                Finding(
                    "vulkan-software",
                    "info",
                    f"{device.get('name')} is {description}: {SOFTWARE_NOTE}",
                    "GGML_VK_VISIBLE_DEVICES selects it in this environment; unset it to run "
                    "on the CPU backend (faster) or on a real GPU.",
                )
            )
    names = ", ".join(f"{d.get('name')} ({d.get('description')})" for d in used)
    findings.append(Finding("backend-devices", "ok", f"Vulkan devices: {names}"))
    return findings


def _no_device(report: dict[str, Any]) -> Finding:
    gpus = report.get("gpus") or {}
    seen = gpus.get("vulkan") or []
    loader = gpus.get("vulkan_loader") or {}
    hardware = [d for d in seen if not d.get("software")]
    software = [d for d in seen if d.get("software")]
    vendors = [d.get("vendor") for d in gpus.get("pci") or []]
    missing = [v for v in ("NVIDIA", "AMD", "Intel") if v in vendors]
    title = "the build has Vulkan, but Vulkan found no device at run time"
    if hardware:
        names = ", ".join(f"{d.get('name')} (Vulkan {d.get('api_version')})" for d in hardware)
        return Finding(
            "backend-devices",
            "fail",
            f"Vulkan sees {names}, but ggml's Vulkan backend does not use it",
            "The device lacks what ggml needs (Vulkan 1.2 and its storage-buffer features). "
            "Update the GPU driver; models run on the CPU until then.",
        )
    if missing:
        vendor = missing[0]
        only = f" (only {software[0].get('name')}, a CPU emulation)" if software else ""
        return Finding(
            "backend-devices",
            "fail",
            f"{title}: the {vendor} GPU has no Vulkan driver{only}",
            f"Install the {vendor} GPU's Vulkan driver (check with vulkaninfo --summary); "
            "models run on the CPU until then.",
            _vendor_driver(report, vendor),
        )
    if software:
        index = seen.index(software[0])
        return Finding(
            "backend-devices",
            "info",
            f"the build has Vulkan, whose only device is {software[0].get('name')}: "
            + SOFTWARE_NOTE,
            "No GPU was found on this machine, so models run on the CPU backend, which is "
            "the faster choice here. To test the Vulkan backend on this device: "
            f"GGML_VK_VISIBLE_DEVICES={index}.",
        )
    if loader.get("loader") and not loader.get("drivers"):
        return Finding(
            "backend-devices",
            "warn",
            f"{title}: no Vulkan driver (ICD) is installed",
            "The Vulkan loader found no installable client driver. Install your GPU's Vulkan "
            "driver (Mesa's mesa-vulkan-drivers for AMD and Intel, NVIDIA's driver for "
            "NVIDIA); models run on the CPU until then.",
            system_install(report, MESA_VULKAN),
        )
    return Finding(
        "backend-devices",
        "warn",
        f"{title} and no GPU was found",
        "Models run on the CPU backend (vulkaninfo --summary shows what the loader sees).",
    )
