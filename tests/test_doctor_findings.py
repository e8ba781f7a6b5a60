"""The doctor's decisions on machines we do not have: each file in doctor_machines/
holds one machine's probe facts (and, where a probe parses a tool's output, that
output in the tool's format), plus the findings and exact fix commands expected."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from llama_cpp.doctor import diagnose
from llama_cpp.doctor._pipeline import exit_code
from llama_cpp.doctor.checks._finding import Finding
from llama_cpp.doctor.checks._flags import (
    modernise,
    parse_cmake_args,
)
from llama_cpp.doctor.probes._gpus import parse_clinfo, parse_nvidia_smi, parse_rocminfo
from llama_cpp.doctor.probes._runtime import abi_tag, classify_child, python_of_tag
from llama_cpp.doctor.probes._system import ARM_FEATURES, X86_FEATURES
from llama_cpp.doctor.probes._toolchain import parse_vswhere
from llama_cpp.doctor.probes._vulkan import parse_vulkaninfo
from llama_cpp.doctor.render._text import render

MACHINES = sorted((Path(__file__).parent / "doctor_machines").glob("*.json"))


def machine_report(data: dict[str, Any]) -> dict[str, Any]:
    """The report the probes would make on that machine: recorded facts, with the
    tools' outputs run through the doctor's own parsers."""
    report = json.loads(json.dumps(data["report"]))
    raw = data.get("raw", {})
    gpus = report.setdefault("gpus", {})
    if "nvidia-smi --query-gpu" in raw:
        gpus["nvidia"] = parse_nvidia_smi(raw["nvidia-smi --query-gpu"], raw["nvidia-smi"])
    if "rocminfo" in raw:
        gpus["amd"] = parse_rocminfo(raw["rocminfo"])
    if "vulkaninfo --summary" in raw:
        gpus["vulkan"] = parse_vulkaninfo(raw["vulkaninfo --summary"])
    if "clinfo -l" in raw:
        gpus["opencl"] = parse_clinfo(raw["clinfo -l"])
    if "vswhere" in raw:
        found = raw["vswhere"] is not None
        report["toolchain"]["visual_studio"] = {
            "vswhere": "vswhere.exe" if found else None,
            "installations": parse_vswhere(raw["vswhere"], raw.get("vswhere -requires", "[]"))
            if found
            else [],
        }
    if "child" in raw:
        child = raw["child"]
        report["runtime"] = classify_child(child["returncode"], child["stdout"], child["stderr"])
    cpu = report["cpu"]
    cpu.setdefault(
        "features_known", X86_FEATURES if report["system"]["arch"] == "x86_64" else ARM_FEATURES
    )
    return report


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_machine(path: Path) -> None:
    data = json.loads(path.read_text())
    report = machine_report(data)
    findings = diagnose(report)
    listing = "\n".join(f"{f.check} {f.severity}: {f.title} | fix: {f.fix}" for f in findings)
    for expected in data["expect"]:
        matching = [f for f in findings if f.check == expected["check"]]
        if expected.get("absent"):
            assert not matching, f"unexpected {expected['check']} finding in:\n{listing}"
            continue
        assert matching, f"no {expected['check']} finding in:\n{listing}"
        finding = next((f for f in matching if f.severity == expected["severity"]), None)
        assert finding is not None, f"{expected} not in:\n{listing}"
        if "fix" in expected:
            assert finding.fix == expected["fix"], listing
        if "title_has" in expected:
            assert expected["title_has"] in finding.title
        if "detail_has" in expected:
            assert expected["detail_has"] in (finding.detail or ""), listing
    assert exit_code(findings) == data["exit_code"], listing
    out = io.StringIO()
    render(report, findings, out)
    text = out.getvalue()
    assert "Findings" in text
    for finding in findings:
        assert finding.title[:40] in text
        if finding.fix:
            assert finding.fix.splitlines()[0] in text


def test_machine_fixtures_cover_the_cases_the_doctor_must_know() -> None:
    names = {p.stem for p in MACHINES}
    for needed in (
        "linux_nvidia_cpu_only_build",
        "macos_m2_without_metal_or_xcode_tools",
        "windows_no_visual_studio_cached_wheel",
        "windows_visual_studio_without_cpp_workload",
        "linux_cpu_without_avx2",
        "linux_cuda_driver_major_too_old",
    ):
        assert needed in names


def test_nvidia_smi_parse() -> None:
    parsed = parse_nvidia_smi(
        "NVIDIA H100 80GB HBM3, 570.86.15, 81559, 9.0\n" * 2,
        "| NVIDIA-SMI 570.86.15   Driver Version: 570.86.15   CUDA Version: 12.8     |",
    )
    assert parsed["driver_version"] == "570.86.15"
    assert parsed["cuda_version"] == "12.8"
    assert [g["compute_capability"] for g in parsed["gpus"]] == ["9.0", "9.0"]
    assert parsed["gpus"][0]["memory_total"] == 81559 * 2**20


def test_clinfo_parse() -> None:
    text = (
        "Platform #0: Intel(R) OpenCL Graphics\n"
        " `-- Device #0: Intel(R) UHD Graphics 770\n"
        "Platform #1: Portable Computing Language\n"
        " `-- Device #0: cpu-haswell-Intel(R) Core(TM) i5-12400\n"
    )
    assert parse_clinfo(text) == [
        {"name": "Intel(R) OpenCL Graphics", "devices": ["Intel(R) UHD Graphics 770"]},
        {
            "name": "Portable Computing Language",
            "devices": ["cpu-haswell-Intel(R) Core(TM) i5-12400"],
        },
    ]


@pytest.mark.parametrize(
    ("name", "tag", "python"),
    [
        ("_core.cpython-312-x86_64-linux-gnu.so", "cpython-312", "3.12"),
        ("_core.cp311-win_amd64.pyd", "cp311", "3.11"),
        ("_core.cpython-310-darwin.so", "cpython-310", "3.10"),
        ("_core.so", "unversioned", None),
    ],
)
def test_abi_tags(name: str, tag: str, python: str | None) -> None:
    assert abi_tag(name) == tag
    assert python_of_tag(tag) == python


@pytest.mark.parametrize(
    ("message", "failure", "library"),
    [
        (
            "libcudart.so.12: cannot open shared object file: No such file or directory",
            "missing_library",
            "libcudart.so.12",
        ),
        (
            "dlopen(/x/_core.cpython-312-darwin.so, 0x0002): Library not loaded: "
            "@rpath/libggml-metal.dylib",
            "missing_library",
            "libggml-metal.dylib",
        ),
        (
            "DLL load failed while importing _core: The specified module could not be found.",
            "missing_library",
            None,
        ),
        ("/x/_core.so: undefined symbol: llama_model_load_from_file", "undefined_symbol", None),
    ],
)
def test_import_errors_are_classified(message: str, failure: str, library: str | None) -> None:
    child = "LLAMA_CPP_DOCTOR_RESULT " + json.dumps(
        {"ok": False, "import_error": message, "core_files": ["_core.so"]}
    )
    runtime = classify_child(1, child, "")
    assert runtime["failure"] == failure
    assert runtime.get("library") == library


@pytest.mark.parametrize(
    ("returncode", "failure"),
    [
        (-4, "illegal_instruction"),
        (-11, "crash"),
        (0xC000001D, "illegal_instruction"),
        (3, "crash"),
    ],
)
def test_child_deaths_are_classified(returncode: int, failure: str) -> None:
    assert classify_child(returncode, "", "boom")["failure"] == failure


def test_cmake_args_parsing() -> None:
    defines = parse_cmake_args(
        '-DLLAMA_CUBLAS=on -DGGML_BLAS:BOOL=ON "-DGGML_CUDA_ARCHITECTURES=86;89"'
    )
    assert defines == {
        "LLAMA_CUBLAS": "on",
        "GGML_BLAS": "ON",
        "GGML_CUDA_ARCHITECTURES": "86;89",
    }
    assert modernise({"LLAMA_CUBLAS": "on", "GGML_CUDA": "off"}) == {"GGML_CUDA": "off"}


def test_a_bad_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severity must be one of"):
        Finding("x", "fatal", "title")


def test_a_model_run_that_kills_the_child_keeps_the_facts_and_fails_the_model() -> None:
    facts = {"ok": True, "backends": ["CUDA", "CPU"], "devices": [], "system_info": "CPU : |"}
    stdout = "LLAMA_CPP_DOCTOR_RESULT " + json.dumps(facts) + "\n"
    stderr = "ggml_cuda_init: failed\nCUDA error: out of memory\n"
    runtime = classify_child(-11, stdout, stderr, model_requested=True)
    assert runtime["ok"] is True
    assert runtime["backends"] == ["CUDA", "CPU"]
    assert runtime["model"]["ok"] is False
    assert "signal 11 SIGSEGV" in runtime["model"]["error"]
    assert "out of memory" in runtime["model"]["error"]
    findings = {f.check: f for f in diagnose({"runtime": runtime, "system": {"os": "Linux"}})}
    assert findings["model"].severity == "fail"
    assert findings["compiled-module"].severity == "ok"
