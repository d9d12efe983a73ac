"""The OpenAPI document at /openapi.json: FastAPI's routes, with the chat-completion request models as the
body of `POST /v1/chat/completions` (a route that reads and validates its body itself, within its size and
time limits, so FastAPI cannot infer the body from its signature)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mgrd.serving.request import ChatCompletionRequest

COMPONENTS = "#/components/schemas/{model}"
REQUEST_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": COMPONENTS.format(model=ChatCompletionRequest.__name__)}}}}}


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (what /openapi.json serves) include the request models under components/schemas."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            request = ChatCompletionRequest.model_json_schema(ref_template=COMPONENTS)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(request.pop("$defs", {}))
            schemas[ChatCompletionRequest.__name__] = request
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi
