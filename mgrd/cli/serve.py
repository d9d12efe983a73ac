"""`mgrd serve`: an OpenAI-compatible HTTP server for a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mgrd.cli.errors import user_errors


def serve(
    model: Annotated[Path, typer.Option("--model", help="checkpoint or LoRA adapter directory")] = Path("runs/quickstart/final"),
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    api_key: Annotated[str | None, typer.Option(
        envvar="MGRD_API_KEY", help="require 'Authorization: Bearer KEY' (all routes but /health)")] = None,
    max_batch: Annotated[int, typer.Option(help="requests generated together in one engine batch")] = 8,
    max_queue: Annotated[int, typer.Option(help="requests that may wait; beyond that 429 + Retry-After")] = 64,
    max_audio_seconds: Annotated[float, typer.Option(help="longest audio part, in seconds")] = 600.0,
    max_audio_mb: Annotated[float, typer.Option(help="largest encoded audio part, in MiB")] = 25.0,
    max_request_mb: Annotated[float, typer.Option(help="largest request body, in MiB")] = 64.0,
    max_model_len: Annotated[int | None, typer.Option(help="prompt + completion tokens (default: the model's)")] = None,
    max_text_chars: Annotated[int | None, typer.Option(
        help="characters of text per request, refused before tokenizing (default: 8 x the context length)")] = None,
    allow_special_tokens: Annotated[bool, typer.Option(
        "--allow-special-tokens", help="special-token strings in request text act as control tokens "
                                       "(default: encoded as plain text, so clients cannot forge turns)")] = False,
    header_timeout: Annotated[float, typer.Option(help="seconds a connection gets to send a request's headers")] = 10.0,
    body_timeout: Annotated[float, typer.Option(help="seconds a request body gets to arrive")] = 60.0,
    keep_alive_timeout: Annotated[float, typer.Option(help="seconds an idle keep-alive connection stays open")] = 5.0,
    drain_timeout: Annotated[float, typer.Option(help="seconds in-flight requests get after SIGTERM")] = 30.0,
    served_model_name: Annotated[str | None, typer.Option(help="the name clients send as 'model' "
                                                                "(default: the directory name)")] = None,
    dtype: Annotated[str, typer.Option(help="float32 or bfloat16")] = "float32",
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    quantize: Annotated[str | None, typer.Option(help="int8 (CPU or GPU) or int4 (GPU) weight-only; needs the "
                                                      "quantize extra")] = None,
    device_map: Annotated[str | None, typer.Option(help="auto (split layers over all GPUs by free memory) or "
                                                        "cuda:0=32,cuda:1=32")] = None,
    kv_cache_gb: Annotated[float | None, typer.Option(help="KV cache budget in GiB (default: a share of free "
                                                          "memory); requests wait for room")] = None,
    default_max_tokens: Annotated[int, typer.Option(help="max_tokens of a request that sends none")] = 4096,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve a checkpoint with an OpenAI-compatible API (/v1/chat/completions, /v1/models, /health)."""
    with user_errors():
        from mgrd.chat import Tokenizer
        from mgrd.inference import Engine
        from mgrd.inference.placement import prepare
        from mgrd.model import load_pretrained, require_model_dir
        from mgrd.runtime import resolve_device, resolve_dtype
        from mgrd.serving import ServerSettings, create_app
        from mgrd.serving import serve as run_server

        mib = 1024 * 1024
        settings = ServerSettings(
            model_name=served_model_name or model.resolve().name, model_root=str(model.resolve()), api_key=api_key,
            max_batch=max_batch, max_queue=max_queue, max_audio_seconds=max_audio_seconds,
            max_audio_bytes=int(max_audio_mb * mib), max_request_bytes=int(max_request_mb * mib),
            max_model_len=max_model_len, drain_timeout_s=drain_timeout, kv_cache_gb=kv_cache_gb,
            default_max_tokens=default_max_tokens, max_text_chars=max_text_chars,
            allow_special_tokens=allow_special_tokens, header_timeout_s=header_timeout, body_timeout_s=body_timeout,
            keep_alive_timeout_s=keep_alive_timeout)
        if not 0 < port < 65536:
            raise ValueError(f"--port {port} is not a TCP port; accepted: 1..65535")
        require_model_dir(model)   # an adapter directory loads as its base with the adapter merged
        tokenizer = Tokenizer.from_dir(model)
        lm = load_pretrained(model, dtype=resolve_dtype(dtype), device=resolve_device(device),
                             tokenizer_special_ids=tokenizer.special)
        engine = Engine(prepare(lm, quantize_mode=quantize, device_map=device_map), tokenizer,
                        max_batch_size=max(32, max_batch))
        app = create_app(engine, settings)
    run_server(app, host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
