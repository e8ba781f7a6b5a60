"""A CUDA build, checked from what was built and from llama.cpp's own report.

Needs a build with CUDA. ``.ci/run`` builds one with the seeds' command
(``CMAKE_ARGS="-DLLAMA_CUBLAS=on" FORCE_CMAKE=1 pip install .``, reduced to one
architecture: ``ci/test-cuda.sh``) in a venv of its own and runs this file there with
``LLAMA_PYBIND_REQUIRE_CUDA=1``, which turns the skip for a build without CUDA into a
failure. In a CPU build's test run these tests skip.

Without an NVIDIA driver (CI, this machine) the CUDA module cannot load: the tests check
what it links, where it finds the CUDA runtime, and that the missing driver is reported
(backend_failures, the doctor, one warning) while generation runs on the CPU. With a
driver and a GPU, the tests marked ``gpu`` run the model on it: every layer offloaded,
read from llama.cpp's load log, and the CUDA backend's logits against the CPU's.
"""

from __future__ import annotations

import ctypes.util
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpu_backend import doctor_report, load_with_log, offloaded, server_on_gpu, teacher_forced

import llama_cpp
from llama_cpp._cuda_toolkits import cuda_toolkits
from llama_cpp._loader import backend_directory, backend_failures, load_core

pytestmark = pytest.mark.slow
REQUIRED = os.environ.get("LLAMA_PYBIND_REQUIRE_CUDA") == "1"
PROMPT = "The capital of France is"
TOOLKITS = cuda_toolkits()


@pytest.fixture(scope="module", autouse=True)
def cuda_build() -> dict[str, Any]:
    info = llama_cpp.build_info()
    if "CUDA" not in info["backends"]:
        if REQUIRED:
            pytest.fail("LLAMA_PYBIND_REQUIRE_CUDA=1, but this build has no CUDA backend")
        pytest.skip("this build has no CUDA backend (ci/test-cuda.sh builds one)")
    return info


def _driver_present() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _cuda_module() -> Path:
    lib = backend_directory()
    assert lib is not None, "a CUDA build keeps its backends as modules in llama_cpp/lib"
    modules = sorted(lib.glob("libggml-cuda*.so")) or sorted(lib.glob("ggml-cuda*.dll"))
    assert modules, sorted(p.name for p in lib.iterdir())
    return modules[0]


def _dynamic_section(path: Path) -> tuple[list[str], list[str]]:
    """(NEEDED libraries, RUNPATH entries) of a shared object, as readelf reports them."""
    text = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", text)
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[(.+?)\]", text)
    return needed, [entry for line in runpath for entry in line.split(":")]


def test_the_build_records_cuda(cuda_build: dict[str, Any]) -> None:
    major = cuda_build["cuda_version"].split(".")[0]
    assert major in TOOLKITS["toolkits"], cuda_build["cuda_version"]
    assert cuda_build["cuda_toolkit"] in ("system", "pip")
    archs = cuda_build["cuda_architectures"]
    assert archs and all(re.fullmatch(r"\d+[af]?(-real|-virtual)?", a) for a in archs), archs
    requested = cuda_build["flags"].get("CMAKE_CUDA_ARCHITECTURES")
    if requested:
        assert archs == requested.split(";"), (archs, requested)
    # the CUDA module is a module, so that it can fail alone
    assert cuda_build["flags"]["GGML_BACKEND_DL"] == "ON"


@pytest.mark.skipif(sys.platform != "linux", reason="ELF")
def test_the_cuda_module_links_the_runtime_cublas_and_the_driver(
    cuda_build: dict[str, Any],
) -> None:
    major = cuda_build["cuda_version"].split(".")[0]
    needed, runpath = _dynamic_section(_cuda_module())
    assert f"libcudart.so.{major}" in needed, needed
    assert f"libcublas.so.{major}" in needed, needed
    assert "libcuda.so.1" in needed, needed  # ggml's virtual memory pool: the driver API
    if cuda_build["cuda_toolkit"] == "pip" and cuda_build["mode"] == "native":
        roots = TOOLKITS["toolkits"][major]["roots"]
        assert [f"$ORIGIN/../../{root}/lib" for root in roots] == runpath[1:], runpath


@pytest.mark.skipif(sys.platform != "linux", reason="ELF")
def test_the_cuda_runtime_is_found_and_only_the_driver_may_be_missing(
    cuda_build: dict[str, Any],
) -> None:
    """What ldd resolves for the installed module: the CUDA runtime and cuBLAS come from
    the toolkit or from NVIDIA's runtime packages (which a pip-toolkit build requires);
    on a machine without an NVIDIA driver only libcuda.so.1 is missing."""
    if cuda_build["cuda_toolkit"] == "pip":
        requires = importlib.metadata.requires("llama-cpp-pybind") or []
        major = cuda_build["cuda_version"].split(".")[0]
        for package in TOOLKITS["toolkits"][major]["run"]:
            assert any(r.replace(" ", "").startswith(package) for r in requires), requires
    ldd = subprocess.run(
        ["ldd", str(_cuda_module())], capture_output=True, text=True, check=True
    ).stdout
    missing = re.findall(r"^\s*(\S+) => not found", ldd, re.MULTILINE)
    expected = [] if _driver_present() else ["libcuda.so.1"]
    assert missing == expected, ldd


@pytest.fixture(scope="module")
def no_driver() -> None:
    if _driver_present():
        pytest.skip("an NVIDIA driver is installed here")


def test_without_a_driver_the_failure_names_libcuda(no_driver: None) -> None:
    load_core()
    failures = backend_failures()
    module = _cuda_module().name
    assert set(failures) == {module}, failures
    assert "libcuda.so.1" in failures[module], failures
    assert "CUDA" not in llama_cpp.backends()
    assert "CPU" in llama_cpp.backends()


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )


NO_DRIVER_RUN = """
import json, warnings, llama_cpp
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as seen:
    first = llama_cpp.Llama({model!r}, n_gpu_layers=-1, n_ctx=256, verbose=False)
    second = llama_cpp.Llama({model!r}, n_gpu_layers=-1, n_ctx=256, verbose=False)
text = first("The capital of France is", max_tokens=6, temperature=0)["choices"][0]["text"]
cpu = llama_cpp.Llama({model!r}, n_gpu_layers=0, n_ctx=256, verbose=False)
same = cpu("The capital of France is", max_tokens=6, temperature=0)["choices"][0]["text"]
print(json.dumps([str(w.message) for w in seen]))
print(json.dumps([text, same]))
"""


def test_without_a_driver_llama_warns_once_and_runs_on_the_cpu(
    no_driver: None, model_path: Path
) -> None:
    done = _python(NO_DRIVER_RUN.format(model=str(model_path)))
    assert done.returncode == 0, done.stderr
    messages, (text, on_cpu) = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert len(messages) == 1, messages
    assert "n_gpu_layers=-1" in messages[0] and "libcuda.so.1" in messages[0], messages
    assert "llama-cpp doctor" in messages[0]
    assert text == on_cpu and "Paris" in text, (text, on_cpu)


def test_without_a_driver_the_doctor_names_the_driver(no_driver: None) -> None:
    report = doctor_report()
    findings = [f for f in report["findings"] if f["check"] == "backend-load"]
    assert len(findings) == 1, report["findings"]
    finding = findings[0]
    assert finding["severity"] == "fail"
    assert "CUDA backend" in finding["title"] and "libcuda.so.1" in finding["title"], finding
    assert "NVIDIA driver is not installed" in finding["detail"], finding
    assert report["exit_code"] != 0


# -- on a GPU ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cuda_device() -> dict[str, Any]:
    devices = [d for d in load_core().devices() if d["backend"] == "CUDA"]
    if not devices:
        pytest.skip("no CUDA device here (no NVIDIA driver or GPU)")
    return devices[0]


@pytest.fixture(scope="module")
def on_gpu(cuda_device: dict[str, Any], model_path: Path) -> Iterator[tuple[llama_cpp.Llama, str]]:
    llm, log = load_with_log(model_path, n_gpu_layers=-1)
    yield llm, log
    llm.close()


def test_every_layer_runs_on_the_gpu(on_gpu: tuple[llama_cpp.Llama, str]) -> None:
    _, log = on_gpu
    assert offloaded(log) == (31, 31), log
    assert re.search(r"CUDA0 model buffer size = +\d+\.\d+ MiB", log), log
    assert re.search(r"CUDA0 KV buffer size", log), log


def test_gpu_logits_agree_with_the_cpu(
    on_gpu: tuple[llama_cpp.Llama, str], model_path: Path
) -> None:
    """Teacher-forced on the CPU's greedy text, with test_vulkan.py's bounds and reasoning:
    the CUDA kernels round differently (quantized activations, other summation orders), so
    logprobs move by tenths at most and the top token changes only at near-ties."""
    cpu, _ = load_with_log(model_path, n_gpu_layers=0, op_offload=False)
    try:
        compared = teacher_forced(cpu, on_gpu[0], PROMPT)
    finally:
        cpu.close()
    assert compared.delta.mean() <= 0.15 and compared.delta.max() <= 0.6, compared.report
    assert compared.agree[compared.clear_lead].all(), compared.report
    assert compared.agree.mean() >= 0.9, compared.report


def test_the_server_runs_on_the_gpu(
    cuda_device: dict[str, Any], model_path: Path, tmp_path: Path
) -> None:
    reply, log = server_on_gpu(model_path, tmp_path, PROMPT)
    assert reply.status_code == 200, reply.text
    assert "Paris" in reply.json()["choices"][0]["text"]
    assert offloaded(log) == (31, 31), log[-3000:]
