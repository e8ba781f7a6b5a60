"""Stage 1 of the doctor, the probes: gather facts about this machine and the installed
build, and judge none of them.

Each probe asks one source (the OS and ``/proc``, tools such as ``nvidia-smi`` and
``rocminfo``, the Vulkan loader, the compiler toolchain, pip's metadata, RPC workers)
and returns JSON-ready data. Whatever could crash or hang runs in a child process:
``_child`` loads the compiled module, ``_vulkan`` asks the Vulkan loader; commands run
through ``_run``, which never raises or hangs.

Hands on: ``llama_cpp.doctor._pipeline.collect`` puts every probe's result into one
report, the dict the checks read (and ``llama-cpp doctor --json`` prints).

Nothing is imported here, so a probe run with ``python -m`` starts light.
"""
