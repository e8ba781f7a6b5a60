"""A Llama's own context as its completion engine (see ``llama_cpp._request``).

Each completion takes a turn on the Llama (``llama_cpp._turns``): it restores the prompt
cache's best state, keeps the longest prefix the context already holds, and starts a
C++ ``Generation`` for the rest. A call that does not stream runs to the end inside its
turn and returns a finished run, so nothing is left holding the Llama whatever the
caller does next; a stream takes the Llama back for each chunk.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from llama_cpp import _core
from llama_cpp._completion import CompletionRun, LogprobsBuilder
from llama_cpp._request import CompletionRequest, check_prompt_on
from llama_cpp._timings import print_timings
from llama_cpp._turns import StreamTurn
from llama_cpp.llama_cache import common_prefix_length

if TYPE_CHECKING:
    from llama_cpp.llama import Llama


class LocalEngine:
    """Generates on the Llama's own context, one call at a time."""

    holder = "the context"

    def __init__(self, llama: Llama):
        self._llama = llama
        self.advice = (
            f"create the Llama with a larger n_ctx (up to the model's {llama.model.n_ctx_train})"
        )

    def positions(self) -> int:
        return self._llama.ctx.n_ctx

    def check_prompt(self, n_tokens: int) -> None:
        check_prompt_on(self._llama.ctx, self, n_tokens)

    def start(self, request: CompletionRequest) -> CompletionRun:
        llama = self._llama
        check_signals = threading.current_thread() is threading.main_thread()
        with llama._turns.call() as call:
            ctx = llama.ctx
            echo_logprobs = None
            if request.echo and request.logprobs >= 0:
                ctx.clear()
                echo_logprobs = self._prompt_logprobs(request.tokens, request.logprobs)
                rest: list[int] = []
            else:
                if llama.cache is not None:
                    self._restore_cached_prefix(request.tokens)
                rest = request.tokens[ctx.reuse_prefix(0, request.tokens) :]
            if llama.verbose:
                ctx.perf_reset()
            generation = _core.Generation(
                ctx,
                request.chain,
                0,
                rest,
                max_tokens=request.max_tokens,
                stop=request.stop,
                logprobs=request.logprobs,
                check_signals=check_signals,
                logits_processor=request.logits_processor,
                stopping_criteria=request.stopping_criteria,
                **llama._draft_arguments,
            )
            if not request.stream:
                try:
                    output = generation.run()
                finally:
                    self._finished(request, store=True)
                return request.run(generation, output=output, echo_logprobs=echo_logprobs)
        turn = llama._turns.stream(call)
        return request.run(
            generation,
            echo_logprobs=echo_logprobs,
            on_finish=lambda: self._stream_finished(request, turn),
            turn=turn,
        )

    def _stream_finished(self, request: CompletionRequest, turn: StreamTurn) -> None:
        with self._llama._turns.held():
            self._finished(request, store=turn.is_current())

    def _finished(self, request: CompletionRequest, store: bool) -> None:
        """After a run (the caller holds the Llama): store the prompt cache's state, print
        timings; ``store`` is false once another call has changed the context."""
        llama = self._llama
        if llama._ctx is None or llama._ctx.closed:
            return
        if store and llama.cache is not None:
            self._cache_state()
        if llama.verbose:
            print_timings(llama.ctx.perf(), request.chain.perf())

    def _restore_cached_prefix(self, tokens: list[int]) -> None:
        """Restore the cached state sharing the longest prefix with ``tokens`` when it
        shares more than the context holds."""
        llama = self._llama
        assert llama.cache is not None
        try:
            state = llama.cache[tokens]
        except KeyError:
            return
        cached = common_prefix_length(state.input_ids[: state.n_tokens].tolist(), tokens)
        held = common_prefix_length(llama.ctx.tokens(0), tokens)
        if cached <= held:
            return
        llama.ctx.set_seq_state(
            0, bytes(state.llama_state), state.input_ids[: state.n_tokens].tolist()
        )
        if llama.verbose:
            print(f"Llama: prompt cache hit, {cached} of {len(tokens)} prompt tokens restored",
                  file=sys.stderr)  # fmt: skip

    def _cache_state(self) -> None:
        """Store the context's state in the prompt cache."""
        llama = self._llama
        assert llama.cache is not None
        state = llama._snapshot()
        evicted = llama.cache.store(state.input_ids.tolist(), state)
        if llama.verbose:
            print(f"Llama: prompt cache stored {state.n_tokens} tokens "
                  f"({state.llama_state_size} bytes)", file=sys.stderr)  # fmt: skip
            for n_tokens in evicted:
                print(f"Llama: prompt cache over its capacity ({llama.cache.capacity_bytes} "
                      f"bytes): evicted the least recently used state ({n_tokens} tokens)",
                      file=sys.stderr)  # fmt: skip

    def _prompt_logprobs(self, tokens: list[int], top_n: int) -> Any:
        """Logprobs of every prompt token (``echo`` with ``logprobs``): the prompt is
        decoded with logits for each position."""
        import numpy as np

        llama = self._llama
        rows = llama.ctx.decode(tokens, 0, True)
        assert rows is not None  # all_logits=True returns a row per token
        shifted = rows - rows.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        builder = LogprobsBuilder(llama._token_text)
        builder.add(tokens[0], None, None)
        for i, token in enumerate(tokens[1:]):
            row = logp[i]
            top = np.argsort(-row)[:top_n] if top_n > 0 else np.array([], dtype=np.intp)
            tops = {llama._token_text(int(t)): float(row[t]) for t in top}
            tops.setdefault(llama._token_text(token), float(row[token]))
            builder.add(token, float(row[token]), tops)
        return builder.data
