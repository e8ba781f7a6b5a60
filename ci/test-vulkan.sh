#!/usr/bin/env bash
# Build the Vulkan backend the way the seeds' guides ask for it and run tests/test_vulkan.py
# on a Vulkan device: a GPU when there is one, otherwise Mesa's software device
# (lavapipe), which ggml uses only when GGML_VK_VISIBLE_DEVICES selects it.
#
#   bash ci/test-vulkan.sh [PYTEST_ARGS...]
#
# Builds into a venv of its own (VENV, default build/vulkan-venv) with the seed's
#   CMAKE_ARGS="-DLLAMA_CLBLAST=on" FORCE_CMAKE=1 pip install .
# plus -DVulkan_INCLUDE_DIR from ci/vulkan-headers.sh where the system's headers are older
# than llama.cpp needs (Debian 12). Needs the system packages libvulkan-dev, glslc,
# spirv-headers and mesa-vulkan-drivers (.ci/run installs them). Environment: PYTHON
# (default python3), GGML_VK_VISIBLE_DEVICES (default: the GPUs Vulkan sees, or its first
# software device when it sees no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
venv=$(realpath -m "${VENV:-build/vulkan-venv}")

cmake_args="-DLLAMA_CLBLAST=on $(bash ci/vulkan-include-arg.sh)"
cmake_args=${cmake_args% }

echo "== building: CMAKE_ARGS=\"$cmake_args\" FORCE_CMAKE=1 pip install \".[server]\""
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
start=$(date +%s)
CMAKE_ARGS="$cmake_args" FORCE_CMAKE=1 "$venv/bin/python" -m pip install -q ".[server]" pytest httpx
echo "== built and installed in $(($(date +%s) - start)) s"

if [ -z "${GGML_VK_VISIBLE_DEVICES+set}" ]; then
    GGML_VK_VISIBLE_DEVICES=$(cd /tmp && "$venv/bin/python" "$repo/ci/vulkan_device.py")
    if [ -z "$GGML_VK_VISIBLE_DEVICES" ]; then
        echo "Vulkan has no device here; without a GPU: sudo apt-get install mesa-vulkan-drivers" >&2
        exit 1
    fi
    export GGML_VK_VISIBLE_DEVICES
fi
echo "== tests on Vulkan device(s) GGML_VK_VISIBLE_DEVICES=$GGML_VK_VISIBLE_DEVICES"
LLAMA_PYBIND_REQUIRE_VULKAN=1 "$venv/bin/python" -m pytest tests/test_vulkan.py "$@"
