"""``python -m llama_cpp.server --model PATH [options]``: the OpenAI-compatible server.

Every option is also read from the environment (``MODEL``, ``N_CTX``, ``API_KEY``...) and
from ``--config_file`` (JSON or YAML: server keys plus ``models: [{model: ..., ...}]``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from pydantic import BaseModel, ValidationError

from llama_cpp.server.settings import (
    EmbeddingLimits,
    ModelSettings,
    ServerSettings,
    default_model_name,
    load_config_file,
)


def _add_fields(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    for name, info in model.model_fields.items():
        flag = f"--{name}"
        if info.annotation is bool or str(info.annotation).startswith("bool"):
            parser.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes", "on"),
                                default=None, help=info.description)  # fmt: skip
        elif name in ("api_key", "cors_origins"):
            parser.add_argument(flag, action="append", default=None, help=info.description)
        else:
            parser.add_argument(flag, default=None, help=info.description)


def parse(argv: list[str] | None = None) -> tuple[ServerSettings, list[ModelSettings]]:
    parser = argparse.ArgumentParser(prog="python -m llama_cpp.server", description=__doc__)
    parser.add_argument("--config_file", default=os.environ.get("CONFIG_FILE"))
    _add_fields(parser, ServerSettings)
    _add_fields(parser, ModelSettings)
    args = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    config: dict[str, Any] = (
        load_config_file(args.pop("config_file")) if "config_file" in args else {}
    )
    server_keys = set(ServerSettings.model_fields)
    server_args = {k: v for k, v in args.items() if k in server_keys}
    model_args = {k: v for k, v in args.items() if k not in server_keys}
    try:
        server = ServerSettings(**{**{k: v for k, v in config.items() if k in server_keys},
                                   **server_args})  # fmt: skip
        listed = config.get("models") or []
        if model_args.get("model") or os.environ.get("MODEL") or not listed:
            env = {k: os.environ[k.upper()] for k in ModelSettings.model_fields
                   if k.upper() in os.environ}  # fmt: skip
            listed = [*listed, {**env, **model_args}]
        models = [ModelSettings(**entry) for entry in listed]
    except ValidationError as error:
        raise SystemExit(f"invalid settings:\n{error}") from None
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise SystemExit(f"two models have the same name: {names}; give each a model_alias")
    default_model_name(server, models)  # a wrong choice fails here, before any model loads
    return server, models


def main(argv: list[str] | None = None) -> None:
    server, models = parse(argv)
    for model in models:
        if not os.path.isfile(model.model):
            raise SystemExit(f"model file not found: {model.model}")
    import uvicorn

    from llama_cpp.server import logs
    from llama_cpp.server.app import create_app
    from llama_cpp.server.runner import ModelRunner

    log_config = logs.configure(server.log_level, server.log_format)
    limits = EmbeddingLimits.of(server)
    runners = {m.name: ModelRunner(m, server.max_queue, limits) for m in models}
    app = create_app(server, runners)
    logs.log.info("serving %s on http://%s:%d", sorted(runners), server.host, server.port)
    uvicorn.run(app, host=server.host, port=server.port, log_config=log_config,
                log_level=server.log_level, access_log=False)  # fmt: skip


if __name__ == "__main__":
    main()
