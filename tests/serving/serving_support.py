"""Helpers of the serving tests: a live loopback server, WAV builders, message builders."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time

import numpy as np
import soundfile
import uvicorn

from mgrd.serving import ServerSettings, create_app
from mgrd.serving.server import DrainingServer, uvicorn_config

MODEL_NAME = "tiny-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A uvicorn server for `app` in a background thread, on 127.0.0.1 and a free port."""

    def __init__(self, app, *, draining: bool = False) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(app, host="127.0.0.1", port=self.port, log_level="critical", lifespan="on")
        self.server = DrainingServer(config, app.state.serving) if draining else uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def state(self):
        return self.app.state.serving

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_server(engine, *, draining: bool = False, **settings) -> LiveServer:
    settings.setdefault("model_name", MODEL_NAME)
    return LiveServer(create_app(engine, ServerSettings(**settings)), draining=draining)


def wav_bytes(seconds: float = 1.0, rate: int = 16000, channels: int = 1, subtype: str = "PCM_16",
              fmt: str = "WAV", signal: np.ndarray | None = None) -> bytes:
    """A 440 Hz tone (or `signal`, shape [frames, channels]) encoded in memory."""
    if signal is None:
        t = np.arange(int(seconds * rate)) / rate
        signal = np.repeat((0.3 * np.sin(2 * np.pi * 440 * t))[:, None], channels, axis=1)
    buf = io.BytesIO()
    soundfile.write(buf, signal, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def audio_part(data: bytes | str, fmt: str = "wav") -> dict:
    return {"type": "input_audio", "input_audio": {"data": data if isinstance(data, str) else b64(data),
                                                   "format": fmt}}


def user(text: str = "What do you hear?", *audio: dict) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}, *audio]}]


def encode(x: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    """Bytes of an audio file holding `x` [n] or [n, channels], written in blocks."""
    x = x if x.ndim == 2 else x[:, None]
    buf = io.BytesIO()
    with soundfile.SoundFile(buf, "w", rate, x.shape[1], format=fmt, subtype=subtype) as f:
        for i in range(0, len(x), 8192):
            f.write(x[i:i + 8192])
    return buf.getvalue()


def patch_wav_header(wav: bytes, *, channels: int | None = None, rate: int | None = None) -> bytes:
    """`wav` with the fmt chunk's channel count and/or sample rate overwritten by hand."""
    data = bytearray(wav)
    p = data.find(b"fmt ")
    if channels is not None:
        data[p + 10:p + 12] = channels.to_bytes(2, "little")
    if rate is not None:
        data[p + 12:p + 16] = rate.to_bytes(4, "little")
    return bytes(data)
