"""``llama-cpp serve``: llama-server's flags, translated to the server's own options
(``python -m llama_cpp.server --help``), which keep working as they are.

``-c`` is the one flag whose meaning differs: llama-server's ``-c`` is the context of ALL
slots together (each of the ``-np`` slots gets ``c / np`` positions), while our ``--n_ctx``
is the context of ONE slot (the server holds ``n_ctx x n_parallel`` positions). So
``-c 4096 -np 4`` becomes ``--n_ctx 1024 --n_parallel 4``: the same memory and the same
room per request as llama-server gives, and a one-line note on stderr says so."""

from __future__ import annotations

import difflib
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from llama_cpp._cli.options import CliError, check_model_file

MIN_SLOT_CTX = 16  # ModelSettings.n_ctx's lower bound


def _number(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CliError(f"{name} takes a whole number, got {value!r}") from None


def _gpu_layers(name: str, value: str) -> str | None:
    if value in ("all", "auto"):
        return "-1"
    return str(max(_number(name, value), -1))


def _threads(name: str, value: str) -> str | None:
    threads = _number(name, value)
    return str(threads) if threads > 0 else None  # llama.cpp: <= 0 means its default


def _parallel(name: str, value: str) -> str | None:
    slots = _number(name, value)
    if slots == -1:
        return None  # llama-server's "auto" is 4 slots, our default
    if slots < 1:
        raise CliError(f"{name} {value}: give the number of slots (1 or more), or -1 for 4")
    return str(slots)


def _flash_attn(name: str, value: str) -> str | None:
    lowered = value.lower()
    if lowered in ("on", "true", "1", "enabled"):
        return "true"
    if lowered in ("off", "false", "0", "disabled"):
        return "false"
    if lowered == "auto":
        return None
    raise CliError(f"{name} takes on, off or auto, got {value!r}")


def _alias(name: str, value: str) -> str | None:
    names = [part.strip() for part in value.split(",") if part.strip()]
    if len(names) != 1:
        raise CliError(
            f"{name} takes one model name here (it becomes --model_alias), got {value!r}"
        )
    return names[0]


def _same(_name: str, value: str) -> str | None:
    return value


@dataclass(frozen=True)
class Flag:
    """One llama-server flag and the server option it becomes (``target``; None: -c)."""

    names: tuple[str, ...]
    target: str | None
    help: str
    metavar: str = "N"
    convert: Callable[[str, str], str | None] = field(default=_same)
    takes_value: bool = True


FLAGS = (
    Flag(("-m",), "--model", "path of the .gguf model (--model)", "FNAME"),
    Flag(("-c", "--ctx-size"), None,
         "context of ALL slots together, as llama-server counts it: each request gets "
         "N / slots positions (--n_ctx N/slots); --n_ctx N gives N per slot instead"),
    Flag(("-np", "--parallel"), "--n_parallel",
         "slots: requests generated at once (--n_parallel; default 4, and -1 means 4)",
         convert=_parallel),
    Flag(("-ngl", "--gpu-layers", "--n-gpu-layers"), "--n_gpu_layers",
         "layers offloaded to the GPU: a number, or all (--n_gpu_layers; default 0; 'auto' "
         "offloads every layer too)", convert=_gpu_layers),
    Flag(("--rpc",), "--rpc_servers",
         "RPC workers to place layers on, host:port,host:port (--rpc_servers)", "SERVERS"),
    Flag(("-t", "--threads"), "--n_threads", "CPU threads (--n_threads; default: all)",
         convert=_threads),
    Flag(("-b", "--batch-size"), "--n_batch", "tokens per decode step (--n_batch)"),
    Flag(("-a", "--alias"), "--model_alias", "the model's name for clients (--model_alias)",
         "NAME", convert=_alias),
    Flag(("--api-key",), "--api_key", "accepted Bearer key(s), comma-separated (--api_key)",
         "KEY"),
    Flag(("-fa", "--flash-attn"), "--flash_attn", "flash attention (--flash_attn)",
         "on|off|auto", convert=_flash_attn),
    Flag(("--chat-template",), "--chat_format",
         "one of llama.cpp's built-in chat templates by name (--chat_format)", "NAME"),
    Flag(("-v", "--verbose", "--log-verbose"), "--verbose", "llama.cpp's log (--verbose true)",
         takes_value=False),
)  # fmt: skip
_BY_NAME = {name: flag for flag in FLAGS for name in flag.names}


def server_options() -> list[str]:
    """The server's own long options (``--n_ctx``, ``--port``...)."""
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    names = [*ServerSettings.model_fields, *ModelSettings.model_fields, "config_file"]
    return [f"--{name}" for name in names]


def default_slots() -> int:
    from llama_cpp.server.settings import ModelSettings

    return int(ModelSettings.model_fields["n_parallel"].default)


@dataclass
class Translation:
    """The server's argv, what to tell the user, and the model path given (if any)."""

    argv: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: str | None = None
    wants_help: bool = False


def _known_option(name: str, ours: Sequence[str]) -> str | None:
    """``name``, or the one server option it abbreviates (argparse allows that), or None."""
    if name in ours:
        return name
    starting = [option for option in ours if option.startswith(name)] if name[:2] == "--" else []
    return starting[0] if len(starting) == 1 else None


def _unknown(name: str, ours: Sequence[str]) -> CliError:
    close = difflib.get_close_matches(name, [*_BY_NAME, *ours, "--host", "--port"], n=3)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return CliError(f"unknown option {name}{hint}; see llama-cpp serve --help")


@dataclass
class _Sizing:
    """What the flags say about the context: ``-c`` (all slots), the slot count, and
    whether ``--n_ctx`` (one slot) was given."""

    total_ctx: int | None = None
    slots: int | None = None
    per_slot_given: bool = False


def translate(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Translation:
    """llama-server's flags in ``argv`` turned into the server's options."""
    env = os.environ if environ is None else environ
    ours = server_options()
    result = Translation()
    sizing = _Sizing()
    i = 0
    while i < len(argv):
        word = argv[i]
        name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in ("-h", "--help"):
            result.wants_help = True
            i += 1
            continue
        flag = _BY_NAME.get(name)
        known = None if flag is not None else _known_option(name, ours)
        if flag is None and known is None:
            raise _unknown(name, ours)
        value, i = _option_value(argv, i, name, inline if eq else None, flag)
        if flag is None:  # one of the server's own options: as it is
            assert known is not None and value is not None
            _add_own_option(result, sizing, name, known, value)
        else:
            _add_flag(result, sizing, flag, name, value)
    if sizing.total_ctx is not None:
        result.argv += _slot_ctx(
            sizing.total_ctx, sizing.slots, sizing.per_slot_given, env, result.notes
        )
    return result


def _option_value(
    argv: Sequence[str], i: int, name: str, inline: str | None, flag: Flag | None
) -> tuple[str | None, int]:
    """The value of the option at ``argv[i]`` (``inline``: the text after its ``=``; None
    for a flag without a value) and the index of the next option."""
    if flag is not None and not flag.takes_value:
        if inline is not None:
            raise CliError(f"{name} takes no value")
        return None, i + 1
    if inline is not None:
        return inline, i + 1
    if i + 1 < len(argv):
        return argv[i + 1], i + 2
    raise CliError(f"{name} needs a value")


def _add_own_option(
    result: Translation, sizing: _Sizing, name: str, option: str, value: str
) -> None:
    """One of the server's options (``option``, which ``name`` spells or abbreviates)."""
    result.argv += [option, value]
    if option == "--n_parallel":
        sizing.slots = _number(name, value)
    sizing.per_slot_given = sizing.per_slot_given or option == "--n_ctx"
    if option == "--model":
        result.model = value


def _add_flag(
    result: Translation, sizing: _Sizing, flag: Flag, name: str, value: str | None
) -> None:
    """One of llama-server's flags, as the server option it becomes."""
    if flag.target is None:  # -c
        assert value is not None
        sizing.total_ctx = _number(name, value)
        return
    converted = "true" if value is None else flag.convert(name, value)
    if converted is None:
        return
    result.argv += [flag.target, converted]
    if flag.target == "--n_parallel":
        sizing.slots = int(converted)
    if flag.target == "--model":
        result.model = converted


def _slot_ctx(
    total: int, slots: int | None, per_slot_given: bool, env: Mapping[str, str], notes: list[str]
) -> list[str]:
    """``-c TOTAL`` as ``--n_ctx`` per slot."""
    if per_slot_given:
        raise CliError("give -c (all slots together) or --n_ctx (per slot), not both")
    if total <= 0:
        raise CliError(
            f"-c {total}: give the context size of all slots together (for example -c 4096), "
            "or --n_ctx N per slot; the model's own context size is not read here"
        )
    if slots is None:
        from_env = env.get("N_PARALLEL", "")
        slots = int(from_env) if from_env.strip().isdigit() else default_slots()
    per_slot = total // max(slots, 1)
    if per_slot < MIN_SLOT_CTX:
        raise CliError(
            f"-c {total} over {slots} slots leaves {per_slot} positions per request; give a "
            f"larger -c (at least {MIN_SLOT_CTX * slots}) or fewer slots (-np)"
        )
    notes.append(
        f"-c {total} is the context of all {slots} slots together, as in llama-server: each "
        f"request gets {per_slot} positions (--n_ctx {per_slot} --n_parallel {slots})"
    )
    return ["--n_ctx", str(per_slot)]


def help_text() -> str:
    lines = [
        "usage: llama-cpp serve [llama-server flags] [server options]",
        "",
        "llama-server's flags, translated to the server's options (listed further down, after",
        "'python -m llama_cpp.server'); --host and --port are the same in both:",
        "",
    ]
    for flag in FLAGS:
        spelled = ", ".join(flag.names) + (f" {flag.metavar}" if flag.takes_value else "")
        lines.append(f"  {spelled}")
        lines += textwrap.wrap(flag.help, 88, initial_indent=" " * 6, subsequent_indent=" " * 6)
    lines += [
        "",
        "-c differs from --n_ctx: llama-server shares -c among its slots; the server here",
        "gives every slot --n_ctx positions. -c 4096 -np 4 becomes --n_ctx 1024 --n_parallel 4.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    """``llama-cpp serve [flags]``: translate, then run the server (exits on error)."""
    try:
        result = translate(argv)
        if result.model is not None and not result.wants_help:
            check_model_file(result.model)
    except CliError as error:
        raise SystemExit(f"error: {error}") from None
    except ImportError as error:
        raise SystemExit(
            f"error: the server needs its extra packages ({error.name} is missing): "
            'pip install "llama-cpp-pybind[server]"'
        ) from None
    from llama_cpp.server.__main__ import main as serve

    if result.wants_help:
        print(help_text())
        serve(["--help"])
        return
    for note in result.notes:
        print(f"llama-cpp serve: {note}", file=sys.stderr, flush=True)
    serve(result.argv)
