"""Rewards: small pure functions of (completion, record) returning the reward and its components.

A completion is the text generated after the generation prompt `...<think>\\n`, i.e.
`reasoning\\n</think>\\nanswer`. A record is the RL prompt record (it has `"answer"` and maybe
`"choices"`). A grader `(answer_text, record) -> float | None` scores the final answer (1 right,
0 wrong, None = cannot score); a world task supplies `lambda a, r: task.grade(item, a)`.

>>> grader = lambda answer, record: float(answer == record["answer"])
>>> audio_reward("The second tone is higher.\\n</think>\\nB", {"answer": "B"}, grader)
Reward(value=1.0, components={'accuracy': 1.0, 'format': 1.0})
>>> audio_reward("\\n</think>\\nB", {"answer": "B"}, grader).value   # right, but no reasoning
0.8
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mgrd.chat import THINK_CLOSE, parse_completion

Grader = Callable[[str, Mapping[str, Any]], "float | None"]


@dataclass(frozen=True)
class Reward:
    """A scalar reward and the components it was made of (each in [0, 1])."""

    value: float
    components: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the audio composite (paper eq. 7) and the accuracy threshold of a graded score."""

    accuracy: float = 0.8
    format: float = 0.2
    # A grader may give partial credit; the verified reward is binary: correct means >= this.
    correct_at: float = 1.0


def accuracy(completion: str, record: Mapping[str, Any], grader: Grader, *, correct_at: float = 1.0) -> float:
    """1.0 when the grader scores the parsed answer >= correct_at, else 0.0 (None counts as wrong)."""
    score = grader(parse_completion(completion).answer, record)
    return 1.0 if score is not None and float(score) >= correct_at else 0.0


def has_reasoning(completion: str) -> float:
    """1.0 when non-empty reasoning comes before exactly one `</think>` and an answer follows, else 0.0.

    The generation prompt already holds `<think>\\n`, so a closing tag alone proves nothing:
    empty or whitespace-only reasoning, several `</think>`, or a missing answer score 0.
    """
    parsed = parse_completion(completion)
    body = completion.split("<|EOT|>", 1)[0].split("<|endoftext|>", 1)[0]
    if body.count(THINK_CLOSE) != 1 or not parsed.well_formed:
        return 0.0
    return 1.0 if parsed.reasoning.strip() and parsed.answer.strip() else 0.0


def text_reward(completion: str, record: Mapping[str, Any], grader: Grader,
                weights: RewardWeights = RewardWeights()) -> Reward:
    """Text questions (paper eq. 6): the verified accuracy alone."""
    acc = accuracy(completion, record, grader, correct_at=weights.correct_at)
    return Reward(acc, {"accuracy": acc, "format": has_reasoning(completion)})


def audio_reward(completion: str, record: Mapping[str, Any], grader: Grader,
                 weights: RewardWeights = RewardWeights()) -> Reward:
    """Audio questions (paper eq. 7): w_acc·accuracy + w_fmt·[non-empty reasoning present]."""
    acc = accuracy(completion, record, grader, correct_at=weights.correct_at)
    fmt = has_reasoning(completion)
    return Reward(weights.accuracy * acc + weights.format * fmt, {"accuracy": acc, "format": fmt})


def is_audio_record(record: Mapping[str, Any]) -> bool:
    """Whether any message of the record holds an audio part."""
    for message in record.get("messages", ()):
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list) and any(isinstance(p, Mapping) and p.get("type") in
                                             ("audio", "input_audio", "audio_url") for p in content):
            return True
    return False


def modality_reward(completion: str, record: Mapping[str, Any], grader: Grader,
                    weights: RewardWeights = RewardWeights()) -> Reward:
    """The MGRD reward (eq. 8): `audio_reward` for records with audio, `text_reward` otherwise."""
    fn = audio_reward if is_audio_record(record) else text_reward
    return fn(completion, record, grader, weights)


REWARDS: dict[str, Callable[..., Reward]] = {"modality": modality_reward, "audio": audio_reward,
                                             "text": text_reward}


def reward_function(name: str, grader: Grader, weights: RewardWeights = RewardWeights()
                    ) -> Callable[[str, Mapping[str, Any]], Reward]:
    """The reward `name` (modality, audio or text) bound to a grader: `(completion, record) -> Reward`."""
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; accepted: {', '.join(REWARDS)}")
    fn = REWARDS[name]
    return lambda completion, record: fn(completion, record, grader, weights)


def reference_grader(answer: str, record: Mapping[str, Any]) -> float | None:
    """A default grader for records with `"answer"` (and optional `"choices"`).

    Multiple choice: the answer's choice (letter or text, via mgrd.scoring.match_choice) must be
    the reference's. Numbers: equal within 1e-6 relative. Otherwise normalised text equality.
    """
    from mgrd.scoring import extract_number, match_choice, normalize

    reference = str(record.get("answer", ""))
    choices = record.get("choices") or ()
    if choices:
        got, want = match_choice(answer, choices), match_choice(reference, choices)
        if want is None:
            raise ValueError(f"record answer {reference!r} is not one of its choices {list(choices)}")
        return None if got is None else float(got == want)
    want_n = extract_number(reference)
    if want_n is not None:
        got_n = extract_number(answer)
        return None if got_n is None else float(abs(got_n - want_n) <= 1e-6 * max(1.0, abs(want_n)))
    return float(normalize(answer) == normalize(reference))
