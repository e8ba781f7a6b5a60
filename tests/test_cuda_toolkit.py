"""Which CUDA toolkit a CUDA build takes, and what configure says when it cannot.

The decision lives in two places that must agree: the build backend
(build_backend/backend.py: are NVIDIA's toolkit packages build requirements?) and
configure (cmake/CudaToolkit.cmake: which toolkit does CMake use?). Both read
src/llama_cpp/cuda_toolkits.json and build_backend/cuda_toolkit.py.

The configure tests that need a working nvcc take NVIDIA's packages when they are
installed for this Python (ci/test-cuda.sh installs them into its venv) and skip
otherwise; the rest run anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build_backend"))
import backend  # noqa: E402
import cuda_toolkit  # noqa: E402

TABLE = json.loads((REPO / "src" / "llama_cpp" / "cuda_toolkits.json").read_text())
DEFAULT = TABLE["default_major"]


def _pip_toolkit_here(major: str = DEFAULT) -> bool:
    site, roots = cuda_toolkit._roots(major, sys.path)
    return site is not None and not cuda_toolkit.missing_parts(roots)


def _system_toolkit_complete() -> bool:
    nvcc = backend.find_system_nvcc({}, dict(os.environ))
    return bool(nvcc) and not cuda_toolkit.system_missing(cuda_toolkit.toolkit_root(nvcc))


def test_the_extras_require_the_tables_runtime_packages() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    for major in TABLE["toolkits"]:
        extra = pyproject.split(f"\ncuda{major} = [", 1)[1].split("]", 1)[0]
        listed = [line.strip().strip(",").strip('"').split(";")[0] for line in extra.splitlines()]
        assert [p for p in listed if p] == TABLE["toolkits"][major]["run"], extra


def test_the_build_sets_pin_every_package_and_name_their_folders() -> None:
    for major, toolkit in TABLE["toolkits"].items():
        assert all("==" in p for p in toolkit["build"]), toolkit["build"]
        assert toolkit["build"] or toolkit["no_pip_build"]
        assert toolkit["version"].split(".")[0] == major
        runtime = {p.split(">=")[0] for p in toolkit["run"]}
        if toolkit["build"]:
            assert runtime <= {p.split("==")[0] for p in toolkit["build"]}
        assert all(root.startswith("nvidia/") for root in toolkit["roots"])


def test_the_legacy_cuda_flags_count_as_a_cuda_request() -> None:
    assert {"GGML_CUDA", "LLAMA_CUBLAS", "LLAMA_CUDA"} <= backend.cuda_flag_names()


@pytest.mark.parametrize(
    ("settings", "environ", "expected"),
    [
        ({}, {"CMAKE_ARGS": "-DLLAMA_CUBLAS=on -DGGML_CUDA_FA=OFF"}, {"LLAMA_CUBLAS": "on"}),
        ({}, {"CMAKE_ARGS": "-DGGML_CUDA:BOOL=ON"}, {"GGML_CUDA": "ON"}),
        ({}, {"CMAKE_ARGS": "-D GGML_CUDA=1"}, {"GGML_CUDA": "1"}),
        ({"cmake.define.GGML_CUDA": "ON"}, {"CMAKE_ARGS": "-DGGML_CUDA=OFF"}, {"GGML_CUDA": "OFF"}),
        ({"cmake.args": ["-DGGML_CUDA=ON"]}, {}, {"GGML_CUDA": "ON"}),
        ({}, {"SKBUILD_CMAKE_ARGS": "-DGGML_CUDA=ON;-DX=1"}, {"GGML_CUDA": "ON", "X": "1"}),
    ],
)
def test_cmake_definitions_are_read_like_scikit_build_core(
    settings: dict, environ: dict, expected: dict
) -> None:
    defines = backend.cmake_defines(settings, environ)
    assert {k: defines[k] for k in expected} == expected


def _major(cmake_args: str, **environ: str) -> str:
    return backend.pip_toolkit_major(None, {"CMAKE_ARGS": cmake_args, **environ})


def test_no_cuda_request_takes_no_toolkit_packages() -> None:
    assert _major("") == ""
    assert _major("-DGGML_VULKAN=ON") == ""
    assert _major("-DLLAMA_CUBLAS=off") == ""
    assert _major("-DGGML_CUDA=ON -DLLAMA_PYBIND_CUDA_TOOLKIT=system") == ""


def test_the_pip_toolkit_can_be_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert _major("-DGGML_CUDA=ON -DLLAMA_PYBIND_CUDA_TOOLKIT=pip") == DEFAULT
    # NVIDIA publishes no CUDA 12 compiler as a package: configure names the toolkit instead
    twelve = "-DLLAMA_CUDA=ON -DLLAMA_PYBIND_CUDA_TOOLKIT=pip -DLLAMA_PYBIND_CUDA_MAJOR=12"
    assert _major(twelve) == ""


def test_without_nvcc_the_pip_toolkit_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(backend.shutil, "which", lambda _name, **_where: None)
    assert _major("-DLLAMA_CUBLAS=on", PATH=str(tmp_path)) == DEFAULT


def test_an_nvcc_without_cublas_takes_the_pip_toolkit() -> None:
    """This machine's toolkit (nvcc and the CUDA runtime, no cuBLAS), as the issue found it."""
    nvcc = shutil.which("nvcc")
    if nvcc is None or _system_toolkit_complete():
        pytest.skip("needs an nvcc whose toolkit lacks cuBLAS")
    root = cuda_toolkit.toolkit_root(nvcc)
    assert cuda_toolkit.system_missing(root) == ["cuBLAS"]
    assert _major("-DLLAMA_CUBLAS=on", PATH=str(Path(nvcc).parent)) == DEFAULT


def test_a_complete_toolkit_layout_is_recognised(tmp_path: Path) -> None:
    for path in ("include/cuda_runtime.h", "include/cublas_v2.h", "lib64/libcudart.so.13",
                 "lib64/libcublas.so.13"):  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    assert cuda_toolkit.system_missing(tmp_path) == []
    (tmp_path / "lib64/libcublas.so.13").unlink()
    assert cuda_toolkit.system_missing(tmp_path) == ["cuBLAS"]


# -- configure ---------------------------------------------------------------------------


@pytest.mark.configure
def test_an_unknown_toolkit_choice_is_named(configure) -> None:
    result = configure("-DGGML_CUDA=ON", "-DLLAMA_PYBIND_CUDA_TOOLKIT=conda")
    assert result.returncode != 0
    assert "LLAMA_PYBIND_CUDA_TOOLKIT=conda is not a choice" in result.flat, result.log


@pytest.mark.configure
def test_system_only_without_a_complete_toolkit_names_both_fixes(configure) -> None:
    if _system_toolkit_complete():
        pytest.skip("this machine has a complete CUDA toolkit")
    result = configure("-DLLAMA_CUBLAS=on", "-DLLAMA_PYBIND_CUDA_TOOLKIT=system")
    assert result.returncode != 0
    text = result.flat
    assert "LLAMA_PYBIND_CUDA_TOOLKIT=system, but" in text, result.log
    assert "lacks cuBLAS" in text or "no CUDA toolkit (nvcc) was found" in text, result.log
    assert "-DLLAMA_PYBIND_CUDA_TOOLKIT=pip forces that route" in text
    assert "nvidia-cublas==" in text and "cuda-toolkit-" in text


@pytest.mark.configure
def test_auto_without_any_toolkit_names_the_packages(configure) -> None:
    if _system_toolkit_complete() or _pip_toolkit_here():
        pytest.skip("a CUDA toolkit is usable here")
    result = configure("-DLLAMA_CUBLAS=on")
    assert result.returncode != 0
    text = result.flat
    assert "NVIDIA's CUDA toolkit packages are not installed for" in text, result.log
    for package in TABLE["toolkits"][DEFAULT]["build"]:
        assert f'"{package}"' in text, package


needs_pip_toolkit = pytest.mark.skipif(
    not _pip_toolkit_here(), reason="NVIDIA's CUDA toolkit packages are not installed here"
)


@pytest.mark.configure
@needs_pip_toolkit
def test_the_pip_toolkit_configures_and_is_recorded(configure) -> None:
    result = configure(
        "-DLLAMA_CUBLAS=on", "-DLLAMA_PYBIND_CUDA_TOOLKIT=pip", "-DCMAKE_CUDA_ARCHITECTURES=86"
    )
    assert result.returncode == 0, result.log[-4000:]
    assert "CUDA toolkit from NVIDIA's pip packages" in result.flat
    assert "CUDA" in result.summary_backends()
    info = result.build_info()
    assert info["cuda_toolkit"] == "pip"
    assert info["cuda_version"].startswith(TABLE["toolkits"][DEFAULT]["version"])
    assert info["cuda_architectures"] == ["86"]
    view = result.build_dir / "cuda-toolkit"
    stub = view / "lib64" / "stubs" / "libcuda.so"
    assert stub.is_file() and (view / "bin" / "nvcc").exists()
    # configured again in the same tree (auto now): the view's nvcc, cached by the first
    # run, is not taken for a toolkit installed here
    again = configure("-DLLAMA_PYBIND_CUDA_TOOLKIT=auto")
    assert again.returncode == 0, again.log[-4000:]
    if not _system_toolkit_complete():
        assert again.build_info()["cuda_toolkit"] == "pip", again.log[-4000:]


@pytest.mark.configure
@needs_pip_toolkit
def test_without_a_gpu_the_default_architectures_are_printed(configure) -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU may be visible here: ggml's native default applies")
    result = configure("-DGGML_CUDA=ON", "-DLLAMA_PYBIND_CUDA_TOOLKIT=pip")
    assert result.returncode == 0, result.log[-4000:]
    archs = TABLE["architectures_without_gpu"]
    assert result.build_info()["cuda_architectures"] == archs.split(";")
    assert f"CUDA archs : {archs} (no GPU visible at build time" in result.flat


@pytest.mark.configure
@needs_pip_toolkit
@pytest.mark.parametrize(
    ("archs", "message"),
    [
        ("50", "cannot compile for '50'; it knows 75, 80"),
        ("86;sm_90", "'sm_90' is not an architecture"),
        ("native", "CMAKE_CUDA_ARCHITECTURES=native compiles for the GPUs visible"),
    ],
)
def test_architectures_nvcc_cannot_build_are_named_before_compiling(
    configure, archs: str, message: str
) -> None:
    if archs == "native" and shutil.which("nvidia-smi"):
        pytest.skip("a GPU may be visible here")
    result = configure(
        "-DGGML_CUDA=ON", "-DLLAMA_PYBIND_CUDA_TOOLKIT=pip", f"-DCMAKE_CUDA_ARCHITECTURES={archs}"
    )
    assert result.returncode != 0
    assert message in result.flat, result.log[-3000:]


def _toolkit_reporting(root: Path, release: str) -> Path:
    """A toolkit folder whose nvcc reports ``release`` (a script answering the two
    questions configure asks before it compiles anything: --version and its TOP)."""
    for path in ("include/cuda_runtime.h", "include/cublas_v2.h", "lib64/libcudart.so",
                 "lib64/libcublas.so"):  # fmt: skip
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")
    nvcc = root / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True, exist_ok=True)
    nvcc.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f'  --version) echo "Cuda compilation tools, release {release}, V{release}.1";;\n'
        f'  *) echo "#$ TOP={root}/bin/..";;\n'
        "esac\n"
    )
    nvcc.chmod(0o755)
    return nvcc


@pytest.mark.configure
def test_a_toolkit_older_than_llama_cpp_needs_is_named(configure, tmp_path: Path) -> None:
    nvcc = _toolkit_reporting(tmp_path / "cuda-11.4", "11.4")
    result = configure("-DGGML_CUDA=ON", f"-DCMAKE_CUDA_COMPILER={nvcc}")
    assert result.returncode != 0
    minimum = TABLE["minimum_version"]
    assert f"is version 11.4; the pinned llama.cpp needs {minimum} or newer" in result.flat, (
        result.log
    )
    assert "-DLLAMA_PYBIND_CUDA_TOOLKIT=pip" in result.flat


@pytest.mark.configure
def test_cuda_12_from_the_package_index_is_refused_with_the_reason(configure) -> None:
    """NVIDIA's CUDA 12 packages have no nvcc: asking for CUDA 12 where no CUDA 12 toolkit
    is installed names the toolkit to install, and why the pip route cannot help."""
    nvcc = backend.find_system_nvcc({}, dict(os.environ))
    if nvcc and cuda_toolkit.nvcc_version(nvcc).startswith("12."):
        pytest.skip("a CUDA 12 toolkit is installed here")
    result = configure("-DGGML_CUDA=ON", "-DLLAMA_PYBIND_CUDA_MAJOR=12")
    assert result.returncode != 0
    text = result.flat
    assert "LLAMA_PYBIND_CUDA_MAJOR=12, but" in text, result.log
    assert "no CUDA 12 compiler to take instead" in text
    assert "cuda-toolkit-12" in text and "holds only ptxas" in text
