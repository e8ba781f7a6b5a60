"""``llama-cpp chat``: a conversation in the terminal, formatted with the model's chat
template (``Llama.create_chat_completion(stream=True)``), the history kept across turns.

Ctrl-C during an answer stops that answer (what was said is kept) and returns to the prompt;
Ctrl-C or Ctrl-D (end of input) at the prompt leaves. ``/exit`` leaves, ``/clear`` forgets
the conversation, ``/regen`` answers the last message again. When the conversation outgrows
the context, the oldest exchanges are dropped, and the user is told."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

from llama_cpp._cli.options import (
    CliError,
    CliParser,
    add_model_flags,
    add_sampling_flags,
    exit_status,
    load_model,
    sampling_kwargs,
)
from llama_cpp._cli.timings import turn_line

PROMPT = "> "
HELP = (
    "/exit or Ctrl+C: leave   /clear: forget the conversation   /regen: answer the last "
    "message again"
)


@dataclass
class Conversation:
    """The messages so far: an optional system prompt, then user and assistant turns."""

    system: str | None = None
    turns: list[dict[str, str]] = field(default_factory=list)

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, *self.turns]

    def drop_oldest_exchange(self) -> bool:
        """Forget the oldest question and its answer; False if only the last message is left."""
        if len(self.turns) <= 1:
            return False
        del self.turns[:2]
        return True

    @property
    def exchanges(self) -> int:
        return len(self.turns) // 2


def build_parser(prog: str = "llama-cpp chat") -> CliParser:
    parser = CliParser(
        prog=prog,
        description="Chat with a GGUF model in the terminal, using its chat template. "
        f"At the prompt: {HELP}; Ctrl+D (end of input) leaves too.",
    )
    add_model_flags(parser)
    group = parser.add_argument_group("conversation")
    group.add_argument("-sys", "--system-prompt", metavar="PROMPT", default=None,
                       help="system prompt (if the chat template has a place for one)")  # fmt: skip
    group.add_argument("-p", "--prompt", metavar="PROMPT", default=None,
                       help="the first message (the conversation goes on after it)")  # fmt: skip
    group.add_argument("-n", "--predict", "--n-predict", metavar="N", type=int, default=-1,
                       dest="n_predict",
                       help="most tokens per answer (default: -1, until the model stops or "
                       "the context is full)")  # fmt: skip
    group.add_argument("--show-timings", action="store_true", default=True,
                       help="after each answer, print its token counts and speeds to stderr "
                       "(default: on)")  # fmt: skip
    group.add_argument("--no-show-timings", action="store_false", dest="show_timings")
    add_sampling_flags(parser)
    return parser


class Chat:
    """The loop: read a line, answer it (streamed), keep the history."""

    def __init__(self, llm: Any, options: argparse.Namespace, out: IO[str], err: IO[str]):
        self.llm, self.options, self.out, self.err = llm, options, out, err
        self.conversation = Conversation(system=options.system_prompt)
        self.n_ctx: int = llm.n_ctx()
        # room kept for an answer when old turns must go
        wanted = options.n_predict if options.n_predict > 0 else 512
        self.reserve = min(wanted, self.n_ctx // 4 if options.n_predict <= 0 else self.n_ctx // 2)

    def note(self, text: str) -> None:
        self.err.write(f"[{text}]\n")
        self.err.flush()

    def loop(self, first: str | None) -> int:
        """Until /exit, Ctrl-C at the prompt or the end of input; the exit status (0)."""
        pending = first
        while True:
            if pending is not None:
                line, pending = pending, None
                self.out.write(f"{PROMPT}{line}\n")
            else:
                try:
                    line = input(PROMPT)
                except (EOFError, KeyboardInterrupt):
                    self.out.write("\n")
                    self.out.flush()
                    return 0
            text = line.strip()
            if not text:
                continue
            if text == "/exit":
                return 0
            if text == "/clear":
                self.conversation.turns.clear()
                self.note("conversation cleared")
                continue
            if text == "/help":
                self.note(HELP)
                continue
            if text == "/regen":
                if (
                    not self.conversation.turns
                    or self.conversation.turns[-1]["role"] != "assistant"
                ):
                    self.note("no answer to give again")
                    continue
                self.conversation.turns.pop()
            else:
                self.conversation.turns.append({"role": "user", "content": line})
            try:
                self.answer()
            except KeyboardInterrupt:  # before the answer began streaming
                self.out.write("\n")
                self.note("answer stopped")
                if self.conversation.turns and self.conversation.turns[-1]["role"] == "user":
                    self.conversation.turns.pop()

    def _open(self) -> tuple[Any, int | None]:
        """The answer's stream (None if the prompt exceeds the context) and prompt size."""
        try:
            stream = self.llm.create_chat_completion(
                self.conversation.messages(),
                stream=True,
                max_tokens=self.options.n_predict if self.options.n_predict > 0 else None,
                **sampling_kwargs(self.options),
            )
        except ValueError as error:
            if "exceed context window" not in str(error):
                raise
            return None, None
        return stream, getattr(getattr(stream, "run", None), "prompt_tokens", None)

    def _start(self) -> tuple[Any, int | None] | None:
        """The answer's stream and its prompt size, once the conversation fits (dropping
        the oldest exchanges as needed); None if even the last message alone does not."""
        earlier = list(self.conversation.turns[:-1])
        dropped = 0
        while True:
            stream, size = self._open()
            if stream is not None and (size is None or size + self.reserve <= self.n_ctx):
                break
            if stream is not None:
                stream.close()
            if self.conversation.drop_oldest_exchange():
                dropped += 1
                continue
            if stream is not None and size is not None and size < self.n_ctx:
                stream, size = self._open()  # the last message alone: answer in the room left
                break
            self.conversation.turns = earlier
            self.note(
                f"your message does not fit in the context ({self.n_ctx} tokens): give a "
                "larger -c, or send a shorter message (the conversation so far is kept)"
            )
            return None
        if dropped:
            which = "the oldest exchange" if dropped == 1 else f"the {dropped} oldest exchanges"
            self.note(
                f"the conversation no longer fits in the context ({self.n_ctx} tokens, "
                f"{self.reserve} kept for the answer): forgot {which}, "
                f"{self.conversation.exchanges} kept (a larger -c keeps more)"
            )
        return stream, size

    def answer(self) -> None:
        """Stream the answer to the conversation's last message and add it to the history."""
        started = self._start()
        if started is None:
            return
        stream, prompt_tokens = started
        before = self.llm.ctx.perf()
        parts: list[str] = []
        reason = None
        interrupted = False
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                text = choice["delta"].get("content")
                if text:
                    self.out.write(text)
                    self.out.flush()
                    parts.append(text)
                reason = choice.get("finish_reason") or reason
        except KeyboardInterrupt:
            stream.close()
            interrupted = True
        self.out.write("\n")
        self.out.flush()
        self.conversation.turns.append({"role": "assistant", "content": "".join(parts)})
        if interrupted:
            self.note("answer stopped")
        elif reason == "length" and self.llm.n_tokens + 1 >= self.n_ctx:
            self.note(
                f"the answer filled the context ({self.n_ctx} tokens); the oldest exchanges "
                "will be dropped to make room"
            )
        if self.options.show_timings:
            answer_tokens = getattr(getattr(stream, "run", None), "completion_tokens", 0)
            line = turn_line(prompt_tokens or 0, answer_tokens, before, self.llm.ctx.perf())
            self.err.write(line + "\n")
            self.err.flush()


def _line_editing(stdin: IO[str], stdout: IO[str]) -> None:
    """Arrow keys and history at the prompt, on a terminal where readline exists."""
    if stdin.isatty() and stdout.isatty():
        with contextlib.suppress(ImportError):  # no readline on Windows
            import readline  # noqa: F401  (importing it is what turns line editing on)


def chat(options: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if options.n_predict == 0 or options.n_predict < -2:
        raise CliError(
            f"-n {options.n_predict}: give the most tokens an answer may have, or -1 for no "
            "limit but the context"
        )
    start = time.perf_counter()
    llm = load_model(options)
    try:
        name = llm.metadata.get("general.name") or options.model
        err.write(
            f"chatting with {name} (context {llm.n_ctx()} tokens, loaded in "
            f"{time.perf_counter() - start:.1f} s)\n{HELP}\n"
        )
        err.flush()
        _line_editing(sys.stdin, out)
        return Chat(llm, options, out, err).loop(options.prompt)
    finally:
        llm.close()


def main(argv: list[str] | None = None) -> int:
    """``llama-cpp chat [flags]``; the exit status."""
    options = build_parser().parse(argv)
    return exit_status(lambda: chat(options, sys.stdout, sys.stderr))
