"""A CUDA toolkit made of NVIDIA's packages from the package index, for CMake.

NVIDIA publishes the compiler (nvcc, its front end and NVVM), the runtime, CCCL and
cuBLAS as pip packages (src/llama_cpp/cuda_toolkits.json lists the tested sets). Installed,
they are almost a toolkit, but not quite one that nvcc and CMake's FindCUDAToolkit
accept: nvcc looks for ``lib64`` beside its ``bin``, CMake links against unversioned
``libcudart.so``/``libcublas.so`` and the driver's ``libcuda.so`` (ggml uses the driver
API). (Packages spread over several folders, as CUDA 12's are, are merged; but NVIDIA's
CUDA 12 packages carry no nvcc, so only CUDA 13 has a build set.) This script lays
out a *view* of them: a folder shaped like a toolkit (``bin``, ``include``, ``nvvm``
copied, ``lib64`` linked), plus a link-time stand-in for ``libcuda.so`` whose
exported names are read from the packages' own ``cuda.h`` (the real driver library is
loaded at run time; nothing here is ever installed).

    python build_backend/cuda_toolkit.py find --major 13
    python build_backend/cuda_toolkit.py view --major 13 --dest build/cuda-toolkit --cc gcc

Output lines are KEY=VALUE for CMake to read.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TABLE = Path(__file__).resolve().parent.parent / "src" / "llama_cpp" / "cuda_toolkits.json"

# What a build needs, by the file that shows it is there (relative to a package root).
REQUIRED = {
    "nvcc": ["bin/nvcc"],
    "cicc (NVVM)": ["nvvm/bin/cicc"],
    "CUDA runtime": ["include/cuda_runtime.h", "lib/libcudart.so.*"],
    "CCCL": ["include/cccl/cub/cub.cuh", "include/cub/cub.cuh"],
    "cuBLAS": ["include/cublas_v2.h", "lib/libcublas.so.*"],
}


def load_table() -> dict:
    """The tested package sets."""
    return json.loads(TABLE.read_text(encoding="utf-8"))


def toolkit(major: str) -> dict:
    """The tested set for one CUDA major version."""
    table = load_table()["toolkits"]
    if major not in table:
        raise SystemExit(f"no tested pip toolkit for CUDA {major}; known: {', '.join(table)}")
    return table[major]


def _roots(major: str, search: list[str]) -> tuple[Path | None, list[Path]]:
    """The first site folder holding any of the toolkit's package roots, and those roots."""
    for entry in search:
        site = Path(entry or ".")
        roots = [site / r for r in toolkit(major)["roots"] if (site / r).is_dir()]
        if roots:
            return site, roots
    return None, []


def missing_parts(roots: list[Path]) -> list[str]:
    """The components none of ``roots`` provides (each needs one of its files to exist;
    for two-file entries both, e.g. cuBLAS's header and its library)."""
    missing = []
    for part, files in REQUIRED.items():
        if part == "CCCL":
            ok = any((r / f).is_file() for r in roots for f in files)
        else:
            ok = all(any(list(r.glob(f)) for r in roots) for f in files)
        if not ok:
            missing.append(part)
    return missing


def toolkit_root(nvcc: str) -> Path:
    """The toolkit folder an nvcc works in (its ``TOP``), as nvcc itself reports it; a
    wrapper script or a symbolic link on PATH leads to the real toolkit this way."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "probe.cu").write_text("int main() { return 0; }\n", encoding="utf-8")
        run = subprocess.run(
            [nvcc, "-v", "--dryrun", "-c", "probe.cu"], cwd=tmp, capture_output=True, text=True
        )
    match = re.search(r"^#\$ TOP=(.+)$", run.stdout + run.stderr, re.MULTILINE)
    if not match:
        return Path(nvcc).resolve().parent.parent
    return Path(os.path.normpath(match.group(1).strip()))


def nvcc_version(nvcc: str) -> str:
    """``13.0`` from ``nvcc --version`` (empty when it does not say)."""
    run = subprocess.run([nvcc, "--version"], capture_output=True, text=True)
    match = re.search(r"release (\d+\.\d+)", run.stdout)
    return match.group(1) if match else ""


def system_missing(root: Path) -> list[str]:
    """What a build needs that the toolkit at ``root`` lacks: the CUDA runtime and cuBLAS,
    headers and libraries (a toolkit's own layout, or Debian's targets/ one)."""
    includes = [root / "include", *root.glob("targets/*/include")]
    libs = [root / "lib64", root / "lib", root / "lib" / "x64", *root.glob("targets/*/lib")]

    def has(header: str, library: str) -> bool:
        found_header = any((d / header).is_file() for d in includes)
        found_library = any(
            list(d.glob(f"lib{library}.so*")) or (d / f"{library}.lib").is_file() for d in libs
        )
        return found_header and found_library

    missing = []
    if not has("cuda_runtime.h", "cudart"):
        missing.append("CUDA runtime")
    if not has("cublas_v2.h", "cublas"):
        missing.append("cuBLAS")
    return missing


def _merge(dest: Path, sources: list[Path], copy: bool) -> None:
    """Lay ``sources`` (folders) out in ``dest``: a name found in one source is linked as it
    is, or with ``copy`` copied (files only where their content changed, so that a rebuild
    in the same build tree sees unchanged headers and compiler, not files unpacked afresh
    into a new build environment); a folder found in several is merged one level down."""
    dest.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[Path]] = {}
    for source in sources:
        for child in sorted(source.iterdir()):
            names.setdefault(child.name, []).append(child)
    for name, paths in names.items():
        target = dest / name
        folders = [p for p in paths if p.is_dir()]
        if len(folders) > 1 or (copy and folders):
            _merge(target, folders, copy)
        elif copy:
            _copy_if_changed(paths[0], target)
        elif not target.is_symlink() or os.readlink(target) != str(paths[0]):
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(paths[0])


def _copy_if_changed(source: Path, target: Path) -> None:
    if target.is_symlink():
        target.unlink()
    if target.is_file() and filecmp.cmp(source, target, shallow=False):
        return
    shutil.copy2(source, target)


def _driver_stub(view: Path, cc: str) -> Path:
    """``lib64/stubs/libcuda.so``: every driver API function cuda.h declares, as an
    empty export, with the driver's soname, so that linking records ``libcuda.so.1``
    as the real toolkits' stub does. Never loaded: the driver provides it at run time."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp, "probe.c")
        probe.write_text("#include <cuda.h>\n", encoding="utf-8")
        declarations = subprocess.run(
            [cc, "-E", "-P", f"-I{view / 'include'}", str(probe)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        names = sorted(set(re.findall(r"\bCUresult\s+(cu\w+)\s*\(", declarations)))
        if not names:
            raise SystemExit(f"no driver API functions found in {view / 'include/cuda.h'}")
        source = Path(tmp, "libcuda_stub.c")
        source.write_text("".join(f"void {n}(void) {{}}\n" for n in names), encoding="utf-8")
        stub = view / "lib64" / "stubs" / "libcuda.so"
        stub.parent.mkdir(parents=True, exist_ok=True)
        built = Path(tmp, "libcuda.so")
        subprocess.run(
            [cc, "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(built), str(source)],
            check=True,
        )
        _copy_if_changed(built, stub)
    return stub


def make_view(major: str, dest: Path, cc: str, search: list[str]) -> Path:
    """Lay out the toolkit view at ``dest`` (made afresh) and return it."""
    site, roots = _roots(major, search)
    if site is None or missing_parts(roots):
        raise SystemExit("the CUDA pip toolkit is not complete: " + ", ".join(missing_parts(roots)))
    dest.mkdir(parents=True, exist_ok=True)
    # what compiles depend on is copied (headers, the compiler), the libraries are linked
    for part in ("bin", "include", "nvvm"):
        sources = [r / part for r in roots if (r / part).is_dir()]
        _merge(dest / part, sources, copy=True)
    lib64 = dest / "lib64"
    _merge(lib64, [r / "lib" for r in roots if (r / "lib").is_dir()], copy=False)
    # CMake and nvcc link against the unversioned names.
    for versioned in sorted(lib64.glob("lib*.so.*")):
        plain = lib64 / re.sub(r"\.so\..*$", ".so", versioned.name)
        if plain.is_symlink():
            plain.unlink()
        if not plain.exists():
            plain.symlink_to(versioned.resolve())
    if not (dest / "lib").is_symlink():
        (dest / "lib").symlink_to("lib64")
    _driver_stub(dest, cc)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "find", "view", "packages"])
    parser.add_argument("--nvcc", help="check: the nvcc whose toolkit to check")
    parser.add_argument("--major", default=None, help="CUDA major version (default: the table's)")
    parser.add_argument("--dest", type=Path, help="view: folder to lay the toolkit out in")
    parser.add_argument("--cc", default=os.environ.get("CC", "cc"), help="view: a C compiler")
    args = parser.parse_args(argv)
    major = args.major or load_table()["default_major"]
    if args.command == "packages":
        print("CUDA_PIP_PACKAGES=" + " ".join(toolkit(major)["build"]))
        print("CUDA_PIP_VERSION=" + toolkit(major)["version"])
        return 0
    if args.command == "check":
        if not args.nvcc:
            parser.error("check needs --nvcc")
        root = toolkit_root(args.nvcc)
        print(f"CUDA_SYSTEM_ROOT={root}")
        print(f"CUDA_SYSTEM_VERSION={nvcc_version(args.nvcc)}")
        print("CUDA_SYSTEM_MISSING=" + ", ".join(system_missing(root)))
        return 0
    if sys.platform != "linux":
        print("CUDA_PIP_MISSING=the pip toolkit route is made for Linux")
        return 0
    site, roots = _roots(major, sys.path)
    if args.command == "find":
        missing = missing_parts(roots) if roots else list(REQUIRED)
        print(f"CUDA_PIP_SITE={site or ''}")
        print("CUDA_PIP_MISSING=" + ", ".join(missing))
        return 0
    if args.dest is None:
        parser.error("view needs --dest")
    view = make_view(major, args.dest.resolve(), args.cc, sys.path)
    print(f"CUDA_PIP_VIEW={view}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
