"""The OpenAI error envelope: every refusal is `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

import re

# Status -> error type, following vLLM's names (the openai SDK maps the status, not the type).
_TYPES = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError", 405: "MethodNotAllowed", 408: "RequestTimeout",
          413: "RequestTooLarge", 429: "RateLimitError", 500: "InternalServerError",
          503: "ServiceUnavailableError"}

# What must never reach a client: memory addresses, object reprs, absolute paths, tracebacks.
_LEAKS = (re.compile(r"<[\w.]+ object[^>]*>"), re.compile(r"0x[0-9a-fA-F]{4,}"),
          re.compile(r"(?<![\w.])/(?!v1/)[\w.~-]+(/[\w.~-]+)+/?"), re.compile(r"[A-Za-z]:\\[^\s'\"]+"))
MAX_MESSAGE_CHARS = 500


class APIError(Exception):
    """A request refused with an HTTP status and a message a client can act on."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.status, self.message, self.param)


def sanitize_message(message: str) -> str:
    """`message` with addresses, object reprs and absolute paths masked, cut to one short line."""
    # A lone surrogate from a request cannot be written as UTF-8: replaced, never a 500.
    text = " ".join(str(message).encode("utf-8", "replace").decode("utf-8").split())
    if "Traceback" in text:
        return "the request could not be processed"
    for pattern in _LEAKS:
        text = pattern.sub("<redacted>", text)
    return text[:MAX_MESSAGE_CHARS]


def error_body(status: int, message: str, param: str | None = None) -> dict:
    """The envelope for an HTTP `status`; `code` is the status, as vLLM sends it."""
    kind = _TYPES.get(status, "BadRequestError" if status < 500 else "InternalServerError")
    return {"error": {"message": sanitize_message(message), "type": kind, "param": param, "code": status}}
