"""``llama-cpp doctor``: what this machine can do, what the installed build
contains, and the exact command that fixes a mismatch.

The compiled module is probed in a child process, so the doctor works (and
explains) when it cannot be loaded. ``collect()`` gathers the facts,
``diagnose()`` turns any report (also one recorded on another machine) into
findings, ``main()`` is the command line. Importing this package loads nothing
else, so the child process starts light.

The stages: ``probes`` gather the facts into a report, ``checks`` turn the report into
findings, ``render`` prints both for a person; ``_pipeline`` runs them in that order and
``_cli`` is the command line around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp.doctor.checks._finding import Finding


def main(argv: list[str] | None = None) -> int:
    """Run ``llama-cpp doctor`` with ``argv``; returns 0 healthy, 1 problems, 2 doctor failure."""
    from llama_cpp.doctor._cli import main as run

    return run(argv)


def collect(
    model: str | None = None, n_gpu_layers: int = -1, shell: str | None = None
) -> dict[str, Any]:
    """Every probe's facts as one JSON-ready dict (the compiled module in a child process)."""
    from llama_cpp.doctor._pipeline import collect as run

    return run(model, n_gpu_layers, shell)


def diagnose(report: dict[str, Any]) -> list[Finding]:
    """The findings for a report from :func:`collect` (or one recorded elsewhere)."""
    from llama_cpp.doctor._pipeline import diagnose as run

    return run(report)


__all__ = ["collect", "diagnose", "main"]
