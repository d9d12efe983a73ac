"""Request parsing (the pydantic request models), parameter mapping and the error envelope, without a server."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from mgrd.serving import REASONING_EFFORT_BUDGETS, APIError, ServerSettings
from mgrd.serving.errors import error_body, sanitize_message
from mgrd.serving.schema import parse_chat_request
from mgrd.serving.validation import api_error, param_path

SETTINGS = ServerSettings(model_name="m", max_n=4, max_audio_bytes=300)
MESSAGES = [{"role": "human", "content": "hi"}]


def parse(**body):
    return parse_chat_request({"messages": MESSAGES, **body}, SETTINGS, vocab_size=100)


def test_defaults_and_mapping_to_sampling_params():
    r = parse(model="m", max_completion_tokens=7, max_tokens=99, temperature=0, top_p=0.5, top_k=-1, n=2,
              seed=3, stop="x", stop_token_ids=[5], repetition_penalty=1.07, stream=True,
              stream_options={"include_usage": True})
    p = r.params(prompt_tokens=10, max_model_len=100)
    assert (p.max_tokens, p.temperature, p.top_p, p.top_k, p.n, p.seed) == (7, 0.0, 0.5, 0, 2, 3)
    assert (p.stop, p.stop_token_ids, p.repetition_penalty, p.thinking_budget) == (("x",), (5,), 1.07, None)
    assert r.stream and r.include_usage and r.include_reasoning and r.add_generation_prompt
    # With no max_tokens, the rest of the context: 100 - 10.
    assert parse().params(prompt_tokens=10, max_model_len=100).max_tokens == 90


@pytest.mark.parametrize("body, budget", [({}, None), ({"thinking_budget": 0}, 0), ({"max_reasoning_tokens": 9}, 9),
                                          ({"reasoning_effort": "low"}, 256), ({"reasoning_effort": "high"}, None),
                                          ({"reasoning_effort": "none"}, 0)])
def test_thinking_budget_fields(body, budget):
    assert parse(**body).sampling["thinking_budget"] == budget


def test_reasoning_effort_table_is_documented_values():
    assert REASONING_EFFORT_BUDGETS == {"none": 0, "minimal": 64, "low": 256, "medium": 1024, "high": None}


def test_context_overflow_names_the_field():
    with pytest.raises(APIError) as e:
        parse(max_tokens=91).params(prompt_tokens=10, max_model_len=100)
    assert (e.value.status, e.value.param) == (400, "max_tokens")
    with pytest.raises(APIError) as e:
        parse().params(prompt_tokens=100, max_model_len=100)
    assert e.value.param == "messages"


def test_input_audio_parts_are_located_and_size_checked_on_the_base64_length():
    part = {"type": "input_audio", "input_audio": {"data": "AAAA" * 100, "format": "wav"}}
    r = parse_chat_request({"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}, part]}]},
                           ServerSettings(max_audio_bytes=300), vocab_size=100)
    assert r.audio_parts == [(0, 1)]
    with pytest.raises(APIError) as e:  # 400 base64 characters decode to 300 bytes; 404 to 303
        parse_chat_request({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA" * 101}}]}]}, SETTINGS, vocab_size=100)
    assert e.value.param == "messages[0].content[0].input_audio.data" and "300 bytes" in e.value.message


def test_error_envelope_golden():
    assert error_body(400, "temperature=-1 is out of range", "temperature") == {"error": {
        "message": "temperature=-1 is out of range", "type": "BadRequestError", "param": "temperature",
        "code": 400}}
    assert error_body(429, "busy")["error"]["type"] == "RateLimitError"


@pytest.mark.parametrize("raw, clean", [
    ("bad file /home/alice/x.wav", "bad file <redacted>"),
    ("object <_io.BytesIO object at 0x7f12ab34cd56>", "object <redacted>"),
    ("Traceback (most recent call last): ...", "the request could not be processed"),
    ("routes POST /v1/chat/completions", "routes POST /v1/chat/completions"),
    ("a\n  b", "a b"),
])
def test_sanitize_message(raw, clean):
    assert sanitize_message(raw) == clean


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="max_batch"):
        ServerSettings(max_batch=0)
    with pytest.raises(ValueError, match="drain_timeout_s"):
        ServerSettings(drain_timeout_s=-1)


# -- the pydantic request models: what they keep of the hand-written checks -------------------------
def refused(**body) -> APIError:
    with pytest.raises(APIError) as e:
        parse(**body)
    return e.value


def test_param_paths_leave_out_the_union_tags():
    loc = ("messages", 0, "content", "a list of parts", 1, "an audio part", "input_audio", "data")
    assert param_path(loc) == "messages[0].content[1].input_audio.data"
    assert param_path(("stream_options", "include_usage")) == "stream_options.include_usage"
    assert param_path(()) == ""


@pytest.mark.parametrize("field, value, message", [
    ("stream", "true", "stream must be true or false, got 'true'"),
    ("stream", 1, "stream must be true or false, got 1"),
    ("temperature", "0.5", "temperature='0.5' is out of range; accepted: a number in [0, 100]"),
    ("n", "2", "n='2' is out of range; accepted: an integer [1, 4]"),
    ("max_tokens", True, "max_tokens=True is out of range; accepted: an integer >= 1"),
    ("seed", 1.5, "seed=1.5 is out of range; accepted: an integer [0, 9223372036854775807]"),
    ("stop_token_ids", [5.0], "stop_token_ids must be a list of at most 64 token ids in [0, 100)"),
])
def test_strings_and_bools_are_not_coerced_as_pydantic_would(field, value, message):
    error = refused(**{field: value})
    assert (error.status, error.param, error.message) == (400, field, message)


def test_integral_floats_count_as_integers():
    r = parse(n=2.0, max_tokens=5.0, top_k=-1)
    assert (r.n, r.max_tokens, r.sampling["top_k"]) == (2, 5, 0)
    assert isinstance(r.max_tokens, int)


def test_unknown_fields_are_ignored_and_messages_come_out_plain():
    r = parse(user="bob", metadata={"a": 1}, messages=[
        {"role": "system", "content": "be brief", "name": "x"},
        {"role": "human", "content": [{"type": "text", "text": "q", "cache_control": {}}]},
        {"role": "assistant", "content": "<think>\n", "eot": False}, {"role": "assistant", "eot": None}])
    assert r.messages == [{"role": "system", "content": "be brief"},
                          {"role": "human", "content": [{"type": "text", "text": "q"}]},
                          {"role": "assistant", "content": "<think>\n", "eot": False},
                          {"role": "assistant", "content": None, "eot": True}]


def test_max_completion_tokens_wins_and_max_tokens_is_then_not_checked():
    assert parse(max_completion_tokens=7, max_tokens=-5).max_tokens == 7
    assert refused(max_completion_tokens=0, max_tokens=5).param == "max_completion_tokens"


def test_the_first_refusal_in_field_order_is_the_one_reported():
    assert refused(temperature=-1, n=0).param == "temperature"
    error = refused(model="other", messages="hi")   # the model is checked before anything else
    assert (error.status, error.param) == (404, "model")
    with pytest.raises(APIError) as e:
        parse_chat_request({"stream": "yes"}, SETTINGS, vocab_size=100)
    assert e.value.param == "messages" and "'messages' is required" in e.value.message


def test_cross_field_checks_name_the_second_field():
    error = refused(thinking_budget=5, max_reasoning_tokens=3, reasoning_effort="low")
    assert error.param == "max_reasoning_tokens"
    assert error.message.endswith("not thinking_budget and max_reasoning_tokens and reasoning_effort")
    assert refused(tool_choice="auto", tools=[]).param == "tool_choice"
    with pytest.raises(APIError) as e:
        parse_chat_request({"messages": [{"role": "user", "content": "x" * 11}], "tools": []}, SETTINGS,
                           vocab_size=100, max_text_chars=10)
    assert e.value.param == "messages" and "11 characters; at most 10" in e.value.message


def test_a_check_of_pydantic_itself_keeps_the_envelope_and_the_path():
    class Inner(BaseModel):
        count: int

    class Outer(BaseModel):
        items: list[Inner]

    with pytest.raises(ValidationError) as e:
        Outer.model_validate({"items": [{"count": 1}, {"count": "many"}]})
    error = api_error(e.value)
    assert (error.status, error.param) == (400, "items[1].count")
    assert error.message.startswith("items[1].count: Input should be a valid integer")
