"""Fix commands written for the user's shell (bash/zsh, PowerShell or cmd) and
for how this package was installed (from the package index, or a checkout)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from llama_cpp._build_info import DISTRIBUTION


def shell_of(report: dict[str, Any]) -> str:
    """The user's shell (posix, powershell or cmd), as the probes found it."""
    return str(report.get("system", {}).get("shell", "posix"))


def pip_of(report: dict[str, Any]) -> str:
    """The pip command of the Python the report is about."""
    return str(report.get("system", {}).get("pip", "pip"))


def set_env_command(shell: str, name: str, value: str) -> str:
    """Set an environment variable for the rest of this shell session."""
    if shell == "powershell":
        return f'$env:{name}="{value}"'
    if shell == "cmd":
        return f'set "{name}={value}"'
    return f'export {name}="{value}"'


def unset_env_command(shell: str, name: str) -> str:
    if shell == "powershell":
        return f"Remove-Item Env:{name}"
    if shell == "cmd":
        return f"set {name}="
    return f"unset {name}"


def with_env(shell: str, name: str, value: str, command: str) -> str:
    """``command`` run with environment variable ``name`` set to ``value``."""
    if shell == "posix":
        return f'{name}="{value}" {command}'
    separator = "; " if shell == "powershell" else " && "
    return set_env_command(shell, name, value) + separator + command


def quote_path(shell: str, path: str) -> str:
    if shell == "posix":
        return shlex.quote(path)
    return f'"{path}"' if any(c in path for c in " &()") else path


def reinstall(report: dict[str, Any], cmake_args: str | None) -> str:
    """The command that rebuilds and reinstalls this package from source.

    From the package index: ``--no-binary`` so a prebuilt wheel can never stand in
    for the build, ``--no-cache-dir`` so a cached wheel cannot either, and
    ``--force-reinstall`` so the same version is replaced. From a checkout: the
    same, on the checkout's directory (``-e`` when it was an editable install).
    """
    shell, pip = shell_of(report), pip_of(report)
    install = report.get("install", {})
    source = install.get("source")
    if source:
        target = quote_path(shell, source)
        if install.get("editable"):
            target = f"-e {target}"
        command = f"{pip} install --force-reinstall --no-cache-dir {target}"
    else:
        command = (
            f"{pip} install --upgrade --force-reinstall --no-cache-dir "
            f"--no-binary {DISTRIBUTION} {DISTRIBUTION}"
        )
    if cmake_args is None:
        return command
    return with_env(shell, "CMAKE_ARGS", cmake_args, command)


def _distro_family(report: dict[str, Any]) -> str | None:
    distro = report.get("system", {}).get("distribution") or {}
    words = f"{distro.get('id', '')} {distro.get('like', '')}".lower().split()
    for family, names in (
        ("debian", ("debian", "ubuntu")),
        ("fedora", ("fedora", "rhel", "centos", "rocky", "almalinux")),
        ("arch", ("arch", "manjaro")),
        ("suse", ("opensuse", "suse", "sles")),
    ):
        if any(name in words for name in names):
            return family
    return None


_INSTALLERS = {
    "debian": "sudo apt-get install -y",
    "fedora": "sudo dnf install -y",
    "arch": "sudo pacman -S --needed",
    "suse": "sudo zypper install -y",
}


def system_install(report: dict[str, Any], packages: dict[str, str]) -> str | None:
    """The distribution's install command for ``packages`` (family -> names), or None."""
    family = _distro_family(report)
    if family is None or family not in packages:
        return None
    return f"{_INSTALLERS[family]} {packages[family]}"


# What provides each shared library a build may need, per Linux distribution family.
LIBRARY_PACKAGES = {
    "libopenblas": {"debian": "libopenblas0", "fedora": "openblas", "arch": "openblas"},
    "libvulkan": {"debian": "libvulkan1", "fedora": "vulkan-loader", "arch": "vulkan-icd-loader"},
    "libgomp": {"debian": "libgomp1", "fedora": "libgomp", "arch": "gcc-libs"},
    "libstdc++": {"debian": "libstdc++6", "fedora": "libstdc++", "arch": "gcc-libs"},
}

_CUDA_RUNTIME = re.compile(r"(?:cudart|cublas(?:Lt)?)(?:\.so\.|64_)(\d+)")
_NVIDIA_DRIVER = re.compile(r"libcuda\.so|nvcuda\.dll")
_LIBRARY_STEM = re.compile(r"\b(lib[\w+]+?)\.(?:so|dylib)\b")


def classify_missing_library(text: str) -> tuple[str, str] | None:
    """What provides a missing library named in ``text`` (a loader message or a name):
    ``("cuda-runtime", major)`` (the CUDA runtime or cuBLAS), ``("nvidia-driver", "")``,
    ``("package", stem)`` (a LIBRARY_PACKAGES key), or None."""
    if match := _CUDA_RUNTIME.search(text):
        return "cuda-runtime", match.group(1)
    if _NVIDIA_DRIVER.search(text):
        return "nvidia-driver", ""
    if "vulkan-1.dll" in text:
        return "package", "libvulkan"
    for match in _LIBRARY_STEM.finditer(text):
        if match.group(1) in LIBRARY_PACKAGES:
            return "package", match.group(1)
    return None


COMPILER_PACKAGES = {
    "debian": "build-essential",
    "fedora": "gcc-c++ make",
    "arch": "base-devel",
    "suse": "gcc-c++ make",
}

VULKAN_BUILD_PACKAGES = {
    "debian": "libvulkan-dev glslc",
    "fedora": "vulkan-loader-devel vulkan-headers glslc",
    "arch": "vulkan-icd-loader vulkan-headers shaderc",
}

VISUAL_STUDIO_BUILD_TOOLS = (
    "winget install --id Microsoft.VisualStudio.2022.BuildTools --override "
    '"--passive --wait --add Microsoft.VisualStudio.Workload.VCTools --includeRecommended"'
)


def add_msvc_workload(shell: str, installation_path: str, product: str | None) -> str:
    """The Visual Studio Installer command that adds the C++ workload to an installation
    (Build Tools name it VCTools; the IDE editions, "Desktop development with C++")."""
    workload = (
        "Microsoft.VisualStudio.Workload.VCTools"
        if product and product.endswith("BuildTools")
        else "Microsoft.VisualStudio.Workload.NativeDesktop"
    )
    installer = r'"C:\Program Files (x86)\Microsoft Visual Studio\Installer\setup.exe"'
    call = f"& {installer}" if shell == "powershell" else installer
    return (
        f'{call} modify --installPath "{installation_path}" '
        f"--add {workload} --includeRecommended --passive"
    )


def compiler_install(report: dict[str, Any]) -> str | None:
    """The command that installs a C/C++ compiler on this OS."""
    os_name = report.get("system", {}).get("os")
    if os_name == "Darwin":
        return "xcode-select --install"
    if os_name == "Windows":
        return VISUAL_STUDIO_BUILD_TOOLS
    return system_install(report, COMPILER_PACKAGES)
