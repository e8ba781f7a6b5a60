"""The FastAPI application: OpenAI-compatible routes over ServedLlama and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llama_cpp import __version__
from llama_cpp._completion import ChunkStream
from llama_cpp.server.metrics import Metrics
from llama_cpp.server.requests import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    EmbeddingRequest,
    TokenizeRequest,
)
from llama_cpp.server.runner import ModelRunner
from llama_cpp.server.scheduler import QueueFull, Scheduler
from llama_cpp.server.served import RequestContext, current_request, stream_chunks
from llama_cpp.server.settings import ServerSettings


class ApiError(Exception):
    """An error to send as OpenAI-shaped JSON with ``status``."""

    def __init__(self, status: int, message: str, kind: str, param: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.param = status, kind, param


def _error_body(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


class BodyLimit:
    """Refuses with 413 a request body over ``limit`` bytes: by its Content-Length before
    reading, and by counting while reading, so a chunked upload cannot get around it. The
    body is read whole (every route takes one JSON document) and handed on."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
        response = JSONResponse(_error_body(message, "invalid_request_error"), status_code=413)
        await response(scope, receive, send)


class MeasureRequests:
    """Counts requests by route and status and times them to the response head, for
    /metrics. Plain ASGI: a streamed body passes through untouched."""

    known_paths = frozenset({"/v1/completions", "/v1/chat/completions", "/v1/embeddings",
                             "/v1/models", "/health", "/metrics", "/extras/tokenize",
                             "/extras/detokenize"})  # fmt: skip

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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


def create_app(settings: ServerSettings, runners: dict[str, ModelRunner]) -> FastAPI:
    """The application serving ``runners`` (by model name)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a request that does not stream waits for its job in a worker thread: allow one
        # per slot and queue place (starlette's default pool has 40)
        limiter = anyio.to_thread.current_default_thread_limiter()
        wanted = sum(r.scheduler.n_slots for r in runners.values()) + settings.max_queue + 8
        limiter.total_tokens = max(limiter.total_tokens, wanted)
        yield

    app = FastAPI(title="llama-cpp-pybind", version=__version__, lifespan=lifespan)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    default = next(iter(runners.values()))
    metrics = Metrics()
    for name, runner in runners.items():
        runner.scheduler.observer, runner.scheduler.name = metrics, name

    def per_model(read: Callable[[Scheduler], int]) -> Callable[[], dict[Any, float]]:
        return lambda: {(("model", n),): read(r.scheduler) for n, r in runners.items()}

    metrics.gauge("llama_queue_depth", "Requests waiting for a slot.",
                  per_model(lambda s: s.queue_depth))  # fmt: skip
    metrics.gauge("llama_slots_busy", "Slots generating.", per_model(lambda s: s.busy_slots))
    metrics.gauge("llama_slots", "Slots (--n_parallel).", per_model(lambda s: s.n_slots))
    app.add_middleware(MeasureRequests, metrics=metrics)

    async def authorize(request: Request) -> None:
        if not settings.api_key:
            return
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or key not in settings.api_key:
            raise ApiError(
                401,
                "invalid or missing API key (Authorization: Bearer KEY)",
                "authentication_error",
            )

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(_error_body(str(error), error.kind, error.param), error.status)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (an unreadable body, an unknown route, a wrong method)
        message = str(error.detail)
        if error.status_code == 400 and "parsing the body" in message:
            message = "the request body is not valid JSON (UTF-8 encoded)"
        elif error.status_code == 404:
            message = f"no route {request.url.path}; see /docs for the routes"
        kind = "invalid_request_error" if error.status_code < 500 else "server_error"
        return JSONResponse(_error_body(message, kind), error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {item.get('msg')}")
        first = error.errors()[0].get("loc", ()) if error.errors() else ()
        param = ".".join(str(p) for p in first if p != "body") or None
        return JSONResponse(
            _error_body("; ".join(problems), "invalid_request_error", param), status_code=422
        )

    @app.exception_handler(QueueFull)
    async def on_busy(request: Request, error: QueueFull) -> JSONResponse:
        return JSONResponse(
            _error_body(str(error), "server_busy"),
            status_code=503,
            headers={"Retry-After": str(error.retry_after)},
        )

    @app.exception_handler(ValueError)
    async def on_value_error(request: Request, error: ValueError) -> JSONResponse:
        return JSONResponse(_error_body(str(error), "invalid_request_error"), status_code=400)

    @app.exception_handler(TypeError)
    async def on_type_error(request: Request, error: TypeError) -> JSONResponse:
        return JSONResponse(_error_body(str(error), "invalid_request_error"), status_code=400)

    def runner_for(name: str | None) -> ModelRunner:
        if name is None or name == "":
            return default
        if name in runners:
            return runners[name]
        raise ApiError(
            404,
            f"model {name!r} is not served here; known models: {sorted(runners)}",
            "model_not_found",
            "model",
        )

    guarded = [Depends(authorize)]

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "models": {
                name: {
                    "slots": r.scheduler.n_slots,
                    "busy": r.scheduler.busy_slots,
                    "queued": r.scheduler.queue_depth,
                }
                for name, r in runners.items()
            },
        }

    @app.get("/metrics", dependencies=guarded, response_class=PlainTextResponse)
    async def prometheus() -> str:
        return metrics.render()

    @app.get("/v1/models", dependencies=guarded)
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "owned_by": "me", "permissions": []}
                for name in runners
            ],
        }

    async def generate(
        runner: ModelRunner, method: Any, body: CompletionRequest | ChatCompletionRequest
    ) -> Any:
        """Run a (chat) completion off the event loop; a stream becomes server-sent events
        made on the loop (the worker thread that makes the job sees this context)."""
        arrival = runner.scheduler.arriving()
        loop = asyncio.get_running_loop() if body.stream else None
        current_request.set(RequestContext(stream_loop=loop, arrival=arrival))
        try:
            result = await run_in_threadpool(method, **body.llama_kwargs())
        finally:
            arrival.close()
        return _sse(result) if body.stream else result

    @app.post("/v1/completions", dependencies=guarded)
    async def completions(body: CompletionRequest) -> Any:
        runner = runner_for(body.model)
        return await generate(runner, runner.llama.create_completion, body)

    @app.post("/v1/chat/completions", dependencies=guarded)
    async def chat_completions(body: ChatCompletionRequest) -> Any:
        runner = runner_for(body.model)
        return await generate(runner, runner.llama.create_chat_completion, body)

    @app.post("/v1/embeddings", dependencies=guarded)
    async def embeddings(body: EmbeddingRequest) -> Any:
        runner = runner_for(body.model)
        return await run_in_threadpool(runner.embed, body.input, body.model or runner.name)

    @app.post("/extras/tokenize", dependencies=guarded)
    async def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        runner = runner_for(body.model)
        tokens = runner.llama.tokenize(body.input.encode("utf-8"), add_bos=body.add_bos,
                                       special=body.special)  # fmt: skip
        return {"tokens": tokens}

    @app.post("/extras/detokenize", dependencies=guarded)
    async def detokenize(body: DetokenizeRequest) -> dict[str, Any]:
        runner = runner_for(body.model)
        n_vocab = runner.llama.n_vocab()
        bad = [t for t in body.tokens if not 0 <= t < n_vocab]
        if bad:
            message = f"token ids {bad[:5]} are outside the vocabulary (0..{n_vocab - 1})"
            raise ApiError(400, message, "invalid_request_error", "tokens")
        text = runner.llama.detokenize(body.tokens).decode("utf-8", errors="replace")
        return {"text": text}

    return app


def _event(data: str) -> bytes:
    """One server-sent event carrying ``data`` (JSON without newlines, or [DONE]), encoded
    here rather than by sse-starlette: a chunk is written once per token."""
    return b"data: " + data.encode() + b"\r\n\r\n"


def _sse(stream: ChunkStream[Any]) -> EventSourceResponse:
    """Server-sent events of ``stream``'s chunks, then [DONE].

    The chunks are made on the event loop as the scheduler hands it each step's output
    (:func:`stream_chunks`): a token costs one handoff from the scheduler thread to the
    loop. When the client goes away the generator is closed, which cancels the job and
    frees its slot before the next step."""

    async def events() -> AsyncIterator[bytes]:
        chunks = stream_chunks(stream)
        try:
            async for chunk in chunks:
                yield _event(json.dumps(chunk))
        except Exception as error:  # mid-stream: the status line is already sent
            yield _event(json.dumps(_error_body(str(error), "server_error")))
        finally:
            await chunks.aclose()
        yield _event("[DONE]")

    body = events()
    # a client gone before the response started: the body is dropped unstarted, so no
    # finally runs in it; the job is cancelled when the body goes instead
    weakref.finalize(body, stream.run.generation.cancel)
    return EventSourceResponse(body, ping=15)
