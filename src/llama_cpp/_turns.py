"""Who may use a Llama's context now: the one object every call holds it through.

A ``Llama`` serves one call at a time. Each call that changes what the context holds
takes a turn (``with turns.call():``); the turn ends when the block does, whatever
happens inside, so no caller can leave the Llama locked. A stream is different: it
runs between its chunks, while other calls may come, so it holds a :class:`StreamTurn`
that takes the lock for one chunk at a time and raises once a later call has started
(the later call wins; the stream says why it stopped). Reads that change nothing
(``with turns.held():``) neither end streams nor are ended by them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType


class StreamSuperseded(RuntimeError):
    """A stream's next chunk was asked for after another call started on its Llama."""


class Turns:
    """The lock of one Llama's context and the count of calls that took it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0

    @contextmanager
    def call(self) -> Iterator[int]:
        """Hold the context for one call; open streams end. Yields the call's number."""
        with self._lock:
            self._calls += 1
            yield self._calls

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the context to read it (or to use what the current call set up)."""
        with self._lock:
            yield

    def is_current(self, call: int) -> bool:
        """Whether no other call has started since ``call`` (read it under the lock)."""
        return self._calls == call

    def stream(self, call: int) -> StreamTurn:
        """The turn a stream started by ``call`` takes for each of its chunks."""
        return StreamTurn(self, call)


class StreamTurn:
    """``with turn:`` holds the Llama for one chunk of a stream, or raises
    :class:`StreamSuperseded` when another call has started since the stream did."""

    def __init__(self, turns: Turns, call: int):
        self._turns = turns
        self.call = call

    def __enter__(self) -> None:
        self._turns._lock.acquire()
        if not self._turns.is_current(self.call):
            self._turns._lock.release()
            raise StreamSuperseded(
                "this stream was stopped because another call started on the same Llama; "
                "finish (or close()) a stream before starting another call, or use one "
                "Llama per thread"
            )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._turns._lock.release()

    def is_current(self) -> bool:
        """Whether the stream still owns the context (read it under the lock)."""
        return self._turns.is_current(self.call)
