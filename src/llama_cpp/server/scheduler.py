"""Continuous batching: many requests share one model and one context.

The context has one sequence per slot (``n_parallel``). A single scheduler thread owns
it: each turn it admits waiting jobs into free slots (reusing the longest cached prefix
any free slot holds), then advances every running job with one ``_core.step`` (one
llama_decode for all of them, GIL released), and hands each job's new text to its
consumer. Jobs join and leave between steps; a cancelled job frees its slot before the
next step. Beyond the slots, jobs wait in a bounded queue; beyond that, ``submit``
raises :class:`QueueFull`.

Requests that arrive together should start together: a request announces itself
(:meth:`Scheduler.arriving`) before its prompt is prepared, and before a step the
scheduler waits a little (at most ``gather_s``) for announced requests to be submitted,
so that their prompts join the same decode instead of each waiting a whole step.

Consumers read a job's events from any thread (:meth:`Job.events`) or from asyncio
(``Job(loop=...)``, then :meth:`Job.aevents`).

The thread is supervised: an exception anywhere in a turn fails every running and
waiting job with :class:`SchedulerFault` (their consumers never wait forever), is logged
with its traceback, and the loop goes on with a cleared context. After
``max_faults`` faults within a minute the scheduler stops taking jobs and reports itself
unhealthy (:attr:`Scheduler.unhealthy`). A job may carry a deadline: past it, the job
ends with :class:`DeadlineExceeded`, waiting or running.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from llama_cpp import _core
from llama_cpp.llama_cache import BaseLlamaCache, common_prefix_length

log = logging.getLogger("llama_cpp.server")


class QueueFull(RuntimeError):
    """Every slot is busy and the waiting queue is full; retry after ``retry_after`` s."""

    def __init__(self, queued: int, retry_after: int = 1):
        super().__init__(f"the server is busy: all slots in use and {queued} requests waiting")
        self.retry_after = retry_after


class SchedulerFault(RuntimeError):
    """The scheduler failed outside any one request; every job it held ends with this."""


class ModelUnhealthy(SchedulerFault):
    """The scheduler has failed too often to take jobs (see :attr:`Scheduler.unhealthy`)."""


class DeadlineExceeded(TimeoutError):
    """A job ran past its deadline (``--request_timeout_s``)."""


@dataclass
class Chunk:
    """New output of a job: text (bytes, UTF-8 complete), token ids, logprobs or None."""

    text: bytes
    tokens: list[int]
    logprobs: list[Any] | None


@dataclass
class End:
    """A job finished: why, and how many tokens it read and wrote."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


@dataclass
class Failed:
    """A job failed; ``error`` is the exception to raise to its consumer."""

    error: BaseException


Event = Chunk | End | Failed


class Arrival:
    """A request on its way to :meth:`Scheduler.submit` (see the module doc). Pass it to
    ``submit``, or ``close()`` it if the request fails before; both are idempotent."""

    def __init__(self, scheduler: Scheduler):
        self._scheduler = scheduler
        self.done = False
        self.waited_for = False  # a step has already waited for it: never twice

    def close(self) -> None:
        with self._scheduler._cv:
            self._scheduler._arrived(self)


@dataclass
class Job:
    """One generation request: the prompt tokens, its sampler chain and limits."""

    prompt: list[int]
    sampler: _core.SamplerChain
    max_tokens: int = -1
    stop: list[str] = field(default_factory=list)
    logprobs: int = -1
    loop: asyncio.AbstractEventLoop | None = None
    timeout_s: float | None = None  # from submission to the end; None: no deadline
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    first_output: float | None = None
    _events: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)
    _aevents: asyncio.Queue[Event] | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.loop is not None:
            self._aevents = asyncio.Queue()

    @property
    def overdue(self) -> bool:
        """Past its deadline."""
        return self.timeout_s is not None and time.monotonic() - self.submitted > self.timeout_s

    def deadline_error(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the request ran longer than the server's limit of {self.timeout_s:g} s "
            "(--request_timeout_s); ask for fewer tokens or raise the limit"
        )

    def cancel(self) -> None:
        """Stop this job (its client went away); its slot is freed before the next step."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def emit(self, event: Event) -> None:
        if self.loop is not None and self._aevents is not None:
            try:
                self.loop.call_soon_threadsafe(self._aevents.put_nowait, event)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self.cancel()
        else:
            self._events.put(event)

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events until the End (or Failed), blocking; for thread consumers."""
        while True:
            event = self._events.get(timeout=timeout)
            yield event
            if not isinstance(event, Chunk):
                return

    async def aevents(self) -> AsyncIterator[Event]:
        """Events until the End (or Failed); for asyncio consumers (``loop=`` given)."""
        assert self._aevents is not None, "create the Job with loop= to read it from asyncio"
        while True:
            event = await self._aevents.get()
            yield event
            if not isinstance(event, Chunk):
                return


@dataclass
class _Running:
    job: Job
    slot: int
    generation: _core.Generation
    cached: int


class Observer(Protocol):
    """What a scheduler reports (llama_cpp.server.metrics.Metrics implements it)."""

    def first_token(self, model: str, seconds: float) -> None: ...
    def finished(
        self, model: str, prompt_tokens: int, completion_tokens: int, reason: str
    ) -> None: ...


class Scheduler:
    """Runs :class:`Job` s on ``n_parallel`` sequences of one context (see module doc)."""

    observer: Observer | None = None
    name = ""

    def __init__(
        self,
        context: _core.Context,
        *,
        max_queue: int = 64,
        gather_s: float = 0.02,
        max_faults: int = 5,
        cache: BaseLlamaCache | None = None,
    ):
        if context.n_seq_max < 1:
            raise ValueError("the context needs at least one sequence")
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
        self.context = context
        self.n_slots = context.n_seq_max
        self.max_queue = max_queue
        self.gather_s = gather_s
        self._arriving: set[Arrival] = set()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: dict[int, _Running] = {}
        self._cv = threading.Condition()
        self._closing = False
        self.steps = 0
        self.max_faults = max_faults
        self.cache = cache
        self.faults: collections.deque[float] = collections.deque()  # times of recent faults
        self.unhealthy: str | None = None  # why no job is taken any more
        self._thread = threading.Thread(target=self._loop, name="llama-scheduler", daemon=True)
        self._thread.start()

    # ---- what consumers call ----------------------------------------------------------
    def arriving(self) -> Arrival:
        """Announce a request whose job will be submitted shortly (see the module doc)."""
        arrival = Arrival(self)
        with self._cv:
            self._arriving.add(arrival)
        return arrival

    def submit(self, job: Job, arrival: Arrival | None = None) -> Job:
        """Queue ``job``; raises QueueFull when the slots and the queue are all taken."""
        with self._cv:
            if arrival is not None:
                self._arrived(arrival)
            if self._closing:
                raise RuntimeError("the scheduler is closed")
            if self.unhealthy is not None:
                raise ModelUnhealthy(self.unhealthy)
            free = self.n_slots - len(self._running)
            if len(self._waiting) >= self.max_queue + max(free, 0):
                raise QueueFull(len(self._waiting))
            self._waiting.append(job)
            self._cv.notify()
        return job

    def _arrived(self, arrival: Arrival) -> None:
        """(caller holds the condition's lock)"""
        if not arrival.done:
            arrival.done = True
            self._arriving.discard(arrival)
            self._cv.notify()

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    @property
    def busy_slots(self) -> int:
        return len(self._running)

    def close(self) -> None:
        """Finish: running and waiting jobs end with 'cancelled'; the thread exits."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join()

    # ---- the scheduler thread ---------------------------------------------------------
    def _loop(self) -> None:
        while True:
            try:
                with self._cv:
                    while not self._closing and not self._waiting and not self._running:
                        self._cv.wait()
                    if self._closing:
                        break
                    self._admit()
                    self._gather()
                self._drop_cancelled()
                if self._running:
                    self._step()
            except BaseException as error:  # supervised: see the module doc
                self._fault(error)
        self._close_all()

    def _fault(self, error: BaseException) -> None:
        """Fail every job held, clear the context, and go on (or stop taking jobs)."""
        log.error("the scheduler of %s failed; its requests end with an error",
                  self.name or "the model", exc_info=error)  # fmt: skip
        fault = SchedulerFault(f"the server failed while generating: {error!r}")
        fault.__cause__ = error
        now = time.monotonic()
        self.faults.append(now)
        while self.faults and now - self.faults[0] > 60:
            self.faults.popleft()
        with self._cv:
            running, self._running = list(self._running.values()), {}
            waiting, self._waiting = list(self._waiting), collections.deque()
            lost = _core.rpc_connection_lost()
            if lost is not None:  # llama.cpp cannot reconnect to a worker within a process
                self.unhealthy = f"an RPC worker connection broke: {error}"
            elif len(self.faults) >= self.max_faults:
                self.unhealthy = (
                    f"{len(self.faults)} scheduler failures within a minute, the last: "
                    f"{error!r}; restart the server"
                )
        for item in running:
            self._clear_slot(item.slot)
            item.job.emit(Failed(fault))
        for job in waiting:
            job.emit(Failed(fault))

    def _clear_slot(self, slot: int) -> None:
        try:
            self.context.seq_clear(slot)
        except Exception:  # the fault is already being reported
            log.exception("could not clear slot %d after a failure", slot)

    def _close_all(self) -> None:
        for running in list(self._running.values()):
            self._finish(running, "cancelled")
        with self._cv:
            waiting, self._waiting = list(self._waiting), collections.deque()
        for job in waiting:
            job.emit(End("cancelled", len(job.prompt), 0, 0))

    def _admit(self) -> None:
        """Start waiting jobs in free slots (caller holds the condition's lock)."""
        while self._waiting and len(self._running) < self.n_slots:
            job = self._waiting.popleft()
            if job.cancelled:
                job.emit(End("cancelled", len(job.prompt), 0, 0))
                continue
            slot = self._pick_slot(job.prompt)
            try:
                if self.cache is not None:
                    self._restore_cached(slot, job.prompt)
                cached = self.context.reuse_prefix(slot, job.prompt)
                generation = _core.Generation(
                    self.context,
                    job.sampler,
                    slot,
                    job.prompt[cached:],
                    max_tokens=job.max_tokens,
                    stop=job.stop,
                    logprobs=job.logprobs,
                )
            except Exception as error:  # a prompt that does not fit, a bad chain
                self.context.seq_clear(slot)
                job.emit(Failed(error))
                continue
            job.started = time.monotonic()
            self._running[slot] = _Running(job, slot, generation, cached)

    def _gather(self) -> None:
        """Wait up to ``gather_s`` for requests announced since the last step, admitting
        them as they come, so that they join this step; a request slow to arrive is waited
        for once only (caller holds the condition's lock)."""
        fresh = [a for a in self._arriving if not a.waited_for]
        for arrival in fresh:
            arrival.waited_for = True
        deadline = time.monotonic() + self.gather_s
        while (
            any(not a.done for a in fresh)
            and not self._closing
            and len(self._running) < self.n_slots
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cv.wait(remaining)
            self._admit()

    def _restore_cached(self, slot: int, prompt: list[int]) -> None:
        """Put the cached state sharing the longest prefix with ``prompt`` into ``slot``
        when it shares more than the slot holds."""
        assert self.cache is not None
        try:
            state = self.cache[prompt]
        except KeyError:
            return
        stored = state.input_ids[: state.n_tokens].tolist()
        if common_prefix_length(stored, prompt) > common_prefix_length(
            self.context.tokens(slot), prompt
        ):
            self.context.set_seq_state(slot, bytes(state.llama_state), stored)

    def _store_cached(self, slot: int) -> None:
        """Keep a finished request's state (prompt and answer) in the prompt cache."""
        import numpy as np

        from llama_cpp.llama import LlamaState

        assert self.cache is not None
        tokens = self.context.tokens(slot)
        data = self.context.seq_state(slot)
        state = LlamaState(
            input_ids=np.array(tokens, dtype=np.intc), scores=None, n_tokens=len(tokens),
            llama_state=data, llama_state_size=len(data), seed=0,
        )  # fmt: skip
        for n_tokens in self.cache.store(tokens, state):
            log.debug("prompt cache full: evicted a state of %d tokens", n_tokens)

    def _pick_slot(self, prompt: list[int]) -> int:
        """The free slot whose cached tokens share the longest prefix with ``prompt``."""
        best, best_shared = -1, -1
        for slot in range(self.n_slots):
            if slot in self._running:
                continue
            shared = common_prefix_length(self.context.tokens(slot), prompt)
            if shared > best_shared:
                best, best_shared = slot, shared
        return best

    def _drop_cancelled(self) -> None:
        """End cancelled jobs, and overdue ones with their deadline error."""
        for running in list(self._running.values()):
            if running.job.cancelled:
                running.generation.cancel()
                self._finish(running, "cancelled")
            elif running.job.overdue:
                running.generation.cancel()
                with self._cv:
                    self._running.pop(running.slot, None)
                running.job.emit(Failed(running.job.deadline_error()))
        with self._cv:
            overdue = [job for job in self._waiting if job.overdue]
            for job in overdue:
                self._waiting.remove(job)
        for job in overdue:
            job.emit(Failed(job.deadline_error()))

    def _step(self) -> None:
        generations = [r.generation for r in self._running.values()]
        try:
            _core.step(self.context, generations)
        except Exception as error:
            for running in list(self._running.values()):
                self.context.seq_clear(running.slot)
                running.job.emit(Failed(error))
                del self._running[running.slot]
            return
        self.steps += 1
        for running in list(self._running.values()):
            if running.generation.error is not None:  # its own Python callback raised
                self._clear_slot(running.slot)
                with self._cv:
                    self._running.pop(running.slot, None)
                running.job.emit(Failed(running.generation.error))
                continue
            text, tokens, logprobs = running.generation.take()
            if text or tokens:
                self._first_output(running.job)
                running.job.emit(Chunk(text, list(tokens), logprobs))
            if running.generation.finished:
                self._finish(running, running.generation.finish_reason or "stop")

    def _first_output(self, job: Job) -> None:
        if job.first_output is None:
            job.first_output = time.monotonic()
            if self.observer is not None:
                self.observer.first_token(self.name, job.first_output - job.submitted)

    def _finish(self, running: _Running, reason: str) -> None:
        generation = running.generation
        if generation.finished:
            text, tokens, logprobs = generation.take()
            if text or tokens:
                self._first_output(running.job)
                running.job.emit(Chunk(text, list(tokens), logprobs))
        end = End(reason, len(running.job.prompt), generation.n_generated, running.cached)
        if self.cache is not None and reason in ("stop", "length"):
            self._store_cached(running.slot)
        if self.observer is not None:
            self.observer.finished(self.name, end.prompt_tokens, end.completion_tokens, reason)
        running.job.emit(end)
        with self._cv:
            self._running.pop(running.slot, None)
