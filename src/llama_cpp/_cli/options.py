"""What ``run`` and ``chat`` share: the parser, llama.cpp's loading and sampling flags (same
spellings and defaults as vendor/llama.cpp/common/arg.cpp), and loading the model."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from llama_cpp.llama import Llama

DEFAULT_CTX = 4096


class CliError(Exception):
    """A mistake in what the user asked: printed as ``error: ...`` (exit status 1)."""


class CliParser(argparse.ArgumentParser):
    """argparse with llama.cpp's habits: flags are never abbreviated, and an unknown flag
    is named together with the close matches."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def flags(self) -> list[str]:
        """Every option string this parser knows."""
        return [flag for action in self._actions for flag in action.option_strings]

    def parse(self, argv: Sequence[str] | None) -> argparse.Namespace:
        """Parse ``argv``; an unknown flag stops with the known ones it resembles."""
        options, unknown = self.parse_known_args(None if argv is None else list(argv))
        if unknown:
            self.fail_unknown(unknown)
        return options

    def fail_unknown(self, unknown: Sequence[str]) -> NoReturn:
        problems = []
        known = [flag for flag in self.flags() if flag not in ("-h", "--help")]
        after_option = False
        for word in unknown:
            if not word.startswith("-") or len(word) < 2:
                if not after_option:  # else: the unknown option's value, most likely
                    problems.append(f"unexpected argument {word!r} (a prompt goes after -p)")
                after_option = False
                continue
            name = word.split("=", 1)[0]
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            problems.append(f"unknown option {name}{hint}")
            after_option = "=" not in word
        self.error("; ".join(problems))

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def gpu_layers(value: str) -> int:
    """``-ngl``: a number of layers, or ``all``/``auto`` (every layer; -1)."""
    if value in ("all", "auto"):
        return -1
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of layers, 'all' or 'auto', got {value!r}"
        ) from None
    return max(number, -1)


def on_off_auto(value: str) -> bool | None:
    """``-fa``/``--color`` values: on, off or auto (None)."""
    lowered = value.lower()
    if lowered in ("on", "true", "1", "enabled"):
        return True
    if lowered in ("off", "false", "0", "disabled"):
        return False
    if lowered == "auto":
        return None
    raise argparse.ArgumentTypeError(f"expected on, off or auto, got {value!r}")


def add_model_flags(
    parser: argparse.ArgumentParser, *, model_required: bool = True, ctx_size: int = DEFAULT_CTX
) -> None:
    """-m, -c, -t, -b, -ngl, -fa, -v: what the model is loaded with."""
    group = parser.add_argument_group("model")
    group.add_argument("-m", "--model", metavar="FNAME", required=model_required,
                       help="path of the .gguf model file")  # fmt: skip
    group.add_argument("-c", "--ctx-size", metavar="N", type=int, default=ctx_size,
                       help=f"context size in tokens (default: {ctx_size}; 0 = the context "
                       "the model was trained with)")  # fmt: skip
    group.add_argument("-t", "--threads", metavar="N", type=int, default=0,
                       help="CPU threads for generation (default: llama.cpp's choice)")  # fmt: skip
    group.add_argument("-b", "--batch-size", metavar="N", type=int, default=None,
                       help="tokens per decode step for the prompt (default: 512)")  # fmt: skip
    group.add_argument("-ngl", "--gpu-layers", "--n-gpu-layers", metavar="N", type=gpu_layers,
                       default=0, dest="gpu_layers",
                       help="layers to offload to the GPU: a number, or 'all' (default: 0, "
                       "the CPU only; 'auto' offloads every layer too)")  # fmt: skip
    group.add_argument("-fa", "--flash-attn", metavar="on|off|auto", type=on_off_auto,
                       default=None, help="flash attention (default: auto)")  # fmt: skip
    group.add_argument("-v", "--verbose", "--log-verbose", action="store_true",
                       help="print llama.cpp's log while the model loads")  # fmt: skip


def add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    """--temp, --top-k, --top-p, --min-p, --repeat-penalty, -s: llama.cpp's defaults."""
    group = parser.add_argument_group("sampling")
    group.add_argument("--temp", "--temperature", metavar="N", type=float, default=0.8,
                       dest="temp", help="temperature (default: 0.80; 0 = greedy)")  # fmt: skip
    group.add_argument("--top-k", metavar="N", type=int, default=40,
                       help="top-k sampling (default: 40, 0 = disabled)")  # fmt: skip
    group.add_argument("--top-p", metavar="N", type=float, default=0.95,
                       help="top-p sampling (default: 0.95, 1.0 = disabled)")  # fmt: skip
    group.add_argument("--min-p", metavar="N", type=float, default=0.05,
                       help="min-p sampling (default: 0.05, 0.0 = disabled)")  # fmt: skip
    group.add_argument("--repeat-penalty", metavar="N", type=float, default=1.0,
                       help="penalize repeated tokens (default: 1.00, 1.0 = disabled)")  # fmt: skip
    group.add_argument("-s", "--seed", metavar="SEED", type=int, default=-1,
                       help="random seed (default: -1, a random one)")  # fmt: skip


def sampling_kwargs(options: argparse.Namespace) -> dict[str, Any]:
    """The completion arguments the sampling flags stand for."""
    return {
        "temperature": max(float(options.temp), 0.0),  # llama.cpp clamps too
        "top_k": options.top_k,
        "top_p": options.top_p,
        "min_p": options.min_p,
        "repeat_penalty": options.repeat_penalty,
    }


def check_model_file(path: str) -> Path:
    """The model file ``-m`` names, or a CliError saying what is wrong and what to do."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise CliError(
            f"-m {path} is a directory: give the .gguf file in it (-m {file / 'NAME.gguf'})"
        )
    if not file.is_file():
        where = "" if file.is_absolute() else f" (relative to {os.getcwd()})"
        raise CliError(
            f"model file not found: {path}{where}\n"
            "  give the path of a .gguf model with -m; to get one, download a GGUF file "
            "(for example with Llama.from_pretrained(repo_id, filename))"
        )
    return file


def load_model(options: argparse.Namespace) -> Llama:
    """The Llama the flags describe (llama.cpp's load log on stderr with -v)."""
    from llama_cpp._timings import verbose_log
    from llama_cpp.llama import Llama

    file = check_model_file(options.model)
    if options.ctx_size < 0:
        raise CliError(
            f"-c must be a number of tokens (0 = the model's own), got {options.ctx_size}"
        )
    extra: dict[str, Any] = {}
    if options.batch_size is not None:
        if options.batch_size < 1:
            raise CliError(f"-b must be 1 or more tokens, got {options.batch_size}")
        extra["n_batch"] = options.batch_size
    with verbose_log(options.verbose):
        return Llama(
            str(file),
            n_ctx=options.ctx_size,
            n_threads=options.threads if options.threads > 0 else None,
            n_gpu_layers=options.gpu_layers,
            flash_attn=options.flash_attn,
            seed=options.seed,
            verbose=False,
            **extra,
        )


def load_errors() -> tuple[type[BaseException], ...]:
    """What loading or generating may raise for a bad file or a bad value."""
    from llama_cpp import LlamaError

    return (OSError, ValueError, TypeError, RuntimeError, LlamaError)


def exit_status(command: Callable[[], int]) -> int:
    """``command()``'s exit status: a bad flag, file or value is an ``error: ...`` line
    (status 1), Ctrl-C ends with 130."""
    failures: tuple[type[BaseException], ...] = (CliError, *load_errors())
    try:
        return command()
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except failures as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
