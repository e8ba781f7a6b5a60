"""Turning engine output into OpenAI-shaped completion responses and stream chunks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

from llama_cpp import _core
from llama_cpp.llama_types import CompletionLogprobs, CompletionUsage, CreateCompletionResponse

Entries = list[tuple[int, float, list[tuple[int, float]]]]
Chunk = tuple[bytes, list[int], Entries | None]
T = TypeVar("T")


def _empty_logprobs() -> CompletionLogprobs:
    return {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}


@dataclass
class LogprobsBuilder:
    """Accumulates OpenAI ``logprobs`` (tokens, offsets, token and top logprobs)."""

    piece: Callable[[int], str]
    offset: int = 0
    data: CompletionLogprobs = field(default_factory=lambda: _empty_logprobs())

    def add(self, token: int, logprob: float | None, top: dict[str, float] | None) -> None:
        text = self.piece(token)
        self.data["tokens"].append(text)
        self.data["text_offset"].append(self.offset)
        self.data["token_logprobs"].append(logprob)
        self.data["top_logprobs"].append(top)
        self.offset += len(text)

    def add_chunk(self, entries: list[tuple[int, float, list[tuple[int, float]]]] | None) -> None:
        for token, logprob, top in entries or []:
            tops = {self.piece(t): lp for t, lp in top}
            tops.setdefault(self.piece(token), logprob)
            self.add(token, logprob, tops)

    def take(self) -> CompletionLogprobs:
        out = self.data
        self.data = {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}
        return out


@dataclass
class CompletionRun:
    """One completion call: its id, the generation, and how to report it.

    ``output`` is set when the generation already ran to the end (a call that does not
    stream); ``turn`` is held around each step of a stream (``llama_cpp._turns``)."""

    generation: _core.Generation
    model_name: str
    prompt_tokens: int
    piece: Callable[[int], str]
    prefix_text: str = ""
    suffix_text: str = ""
    want_logprobs: bool = False
    echo_logprobs: CompletionLogprobs | None = None
    on_finish: Callable[[], None] | None = None
    output: Chunk | None = None
    turn: AbstractContextManager[Any] = field(default_factory=nullcontext)
    id: str = field(default_factory=lambda: f"cmpl-{uuid.uuid4()}")
    created: int = field(default_factory=lambda: int(time.time()))
    completion_tokens: int = 0

    def _logprobs(self) -> LogprobsBuilder | None:
        if not self.want_logprobs:
            return None
        builder = LogprobsBuilder(self.piece, offset=len(self.prefix_text))
        if self.echo_logprobs is not None:
            builder.data = self.echo_logprobs
        return builder

    def usage(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        cached = getattr(self.generation, "cached_tokens", None)  # the server's jobs know it
        if cached is not None:
            counts["prompt_tokens_details"] = {"cached_tokens": cached}
        limit = getattr(self.generation, "completion_tokens_limit", None)
        if limit is not None:
            counts["completion_tokens_limit"] = limit
        return counts

    def finish_reason(self) -> str | None:
        reason = self.generation.finish_reason
        return "stop" if reason == "cancelled" else reason

    def run_to_end(self) -> tuple[str, Any]:
        """Generate everything at once (one call into C++): the text and logprob entries."""
        try:
            result = self.output if self.output is not None else self.generation.run()
        finally:
            if self.on_finish:
                self.on_finish()
        data, tokens, entries = result if result is not None else (b"", [], None)
        self.completion_tokens += len(tokens)
        return data.decode("utf-8", errors="ignore"), entries

    def response(self) -> CreateCompletionResponse:
        """Run to the end and return the whole completion."""
        text, entries = self.run_to_end()
        builder = self._logprobs()
        if builder is not None:
            builder.add_chunk(entries)
        full = self.prefix_text + text + self.suffix_text
        logprobs = builder.data if builder is not None else None
        usage = cast(CompletionUsage, self.usage())  # with our extra keys (cached, limit)
        return {**self._chunk(full, logprobs, self.finish_reason()), "usage": usage}

    def _chunk(
        self, text: str, logprobs: Any, finish_reason: str | None
    ) -> CreateCompletionResponse:
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model_name,
            "choices": [
                {
                    "text": text,
                    "index": 0,
                    "logprobs": logprobs,
                    "finish_reason": cast(Literal["stop", "length"] | None, finish_reason),
                }
            ],
        }

    def next_chunk(self) -> Chunk | None:
        """The next piece of a stream (None at the end), taken in the stream's turn;
        raises if another call has started on the Llama since this stream began."""
        with self.turn:
            return self.generation.next()

    def accept(self, chunk: Chunk) -> tuple[str, Entries | None]:
        """Count one piece of engine output and return its text and logprob entries."""
        data, tokens, entries = chunk
        self.completion_tokens += len(tokens)
        return data.decode("utf-8", errors="ignore"), entries

    def pieces(self) -> Iterator[tuple[str, Any]]:
        """(text, logprob entries) as the engine produces them (text may be empty while
        bytes are held back); ends the generation if the consumer stops early."""
        try:
            while True:
                chunk = self.next_chunk()
                if chunk is None:
                    return
                yield self.accept(chunk)
        finally:
            if not self.generation.finished:
                self.generation.cancel()
            if self.on_finish:
                self.on_finish()

    def stream(self) -> ChunkStream[CreateCompletionResponse]:
        """Yield chunks as text becomes available; the last one carries finish_reason."""
        return ChunkStream(self, CompletionChunks(self))


class ChunkMaker(Protocol[T]):
    """Turns a run's pieces into stream chunks. It is pushed one piece at a time, so
    the same maker serves a blocking iterator (:class:`ChunkStream`) and the server,
    which feeds it from its event loop as the scheduler delivers pieces."""

    def begin(self) -> list[T]:
        """Chunks before any output (a role delta, an echoed prompt)."""
        ...

    def piece(self, text: str, entries: Entries | None) -> list[T]:
        """Chunks for one piece of output (text may be empty while bytes are held)."""
        ...

    def end(self) -> list[T]:
        """The closing chunks, once the run has finished."""
        ...


class ChunkStream(Iterator[T], Generic[T]):
    """What a streamed call returns: an iterator over ``maker``'s chunks of ``run``.

    ``run`` and ``maker`` stay reachable so that a caller with its own source of pieces
    (the server's event loop) can drive the maker instead of iterating."""

    def __init__(self, run: CompletionRun, maker: ChunkMaker[T]):
        self.run = run
        self.maker = maker
        self._chunks = self._generate()

    def _generate(self) -> Generator[T, None, None]:
        yield from self.maker.begin()
        for text, entries in self.run.pieces():
            yield from self.maker.piece(text, entries)
        yield from self.maker.end()

    def __iter__(self) -> ChunkStream[T]:
        return self

    def __next__(self) -> T:
        return next(self._chunks)

    def close(self) -> None:
        """Stop early: the generation is cancelled and the Llama is free again."""
        self._chunks.close()


class CompletionChunks:
    """The :class:`ChunkMaker` of ``create_completion(stream=True)``."""

    def __init__(self, run: CompletionRun):
        self.run = run
        self.builder = run._logprobs()

    def _take_logprobs(self) -> CompletionLogprobs | None:
        return self.builder.take() if self.builder is not None else None

    def begin(self) -> list[CreateCompletionResponse]:
        if not self.run.prefix_text:
            return []
        return [self.run._chunk(self.run.prefix_text, self._take_logprobs(), None)]

    def piece(self, text: str, entries: Entries | None) -> list[CreateCompletionResponse]:
        if self.builder is not None:
            self.builder.add_chunk(entries)
        return [self.run._chunk(text, self._take_logprobs(), None)] if text else []

    def end(self) -> list[CreateCompletionResponse]:
        out = []
        if self.run.suffix_text:
            out.append(self.run._chunk(self.run.suffix_text, None, None))
        out.append(self.run._chunk("", None, self.run.finish_reason()))
        return out
