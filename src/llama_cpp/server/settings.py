"""Server settings: flags, environment variables (llama-cpp-python's names, e.g. ``MODEL``,
``N_CTX``, ``API_KEY``) and an optional JSON or YAML config file that may list models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ModelSettings(BaseModel):
    """One served model."""

    model: str = Field(description="path of the GGUF file")
    model_alias: str | None = Field(None, description="name clients use (default: the path)")
    n_gpu_layers: int = Field(0, description="layers to offload to the GPU (-1: all)")
    rpc_servers: str | None = Field(
        None,
        description="RPC workers host:port,host:port to place layers on with n_gpu_layers "
        "(llama-cpp rpc-server on each; docs/install/rpc.md)",
    )
    n_ctx: int = Field(2048, ge=16, description="context positions per request (per slot)")
    n_parallel: int = Field(4, ge=1, le=256, description="requests generated at once (slots)")
    n_batch: int = Field(512, ge=1, description="tokens per decode step")
    n_threads: int | None = Field(None, description="CPU threads (default: all)")
    chat_format: str | None = Field(None, description="named chat format (default: the model's)")
    flash_attn: bool | None = Field(None, description="flash attention (default: llama.cpp's)")
    verbose: bool = Field(False, description="print llama.cpp's log")
    cache: bool = Field(
        False,
        description="keep finished requests' states in a prompt cache, restored into a slot "
        "when a later prompt extends one further than any slot holds",
    )
    cache_type: Literal["ram", "disk"] = Field("ram", description="where the cache keeps states")
    cache_size: int = Field(2 << 30, ge=1, description="prompt cache capacity in bytes")
    cache_dir: str = Field(".cache/llama_cache", description="directory of a disk cache")
    default: bool = Field(
        False, description="serve requests naming an unknown model (several models only)"
    )

    @property
    def name(self) -> str:
        return self.model_alias or self.model


class ServerSettings(BaseSettings):
    """The HTTP side."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    host: str = Field("127.0.0.1", description="address to bind (0.0.0.0: every interface)")
    port: int = Field(8000, ge=0, le=65535)
    # NoDecode: the environment gives "a,b", not JSON
    api_key: Annotated[list[str] | None, NoDecode] = Field(
        None, description="accepted Bearer keys (comma-separated)"
    )
    default_model: str | None = Field(
        None,
        description="model (alias) that serves requests naming an unknown model, when several "
        "are served (one model serves every request)",
    )
    max_queue: int = Field(64, ge=0, description="requests waiting beyond the slots")
    request_timeout_s: float | None = Field(
        None, gt=0, description="longest a (chat) completion may take, queue included (504)"
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="server log level (debug also logs health checks)"
    )
    log_format: Literal["text", "json"] = Field("text", description="log lines: text or json")
    max_embedding_inputs: int = Field(
        2048, ge=1, description="inputs one embeddings request may have (400 beyond)"
    )
    max_embedding_tokens: int = Field(
        300_000, ge=1, description="tokens of all inputs of one embeddings request (400 beyond)"
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="request size limit")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="allowed CORS origins (comma-separated)"
    )

    @field_validator("api_key", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment
            value = [value]
        if isinstance(value, list):  # flags repeat, and each may hold a comma list too
            return [part.strip() for item in value for part in str(item).split(",")
                    if part.strip()]  # fmt: skip
        return value


@dataclass(frozen=True)
class EmbeddingLimits:
    """What one embeddings request may ask (inputs, and tokens of them all)."""

    max_inputs: int
    max_tokens: int

    @classmethod
    def of(cls, server: ServerSettings) -> EmbeddingLimits:
        return cls(server.max_embedding_inputs, server.max_embedding_tokens)


def load_config_file(path: str) -> dict[str, Any]:
    """A config file's content: ``{"host": ..., "models": [{"model": ..., ...}, ...]}``."""
    file = Path(path)
    if not file.is_file():
        raise SystemExit(f"config file not found: {path}")
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as e:
            raise SystemExit("a YAML config file needs PyYAML: pip install pyyaml") from e
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of settings at the top level")
    return data


def default_model_name(server: ServerSettings, models: list[ModelSettings]) -> str | None:
    """The model that serves a request naming no served model: the only one, else the one
    ``--default_model`` names or marked ``default: true`` (None: such requests get a 404)."""
    names = [m.name for m in models]
    if len(models) == 1:
        return names[0]
    if server.default_model is not None:
        if server.default_model not in names:
            raise SystemExit(
                f"--default_model {server.default_model!r} is not one of the served models "
                f"{names}; give a model_alias listed in the config file"
            )
        return server.default_model
    marked = [m.name for m in models if m.default]
    if len(marked) > 1:
        raise SystemExit(f"several models are marked default: true: {marked}; mark one")
    return marked[0] if marked else None
