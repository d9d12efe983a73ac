"""/openapi.json describes the chat-completion request from the request models."""

from __future__ import annotations

import httpx

from .serving_support import start_server


def test_openapi_names_the_request_models_fields(engine):
    with start_server(engine, api_key="sekret") as live:
        assert httpx.get(live.url + "/openapi.json").status_code == 401
        r = httpx.get(live.url + "/openapi.json", headers={"Authorization": "Bearer sekret"})
    assert r.status_code == 200
    document = r.json()
    body = document["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    schemas = document["components"]["schemas"]
    request = schemas["ChatCompletionRequest"]
    assert request["required"] == ["messages"]
    assert {"model", "messages", "temperature", "top_p", "top_k", "n", "seed", "stop", "stop_token_ids",
            "skip_special_tokens", "continue_final_message", "add_generation_prompt", "thinking_budget",
            "max_reasoning_tokens", "reasoning_effort", "max_tokens", "max_completion_tokens", "stream",
            "stream_options", "include_reasoning", "tools", "tool_choice"} <= set(request["properties"])
    assert request["properties"]["top_p"]["exclusiveMinimum"] == 0.0
    assert "human" in schemas["Message"]["properties"]["role"]["enum"]
    assert set(schemas["InputAudio"]["properties"]) == {"data", "format"}
    assert schemas["InputAudioPart"]["required"] == ["type", "input_audio"]
    assert schemas["StreamOptions"]["properties"]["include_usage"]["type"] == "boolean"
