#!/usr/bin/env bash
# cibuildwheel's before-all on Linux: install what the wheel variant needs to build,
# inside the manylinux_2_28 image (AlmaLinux 8, dnf). The variant is
# $LLAMA_PYBIND_VARIANT (cpu, openblas, vulkan, cuda12, cuda13; default cpu).
set -euo pipefail
variant=${LLAMA_PYBIND_VARIANT:-cpu}
arch=$(uname -m)
echo "installing build dependencies for the $variant wheel ($arch)"

case "$variant" in
    cpu) ;;
    openblas)
        dnf install -y dnf-plugins-core
        dnf config-manager --set-enabled powertools
        dnf install -y openblas-devel
        ;;
    vulkan)
        # AlmaLinux 8's Vulkan headers are too old for llama.cpp's Vulkan backend and it has
        # no glslc: use LunarG's SDK (x86_64 only), found through VULKAN_SDK.
        if [ "$arch" != x86_64 ]; then
            echo "the vulkan wheel is built for x86_64 only" >&2
            exit 1
        fi
        version=1.4.309.0
        curl -fsSL -o /tmp/vulkansdk.tar.xz \
            "https://sdk.lunarg.com/sdk/download/$version/linux/vulkansdk-linux-x86_64-$version.tar.xz"
        mkdir -p /opt/vulkan-sdk
        tar -xJf /tmp/vulkansdk.tar.xz -C /opt/vulkan-sdk --strip-components=1
        ;;
    cuda12 | cuda13)
        major=${variant#cuda}
        minor=$([ "$major" = 12 ] && echo 8 || echo 0)
        repo_arch=$([ "$arch" = aarch64 ] && echo sbsa || echo x86_64)
        dnf install -y dnf-plugins-core
        dnf config-manager --add-repo \
            "https://developer.download.nvidia.com/compute/cuda/repos/rhel8/$repo_arch/cuda-rhel8.repo"
        dnf install -y "cuda-nvcc-$major-$minor" "cuda-cudart-devel-$major-$minor" \
            "libcublas-devel-$major-$minor"
        ln -sfn "/usr/local/cuda-$major.$minor" /usr/local/cuda
        ;;
    *)
        echo "unknown wheel variant '$variant' (see python ci/variant.py list)" >&2
        exit 1
        ;;
esac
