"""ServerSettings: every knob of `mgrd serve`, validated once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

# `reasoning_effort` -> thinking budget in reasoning tokens (None = unlimited; 0 = answer at once).
REASONING_EFFORT_BUDGETS: dict[str, int | None] = {"none": 0, "minimal": 64, "low": 256, "medium": 1024,
                                                    "high": None}
# A token spells about 4 characters of English; 8 leaves room for long tokens (runs of spaces, code).
TEXT_CHARS_PER_TOKEN = 8
AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg", "opus")   # `input_audio.format` hints; the bytes are sniffed


@dataclass(frozen=True)
class ServerSettings:
    """Limits and identity of one server.

    `max_request_bytes` caps the whole HTTP body (checked while it arrives, before JSON parsing);
    `max_audio_bytes` caps one encoded audio part (checked on the base64 length, before decoding);
    `max_audio_seconds` one part's duration; `max_total_audio_seconds` all audio of a request.
    `max_batch` requests share one engine batch; `max_queue` more may wait, then 429.
    `drain_timeout_s`: on SIGTERM, in-flight requests get this long to finish before they are aborted.
    `max_model_len`: prompt + max_tokens must fit (None: the model's max_position_embeddings).
    `default_max_tokens`: the limit of a request that sends no max_tokens (clamped to what the
    context leaves). `kv_cache_gb`: the KV pool in GiB (None: a share of free device memory, see
    `mgrd.inference.plan.default_kv_bytes`); requests wait until their KV blocks are free.
    `max_text_chars`: characters of text per request, checked before tokenizing (None:
    `TEXT_CHARS_PER_TOKEN` x max_model_len).
    `allow_special_tokens`: special-token strings in request text become control tokens (False:
    they are encoded as the plain text they spell, so a client cannot forge turns).
    `header_timeout_s`: a connection must send a request's headers within this long (idle new
    connections included); `body_timeout_s`: the whole body must arrive within this long;
    `keep_alive_timeout_s`: an idle keep-alive connection is closed after this long.
    `max_header_bytes`: all headers of a request; `max_headers`: their number.
    """

    model_name: str = "mgrd"
    model_root: str | None = None    # where the weights were loaded from: /v1/models' `root`, as vLLM reports it
    api_key: str | None = None
    max_batch: int = 8
    max_queue: int = 64
    max_n: int = 16
    max_request_bytes: int = 64 * MiB
    max_audio_bytes: int = 25 * MiB
    max_audio_seconds: float = 600.0
    max_total_audio_seconds: float = 1800.0
    max_audio_parts: int = 64
    max_model_len: int | None = None
    drain_timeout_s: float = 30.0
    prepare_threads: int = 2
    default_max_tokens: int = 4096
    kv_cache_gb: float | None = None
    max_text_chars: int | None = None
    allow_special_tokens: bool = False
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keep_alive_timeout_s: float = 5.0
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100

    def __post_init__(self) -> None:
        def positive(name: str, integer: bool = True) -> None:
            value = getattr(self, name)
            ok = isinstance(value, int) if integer else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok or not value > 0:
                kind = "a positive integer" if integer else "a positive number"
                raise ValueError(f"{name}={value!r} is invalid; accepted: {kind}")

        for name in ("max_batch", "max_queue", "max_n", "max_request_bytes", "max_audio_bytes",
                     "max_audio_parts", "prepare_threads", "default_max_tokens", "max_header_bytes",
                     "max_headers"):
            positive(name)
        for name in ("max_audio_seconds", "max_total_audio_seconds", "header_timeout_s", "body_timeout_s",
                     "keep_alive_timeout_s"):
            positive(name, integer=False)
        if isinstance(self.drain_timeout_s, bool) or not isinstance(self.drain_timeout_s, (int, float)) \
                or not 0 <= self.drain_timeout_s < float("inf"):
            raise ValueError(f"drain_timeout_s={self.drain_timeout_s!r} is invalid; accepted: a number >= 0")
        for name in ("max_model_len", "max_text_chars"):
            if getattr(self, name) is not None:
                positive(name)
        if not isinstance(self.allow_special_tokens, bool):
            raise ValueError(f"allow_special_tokens={self.allow_special_tokens!r} is invalid; accepted: true or false")
        if self.kv_cache_gb is not None:
            positive("kv_cache_gb", integer=False)
        if not isinstance(self.model_name, str) or not self.model_name.strip():
            raise ValueError("model_name must be a non-empty string (the name clients send as 'model')")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ValueError("api_key must be a non-empty string, or None for no key")
