"""The generation backend of a fixed-policy stage: the native engine on the stage's input model, or
the OpenAI-compatible server(s) a recipe's `endpoint:` section names (checked to serve that model)."""

from __future__ import annotations

import os
from pathlib import Path

from mgrd.evaluation import EndpointBackend, NativeBackend
from mgrd.evaluation.cached import CachedBackend
from mgrd.evaluation.replicas import Replicas
from mgrd.inference.backend import Backend
from mgrd.pipeline.recipe import EndpointSpec
from mgrd.remote import credentials


class EndpointMismatch(ValueError):
    """The server named in a recipe does not serve the model the stage must sample from."""


def stage_backend(model_dir: str | os.PathLike, endpoint: EndpointSpec | None, *, batch_size: int = 32,
                  key: str = "endpoint", cache: str | os.PathLike | None = None) -> Backend:
    """A backend that samples the model in `model_dir`: native, or the endpoint's servers (one replica
    per URL). `key` names the recipe section in errors. With `cache` (a directory), results are kept
    there and a rerun of a killed stage sends only the requests that have none (CachedBackend)."""
    backend = _backend(model_dir, endpoint, batch_size=batch_size, key=key)
    return CachedBackend(backend, cache) if cache is not None else backend


def _backend(model_dir: str | os.PathLike, endpoint: EndpointSpec | None, *, batch_size: int, key: str) -> Backend:
    if endpoint is None:
        return NativeBackend.from_checkpoint(model_dir, batch_size=batch_size)
    try:
        api_key = credentials.api_key("endpoint", endpoint.api_key_env)
    except ValueError as e:
        raise ValueError(f"{key}.api_key_env: {e}") from None
    backends = []
    for url in endpoint.urls:
        served = served_model(url, model_dir, endpoint, api_key=api_key, key=key)
        backends.append(EndpointBackend(url, served, shape=endpoint.shape, concurrency=endpoint.concurrency,
                                        api_key=api_key))
    return Replicas(backends)


def served_model(url: str, model_dir: str | os.PathLike, endpoint: EndpointSpec, *, api_key: str | None,
                 key: str) -> str:
    """The served name to send to `url`, after checking (from `/v1/models`) that it serves `model_dir`."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/models", headers=headers, timeout=30.0)
        response.raise_for_status()
        listed = [m for m in response.json().get("data", []) if isinstance(m, dict)]
    except (httpx.HTTPError, ValueError, AttributeError) as e:
        raise EndpointMismatch(f"{key}: could not list the models of {url} ({type(e).__name__}: {e}); "
                               "is the server running?") from None
    names = [str(m.get("id")) for m in listed]
    name = endpoint.model or (names[0] if names else None)
    if name is None or name not in names:
        raise EndpointMismatch(f"{key}: {url} serves {names or 'no model'}, not {name!r}; "
                               f"set {key}.model to one of those names")
    if endpoint.check_model:
        root = next(str(m.get("root") or "") for m in listed if str(m.get("id")) == name)
        if not root or not Path(root).exists() or Path(root).resolve() != Path(model_dir).resolve():
            raise EndpointMismatch(
                f"{key}: {url} serves {name!r} from {root or 'an unnamed directory'}, but this stage samples "
                f"{Path(model_dir).resolve()}: start the server on that model (e.g. `mgrd serve --model "
                f"{model_dir}`), or set {key}.check_model=false if the server's paths are not this machine's")
    return name
