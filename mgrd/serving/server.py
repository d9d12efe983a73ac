"""Running the app under uvicorn, with a graceful drain on SIGTERM (and the first Ctrl-C)."""

from __future__ import annotations

import logging
import threading
import time

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
GRACEFUL_TAIL_S = 5.0   # after the drain, open responses get this long to send their last bytes
POLL_S = 0.05


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline: a connection that has not sent a whole request
    head within `header_timeout_s` (an idle new connection, a client trickling its headers, an idle
    keep-alive connection) is closed. uvicorn's own keep-alive timer is cancelled by any byte, so a
    trickle would keep it open for ever."""

    header_timeout_s = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self._head_timer is not None:
            self._head_timer.cancel()   # the request head is complete
            self._head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def connection_lost(self, exc) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
                   **extra) -> uvicorn.Config:
    """The uvicorn settings of `app`'s server: its connection timeouts and header limits (ServerSettings)."""
    settings = app.state.serving.settings
    protocol = type("ServingH11Protocol", (TimedH11Protocol,), {"header_timeout_s": settings.header_timeout_s})
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol,
                          timeout_keep_alive=settings.keep_alive_timeout_s,
                          h11_max_incomplete_event_size=settings.max_header_bytes, **extra)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM/SIGINT starts a drain instead of stopping at once.

    Draining: new requests get 503 (the socket stays open meanwhile, so clients get an answer,
    not a refused connection), in-flight requests may finish within `drain_timeout_s`, then the
    remaining ones are aborted (finish_reason "abort") and the server exits with status 0.
    A second signal skips the wait.
    """

    def __init__(self, config: uvicorn.Config, state) -> None:
        super().__init__(config)
        self.serving = state
        self._drain_thread: threading.Thread | None = None

    def handle_exit(self, sig, frame) -> None:
        if self._drain_thread is not None:
            log.warning("second shutdown signal: aborting in-flight requests now")
            self.serving.worker.abort_all()
            self.should_exit = True
            return
        log.info("shutdown signal: draining for up to %g s", self.serving.settings.drain_timeout_s)
        self.serving.draining = True
        self._drain_thread = threading.Thread(target=self._drain, name="mgrd-drain", daemon=True)
        self._drain_thread.start()

    def _drain(self) -> None:
        deadline = time.monotonic() + self.serving.settings.drain_timeout_s
        worker = self.serving.worker
        while time.monotonic() < deadline and not (worker.waiting == 0 and worker.running == 0
                                                   and self.serving.preparing == 0):
            time.sleep(POLL_S)
        if worker.waiting or worker.running:
            log.warning("drain timeout: aborting %d running and %d waiting requests", worker.running,
                        worker.waiting)
            worker.abort_all()
            worker.wait_idle(GRACEFUL_TAIL_S)
        time.sleep(0.2)  # let the handlers write the final chunks of what just finished
        self.should_exit = True


def serve(app, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve `app` (from `create_app`) until SIGTERM/SIGINT; returns after the drain."""
    config = uvicorn_config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=GRACEFUL_TAIL_S,
                            server_header=False, access_log=log_level in ("info", "debug", "trace"))
    DrainingServer(config, app.state.serving).run()
