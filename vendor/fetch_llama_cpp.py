#!/usr/bin/env python3
"""Fetch the pinned llama.cpp into ``vendor/llama.cpp`` and verify it.

The lock (``vendor/llama.cpp.lock.json``) names the llama.cpp commit, the
sha256 of every archive this script may unpack, and the digest of the part of
the tree the build needs ("build subset").  Sources, first one that works:

1. ``vendor/llama.cpp`` already present and matching the lock;
2. ``LLAMA_CPP_SOURCE_DIR``: a user's own checkout, used in place (a warning
   is printed when it is not the pinned commit);
3. git, at the pinned commit;
4. the llama-cpp-python sdist from the package index, whose
   ``vendor/llama.cpp`` is the pinned commit (sha256-checked).

CMake runs this script at configure time.  On success the last line on stdout
is ``LLAMA_CPP_DIR=<path>``; on failure the reason and the fix go to stderr
and the exit status is 1.  Only the standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent
LOCK_PATH = VENDOR_DIR / "llama.cpp.lock.json"
TREE_DIR = VENDOR_DIR / "llama.cpp"
DOWNLOAD_DIR = VENDOR_DIR / ".downloads"
MARKER_NAME = ".llama-cpp-pybind-source.json"
GIT_TIMEOUT_S = 300


class FetchError(Exception):
    """A source failed in a way the user must hear about (not just 'try the next')."""


def log(message: str) -> None:
    print(f"[fetch_llama_cpp] {message}", file=sys.stderr, flush=True)


def load_lock() -> dict:
    with LOCK_PATH.open(encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def subset_files(root: Path, lock: dict) -> list[str]:
    """Relative POSIX paths of the build subset present under ``root``, sorted."""
    subset = lock["build_subset"]
    found: list[str] = []
    for name in subset["files"]:
        if (root / name).is_file():
            found.append(name)
    for dirname in subset["dirs"]:
        base = root / dirname
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_file() and not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def subset_digest(root: Path, lock: dict) -> str:
    """sha256 over (path, content) of the build subset; CRLF folded to LF.

    Folding line endings keeps the digest stable for a git checkout made with
    ``core.autocrlf`` on Windows.
    """
    digest = hashlib.sha256()
    for rel in subset_files(root, lock):
        content = (root / rel).read_bytes().replace(b"\r\n", b"\n")
        digest.update(rel.encode() + b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def git_head(path: Path) -> str | None:
    if not (path / ".git").exists():
        return None
    try:
        result = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    head = result.stdout.strip()
    return head if result.returncode == 0 and len(head) == 40 else None


def read_marker(tree: Path) -> dict | None:
    try:
        return json.loads((tree / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_marker(tree: Path, lock: dict, source: str) -> None:
    marker = {
        "commit": lock["commit"],
        "source": source,
        "build_subset_sha256": subset_digest(tree, lock),
    }
    (tree / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def refetch_hint() -> str:
    return (
        f"To fetch the pinned tree again: remove {TREE_DIR} (rm -rf vendor/llama.cpp) and "
        "re-run the build. To build against your own llama.cpp on purpose, set "
        "LLAMA_CPP_SOURCE_DIR=/path/to/llama.cpp instead."
    )


def check_existing_tree(lock: dict) -> bool:
    """True if ``vendor/llama.cpp`` holds the pinned tree; raise if it holds another."""
    if not TREE_DIR.exists():
        return False
    if not (TREE_DIR / "CMakeLists.txt").is_file():
        raise FetchError(
            f"{TREE_DIR} exists but holds no llama.cpp (no CMakeLists.txt): an interrupted "
            f"fetch or a stray directory. {refetch_hint()}"
        )
    expected = lock["commit"]
    head = git_head(TREE_DIR)
    if head is not None:
        if head != expected:
            raise FetchError(
                f"{TREE_DIR} is a git checkout of llama.cpp commit {head}, but the lock "
                f"({LOCK_PATH.name}) pins {expected}. Check out the pinned commit "
                f"(git -C vendor/llama.cpp checkout {expected}). {refetch_hint()}"
            )
        return True
    marker = read_marker(TREE_DIR)
    want = lock["build_subset_sha256"]
    if marker is not None:
        if marker.get("commit") != expected:
            raise FetchError(
                f"{TREE_DIR} was fetched for llama.cpp commit {marker.get('commit')}, but the "
                f"lock pins {expected}. {refetch_hint()}"
            )
        want = marker.get("build_subset_sha256", want)
    have = subset_digest(TREE_DIR, lock)
    if have != want:
        raise FetchError(
            f"{TREE_DIR} does not match the pinned llama.cpp {expected}: the build files "
            f"hash to {have}, expected {want} (files edited, missing, or from another "
            f"commit). {refetch_hint()}"
        )
    return True


def use_source_dir(lock: dict, source_dir: str) -> Path:
    path = Path(source_dir).expanduser().resolve()
    if not (path / "CMakeLists.txt").is_file() or not (path / "include" / "llama.h").is_file():
        raise FetchError(
            f"LLAMA_CPP_SOURCE_DIR={source_dir} is not a llama.cpp source tree "
            "(no CMakeLists.txt and include/llama.h there). Point it at the root of a "
            "llama.cpp checkout, or unset it to use the pinned llama.cpp."
        )
    expected = lock["commit"]
    head = git_head(path)
    if head is not None:
        same = head == expected
        found = f"commit {head}"
    else:
        same = subset_digest(path, lock) == lock["build_subset_sha256"]
        found = "a tree that is not a git checkout and whose files differ from the pinned tree"
    if not same:
        log(
            f"WARNING: LLAMA_CPP_SOURCE_DIR={path} holds {found}; this package is pinned to "
            f"llama.cpp {expected}. The build goes on with your tree, but the bindings are "
            "only tested against the pinned commit: a build failure or a changed behaviour "
            "may come from that difference. Unset LLAMA_CPP_SOURCE_DIR to use the pinned tree."
        )
    return path


def fetch_with_git(lock: dict, dest: Path) -> bool:
    git = shutil.which("git")
    if git is None:
        log("git not found; skipping the git source")
        return False
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    commit = lock["commit"]
    url = lock["sources"]["git"]["url"]
    log(f"trying git: {url} at {commit}")
    steps = [
        [git, "init", "-q", str(dest)],
        [git, "-C", str(dest), "fetch", "-q", "--depth", "1", url, commit],
        [git, "-C", str(dest), "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"],
    ]
    for step in steps:
        try:
            result = subprocess.run(
                step, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            log(f"git timed out after {GIT_TIMEOUT_S} s: {' '.join(step[1:4])}")
            return False
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            log(f"git failed: {lines[-1] if lines else f'exit code {result.returncode}'}")
            return False
    head = git_head(dest)
    if head != commit:
        raise FetchError(f"git checked out {head}, expected the pinned commit {commit}")
    shutil.rmtree(dest / ".git", ignore_errors=True)
    return True


def find_or_download_sdist(lock: dict) -> Path | None:
    sdist = lock["sources"]["sdist"]
    candidates = []
    if os.environ.get("LLAMA_CPP_PYBIND_SDIST"):
        candidates.append(Path(os.environ["LLAMA_CPP_PYBIND_SDIST"]).expanduser())
    candidates.append(DOWNLOAD_DIR / sdist["filename"])
    for path in candidates:
        if path.is_file():
            verify_archive(path, sdist["sha256"])
            return path
    requirement = f"{sdist['name']}=={sdist['version']}"
    DOWNLOAD_DIR.mkdir(parents=True, exist_ok=True)
    base = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        sdist["name"],
        "--disable-pip-version-check",
        "-d",
        str(DOWNLOAD_DIR),
        requirement,
    ]
    # Without build isolation pip reads the sdist's metadata with the build
    # backend already at hand instead of installing (or compiling) its
    # build requirements first; with isolation it still works, only slower.
    for command in ([*base, "--no-build-isolation"], base):
        log(f"trying the package index: pip download {requirement} (source archive)")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode == 0 and candidates[-1].is_file():
            verify_archive(candidates[-1], sdist["sha256"])
            return candidates[-1]
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        log(f"pip download failed: {tail}")
    return None


def verify_archive(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise FetchError(
            f"checksum mismatch for {path}: sha256 is {actual}, the lock expects {expected}. "
            "The file is corrupt or not the pinned release; delete it and re-run the build "
            "to download it again."
        )


def extract_sdist(lock: dict, archive: Path, dest: Path) -> None:
    prefix = lock["sources"]["sdist"]["tree_prefix"].rstrip("/") + "/"
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            if not member.name.startswith(prefix):
                continue
            rel = member.name[len(prefix) :]
            if not rel or rel == ".git" or rel.startswith(".git/"):
                continue
            if member.issym() or member.islnk() or rel.startswith("/") or ".." in rel.split("/"):
                continue
            member.name = rel
            members.append(member)
        if not members:
            raise FetchError(f"{archive} holds no {prefix}: not the expected archive")
        extract_kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=members, **extract_kwargs)


def populate(lock: dict) -> None:
    """Fill ``vendor/llama.cpp`` from git or the sdist, atomically."""
    staging = Path(tempfile.mkdtemp(prefix=".llama.cpp.", dir=VENDOR_DIR))
    try:
        source = None
        if fetch_with_git(lock, staging):
            source = "git"
        else:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            archive = find_or_download_sdist(lock)
            if archive is not None:
                log(f"unpacking {archive.name}")
                extract_sdist(lock, archive, staging)
                digest = subset_digest(staging, lock)
                if digest != lock["build_subset_sha256"]:
                    raise FetchError(
                        f"{archive.name} unpacked to a tree whose build files hash to {digest}, "
                        f"expected {lock['build_subset_sha256']}"
                    )
                source = f"sdist:{archive.name}"
        if source is None:
            sdist = lock["sources"]["sdist"]
            raise FetchError(
                "could not fetch llama.cpp: git could not reach "
                f"{lock['sources']['git']['url']} and pip could not download "
                f"{sdist['name']}=={sdist['version']} from the package index. Fix: give the "
                "build network access to either, or download the archive elsewhere "
                f"(pip download --no-deps --no-binary {sdist['name']} "
                f"{sdist['name']}=={sdist['version']}) and set "
                "LLAMA_CPP_PYBIND_SDIST=/path/to/" + sdist["filename"] + ", or point "
                "LLAMA_CPP_SOURCE_DIR at a llama.cpp checkout."
            )
        write_marker(staging, lock, source)
        if TREE_DIR.exists():
            shutil.rmtree(TREE_DIR)
        staging.rename(TREE_DIR)
        log(f"vendor/llama.cpp ready ({source}, commit {lock['commit']})")
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def ensure_tree() -> Path:
    lock = load_lock()
    source_dir = os.environ.get("LLAMA_CPP_SOURCE_DIR")
    if source_dir:
        return use_source_dir(lock, source_dir)
    if check_existing_tree(lock):
        return TREE_DIR
    populate(lock)
    return TREE_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--digest",
        metavar="DIR",
        help="print the build-subset digest of a llama.cpp tree (to update the lock) and exit",
    )
    args = parser.parse_args(argv)
    if args.digest:
        print(subset_digest(Path(args.digest), load_lock()))
        return 0
    try:
        path = ensure_tree()
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"LLAMA_CPP_DIR={path.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
