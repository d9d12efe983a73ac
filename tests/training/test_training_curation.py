"""RL curation by pass@k: each strategy at its boundaries, config errors, selection and pass counts."""

import re
import pytest

from mgrd.inference.backend import GenerationResult, failed, item_seed
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


class FakeBackend:
    """Answers sample j of a prompt (its messages: a list of answers) with answer j; records the requests."""

    def __init__(self, fail: frozenset = frozenset()):
        self.calls, self.fail = [], fail

    def run(self, requests):
        requests = list(requests)
        self.calls.append(requests)
        for r in reversed(requests):                     # any completion order
            j = int(r.key.rsplit("#", 1)[1])
            if (r.item_id, j) in self.fail:
                yield failed(r.key, "HTTP 503")
            else:
                yield GenerationResult(r.key, "ok", answer=r.messages[j])


def _prompts(answers):
    return [(f"q{i}", a) for i, a in enumerate(answers)]


def test_pass_counts_with_hand_chosen_answers():
    # Question i's right answer is "yes"; None ("cannot score") never counts as a pass.
    answers = [["yes", "yes", "no", "yes"], ["no", "no", "no", "no"], ["yes"] * 4, ["?", "yes", "?", "no"],
               ["no", "yes", "no", "no"]]

    def grade(i, answer):
        return None if answer == "?" else float(answer == "yes")

    backend = FakeBackend()
    progress = []
    counts = pass_counts(backend, _prompts(answers), grade, k=4, max_tokens=16, seed=3, batch_prompts=2,
                         on_progress=lambda done, total: progress.append((done, total)))
    assert counts == [3, 0, 4, 1, 1]
    assert progress == [(2, 5), (4, 5), (5, 5)]
    assert [len(c) for c in backend.calls] == [8, 8, 4]              # k requests per prompt, two prompts a call
    requests = [r for call in backend.calls for r in call]
    assert all(r.sampling["max_tokens"] == 16 and r.sampling["thinking_budget"] is None for r in requests)
    # Sample j of question i has its own seed, a pure function of (seed, j, item id).
    assert [r.sampling["seed"] for r in requests] == [item_seed(3, j, f"q{i}") for i in range(5) for j in range(4)]


def test_pass_counts_uses_the_global_prompt_index_and_partial_scores_fail():
    seen = []

    def grade(i, answer):
        seen.append(i)
        return 0.5 if i == 2 else 1.0

    counts = pass_counts(FakeBackend(), _prompts([["a", "b"]] * 3), grade, k=2, max_tokens=4, batch_prompts=1)
    assert counts == [2, 2, 0]
    assert sorted(seen) == [0, 0, 1, 1, 2, 2]


def test_a_question_with_a_failed_sample_has_no_pass_count_and_is_never_kept():
    backend = FakeBackend(fail=frozenset({("q1", 0)}))
    counts = pass_counts(backend, _prompts([["yes"] * 2] * 3), lambda i, a: 1.0, k=2, max_tokens=4)
    assert counts == [2, None, 2]
    config = CurationConfig(k=2, low=0, high=2, strategy="unfiltered")
    assert select(counts, config) == [0, 2] and histogram(counts, 2) == [0, 0, 2]
