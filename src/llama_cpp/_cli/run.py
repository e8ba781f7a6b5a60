"""``llama-cpp run``: llama-cli's one-shot completion, with its flags.

    llama-cpp run -m model.gguf -n 64 -c 512 -co -p "The capital of France is"

The prompt is printed (yellow with ``-co`` on a terminal), the continuation streamed after it,
and llama.cpp's timings block goes to stderr at the end."""

from __future__ import annotations

import argparse
import os
import string
import sys
import time
from pathlib import Path
from typing import IO, Any

from llama_cpp._cli.options import (
    DEFAULT_CTX,
    CliError,
    CliParser,
    add_model_flags,
    add_sampling_flags,
    exit_status,
    load_model,
    sampling_kwargs,
)
from llama_cpp._cli.timings import perf_block

PROMPT_COLOUR = "\x1b[33m"  # llama.cpp's console colour for the prompt
RESET = "\x1b[0m"
_ESCAPES = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("'"): b"'",
    ord('"'): b'"',
    ord("\\"): b"\\",
}
_HEX = set(string.hexdigits.encode())


def process_escapes(text: str) -> str:
    r"""llama.cpp's ``string_process_escapes``: \n \r \t \' \" \\ and \xNN become the
    characters they name; any other backslash stays as it is."""
    data = text.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == ord("\\") and i + 1 < len(data):
            code = data[i + 1]
            if code in _ESCAPES:
                out += _ESCAPES[code]
                i += 2
                continue
            if code == ord("x") and i + 3 < len(data) and set(data[i + 2 : i + 4]) <= _HEX:
                out.append(int(data[i + 2 : i + 4], 16))
                i += 4
                continue
            out += data[i : i + 2]
            i += 2
            continue
        out.append(byte)
        i += 1
    return out.decode("utf-8", errors="replace")


def colour_setting(value: str) -> str:
    """``-co`` alone means auto; ``--color on|off|auto`` as llama.cpp spells them."""
    lowered = value.lower()
    for setting, words in (("on", ("on", "true", "1")), ("off", ("off", "false", "0")),
                           ("auto", ("auto",))):  # fmt: skip
        if lowered in words:
            return setting
    raise argparse.ArgumentTypeError(f"expected on, off or auto, got {value!r}")


def wants_colour(setting: str, stream: IO[str]) -> bool:
    """Colour when asked and (for ``auto``) stdout is a terminal and NO_COLOR is not set."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    return stream.isatty() and not os.environ.get("NO_COLOR")


def add_prompt_flags(parser: argparse.ArgumentParser, *, n_predict: int = -1) -> None:
    """-p/-f, -n, -e/--no-escape, --no-display-prompt, -co."""
    group = parser.add_argument_group("prompt and output")
    source = group.add_mutually_exclusive_group()
    source.add_argument("-p", "--prompt", metavar="PROMPT", default=None,
                        help="the text to continue")  # fmt: skip
    source.add_argument("-f", "--file", metavar="FNAME", default=None,
                        help="read the prompt from a file (its last newline dropped)")  # fmt: skip
    group.add_argument("-n", "--predict", "--n-predict", metavar="N", type=int,
                       default=n_predict, dest="n_predict",
                       help=f"tokens to generate (default: {n_predict}; -1 = until the end of "
                       "the text or the context is full; 0 = none)")  # fmt: skip
    group.add_argument("-e", "--escape", action="store_true", default=True,
                       help=r"turn \n, \r, \t, \', \", \\ and \xNN in the prompt into the "
                       "characters (default: on)")  # fmt: skip
    group.add_argument("--no-escape", action="store_false", dest="escape",
                       help="take the prompt's backslashes literally")  # fmt: skip
    group.add_argument("--display-prompt", action="store_true", default=True,
                       help="print the prompt before the generated text (default: on)")  # fmt: skip
    group.add_argument("--no-display-prompt", action="store_false", dest="display_prompt",
                       help="print only the generated text")  # fmt: skip
    group.add_argument("-co", "--color", metavar="on|off|auto", nargs="?", const="auto",
                       default="off", type=colour_setting,
                       help="colour the prompt apart from the generated text: -co alone "
                       "colours on a terminal only (plain text into a pipe or file); 'on' "
                       "always (default: off)")  # fmt: skip


def build_parser(
    prog: str, *, model_required: bool = True, n_predict: int = -1, ctx_size: int = DEFAULT_CTX
) -> CliParser:
    parser = CliParser(
        prog=prog,
        description="Continue a prompt with a GGUF model, as llama-cli does: the text is "
        "streamed to stdout and llama.cpp's timings are printed to stderr.",
    )
    add_model_flags(parser, model_required=model_required, ctx_size=ctx_size)
    add_prompt_flags(parser, n_predict=n_predict)
    add_sampling_flags(parser)
    return parser


def read_prompt(options: argparse.Namespace) -> str:
    """The prompt of -p or -f, escapes processed unless --no-escape."""
    if options.file is not None:
        path = Path(options.file).expanduser()
        if not path.is_file():
            raise CliError(f"prompt file not found: {options.file} (give a text file with -f)")
        text = path.read_bytes().decode("utf-8", errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
    else:
        text = options.prompt or ""
    return process_escapes(text) if options.escape else text


def check_n_predict(n_predict: int) -> None:
    if n_predict < -2:
        raise CliError(
            f"-n {n_predict}: give a number of tokens to generate, or -1 to generate until the "
            "end of the text or until the context is full"
        )


def generate(options: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Load, print the prompt, stream the continuation, print the timings; the exit status."""
    check_n_predict(options.n_predict)
    prompt = read_prompt(options)
    start = time.perf_counter()
    llm = load_model(options)
    try:
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        n_ctx = llm.n_ctx()
        if len(tokens) >= n_ctx:
            raise CliError(
                f"the prompt has {len(tokens)} tokens and the context holds {n_ctx}: give a "
                f"larger -c (the model was trained with {llm.model.n_ctx_train}) or a shorter "
                "prompt"
            )
        colour = wants_colour(options.color, out)
        if options.display_prompt:
            out.write(f"{PROMPT_COLOUR}{prompt}{RESET}" if colour else prompt)
            out.flush()
        interrupted = False
        if options.n_predict == 0:
            err.write("-n 0: nothing to generate\n")
        else:
            interrupted = _stream(llm, prompt, options, out)
        out.write("\n")
        out.flush()
        if options.n_predict != 0 and not interrupted and llm.n_tokens + 1 >= n_ctx:
            err.write(f"[context full: {n_ctx} tokens; give a larger -c to generate more]\n")
        total_ms = (time.perf_counter() - start) * 1000.0
        err.write(perf_block(llm.ctx.perf(), total_ms) + "\n")
        err.flush()
        return 130 if interrupted else 0
    finally:
        llm.close()


def _stream(llm: Any, prompt: str, options: argparse.Namespace, out: IO[str]) -> bool:
    """Stream the continuation to ``out``; True if Ctrl-C stopped it."""
    max_tokens = options.n_predict if options.n_predict > 0 else -1
    chunks = llm.create_completion(
        prompt, max_tokens=max_tokens, stream=True, **sampling_kwargs(options)
    )
    try:
        for chunk in chunks:
            text = chunk["choices"][0]["text"]
            if text:
                out.write(text)
                out.flush()
    except KeyboardInterrupt:
        chunks.close()
        return True
    return False


def run_command(options: argparse.Namespace) -> int:
    """``generate`` with errors as ``error: ...`` lines (exit status 1)."""
    return exit_status(lambda: generate(options, sys.stdout, sys.stderr))


def main(argv: list[str] | None = None, prog: str = "llama-cpp run") -> int:
    """``llama-cpp run [flags]``; the exit status."""
    return run_command(build_parser(prog).parse(argv))
