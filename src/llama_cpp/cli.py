"""The ``llama-cpp`` command, with llama.cpp's flags (docs/cli.md):

llama-cpp run -m model.gguf -n 64 -c 512 -p "..."   # llama-cli's completion
llama-cpp chat -m model.gguf [-sys "..."]           # a conversation, chat template applied
llama-cpp serve -m model.gguf -c 4096 -np 4         # the OpenAI-compatible server
llama-cpp rpc-server --host 10.0.0.2              # serve this host's devices to RPC clients
llama-cpp doctor                                    # this machine against this build
"""

from __future__ import annotations

import difflib
import sys

COMMANDS = {
    "run": "continue a prompt, as llama-cli does (-m, -p, -n, -c, ...)",
    "chat": "chat with a model in the terminal, with its chat template",
    "serve": "run the OpenAI-compatible server (llama-server's flags, or python -m "
    "llama_cpp.server's)",
    "rpc-server": "serve this host's devices to llama.cpp RPC clients (a model split over "
    "machines)",
    "doctor": "check the hardware and this build; print the command that fixes a mismatch",
}


def usage() -> str:
    lines = [f"  {name:10} {what}" for name, what in COMMANDS.items()]
    return (
        "usage: llama-cpp COMMAND [options]   (llama-cpp COMMAND --help for its options)\n\n"
        "commands:\n" + "\n".join(lines)
    )


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a command; exits with its status."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, list(COMMANDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SystemExit(f"llama-cpp: unknown command {command!r}{hint}\n\n{usage()}")
    if command == "doctor":
        from llama_cpp.doctor import main as doctor

        raise SystemExit(doctor(rest))
    if command == "rpc-server":
        from llama_cpp.rpc_server import main as rpc_server

        raise SystemExit(rpc_server(rest))
    if command == "run":
        from llama_cpp._cli.run import main as run

        raise SystemExit(run(rest))
    if command == "chat":
        from llama_cpp._cli.chat import main as chat

        raise SystemExit(chat(rest))
    from llama_cpp._cli.serve_flags import main as serve

    serve(rest)


if __name__ == "__main__":
    main()
