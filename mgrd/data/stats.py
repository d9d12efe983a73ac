"""Statistics of a set of records: counts per family, kind and question type, answer balance, durations."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from mgrd.data.records import Record


def record_stats(records: Iterable[Record]) -> dict:
    """Counts, answer balance and audio durations.

    `answer_positions[n]` is the share of each correct letter among multiple-choice questions with
    n choices (balanced: about 1/n each); `answers[kind]` counts the answers of open questions;
    `durations[family]` is {"items", "mean", "min", "max"} in seconds of audio per item with audio.
    """
    families, kinds, types = Counter(), Counter(), Counter()
    positions: dict[int, Counter] = defaultdict(Counter)
    answers: dict[str, Counter] = defaultdict(Counter)
    seconds: dict[str, list[float]] = defaultdict(list)
    total = 0
    for r in records:
        total += 1
        families[r.family] += 1
        kinds[f"{r.family}/{r.kind}"] += 1
        types[r.question_type] += 1
        if r.choices:
            positions[len(r.choices)][r.answer] += 1
            answers[r.kind][r.choices[ord(r.answer) - 65] if len(r.answer) == 1 else r.answer] += 1
        else:
            answers[r.kind][r.answer] += 1
        if r.audio:
            seconds[r.family].append(r.duration)
    return {
        "records": total,
        "families": dict(sorted(families.items())),
        "kinds": dict(sorted(kinds.items())),
        "question_types": dict(sorted(types.items())),
        "answer_positions": {n: {k: round(v / sum(c.values()), 4) for k, v in sorted(c.items())}
                             for n, c in sorted(positions.items())},
        "answers": {k: dict(c.most_common()) for k, c in sorted(answers.items())},
        "durations": {f: {"items": len(v), "mean": round(sum(v) / len(v), 3), "min": round(min(v), 3),
                          "max": round(max(v), 3)} for f, v in sorted(seconds.items())},
    }
