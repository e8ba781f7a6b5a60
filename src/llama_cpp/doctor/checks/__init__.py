"""Stage 2 of the doctor, the checks: turn a report's facts into findings.

Each ``check_*`` function reads the report (from the probes, or one recorded on another
machine) and nothing else, and returns ``Finding`` objects (``_finding``): what it found,
how bad it is (ok, info, warn, fail) and the exact command that fixes it. Shared by the
checks: ``_flags`` reads CMAKE_ARGS the way the build does, ``_commands`` writes fix
commands for the user's shell and the way the package was installed.

Hands on: ``llama_cpp.doctor._pipeline.diagnose`` runs the checks in order; its findings
go to the renderer (or into ``--json``'s output) and decide the exit status.

Nothing is imported here, so ``llama_cpp._loader`` can read ``_flags`` without loading
the checks.
"""
