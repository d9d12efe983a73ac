"""A scripted OpenAI-compatible server on 127.0.0.1 for tests, benchmarks and dry runs of the harness.

`handler(body, n)` gets each request's JSON body and its 1-based arrival number and returns a
`FakeReply`: a chat completion with given content, an HTTP error status, a delay (a hang, until the
client times out), or raw malformed bytes. The server binds to loopback only and counts requests
and the most requests it saw in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeReply:
    content: str | None = "A"
    status: int = 200
    delay_s: float = 0.0
    raw: bytes | None = None                  # sent as the body instead of a completion
    reasoning_content: str | None = None
    headers: dict = field(default_factory=dict)


def completion(content: str | None, reasoning_content: str | None = None, model: str = "fake") -> dict:
    message = {"role": "assistant", "content": content}
    if reasoning_content is not None:
        message["reasoning_content"] = reasoning_content
    return {"id": "fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len((content or "").split()) + 1,
                      "total_tokens": 11}}


class FakeEndpoint:
    """Use as a context manager; `url` is the `/v1` base URL."""

    def __init__(self, handler: Callable[[dict, int], FakeReply], *, max_delay_s: float = 30.0) -> None:
        self.handler, self.max_delay_s = handler, max_delay_s
        self.bodies: list[dict] = []
        self.authorizations: list[str | None] = []   # the Authorization header of each request
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes; no 40 ms stall

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                with fake._lock:
                    fake.bodies.append(body)
                    fake.authorizations.append(self.headers.get("authorization"))
                    n = len(fake.bodies)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    reply = fake.handler(body, n)
                    if reply.delay_s:
                        time.sleep(min(reply.delay_s, fake.max_delay_s))
                    if reply.raw is not None:
                        payload = reply.raw
                    elif reply.status != 200:
                        payload = json.dumps({"error": {"message": f"fake error {reply.status}", "type": "fake",
                                                        "code": reply.status, "param": None}}).encode()
                    else:
                        payload = json.dumps(completion(reply.content, reply.reasoning_content,
                                                        body.get("model", "fake"))).encode()
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

        return Handler

    def __enter__(self) -> "FakeEndpoint":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
