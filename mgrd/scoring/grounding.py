"""The grounding verifier: does a reasoning chain refer to what was heard, and are its claims true of the event they name?

Pure string and arithmetic code (no torch). A chain is split into statements; each is acoustic,
textual or neutral (`mgrd.scoring.lexicon`). Acoustic claims (values with units, counts, labels) are
bound to the event they are about (`mgrd.scoring.events`) and checked against that event's fact only:
pitch within one semitone, counts and intervals exact, tempo within 8 %, durations within 15 %, labels
exact. Binding:

- within a statement, a pitch or duration belongs to the nearest event mentioned before it ("the first
  note at 440 Hz"), or, when none comes before, to the first one after it; values listed after a group
  ("4 notes: 311 Hz, 247 Hz, ...") are its members in order; a count names its own group ("3 high
  beeps", "11 beeps" = all of them, "6 notes", "7 hits" = the beat); an interval belongs to the two parts
  named around it ("a third 3 semitones above the root"), or to a group of exactly two ("the notes are 7
  semitones apart"); a tempo or a label (major, rising, bright...) names its own event, so only its clip
  is bound. The clip of any claim is the clip named nearest before it, else the first named after it.
- a statement that names no event at all (no part, no clip) inherits the events of the last statement
  that named some ("The highest is A#5 and the lowest F#4. A#5 is 16 semitones above F#4.").
- a claim bound to an event is checked against that event's fact; a claim about an event the item
  lacks (a third note of two, the beeps of the wrong clip) is wrong.
- a claim bound to no event ("a note at 440 Hz"), or to a group of several facts, is unverifiable
  (matched None) -- except where the item (or the clip the claim is bound to) has exactly one fact of
  that quantity: then that fact is the only event the claim can be about, and it is checked against it.

Claims of a quantity the facts do not cover are unverifiable; claims made in textual or neutral
statements (a guess from a caption, the restated conclusion) are listed but not counted, since a right
guess is not a grounded claim.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mgrd.scoring.events import (
    NOT_DESCRIBING,
    Event,
    Mention,
    Reader,
    Vocabulary,
    as_mapping,
    members,
    pair,
    parse_event,
    sequential,
)
from mgrd.scoring.lexicon import acoustic_words, split_statements, statement_kind  # noqa: F401 (re-exported)

__all__ = ["Claim", "Grounding", "split_statements", "statement_kind", "verify_grounding"]

TEMPO_TOLERANCE = 0.08  # relative
DURATION_TOLERANCE = 0.15  # relative
PITCH_TOLERANCE = 1.0  # semitones
LABEL_GROUPS = {"chord": ("major", "minor"), "trend": ("rising", "falling", "steady", "swelling"),
                "contour": ("rising", "falling", "arch", "valley"), "brightness": ("bright", "dark"),
                "speech rate": ("slow", "normal", "fast")}

_WORD_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                            "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
                                            .split())}
_NUM = r"(-?\d+(?:\.\d+)?)"
_VALUE = re.compile(_NUM + r"\s*(khz|hz|bpm|beats per minute|semitones?|seconds|s|ms)\b", re.I)
# A number, up to two describing words, a counted noun: "6 high beeps", "4 evenly spaced drum hits"; not
# "440 Hz and note" (a value, then another phrase) nor "120 beats per minute".
_COUNT = re.compile(r"(?<!clip )(?<!note )(?<!tone )(?<!sound )\b(\d+|" + "|".join(_WORD_NUMBERS) + r")\s+("
                    r"(?:(?!" + NOT_DESCRIBING + r")[a-z-]+\s+){0,2}?)(beeps?|notes?|beats?|hits?|drum hits)\b"
                    r"(?!\s+per\b)", re.I)
_LABEL = re.compile(r"\b(" + "|".join(sorted({w for g in LABEL_GROUPS.values() for w in g})) + r")\b", re.I)
_UNIT_QUANTITY = {"hz": "pitch", "khz": "pitch", "bpm": "tempo", "beats per minute": "tempo", "semitone": "interval",
                  "semitones": "interval", "s": "duration", "seconds": "duration", "ms": "duration"}
_COUNT_UNIT = {"beep": "beeps", "beeps": "beeps", "note": "notes", "notes": "notes", "beat": "beats", "beats": "beats",
               "hit": "beats", "hits": "beats", "drum hits": "beats"}
_POSITIONS = ("highest", "lowest", "higher", "lower")
_FACT_UNIT = {"pitch": "hz", "tempo": "bpm", "duration": "s", "interval": "semitones"}


@dataclass(frozen=True)
class Claim:
    """An acoustic claim found in a chain. `event` is the event it was bound to (a fact's event such as
    `clip 2, note 1`, or the missing event it named), None when unbound; `matched` is None when it is
    unverifiable (no fact of its quantity, or no single event it can be about); `fact` is the fact it was
    checked against; `statement` is the kind of statement it was made in (only `acoustic` ones count)."""

    text: str
    quantity: str  # pitch, tempo, duration, interval, count, label
    value: float | str
    unit: str
    matched: bool | None
    fact: Mapping | None = None
    statement: str = "acoustic"
    event: str | None = None


@dataclass(frozen=True)
class Grounding:
    """The verdict on one chain.

    `statements` pairs each statement with its kind (acoustic / text / neutral); `acoustic_share`
    is acoustic / (acoustic + text) statements (0 when there are none); `claim_accuracy` is the share
    of verifiable claims that match their event's fact (None when none is verifiable); `score` is the
    mean of the two, or the share alone when no claim could be checked (benchmark chains without facts).
    """

    acoustic_share: float
    statements: tuple[tuple[str, str], ...]
    claims: tuple[Claim, ...]
    claim_accuracy: float | None
    score: float


@dataclass(frozen=True)
class _Fact:
    fact: Mapping
    event: Event


@dataclass(frozen=True)
class _Found:
    start: int
    text: str
    quantity: str
    value: float | str
    unit: str
    part: str | None = None  # the event a count names itself


@dataclass(frozen=True)
class _Binding:
    clip: int | None
    part: str | None
    pair: tuple[str, str] | None = None


def verify_grounding(chain: str, facts: Sequence[Mapping | object] | None = None) -> Grounding:
    """Grounding of a reasoning chain against an item's facts (`{"name", "value", "unit", "event"}`).

    >>> facts = [{"name": "pitch", "value": 440.0, "unit": "Hz", "event": "note 1"},
    ...          {"name": "pitch", "value": 659.3, "unit": "Hz", "event": "note 2"}]
    >>> verify_grounding("I hear the first note at 440 Hz and the second at 659 Hz.", facts).score
    1.0
    >>> verify_grounding("I hear the first note at 659 Hz and the second at 440 Hz.", facts).claim_accuracy
    0.0
    >>> verify_grounding("The question says the notes are usually 440 Hz.", facts).score
    0.0
    """
    if not isinstance(chain, str):
        raise TypeError(f"verify_grounding takes the chain as a str, got {type(chain).__name__}")
    item = _placed([as_mapping(f) for f in facts or ()])
    reader = Reader(Vocabulary.of(f.event for f in item))
    statements = tuple((s, statement_kind(s)) for s in split_statements(chain))
    claims: list[Claim] = []
    context: list[Mention] = []
    for statement, kind in statements:
        mentions = reader.mentions(statement)
        if mentions:
            context = mentions
        # Inherited mentions stand before the statement, in their order.
        scope = mentions or [Mention(i - len(context), m.clip, m.part) for i, m in enumerate(context)]
        found = _found(statement)
        for claim in found:
            binding = _bind(claim, scope, found, reader.vocabulary)
            matched, fact, event = _judge(claim, binding, item)
            claims.append(Claim(claim.text, claim.quantity, claim.value, claim.unit, matched, fact, kind, event))
    acoustic = sum(k == "acoustic" for _, k in statements)
    textual = sum(k == "text" for _, k in statements)
    share = acoustic / (acoustic + textual) if acoustic + textual else 0.0
    checked = [c.matched for c in claims if c.matched is not None and c.statement == "acoustic"]
    accuracy = sum(checked) / len(checked) if checked else None
    score = share if accuracy is None else (share + accuracy) / 2
    return Grounding(acoustic_share=share, statements=statements, claims=tuple(claims), claim_accuracy=accuracy,
                     score=score)


def _placed(facts: list[Mapping]) -> list[_Fact]:
    """The facts at their events, plus the number of notes of each clip with notes or a chord, which the
    world states as pitches rather than as a count."""
    placed = [_Fact(f, parse_event(f.get("event", ""))) for f in facts]
    clips = {p.event.clip for p in placed}
    for clip in sorted(clips, key=lambda c: -1 if c is None else c):
        here = [p for p in placed if p.event.clip == clip]
        notes = {p.event.part for p in here if _is_number(p.fact.get("value")) and
                 str(p.fact.get("unit", "")).lower() == "hz" and
                 ((sequential(p.event.part) or ("",))[0] == "note" or p.event.part in ("root", "third", "fifth"))}
        if notes and not any(str(p.fact.get("unit", "")).lower() == "notes" for p in here):
            prefix = "" if clip is None else f"clip {clip}, "
            fact = {"name": "count", "value": len(notes), "unit": "notes", "event": prefix + "all notes"}
            placed.append(_Fact(fact, Event(clip, "all notes")))
    return placed


def _found(statement: str) -> list[_Found]:
    found = []
    for m in _VALUE.finditer(statement):
        unit = m.group(2).lower()
        value = float(m.group(1)) / (1000.0 if unit == "ms" else 1.0) * (1000.0 if unit == "khz" else 1.0)
        found.append(_Found(m.start(), m.group(0), _UNIT_QUANTITY[unit], value, unit))
    for m in _COUNT.finditer(statement):
        raw, words = m.group(1).lower(), m.group(2).lower().split()
        unit = _COUNT_UNIT[m.group(3).lower()]
        part = {"notes": "all notes", "beats": "beat"}.get(unit, "all beeps")
        if unit == "beeps" and any(w in ("high", "higher", "high-pitched") for w in words):
            part = "high beeps"
        elif unit == "beeps" and any(w in ("low", "lower", "low-pitched") for w in words):
            part = "low beeps"
        value = float(_WORD_NUMBERS[raw]) if raw in _WORD_NUMBERS else float(raw)
        found.append(_Found(m.start(), m.group(0), "count", value, unit, part))
    for m in _LABEL.finditer(statement):
        found.append(_Found(m.start(), m.group(0), "label", m.group(1).lower(), ""))
    return sorted(found, key=lambda c: c.start)


def _bind(claim: _Found, scope: list[Mention], found: list[_Found], vocabulary: Vocabulary) -> _Binding:
    clips = [m for m in scope if m.clip is not None]
    clip = _nearest(claim.start, clips)
    parts = [m for m in scope if m.part is not None]
    if claim.quantity in ("tempo", "label"):
        return _Binding(clip.clip if clip else None, None)
    if claim.quantity == "count":
        return _Binding(clip.clip if clip else None, claim.part)
    if claim.quantity == "interval":
        named = [m for m in parts if m.part and not _is_group(m.part)]
        before = [m for m in named if m.start < claim.start]
        after = [m for m in named if m.start > claim.start]
        two = (before[-1:] + after[:1]) if before and after else (before[-2:] or after[:2])
        if len(two) == 2 and two[0].part != two[1].part:
            return _Binding(clip.clip if clip else None, None, (two[0].part, two[1].part))
        near = _nearest(claim.start, parts)
        group = near.part if near and _is_group(near.part) else None
        return _Binding(clip.clip if clip else None, group)
    near = _nearest(claim.start, parts)
    part = near.part if near and near.part else None
    kind = part[4:-1] if part and part.startswith("all ") else None
    if kind in vocabulary.sequence:
        # A value listed after a group of numbered events is the next member of that group.
        index = 1 + sum(near.start < c.start < claim.start and c.quantity == claim.quantity for c in found)
        part = f"{kind} {index}"
    return _Binding(clip.clip if clip else None, part)


def _nearest(start: int, mentions: list[Mention]) -> Mention | None:
    before = [m for m in mentions if m.start < start]
    return before[-1] if before else next((m for m in mentions if m.start > start), None)


def _is_group(part: str) -> bool:
    return part.startswith("all ") or part == "chord"


def _judge(claim: _Found, binding: _Binding, item: list[_Fact]) -> tuple[bool | None, Mapping | None, str | None]:
    pool = _pool(claim, item)
    pitches = _pool(_Found(0, "", "pitch", 0.0, "hz"), item)
    if not pool and not (claim.quantity == "interval" and len(pitches) > 1):
        return None, None, None
    if binding.clip is not None:
        pool = [f for f in pool if f.event.clip in (None, binding.clip)]
        pitches = [f for f in pitches if f.event.clip in (None, binding.clip)]
        if not pool and not (claim.quantity == "interval" and len(pitches) > 1):
            return False, None, f"clip {binding.clip}"
    if claim.quantity == "interval" and (binding.pair or binding.part):
        candidates = _intervals(binding, pool, pitches, item)
    elif binding.part is None:
        candidates = pool
    else:
        candidates = _at(binding.part, pool, item, exact=claim.quantity == "count")
    if len(candidates) == 1:
        fact = candidates[0].fact
        return _agrees(claim, fact), fact, str(fact.get("event", ""))
    named = binding.pair is not None or (binding.part is not None and not _is_group(binding.part))
    if named and not any(_resolve(p, f.event.clip, item) for f in item for p in (binding.pair or (binding.part,))):
        named = False  # a position ("the higher note") that no clip can resolve names nothing
    if not candidates and named:
        where = "" if binding.clip is None else f"clip {binding.clip}, "
        return False, None, where + (" to ".join(binding.pair) if binding.pair else binding.part)
    return None, None, None


def _pool(claim: _Found, item: list[_Fact]) -> list[_Fact]:
    if claim.quantity == "label":
        names = {name for name, group in LABEL_GROUPS.items() if claim.value in group}
        return [f for f in item if f.fact.get("name") in names and isinstance(f.fact.get("value"), str)]
    unit = claim.unit if claim.quantity == "count" else _FACT_UNIT[claim.quantity]
    return [f for f in item if str(f.fact.get("unit", "")).lower() == unit and _is_number(f.fact.get("value"))]


def _at(part: str, pool: list[_Fact], item: list[_Fact], *, exact: bool) -> list[_Fact]:
    """The facts of `pool` at `part`: itself, a group's members, or the position (highest, last note)
    resolved in each clip."""
    found = []
    for clip in {f.event.clip for f in pool}:
        here = [f for f in pool if f.event.clip == clip]
        resolved = _resolve(part, clip, item)
        if resolved is None:
            continue
        wanted = {resolved} if exact or resolved != part else members(part, {f.event.part for f in here})
        found += [f for f in here if f.event.part in wanted]
    return found


def _resolve(part: str, clip: int | None, item: list[_Fact]) -> str | None:
    """A position as the part it is in `clip`: `highest` -> the note (or beeps) of the highest pitch,
    `higher` -> the same of exactly two, `last note` -> the note of the largest index; None where the
    clip has no such part; other parts as they are."""
    here = [f for f in item if f.event.clip == clip]
    if part in _POSITIONS:
        pitched = [f for f in _pool(_Found(0, "", "pitch", 0.0, "hz"), here)
                   if sequential(f.event.part) or f.event.part in ("root", "third", "fifth", "high beeps",
                                                                     "low beeps")]
        if not pitched or (part in ("higher", "lower") and len(pitched) != 2):
            return None
        pick = max if part.startswith("high") else min
        return pick(pitched, key=lambda f: float(f.fact["value"])).event.part
    if part.startswith("last "):
        indices = [s[1] for f in here if (s := sequential(f.event.part)) and s[0] == part[5:]]
        return f"{part[5:]} {max(indices)}" if indices else None
    return part


def _intervals(binding: _Binding, pool: list[_Fact], pitches: list[_Fact], item: list[_Fact]) -> list[_Fact]:
    """The interval facts (or, failing one, the distance between the two pitch facts) of the bound pair
    in each clip; a bound group stands for its two members when it has exactly two."""
    found = []
    for clip in {f.event.clip for f in pitches} | {f.event.clip for f in pool}:
        if binding.pair:
            a, b = (_resolve(p, clip, item) for p in binding.pair)
            if a is None or b is None:
                continue
        else:
            two = sorted(members(binding.part, {f.event.part for f in pitches if f.event.clip == clip})
                         - {binding.part})
            if len(two) != 2:
                continue
            a, b = two
        stated = [f for f in pool if f.event.clip == clip and set(pair(f.event.part) or ()) == {a, b}]
        tones = {f.event.part: float(f.fact["value"]) for f in pitches if f.event.clip == clip}
        if stated:
            found += stated[:1]
        elif a in tones and b in tones and tones[a] > 0 and tones[b] > 0:
            prefix = "" if clip is None else f"clip {clip}, "
            distance = 12 * math.log2(tones[b] / tones[a])
            fact = {"name": "interval", "value": round(distance, 2), "unit": "semitones",
                    "event": f"{prefix}{a} to {b}"}
            found.append(_Fact(fact, Event(clip, f"{a} to {b}")))
    return found


def _agrees(claim: _Found, fact: Mapping) -> bool:
    value, truth = claim.value, fact["value"]
    if claim.quantity == "label":
        return value == truth
    value, truth = float(value), float(truth)
    if claim.quantity == "pitch":
        return value > 0 and truth > 0 and abs(12 * math.log2(value / truth)) <= PITCH_TOLERANCE
    if claim.quantity == "tempo":
        return abs(value - truth) <= TEMPO_TOLERANCE * truth
    if claim.quantity == "duration":
        return abs(value - truth) <= DURATION_TOLERANCE * truth
    if claim.quantity == "interval":
        return abs(value) == round(abs(truth))
    return value == truth  # counts


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
