"""A served model's completions as jobs on the shared scheduler.

The served ``Llama`` keeps everything it does to turn a request into tokens, a sampler
chain and stop strings (chat templates, tools, JSON schemas, logprobs, streaming
chunks: ``llama_cpp._request``); its engine, :class:`ScheduledEngine`, replaces only
the last part: the generation is a :class:`Job` on the :class:`Scheduler`, so any
number of requests run at once, each in its own sequence. The Llama creates no context
of its own: the scheduler's is the only one for generation, and embeddings get one of a
slot's size when first asked (``Llama``'s embeddings context).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from llama_cpp import _core
from llama_cpp._completion import ChunkStream, CompletionRun
from llama_cpp._request import CompletionRequest, check_prompt_on
from llama_cpp.llama import Llama
from llama_cpp.server.logs import note_usage
from llama_cpp.server.scheduler import Arrival, Chunk, End, Failed, Job, Scheduler


class JobGeneration:
    """The ``_core.Generation`` interface CompletionRun uses, backed by a scheduler Job."""

    def __init__(self, job: Job):
        self.job = job
        self._events = job.events() if job.loop is None else None
        self.finish_reason: str | None = None
        self.n_generated = 0
        self.cached_tokens: int | None = None  # prompt tokens the slot (or cache) already held
        # the most tokens this request may generate: its max_tokens, or what the slot's
        # context leaves after the prompt when that is smaller or none was asked for
        self.completion_tokens_limit: int | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def next(self) -> tuple[bytes, list[int], Any] | None:
        if self.finished:
            return None
        if self._events is None:
            raise RuntimeError("this job delivers to an event loop: read it with stream_chunks")
        return self.accept(next(self._events))

    def accept(self, event: Chunk | End | Failed) -> tuple[bytes, list[int], Any]:
        """One event as a piece of output (empty at the End); raises a Failed's error."""
        if isinstance(event, Chunk):
            self.n_generated += len(event.tokens)
            return event.text, event.tokens, event.logprobs
        return self._end(event)

    def run(self) -> tuple[bytes, list[int], Any] | None:
        text, tokens, logprobs = b"", [], None
        while (chunk := self.next()) is not None:
            text += chunk[0]
            tokens += chunk[1]
            if chunk[2]:
                logprobs = (logprobs or []) + list(chunk[2])
        return text, tokens, logprobs

    def _end(self, event: End | Failed) -> tuple[bytes, list[int], Any]:
        if isinstance(event, Failed):
            self.finish_reason = "cancelled"
            raise event.error
        self.finish_reason = event.finish_reason
        self.cached_tokens = event.cached_tokens
        note_usage(event.prompt_tokens, event.completion_tokens)
        return b"", [], None

    def cancel(self) -> None:
        self.job.cancel()


@dataclass
class RequestContext:
    """What the route that starts a completion tells the code that makes its Job (in a
    worker thread, which sees the route's context): the event loop that will write a
    stream's chunks (the scheduler then delivers to it directly), and the request's
    :class:`Arrival`, and its deadline (``--request_timeout_s``)."""

    stream_loop: asyncio.AbstractEventLoop | None = None
    arrival: Arrival | None = None
    timeout_s: float | None = None


current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "current_request", default=None
)


async def stream_chunks(stream: ChunkStream[Any]) -> AsyncGenerator[Any, None]:
    """The chunks of a streamed server call, made on the event loop as the scheduler
    delivers output (no thread per stream). Leaving early cancels the job."""
    run, maker = stream.run, stream.maker
    generation = run.generation
    if not isinstance(generation, JobGeneration) or generation.job.loop is None:
        raise TypeError("stream_chunks needs a stream started with a RequestContext.stream_loop")
    try:
        for chunk in maker.begin():
            yield chunk
        async for event in generation.job.aevents():
            text, entries = run.accept(generation.accept(event))
            for chunk in maker.piece(text, entries):
                yield chunk
        for chunk in maker.end():
            yield chunk
    finally:
        if not generation.finished:
            generation.cancel()


class ScheduledEngine:
    """The completion engine of a served model (see ``llama_cpp._request``): each request
    is a :class:`Job` on the scheduler, in a slot of the shared context."""

    holder = "a request's share of the server's context"
    advice = "start the server with a larger --n_ctx (positions per request)"

    def __init__(self, scheduler: Scheduler):
        self.scheduler = scheduler

    def positions(self) -> int:
        return self.scheduler.context.n_ctx_seq

    def check_prompt(self, n_tokens: int) -> None:
        check_prompt_on(self.scheduler.context, self, n_tokens)

    def start(self, request: CompletionRequest) -> CompletionRun:
        if request.logits_processor or request.stopping_criteria:
            raise ValueError("the server does not run Python logits processors or criteria")
        if request.echo and request.logprobs >= 0:
            raise ValueError("echo together with logprobs is not supported by the server")
        arrival = current_request.get()
        job = Job(
            request.tokens,
            request.chain,
            request.max_tokens,
            request.stop,
            request.logprobs,
            loop=arrival.stream_loop if arrival is not None and request.stream else None,
            timeout_s=arrival.timeout_s if arrival is not None else None,
        )
        self.scheduler.submit(job, arrival.arrival if arrival is not None else None)
        generation = JobGeneration(job)
        room = self.positions() - len(request.tokens)
        asked = job.max_tokens
        generation.completion_tokens_limit = room if asked < 0 else min(asked, room)
        return request.run(generation)


def shared_context(llama: Llama, n_parallel: int, n_ctx: int, n_batch: int) -> _core.Context:
    """A context with ``n_parallel`` sequences of ``n_ctx`` positions each, on ``llama``'s
    model and with its thread and attention settings."""
    params = llama.context_params
    shared = _core.ContextParams()
    for name in ("n_threads", "n_threads_batch", "flash_attn_type", "type_k", "type_v",
                 "offload_kqv", "rope_freq_base", "rope_freq_scale"):  # fmt: skip
        setattr(shared, name, getattr(params, name))
    shared.n_seq_max = n_parallel
    shared.n_ctx = n_ctx * n_parallel
    shared.n_batch = n_batch
    shared.n_ubatch = min(n_batch, params.n_ubatch)
    shared.kv_unified = False  # each slot owns its share: no request can starve another
    return _core.Context.from_params(llama.model, shared)
