"""One served model: its Llama, the shared context, the scheduler and its engine."""

from __future__ import annotations

import threading
from typing import Any

from llama_cpp.llama import Llama
from llama_cpp.llama_cache import BaseLlamaCache, LlamaDiskCache, LlamaRAMCache
from llama_cpp.server.scheduler import Scheduler
from llama_cpp.server.served import ScheduledEngine, shared_context
from llama_cpp.server.settings import EmbeddingLimits, ModelSettings


def prompt_cache(settings: ModelSettings) -> BaseLlamaCache | None:
    """The prompt cache the settings ask for (``cache``, ``cache_type``, ``cache_size``)."""
    if not settings.cache:
        return None
    if settings.cache_type == "disk":
        return LlamaDiskCache(settings.cache_dir, capacity_bytes=settings.cache_size)
    return LlamaRAMCache(capacity_bytes=settings.cache_size)


class ModelRunner:
    """Loads ``settings.model`` once; completions go to the scheduler, embeddings to an
    embeddings context of one slot's size, made on first use (one request at a time)."""

    def __init__(self, settings: ModelSettings, max_queue: int, limits: EmbeddingLimits):
        self.settings = settings
        self.name = settings.name
        self.llama = Llama._without_context(
            settings.model,
            n_gpu_layers=settings.n_gpu_layers,
            rpc_servers=settings.rpc_servers,
            n_ctx=settings.n_ctx,
            n_batch=settings.n_batch,
            n_threads=settings.n_threads,
            n_threads_batch=settings.n_threads,
            chat_format=settings.chat_format,
            flash_attn=settings.flash_attn,
            verbose=settings.verbose,
        )
        context = shared_context(self.llama, settings.n_parallel, settings.n_ctx, settings.n_batch)
        self.scheduler = Scheduler(context, max_queue=max_queue, cache=prompt_cache(settings))
        self.llama._use_engine(ScheduledEngine(self.scheduler))
        self._embed_lock = threading.Lock()
        self.limits = limits

    def embed(self, text: str | list[str], model: str) -> Any:
        """OpenAI-shaped embeddings, or a ValueError naming the limit an input breaks."""
        inputs = 1 if isinstance(text, str) else len(text)
        if inputs > self.limits.max_inputs:
            raise ValueError(
                f"the request has {inputs} inputs; the limit is {self.limits.max_inputs} "
                "(--max_embedding_inputs)"
            )
        with self._embed_lock:
            return self.llama._embeddings().create_embedding(
                text, model, truncate=False, max_total_tokens=self.limits.max_tokens
            )

    def close(self) -> None:
        self.scheduler.close()
        self.llama.close()
