"""How llama_cpp loads the backend modules of a portable build (llama_cpp._loader).

Real shared libraries, built here with the C compiler: a backend module that needs
a library the system does not have must be reported with the loader's reason, and
NVIDIA's pip packages (their directory layout, with a stand-in runtime library) must
be loaded ahead of a CUDA backend module so that it finds them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_cpp import _loader

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or shutil.which("cc") is None, reason="needs Linux and cc"
)


def shared_library(path: Path, soname: str, *, needs: Path | None = None) -> Path:
    """Compile a small shared library at ``path`` (SONAME ``soname``), linked against
    ``needs`` when given, so the dynamic loader requires that library's SONAME."""
    source = path.with_suffix(".c")
    source.write_text("int ggml_test_symbol(void) { return 42; }\n")
    command = ["cc", "-shared", "-fPIC", "-o", str(path), str(source), f"-Wl,-soname,{soname}"]
    if needs is not None:  # --no-as-needed: keep the dependency although no symbol is used
        command += ["-Wl,--no-as-needed", str(needs)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def make_cuda_module(tmp_path: Path, major: int) -> tuple[Path, Path]:
    """A ``lib`` directory holding ``libggml-cuda.so`` that needs ``libcudart.so.MAJOR``,
    and that stand-in runtime (outside ``lib``, where nothing finds it). Each test uses
    its own made-up major version: once a test has loaded a runtime into the process it
    stays there, and no real CUDA library may be shadowed."""
    runtime_dir = tmp_path / "built"
    runtime_dir.mkdir()
    soname = f"libcudart.so.{major}"
    cudart = shared_library(runtime_dir / soname, soname)
    lib = tmp_path / "lib"
    lib.mkdir()
    shared_library(lib / "libggml-cuda.so", "libggml-cuda.so", needs=cudart)
    (lib / "libggml-cpu-haswell.so").write_bytes(b"")  # CPU variants are never probed
    return lib, cudart


@pytest.fixture(autouse=True)
def restore_loader_state() -> Iterator[None]:
    saved = (list(_loader._preloaded), dict(_loader._backend_failures))
    yield
    _loader._preloaded[:] = saved[0]
    _loader._backend_failures.clear()
    _loader._backend_failures.update(saved[1])


def test_a_backend_module_whose_library_is_missing_is_reported_with_the_reason(
    tmp_path: Path,
) -> None:
    lib, _ = make_cuda_module(tmp_path, 97)
    failures = _loader._find_load_failures(lib, loaded=set())
    assert list(failures) == ["libggml-cuda.so"]
    assert "libcudart.so.97" in failures["libggml-cuda.so"]
    assert "cannot open shared object file" in failures["libggml-cuda.so"]
    assert str(lib) not in failures["libggml-cuda.so"]  # the reason, not the path again


def test_a_loaded_backend_is_not_a_failure(tmp_path: Path) -> None:
    lib, _ = make_cuda_module(tmp_path, 98)
    assert _loader._find_load_failures(lib, loaded={str(lib / "libggml-cuda.so")}) == {}


@pytest.mark.parametrize("layout", ["cuda_runtime/lib", "cu13/lib"])  # CUDA 12 and 13 packages
def test_nvidia_pip_packages_are_loaded_ahead_of_the_cuda_module(
    layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib, cudart = make_cuda_module(tmp_path, 99 if layout.startswith("cuda") else 96)
    assert _loader._find_load_failures(lib, loaded=set())  # not found before
    site = tmp_path / "site-packages"
    package_lib = site / "nvidia" / layout
    package_lib.mkdir(parents=True)
    shutil.copy(cudart, package_lib / cudart.name)
    (package_lib / (cudart.name + ".9.79")).write_bytes(b"not loaded: not the SONAME file")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    _loader._preload_cuda_libraries(lib)
    assert _loader.preloaded_libraries()[-1] == str(package_lib / cudart.name)
    assert not any(p.endswith(".9.79") for p in _loader.preloaded_libraries())
    # the module now finds its runtime: the loader matches the SONAME already loaded
    assert _loader._find_load_failures(lib, loaded=set()) == {}


def test_without_a_cuda_module_nvidia_packages_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cudart = make_cuda_module(tmp_path, 94)
    package_lib = tmp_path / "site-packages" / "nvidia" / "cuda_runtime" / "lib"
    package_lib.mkdir(parents=True)
    shutil.copy(cudart, package_lib / cudart.name)
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site-packages"), *sys.path])
    cpu_only = tmp_path / "cpu-only"
    cpu_only.mkdir()
    (cpu_only / "libggml-cpu-haswell.so").write_bytes(b"")
    _loader._preload_cuda_libraries(cpu_only)
    assert str(package_lib / cudart.name) not in _loader.preloaded_libraries()
    _loader._preload_cuda_libraries(tmp_path / "lib")  # the same packages, with a CUDA module
    assert _loader.preloaded_libraries()[-1] == str(package_lib / cudart.name)


def test_layers_asked_for_a_gpu_whose_backend_did_not_load_are_warned_about(
    tmp_path: Path, model_path: Path
) -> None:
    from llama_cpp import Llama

    lib, _ = make_cuda_module(tmp_path, 95)
    _loader._backend_failures.update(_loader._find_load_failures(lib, loaded=set()))
    expected = r"n_gpu_layers=-1.*libcudart\.so\.95.*llama-cpp doctor"
    with pytest.warns(RuntimeWarning, match=expected):
        Llama(str(model_path), n_gpu_layers=-1, n_ctx=64, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Llama(str(model_path), n_gpu_layers=0, n_ctx=64, verbose=False)  # CPU asked: silent


@pytest.mark.parametrize(
    ("family", "cuda", "expected"),
    [
        ("cuda", "12.8", ["cudart64_12.dll", "cublas64_12.dll", "cublasLt64_12.dll", "nvcuda.dll"]),
        (
            "cuda",
            "13.0.88",
            ["cudart64_13.dll", "cublas64_13.dll", "cublasLt64_13.dll", "nvcuda.dll"],
        ),
        ("cuda", "", ["nvcuda.dll"]),
        ("vulkan", None, ["vulkan-1.dll"]),
        ("blas", None, []),
    ],
)
def test_windows_dependencies_name_what_the_doctor_knows_how_to_fix(
    family: str, cuda: str | None, expected: list[str]
) -> None:
    from llama_cpp.doctor.checks._modules import _fix

    names = _loader.windows_dependencies(family, cuda)
    assert names == expected
    for name in names:  # each missing DLL maps to its specific fix, never the generic one
        detail, _ = _fix({"system": {"pip": "pip"}}, f"Could not find module (missing: {name})")
        assert "damaged" not in detail


@pytest.mark.parametrize(
    ("windows", "files", "expected"),
    [
        (  # CUDA 12 packages on Linux: one directory per component; version-suffixed copies skipped
            False,
            ["cublas/lib/libcublas.so.12", "cublas/lib/libcublasLt.so.12",
             "cuda_runtime/lib/libcudart.so.12", "cuda_runtime/lib/libcudart.so.12.9.79",
             "cublas/lib/libnvblas.so.12"],
            ["cuda_runtime/lib/libcudart.so.12", "cublas/lib/libcublasLt.so.12",
             "cublas/lib/libcublas.so.12"],
        ),
        (  # CUDA 13 packages on Linux: one directory for all
            False,
            ["cu13/lib/libcublas.so.13", "cu13/lib/libcublasLt.so.13", "cu13/lib/libcudart.so.13"],
            ["cu13/lib/libcudart.so.13", "cu13/lib/libcublasLt.so.13", "cu13/lib/libcublas.so.13"],
        ),
        (  # Windows: DLLs in bin/ or a directory below it
            True,
            ["cublas/bin/cublas64_12.dll", "cublas/bin/cublasLt64_12.dll",
             "cuda_runtime/bin/cudart64_12.dll", "cu13/bin/x86_64/cudart64_13.dll"],
            ["cuda_runtime/bin/cudart64_12.dll", "cu13/bin/x86_64/cudart64_13.dll",
             "cublas/bin/cublasLt64_12.dll", "cublas/bin/cublas64_12.dll"],
        ),
    ],
)  # fmt: skip
def test_nvidia_library_files_are_listed_in_load_order(
    windows: bool, files: list[str], expected: list[str], tmp_path: Path
) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = _loader.nvidia_library_files(tmp_path, windows)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == expected
