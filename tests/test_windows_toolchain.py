"""The Windows toolchain check (cmake/WindowsToolchain.cmake), run in CMake script mode
with what vswhere and the registry report on Windows machines we do not have: no Visual
Studio, Visual Studio without the C++ workload, a generator naming a Visual Studio that is
not installed, and a long build path with long paths off."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "cmake" / "WindowsToolchain.cmake"
CMAKE = shutil.which("cmake") or str(Path(sys.executable).with_name("cmake"))

COMMUNITY_2022 = {
    "instanceId": "a1b2c3d4",
    "displayName": "Visual Studio Community 2022",
    "installationPath": "C:\\Program Files\\Microsoft Visual Studio\\2022\\Community",
    "installationVersion": "17.12.35527.113",
    "productId": "Microsoft.VisualStudio.Product.Community",
}
BUILD_TOOLS_2026 = {
    "instanceId": "e5f6a7b8",
    "displayName": "Visual Studio Build Tools 2026",
    "installationPath": "C:\\Program Files (x86)\\Microsoft Visual Studio\\18\\BuildTools",
    "installationVersion": "18.0.11111.16",
    "productId": "Microsoft.VisualStudio.Product.BuildTools",
}


def verdict(
    *,
    vswhere: str = "found",
    every: list[dict] | None = None,
    with_msvc: list[dict] | None = None,
    generator: str = "Ninja",
    long_paths: str = "1",
    binary_dir: str = "C:/src/llama-cpp-pybind/build",
) -> tuple[int, str]:
    done = subprocess.run(
        [
            CMAKE,
            f"-DVSWHERE={vswhere}",
            f"-DALL_JSON={json.dumps(every or [])}",
            f"-DVC_JSON={json.dumps(with_msvc or [])}",
            f"-DGENERATOR={generator}",
            f"-DLONG_PATHS={long_paths}",
            f"-DBINARY_DIR={binary_dir}",
            "-P",
            str(MODULE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def test_a_usable_visual_studio_passes() -> None:
    code, out = verdict(every=[COMMUNITY_2022], with_msvc=[COMMUNITY_2022])
    assert code == 0, out
    assert "the Windows toolchain is usable" in out
    assert "Warning" not in out


def test_no_visual_studio_names_the_workload_and_the_install_command() -> None:
    code, out = verdict(vswhere="missing")
    assert code != 0
    assert "no Visual Studio was found" in out
    assert '"Desktop development with C++"' in out
    assert "winget install --id Microsoft.VisualStudio.2022.BuildTools" in out
    assert "Microsoft.VisualStudio.Workload.VCTools" in out


def test_installer_present_but_nothing_installed() -> None:
    code, out = verdict(every=[], with_msvc=[])
    assert code != 0
    assert "vswhere finds no Visual Studio installation" in out


def test_visual_studio_without_the_cpp_workload() -> None:
    code, out = verdict(every=[COMMUNITY_2022], with_msvc=[])
    assert code != 0
    assert "Visual Studio Community 2022 is installed without its C++ compiler" in out
    assert (
        'setup.exe" modify --installPath '
        '"C:\\Program Files\\Microsoft Visual Studio\\2022\\Community" '
        "--add Microsoft.VisualStudio.Workload.NativeDesktop" in out
    )


@pytest.mark.parametrize(
    ("generator", "installed", "fix"),
    [
        ("Visual Studio 18 2026", COMMUNITY_2022, "Visual Studio 17 2022"),
        ("Visual Studio 17 2022", BUILD_TOOLS_2026, "Visual Studio 18 2026"),
    ],
)
def test_generator_for_a_visual_studio_that_is_not_installed(
    generator: str, installed: dict, fix: str
) -> None:
    code, out = verdict(every=[installed], with_msvc=[installed], generator=generator)
    assert code != 0
    assert f'the generator "{generator}" needs that Visual Studio' in out
    assert f'set CMAKE_GENERATOR="{fix}"' in out
    assert "CMAKE_GENERATOR=Ninja" in out


def test_matching_generator_passes() -> None:
    code, out = verdict(
        every=[COMMUNITY_2022, BUILD_TOOLS_2026],
        with_msvc=[COMMUNITY_2022, BUILD_TOOLS_2026],
        generator="Visual Studio 18 2026",
    )
    assert code == 0, out


def test_long_build_path_with_long_paths_off_warns_with_the_registry_fix() -> None:
    deep = "C:/Users/someone/AppData/Local/Temp/pip-req-build-x1y2z3/build/cp312-win_amd64" * 2
    code, out = verdict(
        every=[COMMUNITY_2022], with_msvc=[COMMUNITY_2022], long_paths="0", binary_dir=deep
    )
    assert code == 0  # a warning, not a stop: short files may still fit
    assert "Windows long paths are off" in out
    assert "LongPathsEnabled -Value 1 -PropertyType DWORD -Force" in out
    code, out = verdict(
        every=[COMMUNITY_2022], with_msvc=[COMMUNITY_2022], long_paths="1", binary_dir=deep
    )
    assert "long paths are off" not in out
