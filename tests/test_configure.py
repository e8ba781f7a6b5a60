"""Configure-only checks of CMakeLists.txt: legacy flag translation and early errors.

Each test runs the top-level CMake project standalone (no compiling), as the
README's troubleshooting section does, and reads the log, the cache and the
build info written at configure time.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

import pytest
from cmake_project import Configure
from conftest import load_script

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.configure


@pytest.fixture(scope="session", autouse=True)
def _pinned_tree(llama_cpp_tree: Path) -> Path:
    return llama_cpp_tree


def _notice(legacy: str, value: str, modern: str, new_value: str) -> str:
    return (
        f"llama-cpp-pybind: -D{legacy}={value} is a legacy flag; "
        f"building with -D{modern}={new_value}."
    )


def _assert_configured_or_clear_error(result: Configure, backend: str) -> None:
    """Where the toolkit exists the backend is configured; elsewhere our check explains why not."""
    if result.returncode == 0:
        assert backend in result.summary_backends(), result.log
        return
    assert "CMake Error" in result.flat
    assert re.search(r"llama-cpp-pybind: |Fix:|Can't find|not found|requires", result.log), (
        result.log
    )


CPU_ROWS = [
    # (legacy, value, modern)
    ("LLAMA_NATIVE", "OFF", "GGML_NATIVE"),
    ("LLAMA_AVX", "ON", "GGML_AVX"),
    ("LLAMA_AVX2", "OFF", "GGML_AVX2"),
    ("LLAMA_AVX512", "OFF", "GGML_AVX512"),
    ("LLAMA_AVX512_VBMI", "OFF", "GGML_AVX512_VBMI"),
    ("LLAMA_AVX512_VNNI", "OFF", "GGML_AVX512_VNNI"),
    ("LLAMA_AVX512_BF16", "OFF", "GGML_AVX512_BF16"),
    ("LLAMA_FMA", "OFF", "GGML_FMA"),
    ("LLAMA_F16C", "ON", "GGML_F16C"),
]


@pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "AMD64"), reason="x86 instruction-set flags"
)
def test_cpu_flags_translate_and_off_values_reach_the_compiler(configure) -> None:
    result = configure(*(f"-D{legacy}={value}" for legacy, value, _ in CPU_ROWS))
    assert result.returncode == 0, result.log
    for legacy, value, modern in CPU_ROWS:
        assert result.flat.count(_notice(legacy, value, modern, value)) == 1, legacy
        assert result.cache(modern) == value, modern
        assert result.cache(legacy) is None, f"{legacy} should leave the cache"
    features = result.build_info()["cpu_features"]
    assert "AVX" in features and "F16C" in features, features
    for absent in ("AVX2", "FMA", "AVX512F"):
        assert absent not in features, features
    given = {entry["given"] for entry in result.build_info()["legacy_flags"]}
    assert given == {f"{legacy}={value}" for legacy, value, _ in CPU_ROWS}


def test_default_configure_is_native_cpu(configure) -> None:
    result = configure()
    assert result.returncode == 0, result.log
    assert "legacy flag" not in result.flat
    assert result.summary_backends() == ["CPU", "RPC"]  # every build can be an RPC worker/client
    info = result.build_info()
    assert info["mode"] == "native"
    assert info["flags"]["GGML_NATIVE"] == "ON"
    assert info["llama_cpp_commit"] == "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
    assert info["legacy_flags"] == []
    assert result.cache("GGML_CCACHE") == "ON"


@pytest.mark.parametrize(
    ("legacy", "modern", "backend"),
    [
        ("LLAMA_CUBLAS", "GGML_CUDA", "CUDA"),
        ("LLAMA_CUDA", "GGML_CUDA", "CUDA"),
        ("LLAMA_HIPBLAS", "GGML_HIP", "ROCm"),
        ("GGML_HIPBLAS", "GGML_HIP", "ROCm"),
        ("LLAMA_VULKAN", "GGML_VULKAN", "Vulkan"),
        ("LLAMA_KOMPUTE", "GGML_VULKAN", "Vulkan"),
        ("GGML_KOMPUTE", "GGML_VULKAN", "Vulkan"),
        ("LLAMA_CLBLAST", "GGML_VULKAN", "Vulkan"),
        ("LLAMA_SYCL", "GGML_SYCL", "SYCL"),
        ("LLAMA_CANN", "GGML_CANN", "CANN"),
        ("LLAMA_RPC", "GGML_RPC", "RPC"),
    ],
)
def test_gpu_and_offload_flags_translate(configure, legacy: str, modern: str, backend: str) -> None:
    result = configure(f"-D{legacy}=on")
    assert result.flat.count(_notice(legacy, "on", modern, "ON")) == 1, result.log
    _assert_configured_or_clear_error(result, backend)


def test_clblast_notice_explains_the_replacement(configure) -> None:
    result = configure("-DLLAMA_CLBLAST=ON")
    notice = next(line for line in result.flat.splitlines() if "LLAMA_CLBLAST" in line)
    assert "removed from llama.cpp in June 2024" in notice
    assert "Vulkan" in notice and "-DGGML_OPENCL=ON" in notice


def test_kompute_notice_explains_the_replacement(configure) -> None:
    result = configure("-DLLAMA_KOMPUTE=ON")
    assert "Kompute was removed from llama.cpp in 2025" in result.flat


def test_sycl_f16_translates(configure) -> None:
    result = configure("-DLLAMA_SYCL_F16=ON")
    assert _notice("LLAMA_SYCL_F16", "ON", "GGML_SYCL_F16", "ON") in result.flat


@pytest.mark.parametrize("value", ["OFF", "0", "off"])
def test_off_values_are_honoured(configure, value: str) -> None:
    result = configure(f"-DLLAMA_CUBLAS={value}", f"-DLLAMA_METAL={value}")
    assert result.returncode == 0, result.log
    assert _notice("LLAMA_CUBLAS", value, "GGML_CUDA", "OFF") in result.flat
    assert result.cache("GGML_CUDA") == "OFF"
    assert result.cache("GGML_METAL") == "OFF"
    assert result.summary_backends() == ["CPU", "RPC"]


def test_rpc_backend_configures_everywhere(configure) -> None:
    result = configure("-DLLAMA_RPC=ON")
    assert result.returncode == 0, result.log
    assert result.summary_backends() == ["CPU", "RPC"]
    assert "RPC" in result.build_info()["backends"]


@pytest.mark.parametrize("flag", ["-DGGML_RPC=OFF", "-DLLAMA_RPC=OFF"])
def test_rpc_can_be_left_out(configure, flag: str) -> None:
    result = configure(flag)
    assert result.returncode == 0, result.log
    assert result.summary_backends() == ["CPU"]
    assert "RPC" not in result.build_info()["backends"]


def test_metal_off_macos_is_a_clear_error(configure) -> None:
    if sys.platform == "darwin":
        pytest.skip("Metal builds on macOS")
    for flags in (["-DGGML_METAL=ON"], ["-DLLAMA_METAL=on"]):
        result = configure(*flags)
        assert result.returncode != 0
        assert "Metal exists only on macOS" in result.flat, result.log


def test_metal_embed_library_translates(configure) -> None:
    result = configure("-DLLAMA_METAL_EMBED_LIBRARY=ON")
    assert result.returncode == 0, result.log
    assert (
        _notice("LLAMA_METAL_EMBED_LIBRARY", "ON", "GGML_METAL_EMBED_LIBRARY", "ON") in result.flat
    )


def test_cudacxx_pointing_nowhere_is_named(configure) -> None:
    result = configure("-DGGML_CUDA=ON", env={"CUDACXX": "/nonexistent/cuda/bin/nvcc"})
    assert result.returncode != 0
    assert "CUDACXX=/nonexistent/cuda/bin/nvcc, but that file does not exist" in result.flat


def test_cuda_without_toolkit_says_what_was_searched(configure, tmp_path: Path) -> None:
    if Path("/usr/bin/nvcc").exists():
        pytest.skip("nvcc is installed in /usr/bin")
    env = {"PATH": "/usr/bin:/bin", "CUDAToolkit_ROOT": "", "CUDA_PATH": "", "CUDACXX": ""}
    result = configure(
        "-DLLAMA_CUBLAS=ON",
        f"-DCUDAToolkit_ROOT={tmp_path / 'no-cuda-here'}",
        "-DCMAKE_IGNORE_PREFIX_PATH=/usr/local;/usr/local/cuda;/opt/cuda",
        "-DLLAMA_PYBIND_CUDA_SEARCH_PATHS=/nonexistent/cuda/bin",
        env=env,
    )
    assert result.returncode != 0
    assert "no CUDA toolkit (nvcc) was found" in result.flat
    assert f"CUDAToolkit_ROOT={tmp_path / 'no-cuda-here'}" in result.flat
    assert "/nonexistent/cuda/bin" in result.flat
    assert "CUDACXX=/path/to/cuda/bin/nvcc" in result.flat


def test_missing_blas_vendor_names_the_package(configure) -> None:
    result = configure("-DGGML_BLAS=ON", "-DGGML_BLAS_VENDOR=FLAME")
    assert result.returncode != 0
    assert "GGML_BLAS_VENDOR=FLAME, but CMake found no" in result.flat, result.log


def test_openblas_request_configures_or_names_the_debian_package(configure) -> None:
    result = configure("-DLLAMA_BLAS=ON", "-DLLAMA_BLAS_VENDOR=OpenBLAS")
    assert _notice("LLAMA_BLAS", "ON", "GGML_BLAS", "ON") in result.flat
    assert _notice("LLAMA_BLAS_VENDOR", "OpenBLAS", "GGML_BLAS_VENDOR", "OpenBLAS") in result.flat
    if result.returncode == 0:
        assert "BLAS" in result.summary_backends()
        assert re.search(r"BLAS vendor\s*: OpenBLAS", result.log)
    else:
        assert "libopenblas-dev" in result.flat, result.log


def test_llama_openblas_means_blas_from_openblas(configure) -> None:
    result = configure("-DLLAMA_OPENBLAS=ON")
    assert "-DLLAMA_OPENBLAS=ON is a legacy flag; building with -DGGML_BLAS=ON." in result.flat
    assert "building with -DGGML_BLAS_VENDOR=OpenBLAS." in result.flat
    if result.returncode == 0:
        assert result.cache("GGML_BLAS_VENDOR") == "OpenBLAS"


def test_unknown_llama_flag_lists_the_known_ones(configure) -> None:
    result = configure("-DLLAMA_FOO=ON")
    assert result.returncode != 0
    assert "llama-cpp-pybind: unknown flag LLAMA_FOO" in result.flat
    assert "LLAMA_CUBLAS -> GGML_CUDA" in result.flat
    assert "LLAMA_OPENBLAS -> GGML_BLAS" in result.flat


def test_current_llama_options_are_not_unknown(configure) -> None:
    result = configure("-DLLAMA_BUILD_TESTS=OFF")
    assert result.returncode == 0, result.log
    assert "unknown flag" not in result.flat


def test_misspelt_ggml_flag_is_warned_about(configure) -> None:
    result = configure("-DGGML_CUDA_FORCE_MMQQ=ON")
    assert result.returncode == 0, result.log
    assert "-DGGML_CUDA_FORCE_MMQQ=ON is not an option of this llama.cpp" in result.flat
    assert "Did you mean GGML_CUDA_FORCE_MMQ?" in result.flat


def test_force_cmake_is_accepted_with_a_notice(configure) -> None:
    result = configure(env={"FORCE_CMAKE": "1"})
    assert result.returncode == 0, result.log
    assert "FORCE_CMAKE=1 is not needed" in result.flat
    assert result.build_info()["force_cmake_env"] == "1"


def test_explicit_modern_flag_wins_over_legacy(configure) -> None:
    result = configure("-DLLAMA_NATIVE=ON", "-DGGML_NATIVE=OFF")
    assert result.returncode == 0, result.log
    assert "-DGGML_NATIVE=OFF is also given and wins" in result.flat
    assert result.cache("GGML_NATIVE") == "OFF"


def test_modern_flags_pass_through(configure) -> None:
    result = configure("-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON", "-DGGML_LLAMAFILE=OFF")
    assert result.returncode == 0, result.log
    assert "legacy flag" not in result.flat
    flags = result.build_info()["flags"]
    assert flags["GGML_NATIVE"] == "OFF" and flags["GGML_AVX2"] == "ON"
    assert flags["GGML_LLAMAFILE"] == "OFF"


def test_portable_mode_configures_modules_and_cpu_variants(configure) -> None:
    result = configure("-DLLAMA_PYBIND_MODE=portable", "-DGGML_NATIVE=ON")
    assert result.returncode == 0, result.log
    info = result.build_info()
    assert info["mode"] == "portable"
    flags = info["flags"]
    # tuning for the build machine is refused in portable mode, even when asked for
    assert flags["GGML_NATIVE"] == "OFF"
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert flags["GGML_CPU_ALL_VARIANTS"] == "ON"
        assert {"x64", "sse42", "sandybridge", "haswell"} <= set(info["cpu_variants"])
        assert info["cpu_features"] == []  # the baseline variant: plain x86-64
    assert "CPU" in info["backends"]
    assert result.cache("BUILD_SHARED_LIBS") in (None, "ON")


def test_unknown_mode_is_named(configure) -> None:
    result = configure("-DLLAMA_PYBIND_MODE=fast")
    assert result.returncode != 0
    assert "LLAMA_PYBIND_MODE=fast is not a mode" in result.flat
    assert "-DLLAMA_PYBIND_MODE=portable" in result.flat


def test_native_mode_records_no_variants(configure) -> None:
    result = configure()
    assert result.returncode == 0, result.log
    assert result.build_info()["cpu_variants"] == []


def test_cmake_args_env_is_recorded(configure) -> None:
    result = configure("-DLLAMA_AVX2=ON", env={"CMAKE_ARGS": "-DLLAMA_AVX2=ON"})
    assert result.returncode == 0, result.log
    assert result.build_info()["cmake_args"] == "-DLLAMA_AVX2=ON"
    assert result.build_info()["legacy_flags"] == [
        {"given": "LLAMA_AVX2=ON", "became": "GGML_AVX2=ON"}
    ]


def _vulkan_header_version(include: Path = Path("/usr/include")) -> tuple[int, int, int] | None:
    script = load_script("vulkan_header_version", REPO / "ci" / "vulkan_header_version.py")
    return script.header_version(include)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the system Vulkan headers")
def test_vulkan_request_names_missing_or_old_headers(configure) -> None:
    version = _vulkan_header_version()
    result = configure("-DGGML_VULKAN=ON")
    if version is None:
        assert result.returncode != 0
        assert "the Vulkan headers and loader were not found" in result.flat, result.log
        assert "libvulkan-dev" in result.flat
    elif version < (1, 3, 272):  # Debian 12 ships 1.3.239
        assert result.returncode != 0
        found = ".".join(map(str, version))
        assert f"are version {found}; this llama.cpp's Vulkan backend needs 1.3.272" in (
            result.flat
        ), result.log
        assert "LunarG Vulkan SDK" in result.flat
        assert "-DVulkan_INCLUDE_DIR=$(bash ci/vulkan-headers.sh)" in result.flat
    else:
        _assert_configured_or_clear_error(result, "Vulkan")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="Debian's or Ubuntu's packages")
@pytest.mark.parametrize("route", ["Vulkan_INCLUDE_DIR", "VULKAN_SDK"])
def test_vulkan_configures_with_private_headers(
    configure, vulkan_headers: Path, route: str
) -> None:
    """Headers unpacked by ci/vulkan-headers.sh are accepted through both documented routes,
    beside the system's own older headers, loader and glslc."""
    if route == "VULKAN_SDK":
        result = configure("-DLLAMA_CLBLAST=on", env={"VULKAN_SDK": str(vulkan_headers.parent)})
    else:
        result = configure("-DGGML_VULKAN=ON", f"-DVulkan_INCLUDE_DIR={vulkan_headers}")
    if result.returncode != 0 and "glslc" in result.flat:
        pytest.skip("glslc is not installed (sudo apt-get install glslc spirv-headers)")
    assert result.returncode == 0, result.log
    assert "Vulkan" in result.summary_backends()
    version = _vulkan_header_version(vulkan_headers)
    assert version is not None and version >= (1, 3, 272)
    assert f"Vulkan headers {'.'.join(map(str, version))} ({vulkan_headers})" in result.flat


def test_vulkan_include_dir_without_headers_is_named(configure, tmp_path: Path) -> None:
    empty = tmp_path / "include"
    empty.mkdir()
    result = configure("-DGGML_VULKAN=ON", f"-DVulkan_INCLUDE_DIR={empty}")
    assert result.returncode != 0
    if "the shader compiler glslc" in result.flat:  # checked first: a machine without glslc
        pytest.skip("glslc is not installed (sudo apt-get install glslc spirv-headers)")
    if "headers and loader were not found" not in result.flat:
        assert f"Vulkan_INCLUDE_DIR={empty} has no vulkan/vulkan_core.h" in result.flat, result.log
