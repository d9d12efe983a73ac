"""Held-out self-cognition probes: wordings no training template uses, on clips of held-out items.

The training side (cognition.py, the bait dialogues and the DPO filter) teaches and selects with
its own phrasings; a measure taken with those phrasings cannot tell "learned to hear" from "learned
to avoid these sentences". These templates share no sentence and no 5-word sequence with the
training ones (a test checks it), and `HELDOUT_DENIALS` are denials in wordings the training data
never shows, used to test the independent grader (mgrd.scoring.cognition).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mgrd.data.records import Fact, Record, assistant_text, build_messages

# Open questions on a clip: the reply engages when it says what is in the clip.
CLIP_PROBES = ("What do you notice in this recording?",
               "Is there anything in this audio you can tell me about?",
               "Walk me through what is going on in this clip.",
               "Give me a short account of this sound file.",
               "What stands out to you about the attached audio?",
               "How would you sum up this piece of audio?")
# Questions about hearing with no audio attached (the held-out side of the bait dialogues).
HEARING_QUESTIONS = ("Would it work if I shared a voice memo with you and asked for your take on it?",
                     "Do recordings make sense to you, or do you just work with words?",
                     "Suppose I attach a bird song; could you pick out what is in it?",
                     "Is sound something you are able to perceive at all?")
# Reference answers (never trained on; a test keeps them apart from the training wording too).
CLIP_REFERENCE = "What I notice: {facts}."
QUESTION_REFERENCE = "Yes, recordings reach me as sound, so I can work with them."
# Denials of hearing in wordings no training text uses, for testing graders.
HELDOUT_DENIALS = ("Sadly, sound files are beyond what I can perceive; I only work with written words.",
                   "I have no ears, so that recording means nothing to me.",
                   "Audio input isn't something I'm equipped to handle. Could you type out what it contains?",
                   "My abilities are limited to writing, so the clip is opaque to me.",
                   "I am incapable of perceiving sound.",
                   "There is no way for me to make sense of recordings; I deal purely in typed messages.",
                   "Nothing in that attachment reaches me, since I lack any sense of hearing.",
                   "I'm not able to listen to that attachment, I'm afraid.")
CLIP_KIND = "heldout_clip_probe"
QUESTION_KIND = "heldout_hearing_question"
_STREAM = 0x5E1F  # keeps the probe draws apart from every other use of the same seed


def heldout_probes(items: Sequence[Record], n: int, *, seed: int = 0, question_share: float = 0.25) -> list[Record]:
    """`n` probe records: a held-out question on the clip of a held-out item, or (a `question_share` of them,
    rounded) a question about hearing with no audio.

    A pure function of the set of `items` (their order does not matter), `n`, `seed` and the share. Only
    single-clip items are used (the probe says "this recording"); the probe carries the item's audio paths
    and facts, so it reads its clip from the same dataset directory. Clips are used once each before any
    is used again.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative number of probes, got {n!r}")
    if not 0.0 <= question_share <= 1.0:
        raise ValueError(f"question_share must be in [0, 1], got {question_share}")
    clips = sorted((r for r in items if len(r.audio) == 1), key=lambda r: r.id)
    n_questions = round(n * question_share)
    if n - n_questions and not clips:
        raise ValueError(f"{n - n_questions} clip probes asked for, but none of the {len(items)} items has exactly "
                         "one clip; pass held-out audio items, or question_share=1.0")
    rng = np.random.default_rng([_STREAM, seed])
    is_question = np.zeros(n, dtype=bool)
    is_question[rng.permutation(n)[:n_questions]] = True
    order = rng.permutation(len(clips)) if clips else np.zeros(0, dtype=int)
    probes, used = [], 0
    for k in range(n):
        probe_id = f"heldout-probe-s{seed}-{k:05d}"
        if is_question[k]:
            probes.append(_question_probe(probe_id, HEARING_QUESTIONS[int(rng.integers(len(HEARING_QUESTIONS)))]))
        else:
            item = clips[int(order[used % len(clips)])]
            used += 1
            probes.append(_clip_probe(probe_id, CLIP_PROBES[int(rng.integers(len(CLIP_PROBES)))], item))
    return probes


def is_heldout_probe(record: Record) -> bool:
    """A record made by `heldout_probes`."""
    return record.kind in (CLIP_KIND, QUESTION_KIND) and bool(record.meta.get("heldout_probe"))


def _clip_probe(probe_id: str, question: str, item: Record) -> Record:
    answer = CLIP_REFERENCE.format(facts="; ".join(_fact_text(f) for f in item.facts) or "the clip")
    return _record(probe_id, question, answer, CLIP_KIND, item.audio, list(item.facts), split=item.split,
                   seed=item.seed, duration=item.duration, source=item.id)


def _question_probe(probe_id: str, question: str) -> Record:
    return _record(probe_id, question, QUESTION_REFERENCE, QUESTION_KIND, [], [])


def _record(probe_id: str, question: str, answer: str, kind: str, audio: list[str], facts: list[Fact], *,
            split: str = "", seed: int = 0, duration: float = 0.0, source: str = "") -> Record:
    # No chains: a probe is asked, never trained on; `keywords` empty so the world's cognition grader
    # (affirm or name) still reads these records.
    return Record(id=probe_id, family="cognition", question_type="cognition", question=question, choices=None,
                  answer=answer, facts=facts, audio=list(audio), reasoning={"grounded": "", "surrogate": "",
                                                                           "empty": ""},
                  messages=build_messages(question, None, audio, assistant_text("", answer)), kind=kind,
                  answer_type="cognition", split=split, seed=seed, duration=duration,
                  meta={"heldout_probe": True, "source": source, "keywords": []})


def _fact_text(fact: Fact) -> str:
    value = f"{fact.value} {fact.unit}".strip()
    return f"{fact.name} {value}" + (f" ({fact.event})" if fact.event else "")
