"""The server's ASGI middleware: the body size limit, the barrier that turns a real
fault into a logged OpenAI-shaped 500, and request metrics; and the error body."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llama_cpp.server.metrics import Metrics
from llama_cpp.server.scheduler import SchedulerFault

log = logging.getLogger("llama_cpp.server")


def error_body(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


class HttpMiddleware:
    """An ASGI middleware for HTTP requests (anything else passes through untouched)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class BodyLimit(HttpMiddleware):
    """Refuses with 413 a request body over ``limit`` bytes: by its Content-Length before
    reading, and by counting while reading, so a chunked upload cannot get around it. The
    body is read whole (every route takes one JSON document) and handed on."""

    def __init__(self, app: ASGIApp, limit: int):
        super().__init__(app)
        self.limit = limit

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(f"{int(length)} bytes", scope, receive, send)
            return
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away before sending its body
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await self._refuse(f"more than {self.limit} bytes", scope, receive, send)
                return
            parts.append(body)
            if not message.get("more_body", False):
                break
        pending: list[Message] = [{"type": "http.request", "body": b"".join(parts)}]

        async def replay() -> Message:
            # the body once, then the real channel (which reports a disconnect)
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, size: str, scope: Scope, receive: Receive, send: Send) -> None:
        message = (f"the request body has {size}; the limit is {self.limit} "
                   "(--max_body_bytes)")  # fmt: skip
        response = JSONResponse(error_body(message, "invalid_request_error"), status_code=413)
        await response(scope, receive, send)


class FaultBarrier(HttpMiddleware):
    """A real server fault (an exception no route handler maps to a status) becomes an
    OpenAI-shaped 500 and is logged with its traceback; after the response has started
    it can only be logged (the stream's own handler sends an error event first)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            log.error("%s %s failed", scope["method"], scope["path"], exc_info=error)
            if started:
                return
            if isinstance(error, SchedulerFault):
                message = str(error)
            else:
                message = f"the server failed on this request: {error!r}"
            response = JSONResponse(error_body(message, "server_error"), status_code=500)
            await response(scope, receive, send)


class MeasureRequests(HttpMiddleware):
    """Counts requests by route and status and times them to the response head, for
    /metrics. Plain ASGI: a streamed body passes through untouched."""

    known_paths = frozenset({"/v1/completions", "/v1/chat/completions", "/v1/embeddings",
                             "/v1/models", "/health", "/metrics", "/extras/tokenize",
                             "/extras/detokenize"})  # fmt: skip

    def __init__(self, app: ASGIApp, metrics: Metrics):
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.monotonic()
        path = scope["path"] if scope["path"] in self.known_paths else "other"

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.count("llama_requests_total", "HTTP requests, by route and status.",
                                   path=path, status=str(message["status"]))  # fmt: skip
                self.metrics.observe("llama_request_duration_seconds",
                                     "Time to the response head.", time.monotonic() - start,
                                     path=path)  # fmt: skip
            await send(message)

        await self.app(scope, receive, timed_send)
