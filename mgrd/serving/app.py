"""The FastAPI application: /v1/chat/completions (streamed or not), /v1/models and /health."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from mgrd import __version__
from mgrd.inference import SamplingParams
from mgrd.inference.plan import GiB, default_kv_bytes, kv_budget_tokens, kv_bytes_per_token
from mgrd.serving.errors import APIError, error_body
from mgrd.serving.guard import Gate
from mgrd.serving.official import map_official_ids
from mgrd.serving.openapi import REQUEST_BODY, install_openapi
from mgrd.serving.prompt import build_request_prompt
from mgrd.serving.responses import (Choices, chunk_object, completion_id, completion_object, event_delta, now,
                                    sse)
from mgrd.serving.schema import ChatRequest, parse_chat_request
from mgrd.serving.settings import TEXT_CHARS_PER_TOKEN, ServerSettings
from mgrd.serving.worker import BatchWorker, Done, Failed, Job, QueueFull

log = logging.getLogger(__name__)
RETRY_AFTER_S = "1"
DISCONNECT_POLL_S = 0.25   # how often a non-streamed request checks that its client is still there
ROUTES = "POST /v1/chat/completions, GET /v1/models, GET /health, GET /openapi.json"
DESCRIPTION = ("An OpenAI-compatible server for Step-Audio-R1-family models: audio as input_audio parts, "
               "the reasoning apart in reasoning_content.")


@dataclass
class ServingState:
    """What the routes share: the engine's worker, the limits, and whether shutdown has begun."""

    engine: object
    settings: ServerSettings
    worker: BatchWorker
    prepare_pool: ThreadPoolExecutor
    max_model_len: int
    max_mel_frames: int | None
    created: int
    max_text_chars: int
    draining: bool = False
    preparing: int = 0


def create_app(engine, settings: ServerSettings = ServerSettings()) -> FastAPI:
    """An app serving `engine` (an `mgrd.inference.Engine`, or anything with its `stream`, `tokenizer`, `model`).

    The batch worker starts with the app's lifespan (or at the first request) and stops with it.
    """
    model = engine.model
    text_config = getattr(model, "text_config", None)
    max_len = settings.max_model_len or getattr(text_config, "max_position_embeddings", None) or 4096
    encoder = getattr(getattr(model, "config", None), "encoder", None)
    kv_tokens = kv_cache_tokens(engine, settings, max_len)
    state = ServingState(engine, settings, BatchWorker(engine, max_batch=settings.max_batch,
                                                       max_queue=settings.max_queue, kv_cache_tokens=kv_tokens),
                         ThreadPoolExecutor(settings.prepare_threads, thread_name_prefix="mgrd-prepare"),
                         max_len, 2 * encoder.n_audio_ctx if encoder is not None else None, now(),
                         settings.max_text_chars or TEXT_CHARS_PER_TOKEN * max_len)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.worker.start()
        try:
            yield
        finally:
            state.worker.stop()
            state.prepare_pool.shutdown(wait=False, cancel_futures=True)

    # The OpenAPI document is served (behind the API key); the docs pages are not: they load scripts from a CDN.
    app = FastAPI(title="mgrd", version=__version__, description=DESCRIPTION, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json")
    app.state.serving = state
    app.add_middleware(Gate, api_key=settings.api_key, state=state, max_headers=settings.max_headers)
    _add_error_handlers(app)

    @app.get("/health")
    async def health() -> Response:
        if state.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/v1/models")
    async def models() -> Response:
        return JSONResponse({"object": "list", "data": [{
            "id": settings.model_name, "object": "model", "created": state.created, "owned_by": "mgrd",
            "root": settings.model_root or settings.model_name, "max_model_len": state.max_model_len,
            "default_max_tokens": min(settings.default_max_tokens, state.max_model_len),
            "kv_cache_tokens": state.worker.kv_cache_tokens}]})

    @app.post("/v1/chat/completions", openapi_extra=REQUEST_BODY)
    async def chat_completions(request: Request) -> Response:
        body = await _read_json(request, settings.max_request_bytes, settings.body_timeout_s)
        chat = parse_chat_request(map_official_ids(body, engine.tokenizer), settings, _vocab_size(engine),
                                  max_text_chars=state.max_text_chars)
        del body
        job, prompt_tokens = await _admit(state, chat)
        cid, created = completion_id(), now()
        if chat.stream:
            return StreamingResponse(_stream(state, job, chat, cid, created, prompt_tokens),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        choices = await _collect(job, request, chat.n)
        if choices is None:
            return Response(status_code=499)  # the client is gone; nobody reads this
        return JSONResponse(completion_object(cid, settings.model_name, created, choices, prompt_tokens,
                                              include_reasoning=chat.include_reasoning))

    install_openapi(app)
    return app


def _vocab_size(engine) -> int:
    return int(engine.tokenizer.vocab_size)


async def _admit(state: ServingState, chat: ChatRequest) -> tuple[Job, int]:
    """Decode and tokenize off the event loop, check the context, queue the job (429 when full)."""
    busy = APIError(429, "the server is at capacity; retry later", headers={"Retry-After": RETRY_AFTER_S})
    if state.worker.is_full() or state.preparing >= state.settings.max_queue:
        raise busy
    loop = asyncio.get_running_loop()
    state.preparing += 1
    try:
        prompt = await loop.run_in_executor(state.prepare_pool, _prepare, state, chat)
    finally:
        state.preparing -= 1
    ids, _ = state.engine.prompt_ids(prompt, SamplingParams(thinking_budget=chat.sampling["thinking_budget"]))
    prompt_tokens = len(ids)
    if chat.max_tokens is None:  # the server's default, clamped to the room the context leaves
        chat.max_tokens = max(1, min(state.settings.default_max_tokens, state.max_model_len - prompt_tokens))
    params = chat.params(prompt_tokens, state.max_model_len)
    state.worker.start()
    if not state.worker.batch.fits_ever(prompt, params):
        need = params.n * state.worker.batch.tokens_needed(prompt, params)
        raise APIError(400, f"this request needs {need} tokens of KV cache ({params.n} x (prompt + max_tokens)); "
                            f"the server's KV budget is {state.worker.kv_cache_tokens} tokens: lower max_tokens "
                            "or n", param="max_tokens")
    try:
        return state.worker.submit(prompt, params, loop), prompt_tokens
    except QueueFull:
        raise busy from None


def kv_cache_tokens(engine, settings: ServerSettings, max_model_len: int) -> int:
    """The server's KV pool in tokens: `--kv-cache-gb`, else a share of free memory, never more than
    `max_batch` full-length requests need (nor less than one)."""
    text = engine.model.text_config
    dtype = str(engine.decoder.kv_dtype).removeprefix("torch.")
    budget = int(settings.kv_cache_gb * GiB) if settings.kv_cache_gb is not None else default_kv_bytes(engine.device)
    tokens = kv_budget_tokens(budget, text, dtype)
    if settings.kv_cache_gb is None:
        tokens = min(tokens, settings.max_batch * (max_model_len + 16))
    if tokens < max_model_len + 32:
        if settings.kv_cache_gb is not None:
            raise ValueError(f"--kv-cache-gb {settings.kv_cache_gb:g} holds {tokens} tokens, less than one request of "
                             f"max_model_len {max_model_len}; accepted: at least "
                             f"{(max_model_len + 32) * kv_bytes_per_token(text, dtype) / GiB:.3f} GiB")
        tokens = max_model_len + 32
    return tokens


def _prepare(state: ServingState, chat: ChatRequest):
    return build_request_prompt(chat, state.engine.tokenizer, state.settings, max_mel_frames=state.max_mel_frames)


async def _read_json(request: Request, cap: int, timeout_s: float):
    """The JSON body, refused with 413 as soon as it passes `cap` bytes (before any parsing), and with
    408 when it has not all arrived within `timeout_s` seconds (a slow client holds no slot for ever)."""
    declared = request.headers.get("content-length")
    too_big = APIError(413, f"the request body is larger than the limit of {cap} bytes")
    if declared is not None:
        if not declared.isdigit():
            raise APIError(400, "the Content-Length header is not a number")
        if int(declared) > cap:
            raise too_big
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise too_big
                chunks.append(chunk)
    except TimeoutError:
        raise APIError(408, f"the request body did not arrive within {timeout_s:g} s",
                       headers={"Connection": "close"}) from None
    data = b"".join(chunks)
    del chunks
    if not data:
        raise APIError(400, "the request body is empty; send a JSON object")
    try:
        body = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        detail = e.msg if isinstance(e, json.JSONDecodeError) else "it is not UTF-8 JSON or nests too deeply"
        raise APIError(400, f"the request body is not valid JSON: {detail}") from None
    # UTF-8 bytes cannot hold a lone surrogate; only a JSON escape such as "\ud800" can make one.
    if _SURROGATE_ESCAPE.search(data):
        where = _lone_surrogate(body, "")
        if where is not None:
            raise APIError(400, f"{where or 'the body'} holds a lone UTF-16 surrogate escape, which is not valid "
                                "Unicode; send valid text", param=where or None)
    return body


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value, where: str) -> str | None:
    """The path of the first string (or key) in `value` holding a lone surrogate; None if there is none."""
    if isinstance(value, str):
        return where if _LONE_SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        path = f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"
        if isinstance(key, str) and _lone_surrogate(key, "") is not None:
            return where or "a key"
        found = _lone_surrogate(item, path.lstrip("."))
        if found is not None:
            return found
    return None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


async def _collect(job: Job, request: Request, n: int) -> Choices | None:
    """Every event of a non-streamed job; None if the client disconnected (its generation is aborted)."""
    choices = Choices(n)
    next_check = time.monotonic() + DISCONNECT_POLL_S
    try:
        while True:
            item = None
            try:
                item = await asyncio.wait_for(job.events.get(), DISCONNECT_POLL_S)
            except asyncio.TimeoutError:
                pass
            # Checked on a clock, not only when idle: a busy generation never lets the wait time out.
            if time.monotonic() >= next_check:
                if await request.is_disconnected():
                    return None
                next_check = time.monotonic() + DISCONNECT_POLL_S
            if item is None:
                continue
            if isinstance(item, Done):
                return choices
            if isinstance(item, Failed):
                raise APIError(500, "internal error while generating; the server is still running, retry the "
                                    "request")
            choices.add(item)
    finally:
        job.cancel()


async def _stream(state: ServingState, job: Job, chat: ChatRequest, cid: str, created: int, prompt_tokens: int):
    """Server-sent events: a role chunk per choice, text deltas, one finish chunk per choice, usage, [DONE]."""
    name = state.settings.model_name
    choices = Choices(chat.n)
    failed = False
    try:
        for i in range(chat.n):
            yield sse(chunk_object(cid, name, created, [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                         "finish_reason": None}]))
        while True:
            item = await job.events.get()
            if isinstance(item, Done):
                break
            if isinstance(item, Failed):
                failed = True
                yield sse(error_body(500, "internal error while generating; the server is still running"))
                break
            choices.add(item)
            choice = event_delta(item, include_reasoning=chat.include_reasoning)
            if choice is not None:
                yield sse(chunk_object(cid, name, created, [choice]))
        if chat.include_usage and not failed:
            yield sse(chunk_object(cid, name, created, [], usage=choices.usage(prompt_tokens)))
        yield sse("[DONE]")
    finally:
        # Runs too when the client disconnects (the response task is cancelled): abort the generation.
        job.cancel()


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError) -> Response:
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> Response:
        errors = e.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or None
        return JSONResponse(error_body(400, f"invalid request: {first.get('msg', 'validation failed')}", where),
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        message = {404: f"no such route; this server has {ROUTES}",
                   405: f"method not allowed on this route; this server has {ROUTES}"}.get(
            e.status_code, "the request could not be handled")
        return JSONResponse(error_body(e.status_code, message), status_code=e.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception) -> Response:
        log.exception("unhandled error in a request")
        return JSONResponse(error_body(500, "internal server error; the server is still running"),
                            status_code=500)
