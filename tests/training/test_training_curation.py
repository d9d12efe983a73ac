"""RL curation by pass@k: each strategy at its boundaries, config errors, selection and pass counts."""

import re
from dataclasses import dataclass

import pytest

from mgrd.inference import SamplingParams
from mgrd.training.curation import CurationConfig, histogram, keep, pass_counts, select


@pytest.mark.parametrize("passes, kept", [(0, False), (2, False), (3, True), (4, True), (6, True), (7, False),
                                          (8, False)])
def test_range_keeps_three_to_six_inclusive(passes, kept):
    assert keep(passes, CurationConfig(k=8, low=3, high=6)) is kept


@pytest.mark.parametrize("passes, kept", [(0, True), (1, False), (8, False)])
def test_failed_keeps_only_never_solved(passes, kept):
    assert keep(passes, CurationConfig(strategy="failed")) is kept


@pytest.mark.parametrize("passes", [0, 1, 3, 7, 8])
def test_unfiltered_keeps_everything(passes):
    assert keep(passes, CurationConfig(strategy="unfiltered")) is True


@pytest.mark.parametrize("passes", [-1, 9])
def test_a_pass_count_outside_zero_to_k_is_refused(passes):
    with pytest.raises(ValueError, match=f"pass count {passes} is outside 0..8"):
        keep(passes, CurationConfig())


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "best"}, "curation strategy 'best'; accepted: range, failed, unfiltered"),
    ({"k": 0, "low": 0, "high": 0}, "k=0"),
    ({"low": 7, "high": 6}, "low=7, high=6"),
    ({"low": -1}, "low=-1"),
    ({"high": 9}, "high=9"),
])
def test_invalid_configs_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        CurationConfig(**kwargs)


def test_edge_configs_are_accepted():
    assert keep(1, CurationConfig(k=1, low=1, high=1)) is True
    assert keep(0, CurationConfig(k=1, low=1, high=1)) is False
    assert keep(4, CurationConfig(k=8, low=4, high=4)) is True


def test_select_returns_kept_indices_in_order():
    counts = [0, 3, 8, 6, 7, 2, 4, 0]
    assert select(counts, CurationConfig()) == [1, 3, 6]
    assert select(counts, CurationConfig(strategy="failed")) == [0, 7]
    assert select(counts, CurationConfig(strategy="unfiltered")) == list(range(8))
    assert select([], CurationConfig()) == []


def test_histogram_by_hand():
    assert histogram([0, 3, 3, 8, 1, 3, 0], 8) == [2, 1, 0, 3, 0, 0, 0, 0, 1]
    assert histogram([], 2) == [0, 0, 0]
    assert histogram([1, 1], 1) == [0, 2]


@dataclass
class Answer:
    answer: str


class FakeEngine:
    """Answers each prompt (a list of answers) with its own answers; records the params it was given."""

    def __init__(self):
        self.calls = []

    def generate(self, prompts, params):
        self.calls.append((list(prompts), list(params)))
        assert len(prompts) == len(params)
        return [[Answer(a) for a in prompt[:p.n]] for prompt, p in zip(prompts, params)]


def test_pass_counts_with_hand_chosen_answers():
    # Question i's right answer is "yes"; None ("cannot score") never counts as a pass.
    prompts = [["yes", "yes", "no", "yes"], ["no", "no", "no", "no"], ["yes"] * 4, ["?", "yes", "?", "no"],
               ["no", "yes", "no", "no"]]

    def grade(i, answer):
        return None if answer == "?" else float(answer == "yes")

    engine = FakeEngine()
    progress = []
    counts = pass_counts(engine, prompts, grade, k=4, max_tokens=16, seed=3, batch_prompts=2,
                         on_progress=lambda done, total: progress.append((done, total)))
    assert counts == [3, 0, 4, 1, 1]
    assert progress == [(2, 5), (4, 5), (5, 5)]
    assert [len(p) for p, _ in engine.calls] == [2, 2, 1]
    params = [p for _, ps in engine.calls for p in ps]
    assert all(isinstance(p, SamplingParams) and p.n == 4 and p.max_tokens == 16 for p in params)
    # One distinct seed per prompt, a pure function of (seed, prompt index).
    assert [p.seed for p in params] == [3 * 1_000_003 + i for i in range(5)]


def test_pass_counts_uses_the_global_prompt_index_and_partial_scores_fail():
    seen = []

    def grade(i, answer):
        seen.append(i)
        return 0.5 if i == 2 else 1.0

    counts = pass_counts(FakeEngine(), [["a", "b"]] * 3, grade, k=2, max_tokens=4, batch_prompts=1)
    assert counts == [2, 2, 0]
    assert seen == [0, 0, 1, 1, 2, 2]
