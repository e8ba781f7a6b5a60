"""Shared fixtures: the repository layout, the pinned llama.cpp tree, the test model."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDOR_TREE = REPO / "vendor" / "llama.cpp"


def load_script(name: str, path: Path):
    """Import a repository script (vendor/, ci/) as a module."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def llama_cpp_tree() -> Path:
    """The pinned llama.cpp tree, fetched if a build has not done it yet."""
    if not (VENDOR_TREE / "CMakeLists.txt").is_file():
        subprocess.run([sys.executable, str(REPO / "vendor" / "fetch_llama_cpp.py")], check=True)
    return VENDOR_TREE


@pytest.fixture(scope="session")
def model_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1: real weights, downloaded once and sha256-checked."""
    fetcher = load_script("fetch_test_model", REPO / "ci" / "fetch_test_model.py")
    return fetcher.fetch_test_model()


@pytest.fixture
def configure(tmp_path: Path):
    """Configure the top-level CMake project (no compiling): ``configure(*flags, env=...)``."""
    from cmake_project import configure_in

    return configure_in(tmp_path)


@pytest.fixture(scope="session")
def vulkan_headers() -> Path:
    """Vulkan headers new enough for llama.cpp, fetched by ci/vulkan-headers.sh into the user's
    cache (Debian 13's or Ubuntu 24.04's libvulkan-dev unpacked, nothing installed)."""
    import shutil

    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("ci/vulkan-headers.sh needs apt-get and dpkg (Debian or Ubuntu)")
    done = subprocess.run(
        ["bash", str(REPO / "ci" / "vulkan-headers.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    include = Path(done.stdout.strip().splitlines()[-1])
    assert (include / "vulkan" / "vulkan_core.h").is_file(), done.stdout + done.stderr
    return include
