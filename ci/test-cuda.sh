#!/usr/bin/env bash
# Build the CUDA backend with the seeds' command and run tests/test_cuda.py against it.
#
#   bash ci/test-cuda.sh [PYTEST_ARGS...]
#
# Builds into a venv of its own (VENV, default build/cuda-venv) with
#   CMAKE_ARGS="-DLLAMA_CUBLAS=on $LLAMA_PYBIND_CUDA_REDUCE" FORCE_CMAKE=1 pip install ".[server]"
# On a machine without a complete CUDA toolkit (this one: nvcc without cuBLAS, or no nvcc at
# all) the build takes NVIDIA's toolkit packages from the package index by itself
# (build_backend/backend.py); nothing is installed on the system.
#
# LLAMA_PYBIND_CUDA_REDUCE keeps CI's build small. The default compiles every CUDA source
# ggml has except the flash-attention kernels, for one architecture as PTX only (sm_90's
# virtual architecture: no machine code, so no ptxas) with NVVM's optimisation lowered
# (-Xcicc=-O1: about half of cicc's time), and one CPU variant; it proves that the toolkit,
# the compile and the link work, not kernel speed. Set it to "" for the seeds' full build
# (every kernel optimised, every CPU variant, the default architectures), or to e.g.
# "-DCMAKE_CUDA_ARCHITECTURES=90" for one architecture in full.
# Without an NVIDIA driver the CUDA module cannot load: the tests then check that this is
# diagnosed and that generation runs on the CPU; with a GPU they run on it.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=$(realpath -m "${VENV:-build/cuda-venv}")
reduce=${LLAMA_PYBIND_CUDA_REDUCE--DCMAKE_CUDA_ARCHITECTURES=90-virtual -DGGML_CUDA_FA=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DCMAKE_CUDA_FLAGS=-Xcicc=-O1}
cmake_args="-DLLAMA_CUBLAS=on${reduce:+ $reduce}"

echo "== building: CMAKE_ARGS=\"$cmake_args\" FORCE_CMAKE=1 pip install \".[server]\""
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
start=$(date +%s)
# NVIDIA's toolkit packages of the tested set in the venv too: the configure tests of
# tests/test_cuda_toolkit.py run the pip route with them (as --no-build-isolation or plain
# cmake would), and the package's run-time requirements (the runtime and cuBLAS, >=13,<14)
# are then met by the same files pip downloaded once for the build environment.
read -r -a toolkit <<<"$("$python" build_backend/cuda_toolkit.py packages | sed -n 's/^CUDA_PIP_PACKAGES=//p')"
"$venv/bin/python" -m pip install -q "${toolkit[@]}" cmake ninja pybind11 scikit-build-core
log="$venv/build.log"
# a build tree that outlives pip's temporary one, and ccache comparing compilers by content
# (a new build tree gets a new copy of the pip toolkit's nvcc, with a new mtime)
export SKBUILD_BUILD_DIR=${SKBUILD_BUILD_DIR:-build/cuda-skbuild}
export CCACHE_COMPILERCHECK=${CCACHE_COMPILERCHECK:-content}
if ! CMAKE_ARGS="$cmake_args" FORCE_CMAKE=1 "$venv/bin/python" -m pip install -v ".[server]" \
        pytest httpx >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "== the CUDA build failed (whole log: $log)" >&2
    exit 1
fi
grep -E "llama-cpp-pybind|CUDA toolkit|CUDA archs|backends  |Successfully installed" "$log" || true
echo "== built and installed in $(($(date +%s) - start)) s"
"$venv/bin/python" -c "import json, llama_cpp; info = llama_cpp.build_info(); \
print('== build:', json.dumps({k: info.get(k) for k in ('backends', 'cuda_version', \
'cuda_toolkit', 'cuda_architectures')}))"

LLAMA_PYBIND_REQUIRE_CUDA=1 "$venv/bin/python" -m pytest tests/test_cuda.py tests/test_cuda_toolkit.py "$@"
