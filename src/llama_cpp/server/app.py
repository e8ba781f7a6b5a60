"""The FastAPI application: OpenAI-compatible routes over the served Llamas and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from llama_cpp import __version__
from llama_cpp._build_info import DISTRIBUTION
from llama_cpp._completion import ChunkStream
from llama_cpp.server.logs import AccessLog, current_access, log, note_usage
from llama_cpp.server.metrics import Metrics
from llama_cpp.server.middleware import (
    BodyLimit,
    FaultBarrier,
    MeasureRequests,
    error_body,
)
from llama_cpp.server.requests import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    EmbeddingRequest,
    TokenizeRequest,
)
from llama_cpp.server.runner import ModelRunner
from llama_cpp.server.scheduler import DeadlineExceeded, ModelUnhealthy, QueueFull, Scheduler
from llama_cpp.server.served import RequestContext, current_request, stream_chunks
from llama_cpp.server.settings import ServerSettings, default_model_name


class ApiError(Exception):
    """An error to send as OpenAI-shaped JSON with ``status``."""

    def __init__(self, status: int, message: str, kind: str, param: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.param = status, kind, param


def create_app(settings: ServerSettings, runners: dict[str, ModelRunner]) -> FastAPI:
    """The application serving ``runners`` (by model name)."""
    app = FastAPI(title=DISTRIBUTION, version=__version__, lifespan=_lifespan(settings, runners))
    app.add_middleware(FaultBarrier)  # innermost of ours: the others see its 500
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    served = _Models(runners, default_model_name(settings, [r.settings for r in runners.values()]))
    metrics = _metrics(runners)
    app.add_middleware(MeasureRequests, metrics=metrics)
    app.add_middleware(AccessLog)  # outermost: sees every response, refusals included
    for error_type, handler in _ERROR_HANDLERS:
        app.add_exception_handler(error_type, handler)
    guarded = [Depends(_authorizer(settings))]
    _add_status_routes(app, served, metrics, guarded)
    _add_model_routes(app, settings, served, guarded)
    return app


def _lifespan(
    settings: ServerSettings, runners: dict[str, ModelRunner]
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # a request that does not stream waits for its job in a worker thread: allow one
        # per slot and queue place (starlette's default pool has 40)
        limiter = anyio.to_thread.current_default_thread_limiter()
        wanted = sum(r.scheduler.n_slots for r in runners.values()) + settings.max_queue + 8
        limiter.total_tokens = max(limiter.total_tokens, wanted)
        yield

    return lifespan


def _metrics(runners: dict[str, ModelRunner]) -> Metrics:
    """The server's metrics, which every runner's scheduler reports to."""
    metrics = Metrics()
    for name, runner in runners.items():
        runner.scheduler.observer, runner.scheduler.name = metrics, name

    def per_model(read: Callable[[Scheduler], int]) -> Callable[[], dict[Any, float]]:
        return lambda: {(("model", n),): read(r.scheduler) for n, r in runners.items()}

    metrics.gauge("llama_queue_depth", "Requests waiting for a slot.",
                  per_model(lambda s: s.queue_depth))  # fmt: skip
    metrics.gauge("llama_slots_busy", "Slots generating.", per_model(lambda s: s.busy_slots))
    metrics.gauge("llama_slots", "Slots (--n_parallel).", per_model(lambda s: s.n_slots))
    return metrics


def _authorizer(settings: ServerSettings) -> Callable[[Request], Awaitable[None]]:
    """The dependency that refuses a request without one of the API keys (if any)."""

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

    return authorize


# ---- errors as OpenAI-shaped JSON (starlette calls a handler with the request and error) ----
async def _on_api_error(_request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(str(error), error.kind, error.param), error.status)


async def _on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    # FastAPI's own refusals (an unreadable body, an unknown route, a wrong method)
    message = str(error.detail)
    if error.status_code == 400 and "parsing the body" in message:
        message = "the request body is not valid JSON (UTF-8 encoded, nested at most ~1000 deep)"
    elif error.status_code == 404:
        message = f"no route {request.url.path}; see /docs for the routes"
    kind = "invalid_request_error" if error.status_code < 500 else "server_error"
    return JSONResponse(error_body(message, kind), error.status_code, headers=error.headers)


async def _on_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {item.get('msg')}")
    first = error.errors()[0].get("loc", ()) if error.errors() else ()
    param = ".".join(str(p) for p in first if p != "body") or None
    return JSONResponse(
        error_body("; ".join(problems), "invalid_request_error", param), status_code=422
    )


async def _on_busy(_request: Request, error: QueueFull) -> JSONResponse:
    return JSONResponse(
        error_body(str(error), "server_busy"),
        status_code=503,
        headers={"Retry-After": str(error.retry_after)},
    )


async def _on_bad_value(_request: Request, error: Exception) -> JSONResponse:
    # ValueError and TypeError raised for a request's values
    return JSONResponse(error_body(str(error), "invalid_request_error"), status_code=400)


async def _on_unhealthy(_request: Request, error: ModelUnhealthy) -> JSONResponse:
    return JSONResponse(error_body(str(error), "server_error"), status_code=503)


async def _on_deadline(request: Request, error: DeadlineExceeded) -> JSONResponse:
    log.warning("%s %s: %s", request.method, request.url.path, error)
    return JSONResponse(error_body(str(error), "timeout_error"), status_code=504)


_ERROR_HANDLERS: tuple[tuple[type[Exception], Callable[..., Awaitable[JSONResponse]]], ...] = (
    (ApiError, _on_api_error),
    (StarletteHTTPException, _on_http_error),
    (RequestValidationError, _on_invalid),
    (QueueFull, _on_busy),
    (ValueError, _on_bad_value),
    (TypeError, _on_bad_value),
    (ModelUnhealthy, _on_unhealthy),
    (DeadlineExceeded, _on_deadline),
)


@dataclasses.dataclass(frozen=True)
class _Models:
    """The served runners by name, and the name of the default one (None: no default)."""

    runners: dict[str, ModelRunner]
    default_name: str | None

    def runner_for(self, name: str | None) -> ModelRunner:
        """The runner serving a request that names ``name``: the model of that name (or
        alias), else the default one (the only one, or the configured default), as
        OpenAI clients send names of their own (``gpt-3.5-turbo``) and expect an answer."""
        record = current_access.get()
        if record is not None:
            record.model = name or self.default_name
        if name and name in self.runners:
            return self.runners[name]
        if self.default_name is not None:
            return self.runners[self.default_name]
        if not name:
            message = f"this server serves several models: name one of {sorted(self.runners)}"
        else:
            message = f"model {name!r} is not served here; known models: {sorted(self.runners)}"
        raise ApiError(404, message, "model_not_found", "model")


def _health(runners: dict[str, ModelRunner]) -> JSONResponse:
    """Every model's slots and queue, and the error of any that cannot serve (503 then)."""
    models: dict[str, Any] = {}
    for name, r in runners.items():
        models[name] = {"slots": r.scheduler.n_slots, "busy": r.scheduler.busy_slots,
                        "queued": r.scheduler.queue_depth}  # fmt: skip
        if r.scheduler.unhealthy is not None:
            models[name]["error"] = r.scheduler.unhealthy
    failing = {n: m["error"] for n, m in models.items() if "error" in m}
    body: dict[str, Any] = {"status": "error" if failing else "ok", "models": models}
    if failing:
        body["error"] = "; ".join(f"{n}: {e}" for n, e in failing.items())
    return JSONResponse(body, status_code=503 if failing else 200)


def _add_status_routes(app: FastAPI, served: _Models, metrics: Metrics, guarded: list[Any]) -> None:
    """/health, /metrics and /v1/models."""

    @app.get("/health")
    async def health() -> JSONResponse:
        return _health(served.runners)

    @app.get("/metrics", dependencies=guarded, response_class=PlainTextResponse)
    async def prometheus() -> str:
        return metrics.render()

    @app.get("/v1/models", dependencies=guarded)
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "owned_by": "me", "permissions": []}
                for name in served.runners
            ],
        }


async def _generate(
    settings: ServerSettings,
    runner: ModelRunner,
    method: Any,
    body: CompletionRequest | ChatCompletionRequest,
) -> Any:
    """Run a (chat) completion off the event loop; a stream becomes server-sent events
    made on the loop (the worker thread that makes the job sees this context)."""
    arrival = runner.scheduler.arriving()
    loop = asyncio.get_running_loop() if body.stream else None
    current_request.set(RequestContext(stream_loop=loop, arrival=arrival,
                                       timeout_s=settings.request_timeout_s))  # fmt: skip
    try:
        # the response names the model as the client did (or the served name)
        kwargs = {**body.llama_kwargs(), "model": body.model or runner.name}
        result = await run_in_threadpool(method, **kwargs)
    finally:
        arrival.close()
    return _sse(result) if body.stream else result


def _add_model_routes(
    app: FastAPI, settings: ServerSettings, served: _Models, guarded: list[Any]
) -> None:
    """The routes that run a model: completions, chat, embeddings, (de)tokenize."""

    @app.post("/v1/completions", dependencies=guarded)
    async def completions(body: CompletionRequest) -> Any:
        runner = served.runner_for(body.model)
        return await _generate(settings, runner, runner.llama.create_completion, body)

    @app.post("/v1/chat/completions", dependencies=guarded)
    async def chat_completions(body: ChatCompletionRequest) -> Any:
        runner = served.runner_for(body.model)
        return await _generate(settings, runner, runner.llama.create_chat_completion, body)

    @app.post("/v1/embeddings", dependencies=guarded)
    async def embeddings(body: EmbeddingRequest) -> Any:
        runner = served.runner_for(body.model)
        result = await run_in_threadpool(runner.embed, body.input, body.model or runner.name)
        note_usage(result["usage"]["prompt_tokens"])
        return result

    @app.post("/extras/tokenize", dependencies=guarded)
    async def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        runner = served.runner_for(body.model)
        tokens = runner.llama.tokenize(body.input.encode("utf-8"), add_bos=body.add_bos,
                                       special=body.special)  # fmt: skip
        return {"tokens": tokens}

    @app.post("/extras/detokenize", dependencies=guarded)
    async def detokenize(body: DetokenizeRequest) -> dict[str, Any]:
        runner = served.runner_for(body.model)
        n_vocab = runner.llama.n_vocab()
        bad = [t for t in body.tokens if not 0 <= t < n_vocab]
        if bad:
            message = f"token ids {bad[:5]} are outside the vocabulary (0..{n_vocab - 1})"
            raise ApiError(400, message, "invalid_request_error", "tokens")
        text = runner.llama.detokenize(body.tokens).decode("utf-8", errors="replace")
        return {"text": text}


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
            if isinstance(error, DeadlineExceeded):
                log.warning("a stream ended at its deadline: %s", error)
                kind = "timeout_error"
            else:
                log.error("a stream failed after it started", exc_info=error)
                kind = "server_error"
            yield _event(json.dumps(error_body(str(error), kind)))
        finally:
            await chunks.aclose()
        yield _event("[DONE]")

    body = events()
    # a client gone before the response started: the body is dropped unstarted, so no
    # finally runs in it; the job is cancelled when the body goes instead
    weakref.finalize(body, stream.run.generation.cancel)
    return EventSourceResponse(body, ping=15)
