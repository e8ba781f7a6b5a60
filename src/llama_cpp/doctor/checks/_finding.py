"""One conclusion of the doctor: what it found, how bad it is, what fixes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from llama_cpp.doctor.checks._flags import BUILD_NAME_OF_REGISTRY

SEVERITIES = ("ok", "info", "warn", "fail")


@dataclass
class Finding:
    """``check`` is a stable id (for scripts and tests); ``fix`` the exact command(s),
    one per line, in the user's shell; ``rebuild`` the CMAKE_ARGS of the rebuild the
    fix runs (None when the fix is not a rebuild), so the toolchain check knows what
    a rebuild will need."""

    check: str
    severity: str
    title: str
    detail: str = ""
    fix: str | None = None
    rebuild: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_name(registry_name: str) -> str:
    """A ggml registry name in the build info's naming (ggml registers Metal as "MTL")."""
    return BUILD_NAME_OF_REGISTRY.get(registry_name, registry_name)


def registered_backends(report: dict[str, Any]) -> list[str]:
    """Backends that registered at run time, in the build info's names."""
    return [build_name(name) for name in (report.get("runtime") or {}).get("backends") or []]


def build_backends(report: dict[str, Any]) -> list[str]:
    """The backends compiled in: from the build info, else from what registered."""
    build = report.get("build") or {}
    if build.get("backends"):
        return list(build["backends"])
    return registered_backends(report)
