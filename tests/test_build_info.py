"""The installed module: build info, system info, registered backends and devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llama_cpp
from llama_cpp import _core

REPO = Path(__file__).resolve().parents[1]
LOCK = json.loads((REPO / "vendor" / "llama.cpp.lock.json").read_text())

# CPU features known both to the build info and to ggml's CPU backend report.
ISA_NAMES = {
    "SSE3",
    "SSSE3",
    "AVX",
    "AVX_VNNI",
    "AVX2",
    "F16C",
    "FMA",
    "BMI2",
    "AVX512",
    "AVX512_VBMI",
    "AVX512_VNNI",
    "AVX512_BF16",
    "AMX_INT8",
    "NEON",
    "ARM_FMA",
    "FP16_VA",
    "MATMUL_INT8",
    "SVE",
    "DOTPROD",
    "SME",
    "RISCV_V",
    "VSX",
    "VXE",
    "WASM_SIMD",
}


def test_version_matches_build() -> None:
    info = llama_cpp.build_info()
    assert info["package_version"] == llama_cpp.__version__ == _core.__version__


def test_build_info_records_the_build() -> None:
    info = llama_cpp.build_info()
    assert info["mode"] == "native"
    assert info["llama_cpp_commit"] == LOCK["commit"] == _core.LLAMA_CPP_COMMIT
    assert "CPU" in info["backends"]
    assert info["flags"]["GGML_NATIVE"] == "ON"
    assert info["flags"]["BUILD_SHARED_LIBS"] == "OFF"
    assert info["compilers"]["CXX"]["id"]
    assert info["compilers"]["CXX"]["version"]
    assert isinstance(info["cmake_args"], str)
    assert isinstance(info["legacy_flags"], list)
    # a copy: callers cannot corrupt it
    info["backends"].append("bogus")
    assert "bogus" not in llama_cpp.build_info()["backends"]


def test_compiled_cpu_features_match_the_cpu_backend() -> None:
    recorded = set(llama_cpp.build_info()["cpu_features"]) & ISA_NAMES
    reported = set(_core.backend_features("CPU")) & ISA_NAMES
    assert recorded == reported


def test_compiled_backends_are_registered() -> None:
    assert set(llama_cpp.build_info()["backends"]) == set(llama_cpp.backends())


def test_system_info_is_llama_cpps_line() -> None:
    line = llama_cpp.llama_print_system_info()
    assert isinstance(line, bytes)
    assert line.startswith(b"CPU :")
    for feature, value in _core.backend_features("CPU").items():
        assert f"{feature} = {value}".encode() in line
    assert llama_cpp.system_info() == line.decode()


def test_devices_include_the_cpu_with_memory() -> None:
    devices = llama_cpp.devices()
    cpu = [d for d in devices if d["type"] == "cpu"]
    assert len(cpu) == 1
    assert cpu[0]["backend"] == "CPU"
    assert cpu[0]["memory_total"] > 2**28
    assert 0 < cpu[0]["memory_free"] <= cpu[0]["memory_total"]


def test_blas_build_registers_a_blas_device() -> None:
    has_blas_device = any(d["backend"] == "BLAS" for d in llama_cpp.devices())
    assert has_blas_device == ("BLAS" in llama_cpp.build_info()["backends"])


def test_unknown_backend_features_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no backend named 'NoSuchBackend'"):
        _core.backend_features("NoSuchBackend")


@pytest.mark.parametrize("level", ["none", "error", "WARN", 0, 4])
def test_set_log_level_accepts_names_and_numbers(level: int | str) -> None:
    llama_cpp.set_log_level(level)
    llama_cpp.set_log_level("none")
    assert _core.get_log_level() == 0


@pytest.mark.parametrize("level", ["loud", 7, -1])
def test_set_log_level_rejects_nonsense(level: int | str) -> None:
    with pytest.raises(ValueError, match="log level"):
        llama_cpp.set_log_level(level)
