"""Loading the compiled module with an error that says what went wrong, and (in a
portable build) the ggml backend modules shipped beside it in ``llama_cpp/lib``."""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import re
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from llama_cpp._cuda_toolkits import nvidia_package_folders

DOCTOR_HINT = (
    "For a diagnosis and the command that fixes it, run: llama-cpp doctor "
    "(or: python -m llama_cpp.doctor)"
)

# backend name -> the module file it was loaded from (portable builds)
_backend_files: dict[str, str] = {}
# backend module file name -> why it could not be loaded (portable builds)
_backend_failures: dict[str, str] = {}
# libraries of NVIDIA's pip packages loaded ahead of a CUDA backend module
_preloaded: list[str] = []
_preloaded_handles: list[Any] = []
_dll_directories: list[Any] = []
# the compiled module once its backends are loaded
_ready: ModuleType | None = None
# warn_no_gpu_device / warn_unloaded_backends have warned in this process
_warned_no_device = False
_warned_unloaded = False


def backend_directory() -> Path | None:
    """``llama_cpp/lib`` beside the compiled module, where a portable build keeps the
    shared libraries and backend modules; None in a native build."""
    spec = importlib.util.find_spec("llama_cpp._core")
    if spec is None or not spec.origin:
        return None
    lib = Path(spec.origin).with_name("lib")
    return lib if lib.is_dir() else None


def loaded_backend_files() -> dict[str, str]:
    """Which file each dynamically loaded backend came from, e.g.
    ``{"CPU": ".../llama_cpp/lib/libggml-cpu-haswell.so"}`` (empty in a native build)."""
    return dict(_backend_files)


def backend_failures() -> dict[str, str]:
    """Backend modules shipped in ``llama_cpp/lib`` that could not be loaded, with the
    loader's reason, e.g. ``{"libggml-cuda.so": "libcudart.so.12: cannot open shared
    object file: No such file or directory"}``. Empty when every backend loaded."""
    return dict(_backend_failures)


def preloaded_libraries() -> list[str]:
    """Libraries from NVIDIA's pip packages loaded for the CUDA backend (see
    :func:`load_core`)."""
    return list(_preloaded)


def warn_unloaded_backends(n_gpu_layers: int) -> None:
    """Warn once per process when layers were asked for a GPU while a backend module
    shipped with this installation did not load (a GPU backend: the model then runs on the
    CPU), which would otherwise go unnoticed."""
    global _warned_unloaded
    if n_gpu_layers == 0 or not _backend_failures or _warned_unloaded:
        return
    _warned_unloaded = True
    reasons = "; ".join(f"{name}: {reason}" for name, reason in sorted(_backend_failures.items()))
    warnings.warn(
        f"n_gpu_layers={n_gpu_layers}, but a backend module of this installation could not be "
        f"loaded ({reasons}), so the model runs without it. For the fix, run: llama-cpp doctor",
        RuntimeWarning,
        stacklevel=3,
    )


def warn_no_gpu_device(n_gpu_layers: int) -> None:
    """Warn once per process when layers were asked for a GPU and the build has a GPU
    backend that found no device (no driver, a software device ggml skips, a
    GGML_VK_VISIBLE_DEVICES naming none): the model then runs on the CPU."""
    global _warned_no_device
    if n_gpu_layers == 0 or _warned_no_device:
        return
    from llama_cpp._build_info import build_info
    from llama_cpp.doctor.checks._flags import BUILD_NAME_OF_REGISTRY, GPU_BACKENDS

    core = load_core()
    compiled = [b for b in build_info().get("backends") or [] if b in GPU_BACKENDS]
    unloaded = {m.group(1) for name in _backend_failures if (m := _BACKEND_MODULE.match(name))}
    compiled = [b for b in compiled if b.lower() not in unloaded]  # warned about already
    with_device = {
        BUILD_NAME_OF_REGISTRY.get(d["backend"], d["backend"])
        for d in core.devices()
        if d["type"] in ("gpu", "igpu")
    }
    if not compiled or with_device:
        return
    _warned_no_device = True
    backends = " and ".join(compiled)
    warnings.warn(
        f"n_gpu_layers={n_gpu_layers}, but {backends} found no device, so the model runs on "
        f"the CPU. {DOCTOR_HINT}",
        RuntimeWarning,
        stacklevel=3,
    )


def load_core() -> ModuleType:
    """Import ``llama_cpp._core`` (turning a bare loader error into an explanation) and,
    once per process, load the backend modules a portable build keeps beside it; also
    when something imported ``llama_cpp._core`` directly before."""
    global _ready
    if _ready is not None:
        return _ready
    lib = backend_directory()
    core = sys.modules.get("llama_cpp._core")
    if core is None:
        if lib is not None and sys.platform == "win32":
            # Windows finds a DLL's dependencies only in directories named this way.
            _dll_directories.append(os.add_dll_directory(str(lib)))
        try:
            core = importlib.import_module("llama_cpp._core")
        except ImportError as error:
            raise ImportError(_explain(error)) from error
    if lib is not None:
        _preload_cuda_libraries(lib)
        _load_backend_modules(core, lib)
    _ready = core
    return core


def _load_backend_modules(core: ModuleType, lib: Path) -> None:
    lines: list[str] = []
    core.set_log_callback(lambda _level, text: lines.append(text.decode(errors="replace")))
    try:
        core.load_backends(str(lib))
    finally:
        core.set_log_callback(None)
    for match in re.finditer(r"loaded (\S+) backend from (.+)", "".join(lines)):
        _backend_files[match.group(1)] = match.group(2).strip()
    _backend_failures.update(_find_load_failures(lib, set(_backend_files.values())))
    if "CPU" not in core.backends():
        shipped = sorted(p.name for p in lib.iterdir() if "ggml-cpu" in p.name)
        raise ImportError(
            f"llama_cpp could not load a CPU backend from {lib} (files there: "
            f"{', '.join(shipped) or 'none'}). The installation is incomplete or damaged. "
            "Reinstall with: pip install --force-reinstall --no-cache-dir llama-cpp-pybind\n"
            + DOCTOR_HINT
        )


# [lib]ggml-<backend>[-<variant>].<ext>: a backend module (not libggml / libggml-base)
_BACKEND_MODULE = re.compile(r"^(?:lib)?ggml-(?!base\b)([a-z]+)(?:-[\w]+)?\.(?:so|dll|dylib)$")


def _find_load_failures(lib: Path, loaded: set[str]) -> dict[str, str]:
    """ggml loads backend modules silently: one whose libraries are missing is simply
    not there. For each backend with no module loaded, load a module of it here to get
    the loader's reason (CPU variants are skipped: they are scored, not all loaded)."""
    loaded_names = {Path(f).name for f in loaded}
    families: dict[str, list[Path]] = {}
    for path in sorted(lib.iterdir()):
        match = _BACKEND_MODULE.match(path.name)
        if match and match.group(1) != "cpu":
            families.setdefault(match.group(1), []).append(path)
    failures = {}
    for family, modules in families.items():
        if any(m.name in loaded_names for m in modules):
            continue
        for module in modules:
            try:
                _load_like_ggml(str(module))
            except OSError as error:
                reason = str(error).replace(str(module) + ": ", "")
                if os.name == "nt":  # Windows does not say which dependency is missing
                    missing = [n for n in windows_dependencies(family) if not _loadable(n)]
                    if missing:
                        reason += f" (missing: {', '.join(missing)})"
                failures[module.name] = reason
    return failures


def windows_dependencies(family: str, cuda_version: str | None = None) -> list[str]:
    """The DLLs outside the package a Windows backend module of ``family`` needs (the
    CUDA ones for the CUDA version the build used, from the build info by default)."""
    if family == "vulkan":
        return ["vulkan-1.dll"]
    if family != "cuda":
        return []
    if cuda_version is None:
        from llama_cpp._build_info import build_info

        cuda_version = str(build_info().get("cuda_version") or "")
    major = cuda_version.split(".")[0]
    if not major.isdigit():
        return ["nvcuda.dll"]
    return [f"cudart64_{major}.dll", f"cublas64_{major}.dll", f"cublasLt64_{major}.dll",
            "nvcuda.dll"]  # fmt: skip


def _load_like_ggml(name: str) -> Any:
    """Load a library the way ggml does: on Windows plain LoadLibrary, whose search
    includes PATH (ctypes' default leaves PATH out)."""
    if os.name == "nt":
        return ctypes.CDLL(name, winmode=0)
    return ctypes.CDLL(name)


def _loadable(name: str) -> bool:
    try:
        _load_like_ggml(name)
    except OSError:
        return False
    return True


# NVIDIA's pip packages keep the CUDA runtime and cuBLAS in folders under nvidia/ (CUDA 12:
# one per component, CUDA 13: one for all; cuda_toolkits.json names them); shared objects
# in lib/, DLLs in bin/ (or below it).
_NVIDIA_LIBS = ("cudart", "cublasLt", "cublas")  # in dependency order


def nvidia_library_files(nvidia: Path, windows: bool) -> list[Path]:
    """The CUDA runtime and cuBLAS libraries under an ``nvidia`` package directory, in
    the order they must be loaded: ``libcudart.so.12`` ... or ``cudart64_12.dll`` ..."""
    found: list[Path] = []
    for name in _NVIDIA_LIBS:
        for component in nvidia_package_folders():
            if windows:
                candidates = [*(nvidia / component).glob(f"bin/{name}64_*.dll"),
                              *(nvidia / component).glob(f"bin/*/{name}64_*.dll")]  # fmt: skip
                pattern = rf"{name}64_\d+\.dll"
            else:
                candidates = list((nvidia / component).glob(f"lib/lib{name}.so.*"))
                pattern = rf"lib{name}\.so\.\d+"
            found += sorted(p for p in candidates if re.fullmatch(pattern, p.name))
    return found


def _preload_cuda_libraries(lib: Path) -> None:
    """The CUDA wheels leave the CUDA runtime and cuBLAS out (they are large and the
    toolkit or NVIDIA's pip packages provide them). When the pip packages are installed
    (the ``cuda12``/``cuda13`` extras), load their libraries first, by full path, so the
    CUDA backend module finds them already loaded (ggml's loader would not look there);
    otherwise the module looks where the system's loader looks."""
    if not any(p.name.startswith(("libggml-cuda", "ggml-cuda")) for p in lib.iterdir()):
        return
    windows = os.name == "nt"
    for entry in sys.path:
        nvidia = Path(entry or ".") / "nvidia"
        if not nvidia.is_dir():
            continue
        for path in nvidia_library_files(nvidia, windows):
            if str(path) in _preloaded:
                continue
            try:
                if windows and sys.platform == "win32":  # (the second test is for mypy)
                    _dll_directories.append(os.add_dll_directory(str(path.parent)))
                    handle = ctypes.CDLL(str(path))
                else:
                    handle = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue  # a damaged package: the failure shows as a backend failure
            _preloaded_handles.append(handle)
            _preloaded.append(str(path))


def _explain(error: ImportError) -> str:
    text = str(error)
    lines = [f"llama_cpp's compiled module could not be loaded: {text}"]
    if "No module named" in text:
        lines.append(
            "The package was installed without its compiled part, or is imported from a "
            "source checkout that was never built. Install it with: pip install ."
        )
    elif "cannot open shared object file" in text or "Library not loaded" in text or "DLL" in text:
        lines.append(
            "A shared library it was built against is missing on this machine (the name is "
            "above). Install that library, or rebuild without the backend that needs it."
        )
    elif "undefined symbol" in text:
        lines.append(
            "The module does not match the libraries it finds at run time. Rebuild it: "
            "pip install --force-reinstall --no-cache-dir llama-cpp-pybind"
        )
    try:
        from llama_cpp._build_info import build_info

        info = build_info()
        lines.append(
            f"This build: version {info.get('package_version')}, backends "
            f"{', '.join(info.get('backends', []))}, CPU features "
            f"{' '.join(info.get('cpu_features', []))}, CMAKE_ARGS={info.get('cmake_args')!r}."
        )
    except (OSError, ValueError):
        pass
    lines.append(DOCTOR_HINT)
    return "\n".join(lines)
