"""Build time and installed size: llama-cpp-pybind against llama-cpp-python, side by side.

Runs, one after the other on this machine, with ccache disabled and pip's cache off:

1. a cold ``pip install .`` of this repository (CPU, default flags) into a scratch folder;
2. a cold ``pip install`` of the llama-cpp-python 0.3.36 source archive (the one the lock
   pins) into another scratch folder;
3. (``--editable``) an editable install of this repository, then the rebuild after touching
   one binding file and the rebuild with nothing changed (ccache on, as in development).

and prints each time, each installed size and the ratios. Figures come from one run; nothing
here asserts a threshold.

    python benchmarks/build_and_size.py --editable
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = json.loads((REPO / "vendor" / "llama.cpp.lock.json").read_text(encoding="utf-8"))


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def timed(command: list[str], env: dict[str, str], cwd: Path = REPO) -> float:
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"command failed with exit code {result.returncode}")
    print(f"  {elapsed:.1f} s", flush=True)
    return elapsed


def cold_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "FORCE_CMAKE")}
    env["CCACHE_DISABLE"] = "1"  # an empty ccache: nothing reused from earlier builds
    return env


def llama_cpp_python_sdist(scratch: Path) -> Path:
    sdist = LOCK["sources"]["sdist"]
    local = REPO / "vendor" / ".downloads" / sdist["filename"]
    if local.is_file():
        return local
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", sdist["name"],
         "--no-build-isolation", "-d", str(scratch), f"{sdist['name']}=={sdist['version']}"],
        check=True,
    )  # fmt: skip
    return scratch / sdist["filename"]


def cold_install(target: Path, what: str) -> tuple[float, int]:
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir",
               "--target", str(target), what]  # fmt: skip
    seconds = timed(command, cold_env())
    return seconds, folder_size(target)  # everything the wheel installed


def editable_rebuilds() -> tuple[float, float, float, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "FORCE_CMAKE")}
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
               "-e", "."]  # fmt: skip
    first = timed(command, env)
    binding = REPO / "src" / "bindings" / "register_model.cpp"
    binding.touch()
    touched = timed(command, env)  # ccache may answer: the content did not change
    binding.touch()
    recompiled = timed(command, {**env, "CCACHE_DISABLE": "1"})  # a real compile of that file
    unchanged = timed(command, env)
    return first, touched, recompiled, unchanged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--editable", action="store_true", help="also measure editable rebuilds")
    parser.add_argument(
        "--editable-only", action="store_true", help="measure only the editable rebuilds"
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}", flush=True)
    if not args.editable_only:
        compare_cold_installs()
    if args.editable or args.editable_only:
        first, touched, recompiled, unchanged = editable_rebuilds()
        print("editable install (persistent build dir)")
        print(f"  first editable install                     : {first:6.1f} s")
        print(f"  rebuild after touching a binding (ccache)  : {touched:6.1f} s")
        print(f"  rebuild after touching a binding (no ccache): {recompiled:6.1f} s")
        print(f"  rebuild with nothing changed               : {unchanged:6.1f} s")
    return 0


def compare_cold_installs() -> None:
    with tempfile.TemporaryDirectory(prefix="llama-bench-") as scratch_name:
        scratch = Path(scratch_name)
        ours_s, ours_size = cold_install(scratch / "ours", str(REPO))
        sdist = llama_cpp_python_sdist(scratch)
        theirs_s, theirs_size = cold_install(scratch / "theirs", str(sdist))
        shutil.rmtree(scratch / "ours", ignore_errors=True)
        shutil.rmtree(scratch / "theirs", ignore_errors=True)
    print()
    print("cold pip install (CPU, default flags, no ccache)")
    print(f"  llama-cpp-pybind   : {ours_s:7.1f} s   installed {ours_size / 1e6:6.1f} MB")
    print(f"  llama-cpp-python   : {theirs_s:7.1f} s   installed {theirs_size / 1e6:6.1f} MB")
    print(f"  time ratio ours/theirs : {ours_s / theirs_s:.2f}")
    print(f"  size ratio ours/theirs : {ours_size / theirs_size:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
