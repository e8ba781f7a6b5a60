#!/usr/bin/env python3
"""Print the GGML_VK_VISIBLE_DEVICES value that runs the Vulkan backend on this machine:
the GPUs the Vulkan loader sees, or, with no GPU, its first software device (lavapipe,
which ggml skips unless selected). Prints nothing when Vulkan has no device at all.
Run it with the Python that has llama_cpp installed (it reads the loader the way the
doctor does)."""

from __future__ import annotations

from llama_cpp.doctor.probes._vulkan import probe_vulkan


def visible_devices() -> str:
    devices = probe_vulkan()["devices"]
    hardware = [str(i) for i, d in enumerate(devices) if not d["software"]]
    software = [str(i) for i, d in enumerate(devices) if d["software"]]
    return ",".join(hardware) or (software[0] if software else "")


if __name__ == "__main__":
    print(visible_devices())
