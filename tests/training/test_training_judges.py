"""The optional LLM judges of the filters, through an OpenAI-compatible endpoint (a loopback fake)."""

from mgrd.evaluation.fake_endpoint import FakeEndpoint, FakeReply
from mgrd.training.cognition import endpoint_judge, is_denial
from mgrd.training.distill import endpoint_logic_judge


def _replies(*texts):
    def handler(body, n):
        return FakeReply(content=texts[(n - 1) % len(texts)])
    return handler


def test_logic_judge_reads_yes_no_and_unsure_and_sends_the_chain():
    with FakeEndpoint(_replies("YES", "no.", "It depends")) as server:
        judge = endpoint_logic_judge(server.url, "judge-model")
        verdicts = [judge("How many beeps?", "I hear 3 beeps. So the answer is 3.", "3") for _ in range(3)]
        prompt = server.bodies[0]["messages"][0]["content"]
    assert verdicts == [True, False, None]
    assert "I hear 3 beeps" in prompt and "Final answer: 3" in prompt
    assert server.bodies[0]["model"] == "judge-model" and server.bodies[0]["temperature"] == 0.0


def test_cognition_judge_overrides_the_rule_unless_unsure():
    with FakeEndpoint(_replies("NO", "YES", "unsure")) as server:
        judge = endpoint_judge(server.url, "j")
        denial = "I cannot hear audio."
        assert is_denial("Can you hear this?", denial, judge) is False       # the judge says no
        assert is_denial("Can you hear this?", "I hear a chord.", judge) is True   # the judge says yes
        assert is_denial("Can you hear this?", denial, judge) is True        # unsure: the rule decides
