"""Llama's constructor arguments: checked, legacy names mapped, unknown names
reported, then turned into llama.cpp's model and context parameters."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from llama_cpp import _core
from llama_cpp._constants import (
    GGML_NUMA_STRATEGY_COUNT,
    GGML_NUMA_STRATEGY_DISABLED,
    GGML_NUMA_STRATEGY_DISTRIBUTE,
    GGML_TYPE_F32,
    LLAMA_FLASH_ATTN_TYPE_AUTO,
    LLAMA_FLASH_ATTN_TYPE_DISABLED,
    LLAMA_FLASH_ATTN_TYPE_ENABLED,
)

# Keys older llama-cpp-python releases accepted and LangChain still passes.
LEGACY_KEYS = {
    "n_parts": "obsolete: GGUF models are one file (or splits llama.cpp finds itself)",
    "f16_kv": "the KV cache is f16 by default; f16_kv=False maps to type_k=type_v=F32",
    "low_vram": "obsolete in llama.cpp; use n_gpu_layers / offload_kqv",
    "mul_mat_q": "obsolete in llama.cpp (always on)",
    "embedding_mode": "use embedding=True",
    # LangChain's LlamaCppEmbeddings passes device=None.
    "device": "llama.cpp places layers with n_gpu_layers, main_gpu and split_mode",
}


@dataclass
class ModelArgs:
    """What llama_model_load_from_file needs (see _core.Model)."""

    n_gpu_layers: int = 0
    split_mode: int = 1
    main_gpu: int = 0
    tensor_split: list[float] = field(default_factory=list)
    vocab_only: bool = False
    use_mmap: bool = True
    use_mlock: bool = False
    kv_overrides: dict[str, Any] = field(default_factory=dict)
    devices: list[str] | None = None  # ggml device names in order; None: llama.cpp's choice


def _int(name: str, value: Any, minimum: int | None = None, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{hint}, got {value}")
    return value


def _threads(name: str, value: int | None) -> int:
    """None or -1: llama.cpp picks (one per hardware thread)."""
    if value is None or value == -1:
        return 0
    return _int(name, value, 1, " (or None / -1 for one per hardware thread)")


_numa_strategy: int | None = None  # what llama_numa_init was given in this process


def init_numa(numa: bool | int) -> None:
    """llama-cpp-python's ``numa``: False/0 nothing; True (distribute) or a
    ``GGML_NUMA_STRATEGY_*`` value runs ``llama_numa_init`` once per process (llama.cpp
    sets its NUMA placement once; a later, different strategy is an error)."""
    global _numa_strategy
    if isinstance(numa, bool):
        strategy = GGML_NUMA_STRATEGY_DISTRIBUTE if numa else GGML_NUMA_STRATEGY_DISABLED
    elif isinstance(numa, int) and GGML_NUMA_STRATEGY_DISABLED <= numa < GGML_NUMA_STRATEGY_COUNT:
        strategy = numa
    else:
        raise ValueError(
            "numa must be True, False or a GGML_NUMA_STRATEGY_* value "
            f"(0..{GGML_NUMA_STRATEGY_COUNT - 1}: disabled, distribute, isolate, numactl, "
            f"mirror), got {numa!r}"
        )
    if strategy == GGML_NUMA_STRATEGY_DISABLED:
        return
    if _numa_strategy is None:
        from llama_cpp import llama_cpp as low_level

        low_level.llama_numa_init(strategy)
        _numa_strategy = strategy
    elif _numa_strategy != strategy:
        raise ValueError(
            f"numa={numa!r}: this process already set NUMA strategy {_numa_strategy}; "
            "llama.cpp sets it once per process"
        )


def check_unknown_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Split **kwargs into legacy keys (returned) and unknown ones (warned about by name)."""
    legacy = {k: v for k, v in kwargs.items() if k in LEGACY_KEYS}
    if legacy.get("device") is not None:
        warnings.warn(
            f"Llama() ignores device={legacy['device']!r}: {LEGACY_KEYS['device']}.",
            UserWarning,
            stacklevel=3,
        )
    unknown = sorted(k for k in kwargs if k not in LEGACY_KEYS)
    if unknown:
        warnings.warn(
            f"Llama() got unknown parameter(s) {unknown}; they are ignored. "
            "Check the spelling against llama_cpp.Llama's documented parameters.",
            UserWarning,
            stacklevel=3,
        )
    return legacy


def context_params(
    *,
    n_ctx: int,
    n_batch: int,
    n_ubatch: int,
    n_threads: int | None,
    n_threads_batch: int | None,
    rope_scaling_type: int | None,
    pooling_type: int,
    attention_type: int,
    rope_freq_base: float,
    rope_freq_scale: float,
    yarn_ext_factor: float,
    yarn_attn_factor: float,
    yarn_beta_fast: float,
    yarn_beta_slow: float,
    yarn_orig_ctx: int,
    embedding: bool,
    offload_kqv: bool,
    flash_attn: bool | None,
    op_offload: bool | None,
    swa_full: bool | None,
    no_perf: bool,
    type_k: int | None,
    type_v: int | None,
    legacy: dict[str, Any],
) -> _core.ContextParams:
    """A checked ContextParams (n_ctx 0 = the model's training context)."""
    p = _core.ContextParams()
    p.n_ctx = _int("n_ctx", n_ctx, 0, " (0 = the model's training context)")
    p.n_batch = _int("n_batch", n_batch, 1)
    p.n_ubatch = _int("n_ubatch", n_ubatch, 1)
    if p.n_ctx > 0:
        p.n_batch = min(p.n_ctx, p.n_batch)
    p.n_ubatch = min(p.n_ubatch, p.n_batch)
    p.n_threads = _threads("n_threads", n_threads)
    p.n_threads_batch = _threads("n_threads_batch", n_threads_batch) or p.n_threads
    p.n_seq_max = 1
    if rope_scaling_type is not None:
        p.rope_scaling_type = rope_scaling_type
    p.pooling_type = pooling_type
    p.attention_type = attention_type
    p.rope_freq_base = float(rope_freq_base)
    p.rope_freq_scale = float(rope_freq_scale)
    p.yarn_ext_factor = float(yarn_ext_factor)
    p.yarn_attn_factor = float(yarn_attn_factor)
    p.yarn_beta_fast = float(yarn_beta_fast)
    p.yarn_beta_slow = float(yarn_beta_slow)
    p.yarn_orig_ctx = _int("yarn_orig_ctx", yarn_orig_ctx, 0)
    p.embeddings = bool(embedding)
    p.offload_kqv = bool(offload_kqv)
    # None: llama.cpp decides per device (its own default), on where it is supported
    if flash_attn is None:
        p.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO
    else:
        p.flash_attn_type = (
            LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
    if op_offload is not None:
        p.op_offload = bool(op_offload)
    if swa_full is not None:
        p.swa_full = bool(swa_full)
    p.no_perf = bool(no_perf)
    if legacy.get("f16_kv") is False:
        p.type_k = p.type_v = GGML_TYPE_F32
    if type_k is not None:
        p.type_k = type_k
    if type_v is not None:
        p.type_v = type_v
    return p


def warn_rope_override(metadata: dict[str, str], rope_freq_base: float) -> None:
    """Warn when an explicit rope_freq_base differs from the one the model was trained with.

    LangChain's LlamaCpp and ChatLlamaCpp pass rope_freq_base=10000 unless told otherwise;
    most current models were trained with another base, and their output then degrades.
    """
    if not rope_freq_base:
        return
    trained = metadata.get(f"{metadata.get('general.architecture', '')}.rope.freq_base")
    try:
        trained_base = float(trained) if trained is not None else None
    except ValueError:
        return
    if trained_base and abs(trained_base - rope_freq_base) > 1e-6 * trained_base:
        warnings.warn(
            f"rope_freq_base={rope_freq_base} overrides the {trained_base:g} this model was "
            "trained with, which degrades its output; pass rope_freq_base=0 to use the "
            "model's own value (LangChain's LlamaCpp and ChatLlamaCpp pass 10000 unless "
            "given rope_freq_base=0)",
            UserWarning,
            stacklevel=3,
        )
