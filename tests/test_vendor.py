"""The pinned llama.cpp: the lock, the fetch script's sources and its errors, our sdist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "vendor" / "fetch_llama_cpp.py"
LOCK = json.loads((REPO / "vendor" / "llama.cpp.lock.json").read_text(encoding="utf-8"))
PINNED_COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
MARKER = ".llama-cpp-pybind-source.json"


@dataclass
class Fetch:
    returncode: int
    stdout: str
    stderr: str

    @property
    def tree(self) -> Path | None:
        lines = self.stdout.strip().splitlines()
        if lines and lines[-1].startswith("LLAMA_CPP_DIR="):
            return Path(lines[-1].split("=", 1)[1])
        return None


def run_fetch(vendor: Path, **env: str) -> Fetch:
    """Run a copy of the fetch script whose vendor/ folder is `vendor`; git is kept off PATH."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LLAMA_CPP_SOURCE_DIR", "LLAMA_CPP_PYBIND_SDIST")
    }
    full_env["PATH"] = str(vendor / "no-tools-here")
    full_env.update(env)
    result = subprocess.run(
        [sys.executable, str(vendor / SCRIPT.name)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
        check=False,
    )
    return Fetch(result.returncode, result.stdout, result.stderr)


def link_subset(source: Path, dest: Path) -> None:
    """Hard-link the build subset of `source` into `dest` (fast, no copies)."""
    subset = LOCK["build_subset"]
    dest.mkdir(parents=True)
    for name in [*subset["files"], MARKER]:
        if (source / name).exists():
            os.link(source / name, dest / name)
    for name in subset["dirs"]:
        shutil.copytree(source / name, dest / name, copy_function=os.link)


def replace_file(path: Path, text: str) -> None:
    """Change a hard-linked file without touching the original."""
    path.unlink()
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def vendor(tmp_path: Path) -> Path:
    """An empty vendor/ folder holding the script and the lock."""
    folder = tmp_path / "vendor"
    folder.mkdir()
    shutil.copy2(SCRIPT, folder / SCRIPT.name)
    shutil.copy2(REPO / "vendor" / "llama.cpp.lock.json", folder / "llama.cpp.lock.json")
    return folder


def test_lock_pins_the_commit_and_the_sdist_checksum() -> None:
    assert LOCK["commit"] == PINNED_COMMIT
    sdist = LOCK["sources"]["sdist"]
    assert (sdist["name"], sdist["version"]) == ("llama-cpp-python", "0.3.36")
    assert sdist["sha256"] == "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
    assert len(LOCK["build_subset_sha256"]) == 64


def test_llama_cpp_tree_is_never_committed() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "vendor/llama.cpp", "vendor/.downloads"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert tracked == ""
    ignored = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "-q", "vendor/llama.cpp/CMakeLists.txt"],
        check=False,
    )
    assert ignored.returncode == 0, "vendor/llama.cpp must be in .gitignore"
    gguf = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "*.gguf"], capture_output=True, text=True, check=True
    ).stdout
    assert gguf == "", "model files must not be committed"


def test_pinned_tree_verifies(llama_cpp_tree: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"LLAMA_CPP_DIR={llama_cpp_tree.as_posix()}"


def test_copy_of_pinned_tree_verifies(llama_cpp_tree: Path, vendor: Path) -> None:
    link_subset(llama_cpp_tree, vendor / "llama.cpp")
    result = run_fetch(vendor)
    assert result.returncode == 0, result.stderr
    assert result.tree == vendor / "llama.cpp"


def test_edited_tree_is_an_error_with_the_fix(llama_cpp_tree: Path, vendor: Path) -> None:
    tree = vendor / "llama.cpp"
    link_subset(llama_cpp_tree, tree)
    replace_file(tree / "include" / "llama.h", "// not the pinned header\n")
    result = run_fetch(vendor)
    assert result.returncode == 1
    assert "does not match the pinned llama.cpp" in result.stderr
    assert PINNED_COMMIT in result.stderr
    assert "rm -rf vendor/llama.cpp" in result.stderr
    assert result.tree is None


def test_tree_from_another_commit_is_an_error(llama_cpp_tree: Path, vendor: Path) -> None:
    tree = vendor / "llama.cpp"
    link_subset(llama_cpp_tree, tree)
    replace_file(tree / MARKER, json.dumps({"commit": "deadbeef" * 5, "source": "git"}))
    result = run_fetch(vendor)
    assert result.returncode == 1
    assert f"fetched for llama.cpp commit {'deadbeef' * 5}" in result.stderr
    assert f"the lock pins {PINNED_COMMIT}" in result.stderr


def test_git_checkout_at_another_commit_is_an_error(vendor: Path) -> None:
    tree = vendor / "llama.cpp"
    (tree / "include").mkdir(parents=True)
    (tree / "CMakeLists.txt").write_text("project(x)\n", encoding="utf-8")
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
    }
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for step in (["init", "-q"], ["add", "."], ["commit", "-qm", "other"]):
        subprocess.run([git, "-C", str(tree), *step], check=True, env=env)
    head = subprocess.run(
        [git, "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    result = run_fetch(vendor, PATH=str(Path(git).parent))
    assert result.returncode == 1
    assert f"git checkout of llama.cpp commit {head}" in result.stderr
    assert f"checkout {PINNED_COMMIT}" in result.stderr


def test_stray_folder_is_an_error(vendor: Path) -> None:
    (vendor / "llama.cpp").mkdir()
    result = run_fetch(vendor)
    assert result.returncode == 1
    assert "holds no llama.cpp (no CMakeLists.txt)" in result.stderr


def test_source_dir_matching_the_lock_is_used_quietly(llama_cpp_tree: Path, vendor: Path) -> None:
    mine = vendor.parent / "my-llama.cpp"
    link_subset(llama_cpp_tree, mine)
    result = run_fetch(vendor, LLAMA_CPP_SOURCE_DIR=str(mine))
    assert result.returncode == 0, result.stderr
    assert result.tree == mine
    assert "WARNING" not in result.stderr
    assert not (vendor / "llama.cpp").exists()


def test_source_dir_differing_from_the_lock_warns(llama_cpp_tree: Path, vendor: Path) -> None:
    mine = vendor.parent / "my-llama.cpp"
    link_subset(llama_cpp_tree, mine)
    replace_file(mine / "src" / "llama.cpp", "// my local patch\n")
    result = run_fetch(vendor, LLAMA_CPP_SOURCE_DIR=str(mine))
    assert result.returncode == 0, result.stderr
    assert result.tree == mine
    assert f"WARNING: LLAMA_CPP_SOURCE_DIR={mine}" in result.stderr
    assert f"pinned to llama.cpp {PINNED_COMMIT}" in result.stderr


def test_source_dir_that_is_not_llama_cpp_is_an_error(vendor: Path) -> None:
    result = run_fetch(vendor, LLAMA_CPP_SOURCE_DIR=str(vendor.parent))
    assert result.returncode == 1
    assert "is not a llama.cpp source tree" in result.stderr


def test_archive_with_wrong_checksum_is_an_error(vendor: Path) -> None:
    fake = vendor.parent / LOCK["sources"]["sdist"]["filename"]
    fake.write_bytes(b"not the release")
    result = run_fetch(vendor, LLAMA_CPP_PYBIND_SDIST=str(fake))
    assert result.returncode == 1
    assert f"checksum mismatch for {fake}" in result.stderr
    assert LOCK["sources"]["sdist"]["sha256"] in result.stderr
    assert "delete it and re-run" in result.stderr
    assert not (vendor / "llama.cpp").exists(), "nothing half-made may be left behind"
    assert list(vendor.glob(".llama.cpp.*")) == []


@pytest.mark.slow
def test_sdist_archive_fills_the_tree(vendor: Path) -> None:
    archive = REPO / "vendor" / ".downloads" / LOCK["sources"]["sdist"]["filename"]
    if not archive.is_file():
        pytest.skip("the llama-cpp-python archive was not downloaded by this checkout")
    result = run_fetch(vendor, LLAMA_CPP_PYBIND_SDIST=str(archive))
    assert result.returncode == 0, result.stderr
    assert "git not found" in result.stderr
    tree = vendor / "llama.cpp"
    assert result.tree == tree
    marker = json.loads((tree / MARKER).read_text(encoding="utf-8"))
    assert marker["commit"] == PINNED_COMMIT
    assert marker["source"] == f"sdist:{archive.name}"
    assert (tree / "include" / "llama.h").is_file()
    again = run_fetch(vendor)  # now the existing tree is used and verified
    assert again.returncode == 0 and again.tree == tree, again.stderr


def test_our_sdist_carries_only_the_build_subset(tmp_path: Path, llama_cpp_tree: Path) -> None:
    build = pytest.importorskip("scikit_build_core.build")
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        name = build.build_sdist(str(tmp_path))
    finally:
        os.chdir(cwd)
    with tarfile.open(tmp_path / name) as archive:
        names = archive.getnames()
        root = names[0].split("/")[0]
        vendored = {n.split("/", 3)[3] for n in names if n.startswith(f"{root}/vendor/llama.cpp/")}
        top = {v.split("/")[0] for v in vendored}
        allowed = {*LOCK["build_subset"]["files"], *LOCK["build_subset"]["dirs"], MARKER}
        assert top <= allowed, top - allowed
        assert "include" in top and "ggml" in top and MARKER in top
        assert not any(n.endswith(".gguf") for n in names)
        assert f"{root}/vendor/.downloads" not in {n.rsplit("/", 1)[0] for n in names}
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "unpacked", **safe)
    # installing from it needs no network: the tree inside verifies as is
    unpacked_vendor = tmp_path / "unpacked" / root / "vendor"
    result = run_fetch(unpacked_vendor)
    assert result.returncode == 0, result.stderr
    assert result.tree == unpacked_vendor / "llama.cpp"
    assert "trying" not in result.stderr
