"""A completion call, prepared: the one step from arguments to what an engine runs.

``Llama.create_completion``, chat completions and the server's routes all turn a call
into a :class:`CompletionRequest` here (the prompt's tokens, the sampler chain primed
with the prompt's tail, the stop strings, the limits in the engine's terms), then hand
it to the Llama's :class:`CompletionEngine`: its own context
(``llama_cpp._local_engine``) or, in the server, the scheduler's shared one
(``llama_cpp.server.served``). Engines differ only in where the tokens are generated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from llama_cpp import _core
from llama_cpp._completion import CompletionRun
from llama_cpp.llama_grammar import LlamaGrammar

if TYPE_CHECKING:
    from llama_cpp._sampling import SamplingParams
    from llama_cpp.llama import Llama


class CompletionEngine(Protocol):
    """Where a Llama's completions are generated."""

    holder: str
    """What holds one request's tokens, as errors name it ("the context")."""
    advice: str
    """How to make that larger, as errors advise it."""

    def positions(self) -> int:
        """Positions (prompt and output tokens) one request can use."""
        ...

    def check_prompt(self, n_tokens: int) -> None:
        """Raise ValueError when a prompt of ``n_tokens`` leaves no room to generate."""
        ...

    def start(self, request: CompletionRequest) -> CompletionRun:
        """Begin generating ``request``: a run to stream, or one already finished."""
        ...


def check_prompt_on(context: _core.Context, engine: CompletionEngine, n_tokens: int) -> None:
    """The prompt limit of ``context`` (llama.cpp's rule, kept in C++), in ``engine``'s words."""
    context.check_prompt_fits(n_tokens, engine.holder, engine.advice)


@dataclass
class CompletionRequest:
    """One completion call, checked and tokenized, ready for an engine."""

    tokens: list[int]
    prompt_text: str
    chain: _core.SamplerChain
    max_tokens: int
    """Tokens to generate at most; -1 until the request's positions are full."""
    logprobs: int
    """Top alternatives to report per token; -1 for no logprobs at all."""
    stop: list[str]
    echo: bool
    suffix: str | None
    model_name: str
    stream: bool
    piece: Callable[[int], str]
    fills_in_middle: bool
    """The suffix went into the prompt (a fill-in-the-middle model): it is not appended."""
    logits_processor: Any = None
    stopping_criteria: Any = None

    def run(self, generation: Any, **extra: Any) -> CompletionRun:
        """The :class:`CompletionRun` reporting ``generation`` for this request."""
        return CompletionRun(
            generation=generation,
            model_name=self.model_name,
            prompt_tokens=len(self.tokens),
            piece=self.piece,
            prefix_text=self.prompt_text if self.echo else "",
            suffix_text=self.suffix if self.suffix is not None and not self.fills_in_middle else "",
            want_logprobs=self.logprobs >= 0,
            **extra,
        )


def check_completion_args(max_tokens: Any, logprobs: Any, grammar: Any) -> None:
    """Type checks shared by every completion entry point."""
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise TypeError(f"max_tokens must be an int or None, got {max_tokens!r}")
    if logprobs is not None and (
        isinstance(logprobs, bool) or not isinstance(logprobs, int) or logprobs < 0
    ):
        raise ValueError(f"logprobs must be None or an int >= 0, got {logprobs!r}")
    if grammar is not None and not isinstance(grammar, LlamaGrammar):
        raise TypeError("grammar must be a LlamaGrammar (use LlamaGrammar.from_string(...))")


def prompt_tokens(
    llama: Llama, prompt: str | list[int] | bytes, suffix: str | None
) -> tuple[list[int], str, bool]:
    """The prompt's tokens (BOS added as the model wants; the suffix placed around it for a
    fill-in-the-middle model), its text, and whether the suffix went in."""
    model = llama.model
    if isinstance(prompt, (str, bytes)):
        text = prompt.decode("utf-8") if isinstance(prompt, bytes) else prompt
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=True, special=True) if text else []
    elif isinstance(prompt, (list, tuple)) and all(isinstance(t, int) for t in prompt):
        tokens, text = list(prompt), ""
    else:
        raise TypeError(
            f"prompt must be a string or a list of token ids, got {type(prompt).__name__}"
        )
    if not tokens:
        tokens = [model.token_bos if model.token_bos >= 0 else model.token_eos]
    fills_in_middle = model.token_fim_pre >= 0 and model.token_fim_suf >= 0
    if suffix is not None and fills_in_middle:
        suffix_tokens = llama.tokenize(suffix.encode("utf-8"), add_bos=False, special=False)
        pre, suf, mid = model.token_fim_pre, model.token_fim_suf, model.token_fim_mid
        if llama.spm_infill:
            tokens = [suf, *suffix_tokens, pre, *tokens, mid]
        else:
            tokens = [pre, *tokens, suf, *suffix_tokens, mid]
    return tokens, text, fills_in_middle


def prepare(
    llama: Llama,
    engine: CompletionEngine,
    prompt: Any,
    *,
    suffix: str | None,
    max_tokens: int | None,
    sampling: SamplingParams,
    logprobs: int | None,
    echo: bool,
    stop: list[str],
    model: str | None,
    grammar: LlamaGrammar | None,
    logits_processor: Any = None,
    stopping_criteria: Any = None,
    stream: bool = False,
) -> CompletionRequest:
    """Check a completion call's arguments and prepare it for ``engine``."""
    check_completion_args(max_tokens, logprobs, grammar)
    tokens, text, fills_in_middle = prompt_tokens(llama, prompt, suffix)
    engine.check_prompt(len(tokens))
    last_n = llama.last_n_tokens_size
    chain = sampling.build_chain(llama.model, last_n, grammar.grammar if grammar else None)
    chain.prime(tokens[-last_n:] if last_n else [])
    return CompletionRequest(
        tokens=tokens,
        prompt_text=text,
        chain=chain,
        max_tokens=-1 if max_tokens is None or max_tokens <= 0 else max_tokens,
        logprobs=-1 if logprobs is None else logprobs,
        stop=stop,
        echo=echo,
        suffix=suffix,
        model_name=model or llama.model_path,
        stream=stream,
        piece=llama._token_text,
        fills_in_middle=fills_in_middle,
        logits_processor=logits_processor,
        stopping_criteria=stopping_criteria,
    )
