"""The server's logging: one access line per request, warnings and errors with their
tracebacks, as text or one JSON object per line (``--log_format json``).

Everything goes through the ``llama_cpp.server`` logger and uvicorn's loggers, configured
here (uvicorn's own access log is off: :class:`AccessLog` writes ours, with the model
and token counts). Health checks and metric scrapes are logged at DEBUG only.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from llama_cpp.server.middleware import HttpMiddleware

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")

log = logging.getLogger("llama_cpp.server")
access_log = logging.getLogger("llama_cpp.server.access")

# fields of a record that are logging's own, not extras a caller passed
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """Configure the server's and uvicorn's loggers; returns the dict config (for
    ``uvicorn.run(log_config=...)``, so uvicorn does not replace it)."""
    if level not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {LOG_LEVELS}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {LOG_FORMATS}")
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"server": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "server",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
            for name in ("llama_cpp.server", "uvicorn", "uvicorn.error")
        },
    }
    config["loggers"]["uvicorn.access"] = {"handlers": [], "level": "CRITICAL",
                                           "propagate": False}  # fmt: skip
    logging.config.dictConfig(config)
    return config


@dataclass
class AccessRecord:
    """What the routes add to a request's access line."""

    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


current_access: contextvars.ContextVar[AccessRecord | None] = contextvars.ContextVar(
    "current_access", default=None
)


def note_usage(prompt_tokens: int, completion_tokens: int = 0) -> None:
    """Add token counts to the current request's access line (if any)."""
    record = current_access.get()
    if record is not None:
        record.prompt_tokens = (record.prompt_tokens or 0) + prompt_tokens
        record.completion_tokens = (record.completion_tokens or 0) + completion_tokens


class AccessLog(HttpMiddleware):
    """Logs one line per request when its response has been sent (a stream: at its end):
    method, path, status, model, tokens and seconds. /health and /metrics at DEBUG."""

    quiet_paths = frozenset({"/health", "/metrics"})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.monotonic()
        record = AccessRecord()
        token = current_access.set(record)
        status = 0

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            current_access.reset(token)
            self._write(scope, status, record, time.monotonic() - start)

    def _write(self, scope: Scope, status: int, record: AccessRecord, seconds: float) -> None:
        path = scope["path"]
        level = logging.DEBUG if path in self.quiet_paths else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        fields = {
            "method": scope["method"],
            "path": path,
            "status": status or None,  # None: the client left before a response
            "model": record.model,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "seconds": round(seconds, 4),
        }
        tokens = ""
        if record.prompt_tokens is not None:
            tokens = f" tokens={record.prompt_tokens}+{record.completion_tokens or 0}"
        model = f" model={record.model}" if record.model else ""
        access_log.log(
            level,
            "%s %s %s%s%s %.3fs",
            scope["method"],
            path,
            status or "-",
            model,
            tokens,
            seconds,
            extra=fields,
        )
