"""The ``llama-cpp`` command: ``llama-cpp serve ...`` (the OpenAI-compatible server)."""

from __future__ import annotations

import sys

COMMANDS = {"serve": "run the OpenAI-compatible server (python -m llama_cpp.server)"}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        lines = [f"  {name:8} {what}" for name, what in COMMANDS.items()]
        usage = "usage: llama-cpp COMMAND [options]\n\ncommands:\n" + "\n".join(lines)
        if args and args[0] not in ("-h", "--help"):
            raise SystemExit(f"llama-cpp: unknown command {args[0]!r}\n\n{usage}")
        print(usage)
        return
    from llama_cpp.server.__main__ import main as serve

    serve(args[1:])


if __name__ == "__main__":
    main()
