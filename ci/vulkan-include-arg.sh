#!/usr/bin/env bash
# Print the CMake argument a Vulkan build needs for its headers on this machine: nothing
# when the system's headers (or VULKAN_SDK's) are new enough, otherwise
# -DVulkan_INCLUDE_DIR=<newer headers fetched by ci/vulkan-headers.sh> (Debian 12,
# Ubuntu 22.04). The minimum is the configure check's own (cmake/BackendChecks.cmake).
#
#   CMAKE_ARGS="-DGGML_VULKAN=ON $(bash ci/vulkan-include-arg.sh)" pip install .
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ -n "${VULKAN_SDK:-}" ]; then
    exit 0
fi
minimum=$(sed -n 's/^set(LLAMA_PYBIND_VULKAN_MIN_VERSION "\([0-9.]*\)".*/\1/p' cmake/BackendChecks.cmake)
too_old=$("$python" ci/vulkan_header_version.py --older-than "$minimum")
if [ -n "$too_old" ]; then
    echo "[vulkan-include-arg] the system's Vulkan headers are $too_old, older than $minimum" >&2
    echo "-DVulkan_INCLUDE_DIR=$(bash ci/vulkan-headers.sh)"
fi
