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
        verdicts = [judge("How many beeps?", f"I hear {n} beeps. So the answer is {n}.", str(n)) for n in (3, 4, 5)]
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
        assert is_denial("Can you hear this?", "Sorry, I cannot hear audio files.", judge) is True  # unsure: the rule


def test_a_judge_network_error_is_retried_then_counted_not_raised():
    from test_training_distill import chain

    from mgrd.remote import RetryPolicy
    from mgrd.training.distill import apply_filters, cognition_filter, coherence_filter

    fast = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)
    with FakeEndpoint(lambda body, n: FakeReply(status=503)) as server:
        logic = endpoint_logic_judge(server.url, "j", retry=fast)
        cognition = endpoint_judge(server.url, "j", retry=fast)
        kept, reports = apply_filters([chain(), chain(sample=1)], [coherence_filter(logic)])
        assert cognition_filter(cognition).check(chain()) == "judge failed"
        asked = len(server.bodies)
    assert kept == [] and reports[0].to_dict()["dropped"] == {"judge failed": 2}
    assert asked == 2 * 2 + 2                       # every prompt tried twice (a 503 is retried)
    refused = endpoint_logic_judge("http://127.0.0.1:9/v1", "j", retry=fast)   # nothing listens there
    assert coherence_filter(refused).check(chain()) == "judge failed"


def test_the_judge_caches_each_prompt():
    with FakeEndpoint(_replies("YES")) as server:
        judge = endpoint_logic_judge(server.url, "j")
        assert [judge("q", "So the answer is 3.", "3") for _ in range(3)] == [True, True, True]
        assert len(server.bodies) == 1
