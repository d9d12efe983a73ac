"""Rewards: format edge cases, the audio composite, text accuracy, any grader."""

import pytest

from mgrd.training.rewards import (Reward, RewardWeights, audio_reward, has_reasoning, modality_reward,
                                   reference_grader, reward_function, text_reward)


def exact(answer, record):
    return float(answer == record["answer"])


REC = {"answer": "B"}


@pytest.mark.parametrize("completion, expected", [
    ("The second tone is higher.\n</think>\nB", 1.0),
    ("The second tone is higher.\n</think>\nB<|EOT|>", 1.0),
    ("\n</think>\nB", 0.0),                          # empty reasoning: the prefill's tag proves nothing
    ("   \n \t\n</think>\nB", 0.0),                   # whitespace-only reasoning
    ("reasoning\n</think>\n", 0.0),                   # answer missing
    ("reasoning\n</think>\n   <|EOT|>", 0.0),         # answer only whitespace
    ("a\n</think>\nB\n</think>\nB", 0.0),             # several </think>
    ("counting 1, 2, 3", 0.0),                        # never closed (truncated)
    ("<think>\nhmm\n</think>\nB", 1.0),               # the model repeats the prefill
    ("x\n</think>\nB<|EOT|>\n</think>\nC", 1.0),      # after the stop token nothing counts
])
def test_format_reward_edge_cases(completion, expected):
    assert has_reasoning(completion) == expected


def test_audio_composite_and_text_reward():
    assert audio_reward("I hear it.\n</think>\nB", REC, exact) == Reward(1.0, {"accuracy": 1.0, "format": 1.0})
    assert audio_reward("\n</think>\nB", REC, exact).value == pytest.approx(0.8)
    assert audio_reward("I hear it.\n</think>\nA", REC, exact).value == pytest.approx(0.2)
    assert audio_reward("I hear it.", REC, exact).value == 0.0
    assert text_reward("\n</think>\nB", REC, exact).value == 1.0
    assert text_reward("long reasoning\n</think>\nA", REC, exact).value == 0.0
    w = RewardWeights(accuracy=0.5, format=0.5)
    assert audio_reward("\n</think>\nB", REC, exact, w).value == pytest.approx(0.5)


def test_accuracy_is_binary_and_none_is_wrong():
    assert text_reward("r\n</think>\nB", REC, lambda a, r: 0.6).value == 0.0
    assert text_reward("r\n</think>\nB", REC, lambda a, r: 0.6, RewardWeights(correct_at=0.5)).value == 1.0
    assert text_reward("r\n</think>\nB", REC, lambda a, r: None).value == 0.0


def test_modality_reward_picks_by_audio_and_any_grader_works():
    audio_rec = {"answer": "B", "messages": [{"role": "user", "content": [{"type": "audio", "audio": "x.flac"}]}]}
    text_rec = {"answer": "B", "messages": [{"role": "user", "content": "q"}]}
    assert modality_reward("\n</think>\nB", audio_rec, exact).value == pytest.approx(0.8)
    assert modality_reward("\n</think>\nB", text_rec, exact).value == 1.0
    seen = []
    fn = reward_function("audio", lambda a, r: seen.append((a, r)) or 1.0)
    assert fn("thinking\n</think>\n  answer text ", REC).value == 1.0
    assert seen == [("answer text", REC)]             # the grader sees the parsed answer only
    with pytest.raises(ValueError, match="accepted"):
        reward_function("length", exact)


def test_reference_grader():
    mc = {"answer": "B", "choices": ["low", "high"]}
    assert reference_grader("B", mc) == 1.0
    assert reference_grader("high", mc) == 1.0
    assert reference_grader("A", mc) == 0.0
    assert reference_grader("The answer is 12.", {"answer": "12"}) == 1.0
    assert reference_grader("13", {"answer": "12"}) == 0.0
    assert reference_grader("Minor!", {"answer": "minor"}) == 1.0
