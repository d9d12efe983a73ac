"""The gate in front of every route: the header count, the API key (all routes but /health) and refusal
while draining."""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse

from mgrd.serving.errors import error_body

OPEN_PATHS = frozenset({"/health"})   # answered without a key, so that probes need no secret


class Gate:
    """ASGI middleware: 401 without the right `Authorization: Bearer KEY`, 503 once shutdown has begun.

    `state.draining` is read on every request; a pure ASGI middleware (not BaseHTTPMiddleware)
    so that streamed responses and client disconnects pass through untouched.
    """

    def __init__(self, app, *, api_key: str | None, state, max_headers: int = 100) -> None:
        self.app = app
        self.max_headers = max_headers
        self.api_key = api_key.encode() if api_key else None
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        count = len(scope.get("headers", ()))
        if count > self.max_headers:
            response = JSONResponse(error_body(400, f"the request has {count} headers; at most {self.max_headers} "
                                                    "are accepted"), status_code=400, headers={"Connection": "close"})
        elif scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        elif self.api_key is not None and not self._authorized(scope):
            response = JSONResponse(error_body(401, "missing or wrong API key; send 'Authorization: Bearer <key>'"),
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        elif getattr(self.state, "draining", False):
            response = JSONResponse(error_body(503, "the server is shutting down and accepts no new requests"),
                                    status_code=503, headers={"Connection": "close"})
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _authorized(self, scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)
        return False
