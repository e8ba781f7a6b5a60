"""llama-cpp-python's ``llama_cpp._internals``: classes over llama.cpp's C objects (model,
context, batch, sampler chain), built on the low-level ctypes module
:mod:`llama_cpp.llama_cpp`.

llama-cpp-python calls these intermediate wrappers and recommends ``Llama``; code and
tests that drive llama.cpp step by step (decode a batch, sample a token, decode it) use
them. The names and signatures are llama-cpp-python's; what a ctypes layer needs to be
safe to call is added:

* each object frees its C object in ``close()`` (or at the end of a ``with`` block, or
  when it is collected); a closed object's methods raise ValueError and its pointer
  attribute (``model.model``, ``context.ctx``, ``batch.batch``, ``sampler.sampler``)
  reads None;
* a context, and a sampler with a stage that keeps a model's vocabulary (grammar, DRY,
  infill), are freed before that model: closing the model closes them too;
* input llama.cpp would stop the process on (a token or sequence id out of range, a
  batch over the context's n_batch, a chain that picks no token, a token the grammar
  forbids) raises ValueError first; a failed ``llama_decode`` or ``llama_encode`` raises
  :class:`llama_cpp.LlamaError` with the return code explained.

``verbose`` is accepted and kept: what llama.cpp prints is set for the whole process by
:func:`llama_cpp.set_log_level` and :func:`llama_cpp.set_log_callback`. numpy is imported
only by what works on arrays (:meth:`LlamaSampler.sample`, :class:`LlamaTokenDataArray`).
"""

from __future__ import annotations

import ctypes
import math
import operator
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import llama_cpp.llama_cpp as capi
from llama_cpp import _core

if TYPE_CHECKING:
    import numpy.typing as npt

    from llama_cpp.llama_grammar import LlamaGrammar

__all__ = [
    "CustomSampler",
    "LlamaBatch",
    "LlamaContext",
    "LlamaModel",
    "LlamaSampler",
    "LlamaTokenDataArray",
    "normalize_embedding",
]

_INT32_MIN = -(2**31)
_GGUF_MAGIC = b"GGUF"

_DECODE_FAILURES = {
    1: "no room in the context's memory for the batch: free space with kv_cache_seq_rm or "
    "kv_cache_clear, decode fewer tokens at a time, or create the context with a larger n_ctx",
    2: "aborted by the context's abort callback; the parts of the batch computed before the "
    "abort stay in the context's memory",
    -1: "invalid batch: a token id outside the vocabulary, a sequence id not below the "
    "context's n_seq_max, or positions that do not continue the sequence in memory "
    "(llama_cpp.set_log_level('error') prints llama.cpp's reason)",
}
_FATAL_FAILURE = (
    "llama.cpp failed while computing the batch (out of memory, or a backend error); the "
    "parts computed before the failure stay in the context's memory"
)


class _Handle:
    """One C object and the function that frees it, freed once. A handle registered with
    ``free_before(owner)`` is freed before its owner (a context before its model)."""

    __slots__ = ("_dependents", "_free", "_owners", "pointer")

    # looked up through the class, so it still answers while the interpreter shuts down
    _finalizing = staticmethod(sys.is_finalizing)

    def __init__(self, pointer: Any, free: Callable[[Any], object]) -> None:
        self.pointer = pointer
        self._free = free
        self._dependents: dict[int, _Handle] = {}
        self._owners: list[_Handle] = []

    def free_before(self, owner: _Handle) -> None:
        """Free this C object before ``owner`` (release ``owner`` releases this first)."""
        owner._dependents[id(self)] = self
        self._owners.append(owner)

    def release(self) -> None:
        """Free the dependents, then the C object; later calls do nothing."""
        for dependent in reversed(list(self._dependents.values())):
            dependent.release()
        for owner in self._owners:
            owner._dependents.pop(id(self), None)
        self._owners.clear()
        pointer, self.pointer = self.pointer, None
        if pointer is not None:
            self._free(pointer)

    def collect(self) -> None:
        """Release from ``__del__``, except while the interpreter shuts down: the process
        is ending, and llama.cpp's backends may be gone already."""
        if not self._finalizing():
            self.release()


def _free_nothing(pointer: object) -> None:
    """The free function of the handle objects start with (nothing to free)."""


# The handle of an object whose C object was never made (its __init__ raised).
_NO_HANDLE = _Handle(None, _free_nothing)

_Owner = TypeVar("_Owner", bound="_Owns")


class _Owns:
    """What every wrapper here shares: its :class:`_Handle`, ``close()`` (also at the end
    of a ``with`` block and when collected) and ``closed``; ``_pointer()`` is the C
    object, or ValueError with the class's ``_closed_text`` once it is freed."""

    _handle = _NO_HANDLE
    _closed_text = "this object is closed"

    @property
    def closed(self) -> bool:
        """Whether the C object was freed (by :meth:`close`, or with what it depends on)."""
        return self._handle.pointer is None

    def close(self) -> None:
        """Free the C object, after what depends on it; idempotent."""
        self._handle.release()

    def __enter__(self: _Owner) -> _Owner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self._handle.collect()

    def _pointer(self) -> Any:
        pointer = self._handle.pointer
        if pointer is None:
            raise ValueError(self._closed_text)
        return pointer


# ---- model ----------------------------------------------------------------------------------


class LlamaModel(_Owns):
    """A GGUF model loaded by llama.cpp (``llama_model``) and its vocabulary.

    ``params`` is a :class:`llama_cpp.llama_cpp.llama_model_params` (None: llama.cpp's
    defaults, :meth:`default_params`). A missing file, a file that is not GGUF, or one
    llama.cpp cannot load raises ValueError naming the path; nothing stays allocated.
    ``model`` and ``vocab`` are the C pointers (ints), None once closed.
    """

    _vocab: int | None = None

    def __init__(
        self,
        *,
        path_model: str | os.PathLike[str],
        params: capi.llama_model_params | None = None,
        verbose: bool = True,
    ) -> None:
        self.path_model = os.fspath(path_model)
        self.params = self.default_params() if params is None else params
        self.verbose = verbose
        if not isinstance(self.params, capi.llama_model_params):
            raise TypeError(
                "params must be a llama_cpp.llama_cpp.llama_model_params (start from "
                f"LlamaModel.default_params()), got {type(self.params).__name__}"
            )
        _check_model_file(self.path_model)
        pointer = capi.llama_model_load_from_file(os.fsencode(self.path_model), self.params)
        if not pointer:
            raise ValueError(
                f"llama.cpp could not load the model {self.path_model!r} (an architecture or "
                "tensor type this llama.cpp does not support, a truncated file, or not enough "
                "memory); call llama_cpp.set_log_level('error') and load it again to see "
                "llama.cpp's reason"
            )
        handle = _Handle(pointer, capi.llama_model_free)
        try:
            vocab = capi.llama_model_get_vocab(pointer)
            if not vocab:
                raise ValueError(f"llama.cpp loaded {self.path_model!r} without a vocabulary")
        except BaseException:
            handle.release()
            raise
        self._handle = handle
        self._vocab = vocab

    # ---- life cycle

    @property
    def model(self) -> int | None:
        """The ``llama_model *`` (an address), None once closed."""
        pointer: int | None = self._handle.pointer
        return pointer

    @property
    def vocab(self) -> int | None:
        """The ``llama_vocab *`` (an address), None once closed."""
        return self._vocab if self._handle.pointer is not None else None

    @property
    def _as_parameter_(self) -> int:
        """The model pointer, so the object passes straight to ``llama_cpp.llama_cpp``."""
        return self._open()

    @property
    def _closed_text(self) -> str:  # type: ignore[override]
        return f"this LlamaModel ({self.path_model!r}) is closed: load the model again"

    def _open(self) -> int:
        return int(self._pointer())

    def _open_vocab(self) -> int:
        self._open()
        assert self._vocab is not None
        return self._vocab

    def _token(self, token: int) -> int:
        """``token`` as an int, or ValueError when it is not in the vocabulary (llama.cpp
        would stop the process on it)."""
        token = operator.index(token)
        n_vocab = self.n_vocab()
        if not 0 <= token < n_vocab:
            raise ValueError(
                f"token id {token} is outside this model's vocabulary (0 to {n_vocab - 1})"
            )
        return token

    # ---- model facts

    def vocab_type(self) -> int:
        """The vocabulary's ``LLAMA_VOCAB_TYPE_*`` (SPM, BPE, WPM ...)."""
        return int(capi.llama_vocab_type(self._open_vocab()))

    def n_vocab(self) -> int:
        """How many tokens the vocabulary has."""
        return int(capi.llama_vocab_n_tokens(self._open_vocab()))

    def n_ctx_train(self) -> int:
        """The context length the model was trained with."""
        return int(capi.llama_model_n_ctx_train(self._open()))

    def n_embd(self) -> int:
        """The embedding width."""
        return int(capi.llama_model_n_embd(self._open()))

    def rope_freq_scale_train(self) -> float:
        """The RoPE frequency scale the model was trained with."""
        return float(capi.llama_model_rope_freq_scale_train(self._open()))

    def desc(self) -> str:
        """llama.cpp's one-line description (architecture, size, quantization)."""
        return _read_c_string(capi.llama_model_desc, self._open()) or ""

    def size(self) -> int:
        """The total size of the model's tensors, in bytes."""
        return int(capi.llama_model_size(self._open()))

    def n_params(self) -> int:
        """The number of parameters."""
        return int(capi.llama_model_n_params(self._open()))

    def get_tensor(self, name: str) -> ctypes.c_void_p:
        """Not available: llama.h has no function that looks up a model tensor by name."""
        raise NotImplementedError(
            "get_tensor is not available: llama.h has no function that returns a model "
            "tensor by name"
        )

    def metadata(self) -> dict[str, str]:
        """The GGUF metadata, as llama.cpp renders each value (arrays summarised)."""
        model = self._open()
        metadata: dict[str, str] = {}
        for index in range(int(capi.llama_model_meta_count(model))):
            key = _read_c_string(capi.llama_model_meta_key_by_index, model, index)
            value = _read_c_string(capi.llama_model_meta_val_str_by_index, model, index)
            if key is not None and value is not None:
                metadata[key] = value
        return metadata

    @staticmethod
    def default_params() -> capi.llama_model_params:
        """llama.cpp's default ``llama_model_params``."""
        params: capi.llama_model_params = capi.llama_model_default_params()
        return params

    # ---- vocabulary

    def token_get_text(self, token: int) -> str:
        """The token's text as the vocabulary stores it (SPM's ``▁`` for a space)."""
        vocab = self._open_vocab()
        text: bytes = capi.llama_vocab_get_text(vocab, self._token(token))
        return text.decode("utf-8", errors="replace")

    def token_get_score(self, token: int) -> float:
        """The token's score in the vocabulary."""
        return float(capi.llama_vocab_get_score(self._open_vocab(), self._token(token)))

    def token_get_attr(self, token: int) -> int:
        """The token's ``LLAMA_TOKEN_ATTR_*`` flags."""
        return int(capi.llama_vocab_get_attr(self._open_vocab(), self._token(token)))

    def token_bos(self) -> int:
        """The beginning-of-sequence token (-1: none)."""
        return int(capi.llama_vocab_bos(self._open_vocab()))

    def token_eos(self) -> int:
        """The end-of-sequence token (-1: none)."""
        return int(capi.llama_vocab_eos(self._open_vocab()))

    def token_cls(self) -> int:
        """The classification token: llama.cpp uses the BOS token for it."""
        return int(capi.llama_vocab_bos(self._open_vocab()))

    def token_sep(self) -> int:
        """The separator token (-1: none)."""
        return int(capi.llama_vocab_sep(self._open_vocab()))

    def token_nl(self) -> int:
        """The newline token."""
        return int(capi.llama_vocab_nl(self._open_vocab()))

    def token_prefix(self) -> int:
        """The fill-in-the-middle prefix token (-1: none)."""
        return int(capi.llama_vocab_fim_pre(self._open_vocab()))

    def token_middle(self) -> int:
        """The fill-in-the-middle middle token (-1: none)."""
        return int(capi.llama_vocab_fim_mid(self._open_vocab()))

    def token_suffix(self) -> int:
        """The fill-in-the-middle suffix token (-1: none)."""
        return int(capi.llama_vocab_fim_suf(self._open_vocab()))

    def token_eot(self) -> int:
        """The end-of-turn token (-1: none)."""
        return int(capi.llama_vocab_eot(self._open_vocab()))

    def add_bos_token(self) -> bool:
        """Whether tokenizing adds the BOS token."""
        return bool(capi.llama_vocab_get_add_bos(self._open_vocab()))

    def add_eos_token(self) -> bool:
        """Whether tokenizing adds the EOS token."""
        return bool(capi.llama_vocab_get_add_eos(self._open_vocab()))

    # ---- tokenization

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        """The tokens of UTF-8 ``text``; ``add_bos`` adds the special tokens the vocabulary
        puts around a text (BOS), ``special`` parses special-token text such as ``</s>``."""
        vocab = self._open_vocab()
        if isinstance(text, str):
            raise TypeError("tokenize takes bytes: pass text.encode('utf-8')")
        data = bytes(text)
        if self.n_vocab() == 0:
            raise ValueError(f"the model {self.path_model!r} has no vocabulary to tokenize with")
        if len(data) >= 2**31 - 1:
            raise ValueError(f"the text is too long to tokenize ({len(data)} bytes)")
        capacity = len(data) + 8
        for _ in range(2):
            tokens = (capi.llama_token * capacity)()
            count = int(
                capi.llama_tokenize(vocab, data, len(data), tokens, capacity, add_bos, special)
            )
            if count >= 0:
                return list(tokens[:count])
            if count == _INT32_MIN:
                break
            capacity = -count
        raise ValueError(f"the text gives too many tokens to count ({len(data)} bytes)")

    def token_to_piece(self, token: int, special: bool = False) -> bytes:
        """The bytes the token stands for; a control token gives b"" unless ``special``."""
        return _piece(self._open_vocab(), self._token(token), special)

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> bytes:
        """The bytes of ``tokens``, piece after piece (control tokens only with
        ``special``). When the first token is BOS, the space an SPM vocabulary puts before
        the first word is dropped, so tokenize and detokenize round-trip."""
        vocab = self._open_vocab()
        ids = [self._token(token) for token in tokens]
        text = b"".join(_piece(vocab, token, special) for token in ids)
        if ids and ids[0] == self.token_bos() and text.startswith(b" "):
            return text[1:]
        return text


def _check_model_file(path: str) -> None:
    """ValueError naming ``path`` when it is not a readable GGUF file."""
    if not os.path.exists(path):
        raise ValueError(f"model file not found: {path!r}; pass the path of a GGUF model file")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory; pass the path of a GGUF model file in it")
    try:
        with open(path, "rb") as file:
            head = file.read(len(_GGUF_MAGIC))
    except OSError as error:
        raise ValueError(f"cannot read the model file {path!r}: {error.strerror}") from error
    if head != _GGUF_MAGIC:
        raise ValueError(
            f"{path!r} is not a GGUF file (it starts with {head!r}, not {_GGUF_MAGIC!r}); "
            "llama.cpp loads GGUF models only"
        )


def _read_c_string(function: Callable[..., int], *args: Any) -> str | None:
    """The string a ``snprintf``-like llama.cpp function writes with
    ``function(*args, buffer, size)`` (which returns the full length), the buffer grown
    until it fits; None when the function fails."""
    size = 256
    while True:
        buffer = ctypes.create_string_buffer(size)
        length = int(function(*args, buffer, size))
        if length < 0:
            return None
        if length < size:
            return buffer.raw[:length].decode("utf-8", errors="replace")
        size = length + 1


def _piece(vocab: int, token: int, special: bool) -> bytes:
    """``llama_token_to_piece`` into a buffer large enough for the piece."""
    size = 32
    while True:
        buffer = ctypes.create_string_buffer(size)
        length = int(capi.llama_token_to_piece(vocab, token, buffer, size, 0, special))
        if length >= 0:
            return buffer.raw[:length]
        size = -length


# ---- context --------------------------------------------------------------------------------


class LlamaContext(_Owns):
    """A llama.cpp context (``llama_context``) on a :class:`LlamaModel`: the memory (KV
    cache) and the state of decoding.

    ``params`` is a :class:`llama_cpp.llama_cpp.llama_context_params` (None: llama.cpp's
    defaults). ``ctx`` is the C pointer (an int), None once this context or its model is
    closed.
    """

    _closed_text = (
        "this LlamaContext is closed (or its model is): make a new context on an open LlamaModel"
    )

    def __init__(
        self,
        *,
        model: LlamaModel,
        params: capi.llama_context_params | None = None,
        verbose: bool = True,
    ) -> None:
        self.model = model
        self.params = self.default_params() if params is None else params
        self.verbose = verbose
        if not isinstance(model, LlamaModel):
            raise TypeError(f"model must be a LlamaModel, got {type(model).__name__}")
        if not isinstance(self.params, capi.llama_context_params):
            raise TypeError(
                "params must be a llama_cpp.llama_cpp.llama_context_params (start from "
                f"LlamaContext.default_params()), got {type(self.params).__name__}"
            )
        model_pointer = model._open()
        if model.params.vocab_only:
            raise ValueError(
                f"the model {model.path_model!r} was loaded with vocab_only=True and has no "
                "weights to compute with: load it without vocab_only to make a context"
            )
        for name in ("n_threads", "n_threads_batch"):
            if getattr(self.params, name) < 1:
                raise ValueError(f"params.{name} must be at least 1")
        pointer = capi.llama_init_from_model(model_pointer, self.params)
        if not pointer:
            raise ValueError(
                f"llama.cpp could not create a context on {model.path_model!r} with "
                f"n_ctx={self.params.n_ctx}, n_batch={self.params.n_batch}, "
                f"n_seq_max={self.params.n_seq_max} (not enough memory, or settings the model "
                "does not support); call llama_cpp.set_log_level('error') to see the reason"
            )
        handle = _Handle(pointer, capi.llama_free)
        handle.free_before(model._handle)
        self._handle = handle

    # ---- life cycle

    @property
    def ctx(self) -> int | None:
        """The ``llama_context *`` (an address), None once closed."""
        pointer: int | None = self._handle.pointer
        return pointer

    @property
    def memory(self) -> int | None:
        """The context's ``llama_memory_t`` (KV cache); None when closed, or for a model
        that keeps no memory."""
        pointer = self._handle.pointer
        if pointer is None:
            return None
        memory: int | None = capi.llama_get_memory(pointer)
        return memory

    @property
    def _as_parameter_(self) -> int:
        """The context pointer, so the object passes straight to ``llama_cpp.llama_cpp``."""
        return self._open()

    def _open(self) -> int:
        return int(self._pointer())

    def _memory(self) -> int:
        memory = capi.llama_get_memory(self._open())
        if not memory:
            raise ValueError("this context has no memory (KV cache) to edit")
        return int(memory)

    def _seq(self, seq_id: int) -> int:
        """``seq_id`` checked against the context's n_seq_max (llama.cpp would stop the
        process on one out of range)."""
        seq_id = operator.index(seq_id)
        n_seq_max = int(capi.llama_n_seq_max(self._open()))
        if not 0 <= seq_id < n_seq_max:
            raise ValueError(
                f"sequence id {seq_id} is outside this context's sequences (0 to "
                f"{n_seq_max - 1}); create the context with a larger params.n_seq_max"
            )
        return seq_id

    # ---- facts

    def n_ctx(self) -> int:
        """The context length (tokens the memory holds)."""
        return int(capi.llama_n_ctx(self._open()))

    def pooling_type(self) -> int:
        """The ``LLAMA_POOLING_TYPE_*`` of the embeddings."""
        return int(capi.llama_pooling_type(self._open()))

    def get_state_size(self) -> int:
        """The size, in bytes, of the context's saved state."""
        return int(capi.llama_state_get_size(self._open()))

    # ---- memory (llama-cpp-python's kv_cache_* names)

    def kv_cache_clear(self) -> None:
        """Empty the memory (a context without memory has nothing to clear)."""
        memory = capi.llama_get_memory(self._open())
        if memory:
            capi.llama_memory_clear(memory, True)

    def kv_cache_seq_rm(self, seq_id: int, p0: int, p1: int) -> bool:
        """Remove positions ``[p0, p1)`` of a sequence (``seq_id`` < 0: of every sequence;
        ``p0``/``p1`` < 0: from the start/to the end). False when the memory cannot remove
        part of a sequence (a recurrent model)."""
        memory = self._memory()
        seq = -1 if operator.index(seq_id) < 0 else self._seq(seq_id)
        return bool(capi.llama_memory_seq_rm(memory, seq, p0, p1))

    def kv_cache_seq_cp(self, seq_id_src: int, seq_id_dst: int, p0: int, p1: int) -> None:
        """Let sequence ``seq_id_dst`` share positions ``[p0, p1)`` of ``seq_id_src``."""
        memory = self._memory()
        capi.llama_memory_seq_cp(memory, self._seq(seq_id_src), self._seq(seq_id_dst), p0, p1)

    def kv_cache_seq_keep(self, seq_id: int) -> None:
        """Remove every sequence but ``seq_id``."""
        capi.llama_memory_seq_keep(self._memory(), self._seq(seq_id))

    def kv_cache_seq_shift(self, seq_id: int, p0: int, p1: int, shift: int) -> None:
        """Add ``shift`` to the positions ``[p0, p1)`` of a sequence."""
        memory = self._memory()
        if not capi.llama_memory_can_shift(memory):
            raise ValueError("this model's memory cannot shift positions")
        capi.llama_memory_seq_add(memory, self._seq(seq_id), p0, p1, shift)

    def kv_cache_seq_pos_min(self, seq_id: int) -> int:
        """The smallest position of the sequence in memory (-1: empty)."""
        return int(capi.llama_memory_seq_pos_min(self._memory(), self._seq(seq_id)))

    def kv_cache_seq_pos_max(self, seq_id: int) -> int:
        """The largest position of the sequence in memory (-1: empty)."""
        return int(capi.llama_memory_seq_pos_max(self._memory(), self._seq(seq_id)))

    # ---- compute

    def decode(self, batch: LlamaBatch) -> None:
        """Run the model on the batch, adding its tokens to the memory. A batch llama.cpp
        would stop the process on raises ValueError; a failure raises LlamaError."""
        context = self._open()
        raw = batch._open()
        self._check_batch(batch, raw, encoder=False)
        code = int(capi.llama_decode(context, raw))
        if code != 0:
            explanation = _DECODE_FAILURES.get(code, _FATAL_FAILURE)
            raise _core.LlamaError(f"llama_decode returned {code}: {explanation}")

    def encode(self, batch: LlamaBatch) -> None:
        """Run an encoder (or an embedding model) on the batch, without the memory."""
        context = self._open()
        raw = batch._open()
        self._check_batch(batch, raw, encoder=True)
        code = int(capi.llama_encode(context, raw))
        if code != 0:
            explanation = _DECODE_FAILURES[-1] if code == -1 else _FATAL_FAILURE
            raise _core.LlamaError(f"llama_encode returned {code}: {explanation}")

    def _check_batch(self, batch: LlamaBatch, raw: capi.llama_batch, *, encoder: bool) -> None:
        context = self._open()
        n_tokens = int(raw.n_tokens)
        if n_tokens < 1:
            raise ValueError("the batch is empty: fill it with set_batch() or add_sequence()")
        if n_tokens > batch.capacity:
            raise ValueError(
                f"batch.n_tokens is {n_tokens}, more than the {batch.capacity} it has room for"
            )
        n_batch = int(capi.llama_n_batch(context))
        if n_tokens > n_batch:
            raise ValueError(
                f"the batch has {n_tokens} tokens, more than this context's n_batch "
                f"({n_batch}): decode at most {n_batch} at a time, or create the context with "
                "a larger params.n_batch"
            )
        n_ubatch = int(capi.llama_n_ubatch(context))
        if (encoder or not capi.llama_get_causal_attn(context)) and n_tokens > n_ubatch:
            raise ValueError(
                f"the batch has {n_tokens} tokens; this model sees a batch whole, so it must "
                f"fit in n_ubatch ({n_ubatch}): create the context with a larger "
                "params.n_ubatch"
            )
        if batch.embd:
            width = int(capi.llama_model_n_embd_inp(self.model._open()))
            if batch.embd != width:
                raise ValueError(
                    f"the batch holds embeddings {batch.embd} wide; this model takes {width}"
                )

    def set_n_threads(self, n_threads: int, n_threads_batch: int) -> None:
        """The threads for generating one token and for a batch of prompt tokens."""
        if n_threads < 1 or n_threads_batch < 1:
            raise ValueError("n_threads and n_threads_batch must be at least 1")
        capi.llama_set_n_threads(self._open(), n_threads, n_threads_batch)

    def get_logits(self) -> ctypes._Pointer[ctypes.c_float]:
        """The logits of the last decode, ``n_outputs x n_vocab`` floats (a ctypes pointer,
        valid until the next decode)."""
        pointer: ctypes._Pointer[ctypes.c_float] = capi.llama_get_logits(self._open())
        if not pointer:
            raise ValueError("no logits yet: decode a batch first")
        return pointer

    def get_logits_ith(self, i: int) -> ctypes._Pointer[ctypes.c_float]:
        """The ``n_vocab`` logits of batch position ``i`` (-1: the last output)."""
        pointer: ctypes._Pointer[ctypes.c_float] = capi.llama_get_logits_ith(self._open(), i)
        if not pointer:
            raise ValueError(
                f"no logits for batch position {i}: decode a batch that asks for them there "
                "(set_batch asks for the last token's, or every token's with logits_all=True)"
            )
        return pointer

    def get_embeddings(self) -> ctypes._Pointer[ctypes.c_float]:
        """The embeddings of the last decode (a ctypes pointer)."""
        pointer: ctypes._Pointer[ctypes.c_float] = capi.llama_get_embeddings(self._open())
        if not pointer:
            raise ValueError(_NO_EMBEDDINGS)
        return pointer

    def get_embeddings_ith(self, i: int) -> ctypes._Pointer[ctypes.c_float]:
        """The embedding of batch position ``i`` (-1: the last output)."""
        pointer: ctypes._Pointer[ctypes.c_float] = capi.llama_get_embeddings_ith(self._open(), i)
        if not pointer:
            raise ValueError(f"no embedding for batch position {i}: {_NO_EMBEDDINGS}")
        return pointer

    def get_embeddings_seq(self, seq_id: int) -> ctypes._Pointer[ctypes.c_float]:
        """The pooled embedding of a sequence (needs a pooling type other than NONE)."""
        pointer: ctypes._Pointer[ctypes.c_float] = capi.llama_get_embeddings_seq(
            self._open(), seq_id
        )
        if not pointer:
            raise ValueError(
                f"no pooled embedding for sequence {seq_id}: create the context with "
                "params.embeddings=True and a pooling type other than NONE, then decode it"
            )
        return pointer

    def set_rng_seed(self, seed: int) -> None:
        """Removed from llama.cpp: the seed belongs to a sampler (``add_dist(seed)``)."""
        raise NotImplementedError(
            "set_rng_seed is gone from llama.cpp: seed the sampler instead "
            "(LlamaSampler().add_dist(seed))"
        )

    # ---- timings

    def reset_timings(self) -> None:
        """Reset the context's performance counters."""
        capi.llama_perf_context_reset(self._open())

    def print_timings(self) -> None:
        """Log the context's performance counters (llama.cpp's info log)."""
        capi.llama_perf_context_print(self._open())

    @staticmethod
    def default_params() -> capi.llama_context_params:
        """llama.cpp's default ``llama_context_params``."""
        params: capi.llama_context_params = capi.llama_context_default_params()
        return params


_NO_EMBEDDINGS = (
    "no embeddings: create the context with params.embeddings=True, then decode a batch"
)


# ---- batch ----------------------------------------------------------------------------------


class LlamaBatch(_Owns):
    """A ``llama_batch`` with room for ``n_tokens`` tokens (or, with ``embd`` > 0,
    embeddings that wide), each in up to ``n_seq_max`` sequences. ``batch`` is the C
    struct, None once closed."""

    _closed_text = "this LlamaBatch is closed: make a new one"

    def __init__(self, *, n_tokens: int, embd: int, n_seq_max: int, verbose: bool = True) -> None:
        self._n_tokens = operator.index(n_tokens)
        self.embd = operator.index(embd)
        self.n_seq_max = operator.index(n_seq_max)
        self.verbose = verbose
        if self._n_tokens < 1 or self.n_seq_max < 1 or self.embd < 0:
            raise ValueError(
                "LlamaBatch needs n_tokens >= 1, n_seq_max >= 1 and embd >= 0 (0: tokens), "
                f"got n_tokens={n_tokens}, embd={embd}, n_seq_max={n_seq_max}"
            )
        raw = capi.llama_batch_init(self._n_tokens, self.embd, self.n_seq_max)
        self._handle = _Handle(raw, capi.llama_batch_free)

    @property
    def batch(self) -> capi.llama_batch | None:
        """The ``llama_batch`` struct, None once closed."""
        raw: capi.llama_batch | None = self._handle.pointer
        return raw

    @property
    def capacity(self) -> int:
        """How many tokens the batch has room for."""
        return self._n_tokens

    def _open(self) -> capi.llama_batch:
        raw: capi.llama_batch = self._pointer()
        return raw

    def _open_tokens(self, count: int, start: int) -> capi.llama_batch:
        raw = self._open()
        if self.embd:
            raise ValueError("this batch holds embeddings (embd > 0), not token ids")
        if count == 0:
            raise ValueError("no tokens given: a batch entry needs at least one token")
        if start + count > self._n_tokens:
            raise ValueError(
                f"{start + count} tokens do not fit in this batch of {self._n_tokens}: make "
                f"it with LlamaBatch(n_tokens={start + count}, ...) or larger"
            )
        return raw

    def n_tokens(self) -> int:
        """How many tokens the batch holds now."""
        return int(self._open().n_tokens)

    def reset(self) -> None:
        """Empty the batch (its room stays)."""
        self._open().n_tokens = 0

    def set_batch(self, batch: Sequence[int], n_past: int, logits_all: bool) -> None:
        """Fill the batch with ``batch`` in sequence 0, at positions from ``n_past`` on,
        asking for the last token's logits (every token's with ``logits_all``)."""
        tokens = list(batch)
        raw = self._open_tokens(len(tokens), 0)
        for i, token in enumerate(tokens):
            raw.token[i] = token
            raw.pos[i] = n_past + i
            raw.seq_id[i][0] = 0
            raw.n_seq_id[i] = 1
            raw.logits[i] = logits_all
        raw.logits[len(tokens) - 1] = True
        raw.n_tokens = len(tokens)

    def add_sequence(self, batch: Sequence[int], seq_id: int, logits_all: bool) -> None:
        """Append ``batch`` as sequence ``seq_id``, at positions from 0, asking for the
        last token's logits (every token's with ``logits_all``)."""
        tokens = list(batch)
        seq_id = operator.index(seq_id)
        if seq_id < 0:
            raise ValueError(f"seq_id must be 0 or more, got {seq_id}")
        start = int(self._open().n_tokens)
        raw = self._open_tokens(len(tokens), start)
        for i, token in enumerate(tokens):
            j = start + i
            raw.token[j] = token
            raw.pos[j] = i
            raw.seq_id[j][0] = seq_id
            raw.n_seq_id[j] = 1
            raw.logits[j] = logits_all
        raw.logits[start + len(tokens) - 1] = True
        raw.n_tokens = start + len(tokens)


# ---- candidates -----------------------------------------------------------------------------


class LlamaTokenDataArray:
    """A ``llama_token_data_array`` over numpy memory: one (id, logit, p) entry per token
    of the vocabulary, for sampler stages to work on. ``candidates`` is the C struct,
    ``candidates_data`` the numpy record array it points to."""

    def __init__(self, *, n_vocab: int) -> None:
        import numpy as np

        self.n_vocab = operator.index(n_vocab)
        if self.n_vocab < 1:
            raise ValueError(f"n_vocab must be at least 1, got {n_vocab}")
        entry = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        assert entry.itemsize == ctypes.sizeof(capi.llama_token_data)
        self.candidates_data = np.recarray((self.n_vocab,), dtype=entry)
        self._data = self.candidates_data.ctypes.data_as(capi.llama_token_data_p)
        self.candidates = capi.llama_token_data_array(
            data=self._data, size=self.n_vocab, selected=-1, sorted=False
        )
        self.default_candidates_data_id = np.arange(self.n_vocab, dtype=np.intc)
        self.default_candidates_data_p = np.zeros(self.n_vocab, dtype=np.single)

    def copy_logits(self, logits: npt.ArrayLike) -> None:
        """Reset the entries to token ``i`` with ``logits[i]``, unsorted, none selected."""
        self.candidates_data.id[:] = self.default_candidates_data_id
        self.candidates_data.logit[:] = logits
        self.candidates_data.p[:] = self.default_candidates_data_p
        self.candidates.data = self._data
        self.candidates.size = self.n_vocab
        self.candidates.selected = -1
        self.candidates.sorted = False


def normalize_embedding(embedding: Iterable[float]) -> list[float]:
    """``embedding`` scaled to unit (Euclidean) length; all zeros stay zeros."""
    values = [float(value) for value in embedding]
    norm = math.sqrt(math.fsum(value * value for value in values))
    if norm == 0.0:
        return values
    return [value / norm for value in values]


# ---- samplers -------------------------------------------------------------------------------

_STAGE_NAME = ctypes.create_string_buffer(b"python")


def _stage_name(_sampler: object) -> int:
    return ctypes.addressof(_STAGE_NAME)


# A ``name`` callback returning a char * that Python keeps (a c_char_p result would leak).
_STAGE_NAME_CALLBACK = ctypes.cast(
    ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(_stage_name), capi.llama_sampler_i_name
)


class CustomSampler:
    """A sampler stage that runs ``apply_func`` on the candidates: it gets a pointer to
    the ``llama_token_data_array`` (``cur_p.contents``) and edits the entries in place
    (logits to -inf to forbid tokens, for example). An exception it raises is kept in
    :attr:`error` and raised again by :meth:`LlamaSampler.sample`."""

    def __init__(self, apply_func: Callable[[Any], None]) -> None:
        self.apply_func = apply_func
        self.error: BaseException | None = None
        self._apply = capi.llama_sampler_i_apply(self._run)
        self._iface = capi.llama_sampler_i()
        self._iface.name = _STAGE_NAME_CALLBACK
        self._iface.apply = self._apply

    def _run(self, _sampler: object, cur_p: Any) -> None:
        try:
            self.apply_func(cur_p)
        except BaseException as error:  # raised again, in Python, by LlamaSampler.sample
            self.error = error

    def get_sampler(self) -> ctypes._Pointer[capi.llama_sampler]:
        """A new ``llama_sampler`` running this stage, for a chain to own; this object
        must outlive it (LlamaSampler.add_custom keeps it)."""
        pointer: ctypes._Pointer[capi.llama_sampler] = capi.llama_sampler_init(
            ctypes.byref(self._iface), None
        )
        return pointer


class LlamaSampler(_Owns):
    """A llama.cpp sampler chain: add stages with the ``add_*`` methods, in order (the
    filters, then one that picks the token: greedy, dist, mirostat or mirostat_v2), then
    :meth:`sample` after each decode. ``sampler`` is the chain's C pointer, None once
    closed. A chain with a grammar, DRY or infill stage uses that model's vocabulary and is
    closed with the model."""

    _closed_text = "this LlamaSampler is closed (or a model its stages use is): build a new one"

    def __init__(self) -> None:
        chain = capi.llama_sampler_chain_init(capi.llama_sampler_chain_default_params())
        if not chain:
            raise MemoryError("llama.cpp could not create a sampler chain")
        self._adopt(chain, [], [])

    def _adopt(
        self,
        chain: ctypes._Pointer[capi.llama_sampler],
        stages: list[str],
        models: list[LlamaModel],
    ) -> None:
        self._handle = _Handle(chain, capi.llama_sampler_free)
        self._stages = stages
        self._models: list[LlamaModel] = []
        self.custom_samplers: list[tuple[int, CustomSampler]] = []
        self._candidates: LlamaTokenDataArray | None = None
        for model in models:
            self._use_model(model)

    # ---- life cycle

    @property
    def sampler(self) -> ctypes._Pointer[capi.llama_sampler] | None:
        """The chain's ``llama_sampler *``, None once closed."""
        pointer: ctypes._Pointer[capi.llama_sampler] | None = self._handle.pointer
        return pointer

    @property
    def stages(self) -> tuple[str, ...]:
        """The kinds of the stages, in chain order (``"top_k"``, ``"dist"``, ...)."""
        return tuple(self._stages)

    def _open(self) -> ctypes._Pointer[capi.llama_sampler]:
        pointer: ctypes._Pointer[capi.llama_sampler] = self._pointer()
        return pointer

    def _use_model(self, model: LlamaModel) -> int:
        """The model's vocabulary, for a stage that keeps it; the chain is then freed
        before the model, and keeps the model alive."""
        vocab = model._open_vocab()
        if model not in self._models:
            self._models.append(model)
            self._handle.free_before(model._handle)
        return vocab

    def _add(self, kind: str, stage: Any, failure: str = "") -> None:
        """Append a stage made by llama.cpp (NULL: ValueError with ``failure``)."""
        if not stage:
            raise ValueError(failure or f"llama.cpp could not make the {kind} sampler")
        capi.llama_sampler_chain_add(self._open(), stage)
        self._stages.append(kind)

    # ---- stages

    def add_greedy(self) -> None:
        """Pick the most likely token."""
        self._open()
        self._add("greedy", capi.llama_sampler_init_greedy())

    def add_dist(self, seed: int) -> None:
        """Pick a token at random by probability (``seed``: LLAMA_DEFAULT_SEED for a
        random one)."""
        self._open()
        self._add("dist", capi.llama_sampler_init_dist(seed))

    def add_softmax(self) -> None:
        """Does nothing (deprecated): the dist stage computes the probabilities itself."""
        warnings.warn(
            "add_softmax is deprecated and does nothing: add_dist samples from the logits",
            DeprecationWarning,
            stacklevel=2,
        )

    def add_top_k(self, k: int) -> None:
        """Keep the ``k`` most likely tokens (k <= 0: all)."""
        self._open()
        self._add("top_k", capi.llama_sampler_init_top_k(k))

    def add_top_p(self, p: float, min_keep: int = 1) -> None:
        """Keep the most likely tokens whose probabilities add up to ``p``."""
        self._open()
        self._add("top_p", capi.llama_sampler_init_top_p(p, _min_keep(min_keep)))

    def add_min_p(self, p: float, min_keep: int = 1) -> None:
        """Keep the tokens at least ``p`` times as likely as the most likely one."""
        self._open()
        self._add("min_p", capi.llama_sampler_init_min_p(p, _min_keep(min_keep)))

    def add_typical(self, p: float, min_keep: int = 1) -> None:
        """Locally typical sampling with mass ``p``."""
        self._open()
        self._add("typical", capi.llama_sampler_init_typical(p, _min_keep(min_keep)))

    def add_temp(self, temp: float) -> None:
        """Divide the logits by ``temp`` (<= 0: keep only the most likely token)."""
        self._open()
        self._add("temp", capi.llama_sampler_init_temp(temp))

    def add_temp_ext(self, t: float, delta: float, exponent: float) -> None:
        """Dynamic temperature: within ``t ± delta``, by the entropy, shaped by
        ``exponent``."""
        self._open()
        self._add("temp_ext", capi.llama_sampler_init_temp_ext(t, delta, exponent))

    def add_xtc(self, p: float, t: float, min_keep: int, seed: int) -> None:
        """XTC: with probability ``p``, drop the tokens above threshold ``t`` but the
        least likely of them."""
        self._open()
        self._add("xtc", capi.llama_sampler_init_xtc(p, t, _min_keep(min_keep), seed))

    def add_top_n_sigma(self, n: float) -> None:
        """Keep the tokens within ``n`` standard deviations of the top logit."""
        self._open()
        self._add("top_n_sigma", capi.llama_sampler_init_top_n_sigma(n))

    def add_mirostat(self, n_vocab: int, seed: int, tau: float, eta: float, m: int) -> None:
        """Pick a token with Mirostat 1.0 (target surprise ``tau``, learning rate
        ``eta``, ``m`` tokens to estimate from)."""
        self._open()
        if n_vocab < 1 or m < 1:
            raise ValueError(f"add_mirostat needs n_vocab >= 1 and m >= 1, got {n_vocab}, {m}")
        self._add("mirostat", capi.llama_sampler_init_mirostat(n_vocab, seed, tau, eta, m))

    def add_mirostat_v2(self, seed: int, tau: float, eta: float) -> None:
        """Pick a token with Mirostat 2.0."""
        self._open()
        self._add("mirostat_v2", capi.llama_sampler_init_mirostat_v2(seed, tau, eta))

    def add_grammar(self, model: LlamaModel, grammar: LlamaGrammar) -> None:
        """Forbid the tokens the GBNF ``grammar`` does not allow next (uses the model's
        vocabulary: the chain is closed with the model)."""
        self._open()
        text, root = grammar.grammar, grammar.root
        vocab = self._use_model(model)
        stage = capi.llama_sampler_init_grammar(vocab, text.encode("utf-8"), root.encode("utf-8"))
        self._add(
            "grammar",
            stage,
            f"llama.cpp rejected the grammar (root rule {root!r}): check that it parses, "
            "has that root rule and no left recursion",
        )

    def add_penalties(
        self,
        n_vocab: int,
        penalty_last_n: int,
        penalty_repeat: float,
        penalty_freq: float,
        penalty_present: float,
    ) -> None:
        """Penalise the tokens among the last ``penalty_last_n`` accepted ones (repeat:
        divide, frequency and presence: subtract)."""
        self._open()
        self._add(
            "penalties",
            capi.llama_sampler_init_penalties(
                n_vocab, penalty_last_n, penalty_repeat, penalty_freq, penalty_present
            ),
        )

    def add_dry(
        self,
        model: LlamaModel,
        dry_multiplier: float,
        dry_base: float,
        dry_allowed_length: int,
        dry_penalty_last_n: int,
        seq_breakers: Sequence[str],
    ) -> None:
        """DRY: penalise tokens that would extend a repeated run (``seq_breakers`` end a
        run); uses the model's vocabulary."""
        self._open()
        vocab = self._use_model(model)
        encoded = [breaker.encode("utf-8") for breaker in seq_breakers]
        breakers = (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
        stage = capi.llama_sampler_init_dry(
            vocab,
            dry_multiplier,
            dry_base,
            dry_allowed_length,
            dry_penalty_last_n,
            breakers,
            len(encoded),
        )
        self._add("dry", stage)

    def add_logit_bias(self, n_vocab: int, logit_bias: dict[int, float]) -> None:
        """Add ``logit_bias[token]`` to the token's logit."""
        self._open()
        biases = (capi.llama_logit_bias * max(len(logit_bias), 1))()
        for entry, (token, bias) in zip(biases, logit_bias.items(), strict=False):
            token = operator.index(token)
            if not 0 <= token < n_vocab:
                raise ValueError(f"logit_bias token {token} is outside 0 to {n_vocab - 1}")
            entry.token, entry.bias = token, bias
        stage = capi.llama_sampler_init_logit_bias(n_vocab, len(logit_bias), biases)
        self._add("logit_bias", stage)

    def add_infill(self, model: LlamaModel) -> None:
        """Fill-in-the-middle: merge candidates sharing a prefix, prefer end of text."""
        self._open()
        self._add("infill", capi.llama_sampler_init_infill(self._use_model(model)))

    def add_custom(self, apply_func: Callable[[Any], None]) -> None:
        """A stage running ``apply_func(cur_p)`` in Python (see :class:`CustomSampler`).
        A chain with one cannot be cloned."""
        self._open()
        custom = CustomSampler(apply_func)
        self._add("custom", custom.get_sampler())
        self.custom_samplers.append((len(self._stages) - 1, custom))

    # ---- use

    def get_seed(self) -> int:
        """The seed of the chain's random stage (LLAMA_DEFAULT_SEED without one)."""
        return int(capi.llama_sampler_get_seed(self._open()))

    def sample(self, ctx: LlamaContext, idx: int = -1) -> int:
        """Run the chain on the logits of batch position ``idx`` of the last decode (-1:
        the last output), accept the token it picks and return it.

        ValueError, instead of llama.cpp stopping the process, when that position has no
        logits, no stage picked a token, or a grammar allows none of the candidates."""
        chain = self._open()
        context = ctx._open()
        n_vocab = ctx.model.n_vocab()
        self._check_vocabulary(n_vocab)
        if self._context_samples(context, idx):
            # the context has samplers of its own (backend sampling): llama.cpp's path
            return int(capi.llama_sampler_sample(chain, context, idx))
        logits = ctx.get_logits_ith(idx)
        import numpy as np

        if self._candidates is None or self._candidates.n_vocab != n_vocab:
            self._candidates = LlamaTokenDataArray(n_vocab=n_vocab)
        candidates = self._candidates
        candidates.copy_logits(np.ctypeslib.as_array(logits, shape=(n_vocab,)))
        capi.llama_sampler_apply(chain, ctypes.byref(candidates.candidates))
        self._raise_custom_error()
        array = candidates.candidates
        if not 0 <= array.selected < array.size:
            raise ValueError(
                "the sampler chain picked no token: end it with a stage that picks one "
                "(add_greedy, add_dist, add_mirostat or add_mirostat_v2)"
            )
        chosen = array.data[array.selected]
        if "grammar" in self._stages and chosen.logit == -math.inf:
            raise ValueError(
                "the grammar allows none of the candidate tokens here (or a stage after the "
                "grammar picked a token it forbids: put the grammar before the picking stage)"
            )
        token = int(chosen.id)
        capi.llama_sampler_accept(chain, token)
        return token

    def accept(self, token: int) -> None:
        """Record ``token`` as chosen (penalties, grammar and mirostat track it).
        ValueError when a grammar stage does not allow it here."""
        chain = self._open()
        token = operator.index(token)
        if token < 0:
            raise ValueError(f"token id {token} is not a token")
        for model in self._models:
            model._token(token)
        for index, kind in enumerate(self._stages):
            if kind == "grammar":
                self._check_grammar_allows(capi.llama_sampler_chain_get(chain, index), token)
        capi.llama_sampler_accept(chain, token)

    def reset(self) -> None:
        """Forget the accepted tokens (penalties, grammar state, mirostat's mu)."""
        capi.llama_sampler_reset(self._open())

    def clone(self) -> LlamaSampler:
        """An independent copy of the chain, in its current state."""
        if self.custom_samplers:
            raise NotImplementedError(
                "a chain with a custom (Python) stage cannot be cloned: build another one"
            )
        copy = capi.llama_sampler_clone(self._open())
        if not copy:
            raise MemoryError("llama.cpp could not clone the sampler chain")
        twin = LlamaSampler.__new__(LlamaSampler)
        twin._adopt(copy, list(self._stages), list(self._models))
        return twin

    def _check_vocabulary(self, n_vocab: int) -> None:
        for model in self._models:
            if model.n_vocab() != n_vocab:
                raise ValueError(
                    f"this chain's stages use the vocabulary of {model.path_model!r} "
                    f"({model.n_vocab()} tokens); the context's model has {n_vocab}"
                )

    def _check_grammar_allows(self, stage: Any, token: int) -> None:
        """ValueError when the grammar stage forbids ``token`` now (accepting it would stop
        the process)."""
        single = (capi.llama_token_data * 1)(capi.llama_token_data(token, 0.0, 0.0))
        array = capi.llama_token_data_array(data=single, size=1, selected=-1, sorted=False)
        capi.llama_sampler_apply(stage, ctypes.byref(array))
        if single[0].logit == -math.inf:
            raise ValueError(f"the grammar does not allow token {token} here")

    @staticmethod
    def _context_samples(context: int, idx: int) -> bool:
        """Whether samplers set on the context (``params.samplers``) worked on ``idx``."""
        return bool(
            capi.llama_get_sampled_token_ith(context, idx) != capi.LLAMA_TOKEN_NULL
            or capi.llama_get_sampled_logits_ith(context, idx)
            or capi.llama_get_sampled_probs_ith(context, idx)
        )

    def _raise_custom_error(self) -> None:
        for _, custom in self.custom_samplers:
            error, custom.error = custom.error, None
            if error is not None:
                raise error


def _min_keep(min_keep: int) -> int:
    min_keep = operator.index(min_keep)
    if min_keep < 0:
        raise ValueError(f"min_keep must be 0 or more, got {min_keep}")
    return min_keep
