"""Reasoning state read from the prompt's tail, through the server, streamed and not.

The official client prefills `<think>\\n` (reasoning open) or `<think>\\n\\n</think>\\n` (no-think,
reasoning closed) with `continue_final_message`; `thinking_budget` counts only generated reasoning.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mgrd.chat import NO_THINK_PREFILL

from .serving_support import MODEL_NAME

QUESTION = [{"role": "human", "content": "Which tone is higher?"}]


def _body(prefill: str | None, **extra) -> dict:
    messages = list(QUESTION)
    body = {"model": MODEL_NAME, "max_tokens": 10, "temperature": 0, **extra}
    if prefill is not None:
        messages.append({"role": "assistant", "content": prefill, "eot": False})
        body.update(continue_final_message=True, add_generation_prompt=False)
    return {**body, "messages": messages}


def _both(url: str, body: dict) -> dict:
    """The non-streamed result, checked against the joined stream (text, finish and usage agree)."""
    whole = httpx.post(url + "/v1/chat/completions", json=body, timeout=60)
    assert whole.status_code == 200, whole.text
    data = whole.json()
    reasoning, content, finishes, usage = "", "", [], None
    stream_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", url + "/v1/chat/completions", json=stream_body, timeout=60) as r:
        for line in r.iter_lines():
            if not line or line == "data: [DONE]":
                continue
            chunk = json.loads(line.removeprefix("data: "))
            usage = chunk.get("usage") or usage
            for c in chunk["choices"]:
                reasoning += c["delta"].get("reasoning_content", "")
                content += c["delta"].get("content", "")
                if c["finish_reason"]:
                    finishes.append(c["finish_reason"])
    message = data["choices"][0]["message"]
    assert (reasoning, content) == (message["reasoning_content"], message["content"])
    assert finishes == [data["choices"][0]["finish_reason"]]
    assert usage == data["usage"]
    return data


def _parts(data: dict) -> tuple[str, str, int, int]:
    m, u = data["choices"][0]["message"], data["usage"]
    return m["reasoning_content"], m["content"], u["completion_tokens_details"]["reasoning_tokens"], u["prompt_tokens"]


def test_official_think_prefill_opens_the_reasoning(server):
    prefilled = _both(server.url, _body("<think>\n"))
    plain = _both(server.url, _body(None))
    # The prefill renders the same prompt as the generation prompt: the same completion.
    assert _parts(prefilled) == _parts(plain)
    reasoning, content, reasoning_tokens, _ = _parts(prefilled)
    assert reasoning and reasoning_tokens > 0
    if not content:  # the reasoning ran to max_tokens: every token was reasoning
        assert reasoning_tokens == prefilled["usage"]["completion_tokens"] == 10


def test_official_no_think_prefill_answers_in_content(server):
    data = _both(server.url, _body("<think>\n" + NO_THINK_PREFILL))
    reasoning, content, reasoning_tokens, _ = _parts(data)
    assert reasoning == "" and reasoning_tokens == 0
    assert content and "</think>" not in content


def test_budget_zero_on_a_prefilled_closed_block_adds_no_second_close(server):
    prefill = "<think>\n" + NO_THINK_PREFILL
    without = _both(server.url, _body(prefill))
    with_zero = _both(server.url, _body(prefill, thinking_budget=0))
    assert _parts(with_zero) == _parts(without)     # same prompt tokens: nothing appended


def test_budget_zero_without_a_block_closes_it_in_the_prompt(server, engine):
    plain = _both(server.url, _body(None))
    zero = _both(server.url, _body(None, thinking_budget=0))
    reasoning, content, reasoning_tokens, prompt_tokens = _parts(zero)
    assert reasoning == "" and reasoning_tokens == 0 and content
    assert prompt_tokens == _parts(plain)[3] + len(engine.close_ids)


@pytest.mark.parametrize("budget", [1, 4])
def test_budget_counts_only_generated_reasoning_after_a_partial_prefill(server, budget):
    data = _both(server.url, _body("<think>\nThe first tone", thinking_budget=budget))
    reasoning, content, reasoning_tokens, _ = _parts(data)
    assert reasoning_tokens == budget and content    # the budget closed the reasoning, then the answer
    assert "The first tone" not in reasoning         # the prefilled text is prompt, not output
