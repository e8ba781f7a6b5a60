"""The continuous-batching scheduler (llama_cpp.server.scheduler) on the real test model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_cpp import _core
from llama_cpp.server.scheduler import (
    Chunk,
    DeadlineExceeded,
    End,
    Failed,
    Job,
    ModelUnhealthy,
    QueueFull,
    Scheduler,
    SchedulerFault,
)

PROMPTS = [
    b"The capital of France is",
    b"Once upon a time",
    b"def fibonacci(n):",
    b"The three primary colours are",
    b"My favourite food is",
    b"In 1969, the first man on the moon",
]


@pytest.fixture(scope="module")
def model(model_path: Path) -> _core.Model:
    return _core.Model(str(model_path))


@pytest.fixture
def scheduler(model: _core.Model) -> Iterator[Scheduler]:
    sched = Scheduler(_core.Context(model, n_ctx=2048, n_seq_max=4), max_queue=8)
    yield sched
    sched.close()


def greedy(model: _core.Model, no_eos: bool = False) -> _core.SamplerChain:
    chain = _core.SamplerChain()
    if no_eos:
        chain.add_logit_bias(model.n_vocab, {model.token_eos: -1e9, model.token_eot: -1e9})
    chain.add_greedy()
    return chain


def job(model: _core.Model, prompt: bytes, n: int = 16, **kwargs: object) -> Job:
    no_eos = bool(kwargs.pop("no_eos", False))
    return Job(model.tokenize(prompt), greedy(model, no_eos), n, **kwargs)  # type: ignore[arg-type]


def collect(j: Job) -> tuple[bytes, End | Failed]:
    text = b""
    for event in j.events(timeout=120):
        if isinstance(event, Chunk):
            text += event.text
        else:
            return text, event
    raise AssertionError("no end event")


def test_concurrent_jobs_match_each_run_alone(model: _core.Model, scheduler: Scheduler) -> None:
    alone = []
    for prompt in PROMPTS[:4]:
        alone.append(collect(scheduler.submit(job(model, prompt)))[0])
    jobs = [scheduler.submit(job(model, prompt)) for prompt in PROMPTS[:4]]
    together = [collect(j) for j in jobs]
    assert [text for text, _ in together] == alone
    for (_, end), prompt in zip(together, PROMPTS, strict=False):
        assert isinstance(end, End) and end.finish_reason in {"length", "stop"}
        assert end.prompt_tokens == len(model.tokenize(prompt))


def test_more_jobs_than_slots_wait_and_share_steps(
    model: _core.Model, scheduler: Scheduler
) -> None:
    steps_before = scheduler.steps
    jobs = [scheduler.submit(job(model, p, 20, no_eos=True)) for p in PROMPTS]
    ends = [collect(j)[1] for j in jobs]
    assert all(isinstance(e, End) and e.completion_tokens == 20 for e in ends)
    # 6 jobs x 20 tokens on 4 slots: far fewer decode steps than tokens
    assert scheduler.steps - steps_before < 6 * 20 / 2


def test_a_full_queue_is_refused(model: _core.Model) -> None:
    sched = Scheduler(_core.Context(model, n_ctx=512, n_seq_max=1), max_queue=1)
    try:
        first = sched.submit(job(model, PROMPTS[0], 200, no_eos=True))
        second = sched.submit(job(model, PROMPTS[1], 4))
        with pytest.raises(QueueFull, match="busy") as refused:
            sched.submit(job(model, PROMPTS[2], 4))
        assert refused.value.retry_after >= 1
        first.cancel()
        assert collect(first)[1].finish_reason == "cancelled"  # type: ignore[union-attr]
        assert isinstance(collect(second)[1], End)
    finally:
        sched.close()


def test_cancel_frees_the_slot_at_once(model: _core.Model, scheduler: Scheduler) -> None:
    long = scheduler.submit(job(model, PROMPTS[0], 1000, no_eos=True))
    events = long.events(timeout=60)
    assert isinstance(next(events), Chunk)
    long.cancel()
    rest = list(events)
    assert isinstance(rest[-1], End) and rest[-1].finish_reason == "cancelled"
    assert rest[-1].completion_tokens < 1000
    assert isinstance(collect(scheduler.submit(job(model, PROMPTS[1])))[1], End)
    assert scheduler.busy_slots == 0


def test_requests_announced_together_start_in_the_same_step(model: _core.Model) -> None:
    sched = Scheduler(_core.Context(model, n_ctx=2048, n_seq_max=4), gather_s=5.0)
    try:
        collect(sched.submit(job(model, PROMPTS[2], 4)))
        alone = sched.steps
        first, second = sched.arriving(), sched.arriving()
        a = sched.submit(job(model, PROMPTS[0], 4), first)
        timer = threading.Timer(0.2, lambda: sched.submit(job(model, PROMPTS[1], 4), second))
        timer.start()
        collect(a)
        timer.join()
        assert a.first_output is not None and a.started is not None
        assert a.first_output - a.started >= 0.2  # the first step waited for the second
        assert sched.steps - alone == alone  # in step from the first: no more steps than one job
    finally:
        sched.close()


def test_an_announced_request_that_never_comes_is_waited_for_once(model: _core.Model) -> None:
    sched = Scheduler(_core.Context(model, n_ctx=2048, n_seq_max=4), gather_s=1.0)
    try:
        lost = sched.arriving()  # e.g. its prompt failed to render and close() is late
        start = time.monotonic()
        end = collect(sched.submit(job(model, PROMPTS[0], 8, no_eos=True)))[1]
        assert isinstance(end, End) and end.completion_tokens == 8
        assert time.monotonic() - start < 4.0  # one wait of 1 s, not one per step
        lost.close()
        lost.close()  # idempotent
        assert not sched._arriving
    finally:
        sched.close()


def test_a_prompt_too_long_for_a_slot_fails_alone(model: _core.Model, scheduler: Scheduler) -> None:
    per_slot = scheduler.context.n_ctx_seq
    # a prompt that fills its slot leaves no room to generate
    too_long = Job((model.tokenize(PROMPTS[0]) * per_slot)[:per_slot], greedy(model), 4)
    fine = scheduler.submit(job(model, PROMPTS[0]))
    _, failed = collect(scheduler.submit(too_long))
    assert isinstance(failed, Failed) and isinstance(failed.error, ValueError)
    assert str(failed.error).startswith(
        f"Requested tokens ({per_slot}) exceed context window of {per_slot}:"
    )
    assert isinstance(collect(fine)[1], End)


def test_a_repeated_prompt_reuses_the_cached_prefix(
    model: _core.Model, scheduler: Scheduler
) -> None:
    prompt = PROMPTS[5] + b" was"
    _, first = collect(scheduler.submit(job(model, prompt, 4)))
    _, second = collect(scheduler.submit(job(model, prompt, 4)))
    assert isinstance(first, End) and isinstance(second, End)
    assert second.cached_tokens == len(model.tokenize(prompt)) - 1


def test_asyncio_consumers(model: _core.Model, scheduler: Scheduler) -> None:
    async def run() -> list[bytes]:
        loop = asyncio.get_running_loop()

        async def one(prompt: bytes) -> bytes:
            j = scheduler.submit(job(model, prompt, loop=loop))
            text = b""
            async for event in j.aevents():
                if isinstance(event, Chunk):
                    text += event.text
            return text

        return await asyncio.gather(*(one(p) for p in PROMPTS[:3]))

    texts = asyncio.run(run())
    assert all(texts) and len(texts) == 3


def test_close_ends_running_and_waiting_jobs(model: _core.Model) -> None:
    sched = Scheduler(_core.Context(model, n_ctx=512, n_seq_max=1), max_queue=4)
    running = sched.submit(job(model, PROMPTS[0], 1000, no_eos=True))
    waiting = sched.submit(job(model, PROMPTS[1], 4))
    next(running.events(timeout=60))
    closer = threading.Thread(target=sched.close)
    closer.start()
    closer.join(timeout=60)
    assert not closer.is_alive()
    assert collect(running)[1].finish_reason == "cancelled"  # type: ignore[union-attr]
    assert collect(waiting)[1].finish_reason == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="closed"):
        sched.submit(job(model, PROMPTS[2]))


class ExplodingObserver:
    """An observer with a bug: the scheduler calls it outside ``_core.step``."""

    def __init__(self) -> None:
        self.armed = True

    def first_token(self, _model: str, _seconds: float) -> None:
        if self.armed:
            raise KeyError("a bug in the metrics")

    def finished(self, model: str, prompt_tokens: int, completion_tokens: int, reason: str) -> None:
        pass


def test_a_fault_in_the_loop_fails_every_job_and_the_loop_goes_on(
    model: _core.Model, caplog: pytest.LogCaptureFixture
) -> None:
    sched = Scheduler(_core.Context(model, n_ctx=1024, n_seq_max=2), max_queue=8, max_faults=3)
    observer = ExplodingObserver()
    sched.observer = observer
    try:
        jobs = [sched.submit(job(model, p, 64, no_eos=True)) for p in PROMPTS[:5]]
        start = time.monotonic()
        ends = [collect(j)[1] for j in jobs]
        assert time.monotonic() - start < 30
        # running and waiting jobs alike end with the fault, naming its cause
        assert all(isinstance(e, Failed) and isinstance(e.error, SchedulerFault) for e in ends)
        assert "KeyError('a bug in the metrics')" in str(ends[0].error)  # type: ignore[union-attr]
        assert "the scheduler of the model failed" in caplog.text
        assert "KeyError: 'a bug in the metrics'" in caplog.text  # the traceback is logged
        assert sched.busy_slots == 0 and sched.queue_depth == 0 and sched.unhealthy is None
        observer.armed = False
        text, end = collect(sched.submit(job(model, PROMPTS[0], 8)))
        assert isinstance(end, End) and b"Paris" in text
        # a fault that keeps coming back: the scheduler stops taking jobs and says why
        observer.armed = True
        for _ in range(2):
            collect(sched.submit(job(model, PROMPTS[1], 8)))
        assert sched.unhealthy is not None and "3 scheduler failures" in sched.unhealthy
        with pytest.raises(ModelUnhealthy, match="restart the server"):
            sched.submit(job(model, PROMPTS[2], 8))
    finally:
        sched.close()


def test_a_job_past_its_deadline_ends_with_an_error_running_or_waiting(
    model: _core.Model,
) -> None:
    sched = Scheduler(_core.Context(model, n_ctx=4096, n_seq_max=1), max_queue=8)
    try:
        start = time.monotonic()
        running = sched.submit(job(model, PROMPTS[0], 4000, no_eos=True, timeout_s=1.5))
        waiting = sched.submit(job(model, PROMPTS[1], 8, timeout_s=0.3))
        text, end = collect(running)
        assert isinstance(end, Failed) and isinstance(end.error, DeadlineExceeded)
        assert "longer than the server's limit of 1.5 s (--request_timeout_s)" in str(end.error)
        assert text  # it had generated before its deadline (1.5 s: time to, on a busy machine)
        assert isinstance(collect(waiting)[1], Failed)
        assert time.monotonic() - start < 5
        text, end = collect(sched.submit(job(model, PROMPTS[0], 8, timeout_s=60)))
        assert isinstance(end, End) and b"Paris" in text
    finally:
        sched.close()


def test_a_python_callback_that_raises_in_a_batched_step_fails_only_its_generation(
    model: _core.Model,
) -> None:
    context = _core.Context(model, n_ctx=512, n_seq_max=3)
    calls = 0

    def broken(input_ids: object, scores: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ZeroDivisionError("a bug in a logits processor")
        return scores

    def generation(seq: int, **hooks: object) -> _core.Generation:
        return _core.Generation(context, greedy(model, no_eos=True), seq,
                                model.tokenize(PROMPTS[seq]), max_tokens=12, **hooks)  # type: ignore[arg-type]  # fmt: skip

    healthy = [generation(0), generation(2, stopping_criteria=lambda _ids, _scores: False)]
    faulty = generation(1, logits_processor=broken)
    while not all(g.finished for g in healthy):
        _core.step(context, [g for g in [*healthy, faulty] if not g.finished])
        for g in healthy:
            g.take()
    # the faulty one ended with its own exception; nothing is left pending for the others
    assert isinstance(faulty.error, ZeroDivisionError) and faulty.finish_reason == "cancelled"
    assert all(g.error is None and g.finish_reason == "length" for g in healthy)
    assert healthy[0].n_generated == healthy[1].n_generated == 12
    # and alone (Llama's path) the exception is raised to the caller
    alone = generation(1, logits_processor=lambda _ids, _scores: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        alone.run()
    context.close()
