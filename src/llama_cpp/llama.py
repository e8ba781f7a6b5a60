"""``llama_cpp.Llama``: llama-cpp-python's high-level API over the C++ engine."""

from __future__ import annotations

import os
import sys
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llama_cpp import _chat, _core, _embedding, _loader, _params, _rpc
from llama_cpp._completion import CompletionRun
from llama_cpp._constants import (
    LLAMA_ATTENTION_TYPE_UNSPECIFIED,
    LLAMA_DEFAULT_SEED,
    LLAMA_POOLING_TYPE_NONE,
    LLAMA_POOLING_TYPE_UNSPECIFIED,
    LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED,
    LLAMA_SPLIT_MODE_LAYER,
    POOLING_TYPE_NAMES,
)
from llama_cpp._local_engine import LocalEngine
from llama_cpp._request import CompletionEngine, prepare
from llama_cpp._sampling import (
    LogitsProcessorList,
    SamplingParams,
    StoppingCriteriaList,
    normalize_seed,
    normalize_stop,
    warn_removed_options,
)
from llama_cpp._timings import verbose_log
from llama_cpp._turns import Turns
from llama_cpp.llama_cache import BaseLlamaCache, common_prefix_length
from llama_cpp.llama_chat_format import registered_chat_handler
from llama_cpp.llama_grammar import LlamaGrammar
from llama_cpp.llama_speculative import draft_arguments
from llama_cpp.llama_tokenizer import BaseLlamaTokenizer, LlamaTokenizer
from llama_cpp.llama_types import (
    CreateCompletionResponse,
    CreateEmbeddingResponse,
)

if TYPE_CHECKING:  # numpy is imported where arrays are made: the server never needs it
    import numpy as np
    import numpy.typing as npt


@dataclass
class LlamaState:
    """A saved sequence: its tokens and llama.cpp's KV state (see Llama.save_state)."""

    input_ids: npt.NDArray[np.intc]
    scores: npt.NDArray[np.single] | None
    n_tokens: int
    llama_state: bytes
    llama_state_size: int
    seed: int


class Llama:
    """A GGUF model loaded with a context, ready for completion, chat and embeddings.

    The parameters are llama-cpp-python's (see its documentation); ``n_ctx=0``
    uses the model's training context. Generation runs in C++ with the GIL
    released. One Llama serves one call at a time: calls from several threads
    are serialised, and starting a call while a stream is unfinished stops
    that stream with a clear error.
    """

    # whether __init__ creates the llama.cpp context; a Llama made by _without_context
    # (the server's, whose completions run on its scheduler) keeps only the model
    _wants_context: bool = True

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        n_gpu_layers: int = 0,
        split_mode: int = LLAMA_SPLIT_MODE_LAYER,
        main_gpu: int = 0,
        tensor_split: list[float] | None = None,
        vocab_only: bool = False,
        use_mmap: bool = True,
        use_mlock: bool = False,
        kv_overrides: dict[str, bool | int | float | str] | None = None,
        rpc_servers: str | list[str] | None = None,
        seed: int = LLAMA_DEFAULT_SEED,
        n_ctx: int = 512,
        n_batch: int = 512,
        n_ubatch: int = 512,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        rope_scaling_type: int | None = LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED,
        pooling_type: int = LLAMA_POOLING_TYPE_UNSPECIFIED,
        attention_type: int = LLAMA_ATTENTION_TYPE_UNSPECIFIED,
        rope_freq_base: float = 0.0,
        rope_freq_scale: float = 0.0,
        yarn_ext_factor: float = -1.0,
        yarn_attn_factor: float = 1.0,
        yarn_beta_fast: float = 32.0,
        yarn_beta_slow: float = 1.0,
        yarn_orig_ctx: int = 0,
        logits_all: bool = False,
        embedding: bool = False,
        offload_kqv: bool = True,
        flash_attn: bool | None = None,
        op_offload: bool | None = None,
        swa_full: bool | None = None,
        no_perf: bool = False,
        last_n_tokens_size: int = 64,
        lora_base: str | None = None,
        lora_scale: float = 1.0,
        lora_path: str | None = None,
        numa: bool | int = False,
        chat_format: str | None = None,
        chat_handler: Any | None = None,
        draft_model: Any | None = None,
        tokenizer: Any | None = None,
        type_k: int | None = None,
        type_v: int | None = None,
        spm_infill: bool = False,
        verbose: bool = True,
        **kwargs: Any,
    ) -> None:
        legacy = _params.check_unknown_kwargs(kwargs)
        self.verbose = bool(verbose)
        self.model_path = os.fspath(model_path)
        self.seed = normalize_seed(seed)
        self._seed = self.seed
        self.last_n_tokens_size = _params._int("last_n_tokens_size", last_n_tokens_size, 0)
        self.lora_base, self.lora_path, self.lora_scale = lora_base, lora_path, lora_scale
        if lora_base is not None:
            warnings.warn(
                "lora_base is ignored: llama.cpp applies a LoRA adapter to the loaded model "
                "itself (load the model the adapter was trained on, or a higher-precision "
                "copy of it)",
                stacklevel=2,
            )
        self.numa = numa
        _params.init_numa(numa)
        self.chat_format = chat_format
        # a chat_format registered by name (register_chat_format, register_chat_completion_handler)
        # runs its handler; other names are formatted at the first chat (unknown ones refused)
        self.chat_handler = (
            chat_handler if chat_handler is not None else registered_chat_handler(chat_format)
        )
        self.draft_model = draft_model
        self._custom_tokenizer: BaseLlamaTokenizer | None = tokenizer
        self.spm_infill = spm_infill
        self.kv_overrides = kv_overrides
        self.tensor_split = tensor_split
        self._logits_all = bool(logits_all)
        self._draft_arguments = draft_arguments(draft_model)
        self.context_params = _params.context_params(
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_ubatch=n_ubatch,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            rope_scaling_type=rope_scaling_type,
            pooling_type=pooling_type,
            attention_type=attention_type,
            rope_freq_base=rope_freq_base,
            rope_freq_scale=rope_freq_scale,
            yarn_ext_factor=yarn_ext_factor,
            yarn_attn_factor=yarn_attn_factor,
            yarn_beta_fast=yarn_beta_fast,
            yarn_beta_slow=yarn_beta_slow,
            yarn_orig_ctx=yarn_orig_ctx,
            embedding=embedding,
            offload_kqv=offload_kqv,
            flash_attn=flash_attn,
            op_offload=op_offload,
            swa_full=swa_full,
            no_perf=no_perf,
            type_k=type_k,
            type_v=type_v,
            legacy=legacy,
        )
        self.rpc_servers = rpc_servers
        endpoints = _rpc.parse_endpoints(rpc_servers)
        if endpoints and n_gpu_layers == 0:
            warnings.warn(
                "rpc_servers is set but n_gpu_layers=0 keeps every layer on this host; pass "
                "n_gpu_layers=-1 to place them on the workers",
                stacklevel=2,
            )
        self.model_params = _params.ModelArgs(
            n_gpu_layers=_params._int("n_gpu_layers", n_gpu_layers),
            split_mode=split_mode,
            main_gpu=main_gpu,
            tensor_split=list(tensor_split or []),
            vocab_only=bool(vocab_only),
            use_mmap=bool(use_mmap),
            use_mlock=bool(use_mlock),
            kv_overrides=dict(kv_overrides or {}),
            devices=_rpc.model_devices(endpoints),
        )
        self.cache: BaseLlamaCache | None = None
        self._turns = Turns()
        self._engine: CompletionEngine | None = None
        self._embedder: _embedding.Embedder | None = None
        self._prefixed_mean = False
        with verbose_log(self.verbose):
            self._model = _core.Model(self.model_path, **vars(self.model_params))
            self._prefixed_mean = _embedding.uses_prefixed_mean(self._model, pooling_type)
            if vocab_only or not self._wants_context:
                self._ctx: _core.Context | None = None
            else:
                if self._prefixed_mean and embedding:
                    self.context_params.pooling_type = LLAMA_POOLING_TYPE_NONE
                if embedding:
                    _embedding.embedding_context_params(self.context_params)
                self._ctx = _core.Context.from_params(self._model, self.context_params)
                self.context_params = self._ctx.params
                self._engine = LocalEngine(self)
                if lora_path:
                    self._adapter = _core.LoraAdapter(self._model, os.fspath(lora_path))
                    self._ctx.set_lora([self._adapter], [float(lora_scale)])
        self.n_batch = self.context_params.n_batch
        self.metadata: dict[str, str] = self._model.metadata
        _params.warn_rope_override(self.metadata, rope_freq_base)
        _loader.warn_unloaded_backends(self.model_params.n_gpu_layers)
        _loader.warn_no_gpu_device(self.model_params.n_gpu_layers)
        self._token_text = _TokenText(self._model)
        self.tokenizer_: BaseLlamaTokenizer = tokenizer or LlamaTokenizer(self)
        self._scores_buffer: npt.NDArray[np.single] | None = None
        self._formatter: Any | None = None

    # ---- properties -----------------------------------------------------------------
    @property
    def ctx(self) -> _core.Context:
        """The llama.cpp context (raises after close())."""
        if self._ctx is None:
            raise ValueError("this Llama was loaded with vocab_only=True: it has no context")
        if self._ctx.closed:
            raise ValueError(
                "this Llama is closed (close() was called); create a new Llama to use it"
            )
        return self._ctx

    @property
    def model(self) -> _core.Model:
        return self._model

    @property
    def _input_ids(self) -> npt.NDArray[np.intc]:
        import numpy as np

        return np.array(self.ctx.tokens(0), dtype=np.intc)

    @property
    def input_ids(self) -> npt.NDArray[np.intc]:
        """Tokens currently held in the context."""
        return self._input_ids

    @property
    def n_tokens(self) -> int:
        return self.ctx.n_past

    def n_ctx(self) -> int:
        """Positions one call can use: the context's length (a slot's share of it in the
        server; the model's training length when loaded with vocab_only)."""
        return self._engine.positions() if self._engine is not None else self._model.n_ctx_train

    def n_embd(self) -> int:
        return self._model.n_embd

    def n_vocab(self) -> int:
        return self._model.n_vocab

    def token_eos(self) -> int:
        return self._model.token_eos

    def token_bos(self) -> int:
        return self._model.token_bos

    def token_nl(self) -> int:
        return self._model.token_nl

    def pooling_type(self) -> str:
        """The pooling embeddings use: llama.cpp's name, or "mean" for a generative model."""
        if self._prefixed_mean:
            return "mean"
        return POOLING_TYPE_NAMES.get(self.ctx.pooling_type, str(self.ctx.pooling_type))

    # ---- tokens ------------------------------------------------------------------------
    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        """Token ids of UTF-8 ``text`` (bytes, or str); add_bos adds BOS if the model wants it."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        if self._custom_tokenizer is not None:
            return list(self._custom_tokenizer.tokenize(text, add_bos=add_bos, special=special))
        return self._model.tokenize(text, add_bos, special)

    def detokenize(
        self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None, special: bool = False
    ) -> bytes:
        """The bytes ``tokens`` stand for, by the Llama's tokenizer (see
        :meth:`llama_cpp.llama_tokenizer.LlamaTokenizer.detokenize`)."""
        return self.tokenizer_.detokenize(list(tokens), prev_tokens, special)

    # ---- low-level loop ------------------------------------------------------------
    def reset(self) -> None:
        """Forget the tokens held in the context."""
        with self._turns.call():
            self.ctx.clear()

    def eval(self, tokens: Sequence[int]) -> None:
        """Decode ``tokens`` after those already in the context. With ``logits_all=True``
        the logits after every token are kept in :attr:`scores`."""
        with self._turns.call():
            start = self.ctx.n_past
            rows = self.ctx.decode(list(tokens), 0, self._logits_all)
            if self._logits_all and rows is not None:
                self._score_rows()[start : start + len(rows)] = rows

    def tokenizer(self) -> BaseLlamaTokenizer:
        """The tokenizer this Llama uses (the model's own unless one was passed)."""
        return self.tokenizer_

    @property
    def scores(self) -> npt.NDArray[np.single]:
        """llama-cpp-python's logits buffer, ``(n_ctx, n_vocab)`` float32: row ``i`` holds
        the logits computed after token ``i`` — every row :meth:`eval` decoded with
        ``logits_all=True``, otherwise the last decoded token's row (filled on access).
        Allocated on first use (n_ctx x n_vocab x 4 bytes)."""
        buffer = self._score_rows()
        n = self.n_tokens
        if n > 0:
            with self._turns.held():
                buffer[n - 1] = self.ctx.logits()
        return buffer

    def _score_rows(self) -> npt.NDArray[np.single]:
        import numpy as np

        if self._scores_buffer is None:
            self._scores_buffer = np.zeros((self.n_ctx(), self.n_vocab()), dtype=np.single)
        return self._scores_buffer

    @property
    def _scores(self) -> npt.NDArray[np.single]:
        """The rows of :attr:`scores` for the held tokens."""
        return self.scores[: self.n_tokens]

    @property
    def eval_tokens(self) -> deque[int]:
        """The tokens held in the context, oldest first."""
        return deque(self.ctx.tokens(0), maxlen=self.n_ctx())

    @property
    def eval_logits(self) -> deque[list[float]]:
        """Logit rows of the held tokens: all of them with ``logits_all=True``, otherwise
        only the last one."""
        n = self.n_tokens
        if n == 0:
            return deque(maxlen=1)
        if not self._logits_all:
            return deque([self.ctx.logits().tolist()], maxlen=1)
        return deque(self.scores[:n].tolist(), maxlen=self.n_ctx())

    def sample(
        self,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        temp: float = 0.80,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_eta: float = 0.1,
        mirostat_tau: float = 5.0,
        penalize_nl: bool = True,
        logits_processor: LogitsProcessorList | None = None,
        grammar: LlamaGrammar | None = None,
        idx: int | None = None,
    ) -> int:
        """Sample one token from the logits after the last evaluated token (or after token
        ``idx``, which needs ``logits_all=True``), with the repeat penalties over the held
        tokens. Each call builds a fresh sampler: mirostat keeps no state between calls."""
        import numpy as np

        warn_removed_options(tfs_z=tfs_z, penalize_nl=penalize_nl)

        chain = self._sampler_chain(locals(), grammar)
        with self._turns.held():
            held = self.ctx.tokens(0)
            if not held:
                raise ValueError("nothing has been evaluated yet: call eval(tokens) first")
            if idx is None:
                scores = self.ctx.logits()
            elif not self._logits_all:
                raise ValueError("sample(idx=...) needs the Llama created with logits_all=True")
            elif not 0 <= idx < len(held):
                raise ValueError(f"idx {idx} is outside the {len(held)} evaluated tokens")
            else:
                scores = self._score_rows()[idx].copy()
            if self.last_n_tokens_size:
                chain.prime(held[-self.last_n_tokens_size :])
            ids = np.array(held, dtype=np.intc)
            if logits_processor is not None:
                scores = np.asarray(logits_processor(ids, scores), dtype=np.single)
            return int(chain.sample(scores))

    def _sampler_chain(
        self, arguments: dict[str, Any], grammar: LlamaGrammar | None
    ) -> _core.SamplerChain:
        """The sampler chain of the low-level calls (generate, sample) from their
        arguments (llama-cpp-python's names)."""
        sampling = SamplingParams.from_call(
            arguments, default_seed=self._seed, n_vocab=self._model.n_vocab
        )
        return sampling.build_chain(
            self._model, self.last_n_tokens_size, grammar.grammar if grammar else None
        )

    def generate(
        self,
        tokens: Sequence[int],
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        temp: float = 0.80,
        repeat_penalty: float = 1.0,
        reset: bool = True,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        penalize_nl: bool = True,
        logits_processor: LogitsProcessorList | None = None,
        stopping_criteria: StoppingCriteriaList | None = None,
        grammar: LlamaGrammar | None = None,
    ) -> Iterator[int]:
        """Yield sampled tokens one by one (EOS included) after decoding ``tokens``."""
        import numpy as np

        warn_removed_options(tfs_z=tfs_z, penalize_nl=penalize_nl)

        chain = self._sampler_chain(locals(), grammar)
        tokens = list(tokens)
        if reset:
            self.reset()
        pending = tokens
        while True:
            with self._turns.call():  # it decodes: an open stream ends
                if pending:
                    self.ctx.decode(pending, 0, False)
                scores = self.ctx.logits()
                if logits_processor is not None:
                    scores = np.asarray(logits_processor(self._input_ids, scores), dtype=np.single)
                token = chain.sample(scores)
            if stopping_criteria is not None and stopping_criteria(self._input_ids, scores):
                return
            yield token
            if self._model.is_eog(token):
                return
            pending = [token]

    # ---- completion ----------------------------------------------------------------------
    def create_completion(
        self,
        prompt: str | list[int],
        suffix: str | None = None,
        max_tokens: int | None = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: int | None = None,
        echo: bool = False,
        stop: str | list[str] | None = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: int | None = None,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: str | None = None,
        stopping_criteria: StoppingCriteriaList | None = None,
        logits_processor: LogitsProcessorList | None = None,
        grammar: LlamaGrammar | None = None,
        logit_bias: dict[int, float] | None = None,
    ) -> CreateCompletionResponse | Iterator[CreateCompletionResponse]:
        """Complete ``prompt`` (text or token ids). ``max_tokens`` None or <= 0 generates
        until the context is full; ``stream=True`` returns an iterator of chunks."""
        warn_removed_options(tfs_z=tfs_z)
        sampling = SamplingParams.from_call(
            locals(), default_seed=self._seed, n_vocab=self._model.n_vocab
        )
        run = self._start_completion(
            prompt,
            suffix=suffix,
            max_tokens=max_tokens,
            sampling=sampling,
            logprobs=logprobs,
            echo=echo,
            stop=normalize_stop(stop),
            model=model,
            grammar=grammar,
            logits_processor=logits_processor,
            stopping_criteria=stopping_criteria,
            stream=stream,
        )
        return run.stream() if stream else run.response()

    __call__ = create_completion

    def _start_completion(
        self,
        prompt: Any,
        *,
        logits_processor: Any = None,
        stopping_criteria: Any = None,
        **options: Any,
    ) -> CompletionRun:
        """Prepare a completion call (``llama_cpp._request.prepare``'s keywords) and start
        it on this Llama's engine."""
        engine = self._engine
        if engine is None:
            raise ValueError("this Llama was loaded with vocab_only=True: it has no context")
        request = prepare(
            self,
            engine,
            prompt,
            logits_processor=_as_list(logits_processor, LogitsProcessorList),
            stopping_criteria=_as_list(stopping_criteria, StoppingCriteriaList),
            **options,
        )
        return engine.start(request)

    def _context_advice(self) -> tuple[str, str]:
        """What holds a call's tokens and how to make it larger (for length errors)."""
        if self._engine is None:
            return "the model", "load it without vocab_only"
        return self._engine.holder, self._engine.advice

    def _use_engine(self, engine: CompletionEngine) -> None:
        """Run completions on ``engine`` (the server's scheduler) instead of a context of
        this Llama's own; used with :meth:`_without_context`."""
        self._engine = engine

    @classmethod
    def _without_context(cls, model_path: str | os.PathLike, **kwargs: Any) -> Llama:
        """A Llama that loads the model but creates no context: its completions run on
        the engine given to :meth:`_use_engine`, its embeddings on a context of their own."""
        llama = cls.__new__(cls)
        llama._wants_context = False
        llama.__init__(model_path, **kwargs)  # type: ignore[misc]
        return llama

    def create_chat_completion(
        self,
        messages: list[dict[str, Any]],
        functions: list[dict[str, Any]] | None = None,
        function_call: str | dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        temperature: float = _chat.CHAT_DEFAULTS["temperature"],
        top_p: float = _chat.CHAT_DEFAULTS["top_p"],
        top_k: int = _chat.CHAT_DEFAULTS["top_k"],
        min_p: float = _chat.CHAT_DEFAULTS["min_p"],
        typical_p: float = 1.0,
        stream: bool = False,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: str | None = None,
        logits_processor: LogitsProcessorList | None = None,
        grammar: LlamaGrammar | None = None,
        logit_bias: dict[int, float] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
    ) -> Any:
        """Answer a chat (OpenAI ``messages``), formatted with the model's template or
        ``chat_format``; supports tools (and the older ``functions``), response_format
        (json_object / json_schema), streaming and the sampling options of
        :meth:`create_completion`. Returns the response dict, or an iterator of chunks
        with ``stream=True``."""
        return _chat.create_chat_completion(
            self,
            messages,
            functions=functions,
            function_call=function_call,
            tools=tools,
            tool_choice=tool_choice,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            min_p=min_p,
            typical_p=typical_p,
            stream=stream,
            stop=stop,
            seed=seed,
            response_format=response_format,
            max_tokens=max_tokens,
            presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty,
            repeat_penalty=repeat_penalty,
            tfs_z=tfs_z,
            mirostat_mode=mirostat_mode,
            mirostat_tau=mirostat_tau,
            mirostat_eta=mirostat_eta,
            model=model,
            logits_processor=logits_processor,
            grammar=grammar,
            logit_bias=logit_bias,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
        )

    def create_chat_completion_openai_v1(self, *args: Any, **kwargs: Any) -> Any:
        """create_chat_completion, returning ``openai`` package objects (needs ``openai``)."""
        try:
            from openai.types.chat import ChatCompletion, ChatCompletionChunk
        except ImportError as e:
            raise ImportError(
                "create_chat_completion_openai_v1 needs the openai package: pip install openai"
            ) from e
        result = self.create_chat_completion(*args, **kwargs)
        if kwargs.get("stream"):
            return (ChatCompletionChunk(**chunk) for chunk in result)
        return ChatCompletion(**result)

    # ---- embeddings ---------------------------------------------------------------------
    def _embeddings(self) -> _embedding.Embedder:
        if self._embedder is None:
            self._embedder = _embedding.Embedder(self)
        return self._embedder

    def embed(
        self,
        input: str | list[str],
        normalize: bool = True,
        truncate: bool = True,
        return_count: bool = False,
    ) -> Any:
        """Embedding of a string (a list of floats), or of each string in a list. Works on
        generative models too (mean of the token embeddings).

        Unit length by default, like :meth:`create_embedding`, so that callers mixing
        the two (LangChain embeds documents with one and queries with the other) get
        comparable vectors; ``normalize=False`` gives the raw hidden state."""
        return self._embeddings().embed(
            input, normalize=normalize, truncate=truncate, return_count=return_count
        )

    def create_embedding(
        self, input: str | list[str], model: str | None = None
    ) -> CreateEmbeddingResponse:
        """OpenAI-shaped embeddings of ``input``, normalised to unit length."""
        return self._embeddings().create_embedding(input, model or self.model_path)

    # ---- state ------------------------------------------------------------------------
    def save_state(self) -> LlamaState:
        """Snapshot the context (tokens and KV state) to restore with :meth:`load_state`."""
        with self._turns.held():
            state = self._snapshot()
        if self.verbose:
            print(f"Llama.save_state: {state.llama_state_size} bytes, {state.n_tokens} tokens",
                  file=sys.stderr)  # fmt: skip
        return state

    def _snapshot(self) -> LlamaState:
        """The context's state (the caller holds the lock)."""
        import numpy as np

        data = self.ctx.seq_state(0)
        ids = np.array(self.ctx.tokens(0), dtype=np.intc)
        return LlamaState(
            input_ids=ids,
            scores=None,
            n_tokens=len(ids),
            llama_state=data,
            llama_state_size=len(data),
            seed=self._seed,
        )

    def load_state(self, state: LlamaState) -> None:
        """Restore a :meth:`save_state` snapshot."""
        with self._turns.call():
            self.ctx.set_seq_state(
                0, bytes(state.llama_state), [int(t) for t in state.input_ids[: state.n_tokens]]
            )
        self._seed = state.seed

    def set_seed(self, seed: int) -> None:
        """Seed for later calls that do not pass their own."""
        self._seed = normalize_seed(seed)

    def set_cache(self, cache: BaseLlamaCache | None) -> None:
        """Use a prompt cache (:mod:`llama_cpp.llama_cache`), or none.

        After each completion the context's state is stored in it; a later prompt that
        starts with a stored sequence (longer than what the context itself still holds)
        restores that state and evaluates only the rest of the prompt."""
        if cache is not None and not isinstance(cache, BaseLlamaCache):
            raise TypeError(
                f"set_cache takes a LlamaRAMCache, a LlamaDiskCache (llama_cpp.llama_cache) or "
                f"None, got {type(cache).__name__}"
            )
        self.cache = cache

    # ---- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Free the context and the model; later calls raise a clear error."""
        if self._embedder is not None:
            self._embedder.close()
        if self._ctx is not None:
            self._ctx.close()
        self._model.close()

    def __enter__(self) -> Llama:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a Llama cannot be pickled; pass model_path and parameters instead")

    @staticmethod
    def logits_to_logprobs(logits: npt.ArrayLike, axis: int = -1) -> npt.NDArray[np.single]:
        """log-softmax of ``logits``."""
        import numpy as np

        arr = np.asarray(logits, dtype=np.single)
        shifted = arr - arr.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    @staticmethod
    def longest_token_prefix(a: Sequence[int], b: Sequence[int]) -> int:
        """Length of the common prefix of two token lists."""
        return common_prefix_length(a, b)

    @classmethod
    def from_pretrained(
        cls,
        repo_id: str,
        filename: str | None,
        *,
        local_dir: str | None = None,
        cache_dir: str | None = None,
        **kwargs: Any,
    ) -> Llama:
        """Load a GGUF file from the Hugging Face Hub (``pip install huggingface_hub``);
        works offline from the hub cache. ``filename`` may be a glob such as ``*Q4_K_M.gguf``."""
        from llama_cpp._hub import download_model

        path = download_model(repo_id, filename, local_dir=local_dir, cache_dir=cache_dir)
        return cls(model_path=path, **kwargs)


class _TokenText:
    """Token id -> its text (cached), for logprobs."""

    def __init__(self, model: _core.Model):
        self._model = model
        self._cache: dict[int, str] = {}

    def __call__(self, token: int) -> str:
        text = self._cache.get(token)
        if text is None:
            text = self._model.token_to_piece(token, False).decode("utf-8", errors="ignore")
            self._cache[token] = text
        return text


def _as_list(value: Any, kind: type) -> Any:
    """None, or a callable list (a bare callable is wrapped)."""
    if value is None:
        return None
    if isinstance(value, list):
        return kind(value)
    if callable(value):
        return kind([value])
    raise TypeError(f"expected a list of callables, got {value!r}")
