"""The ``llama-cpp`` command: ``llama-cpp serve ...`` (the OpenAI-compatible server) and
``llama-cpp doctor`` (what this machine and this build can do, and how to fix a mismatch)."""

from __future__ import annotations

import sys

COMMANDS = {
    "serve": "run the OpenAI-compatible server (python -m llama_cpp.server)",
    "doctor": "check the hardware and this build; print the command that fixes a mismatch",
}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        lines = [f"  {name:8} {what}" for name, what in COMMANDS.items()]
        usage = "usage: llama-cpp COMMAND [options]\n\ncommands:\n" + "\n".join(lines)
        if args and args[0] not in ("-h", "--help"):
            raise SystemExit(f"llama-cpp: unknown command {args[0]!r}\n\n{usage}")
        print(usage)
        return
    if args[0] == "doctor":
        from llama_cpp.doctor import main as doctor

        raise SystemExit(doctor(args[1:]))
    from llama_cpp.server.__main__ import main as serve

    serve(args[1:])


if __name__ == "__main__":
    main()
