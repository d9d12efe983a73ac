"""The grounding verifier: does a reasoning chain refer to what was heard, and are its acoustic claims true?

Pure string and arithmetic code (no torch). A chain is split into statements; each is acoustic
(refers to pitch, rhythm, loudness, timbre, duration, a voice...), textual (refers to the question's
wording, captions, titles, transcripts, lyrics, or to priors and guesses), or neutral (arithmetic,
the conclusion). Acoustic claims (values with units, counts, labels) are checked against the item's
facts: pitch within one semitone, counts and intervals exact, tempo within 8 %, durations within 15 %,
labels exact. Claims of a quantity the facts do not cover are unverifiable; claims made in textual or
neutral statements (a guess from a caption, the restated conclusion) are listed but not counted, since
a right guess is not a grounded claim.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TEMPO_TOLERANCE = 0.08  # relative
DURATION_TOLERANCE = 0.15  # relative
PITCH_TOLERANCE = 1.0  # semitones
LABEL_GROUPS = {"chord": ("major", "minor"), "trend": ("rising", "falling", "steady", "swelling"),
                "contour": ("rising", "falling", "arch", "valley"), "brightness": ("bright", "dark"),
                "speech rate": ("slow", "normal", "fast")}

_ACOUSTIC = re.compile(
    r"\b(hear|hears|heard|hearing|listen|listening|listened|sound|sounds|sounded|tone|tones|beep|beeps|note|notes|"
    r"pitch|pitched|frequency|hz|khz|loud|louder|loudest|loudness|quiet|quieter|level|db|decibels?|volume|"
    r"bright|dark|rumble|rumbling|hiss|hissing|timbre|noise|tempo|bpm|beat|beats|rhythm|drum|hits?|duration|"
    r"lasts?|lasting|seconds|chord|major|minor|third|fifth|semitones?|interval|melody|contour|rising|falling|"
    r"voice|speaker|spoken|speech|pace|echo|harmonics?|onsets?|fades?|fading|swelling|repetitions?)\b", re.I)
_SOURCE = re.compile(
    r"\b(question|questions|wording|worded|caption|captioned|captions|title|titled|label|labelled|description|"
    r"described|transcript|transcription|lyrics|text|text-based|read|reading|metadata|filename|file name|"
    r"language model|only see)\b", re.I)
_PRIOR = re.compile(r"\b(usually|typically|typical|most often|commonly|common|assume|guess|prior|probably|"
                    r"datasets?|cannot|can't)\b", re.I)
_CONCLUSION = re.compile(r"\b(the answer is|answer:|hence:)", re.I)
_PERCEIVE = re.compile(r"\b(hear|hears|heard|listen|listening|listened)\b", re.I)
_STATEMENT_END = re.compile(r"\n+|(?<=[.!?])\s+(?=[A-Z\"(])")
_WORD_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                            "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
                                            .split())}
_NUM = r"(-?\d+(?:\.\d+)?)"
_VALUE = re.compile(_NUM + r"\s*(khz|hz|bpm|beats per minute|semitones?|seconds|s|ms)\b", re.I)
_COUNT = re.compile(r"\b(\d+|" + "|".join(_WORD_NUMBERS) + r")\s+(?:[a-z-]+\s+){0,2}?"
                    r"(beeps?|notes?|beats?|hits?|drum hits)\b(?!\s+per\b)", re.I)
_LABEL = re.compile(r"\b(" + "|".join(sorted({w for g in LABEL_GROUPS.values() for w in g})) + r")\b", re.I)
_UNIT_QUANTITY = {"hz": "pitch", "khz": "pitch", "bpm": "tempo", "beats per minute": "tempo", "semitone": "interval",
                  "semitones": "interval", "s": "duration", "seconds": "duration", "ms": "duration"}
_COUNT_UNIT = {"beep": "beeps", "beeps": "beeps", "note": "notes", "notes": "notes", "beat": "beats", "beats": "beats",
               "hit": "beats", "hits": "beats", "drum hits": "beats"}


@dataclass(frozen=True)
class Claim:
    """An acoustic claim found in a chain. `matched` is None when no fact covers its quantity;
    `statement` is the kind of statement it was made in (only `acoustic` ones count)."""

    text: str
    quantity: str  # pitch, tempo, duration, interval, count, label
    value: float | str
    unit: str
    matched: bool | None
    fact: Mapping | None = None
    statement: str = "acoustic"


@dataclass(frozen=True)
class Grounding:
    """The verdict on one chain.

    `statements` pairs each statement with its kind (acoustic / text / neutral); `acoustic_share`
    is acoustic / (acoustic + text) statements (0 when there are none); `claim_accuracy` is the share
    of verifiable claims that match a fact (None when none is verifiable); `score` is the mean of the
    two, or the share alone when no claim could be checked (benchmark chains without facts).
    """

    acoustic_share: float
    statements: tuple[tuple[str, str], ...]
    claims: tuple[Claim, ...]
    claim_accuracy: float | None
    score: float


def verify_grounding(chain: str, facts: Sequence[Mapping | object] | None = None) -> Grounding:
    """Grounding of a reasoning chain against an item's facts (`{"name", "value", "unit", "event"}`).

    >>> facts = [{"name": "count", "value": 5, "unit": "beeps", "event": "all"}]
    >>> verify_grounding("I hear 5 beeps.", facts).score
    1.0
    >>> verify_grounding("The question says there are usually 4 beeps.", facts).score
    0.0
    """
    if not isinstance(chain, str):
        raise TypeError(f"verify_grounding takes the chain as a str, got {type(chain).__name__}")
    facts = [_as_mapping(f) for f in facts or ()]
    statements = tuple((s, statement_kind(s)) for s in split_statements(chain))
    acoustic = sum(k == "acoustic" for _, k in statements)
    textual = sum(k == "text" for _, k in statements)
    share = acoustic / (acoustic + textual) if acoustic + textual else 0.0
    claims = tuple(c for s, kind in statements for c in _claims(s, kind, facts))
    checked = [c.matched for c in claims if c.matched is not None and c.statement == "acoustic"]
    accuracy = sum(checked) / len(checked) if checked else None
    score = share if accuracy is None else (share + accuracy) / 2
    return Grounding(acoustic_share=share, statements=statements, claims=claims, claim_accuracy=accuracy,
                     score=score)


def split_statements(chain: str) -> list[str]:
    """Lines and sentences of a chain, stripped, empty ones dropped."""
    return [s.strip() for s in _STATEMENT_END.split(chain) if s and s.strip()]


def acoustic_words(text: str) -> list[str]:
    """The words of the acoustic lexicon in `text`, lower-cased, in order ("hear", "beeps", "hz"...).

    >>> acoustic_words("I hear three high beeps.")
    ['hear', 'beeps']
    """
    return [m.group(1).lower() for m in _ACOUSTIC.finditer(text)]


def statement_kind(statement: str) -> str:
    """`text` if it cites the question, a caption, a transcript..., or leans on a prior without listening;
    `neutral` for the conclusion (it restates the answer, whatever the evidence); `acoustic` if it refers
    to an acoustic property; `neutral` otherwise."""
    if _SOURCE.search(statement):
        return "text"
    if _PRIOR.search(statement) and not _PERCEIVE.search(statement):
        return "text"
    if _CONCLUSION.search(statement):
        return "neutral"
    return "acoustic" if _ACOUSTIC.search(statement) else "neutral"


def _claims(statement: str, kind: str, facts: list[Mapping]) -> list[Claim]:
    found = []
    for m in _VALUE.finditer(statement):
        unit = m.group(2).lower()
        value = float(m.group(1)) / (1000.0 if unit == "ms" else 1.0) * (1000.0 if unit == "khz" else 1.0)
        quantity = _UNIT_QUANTITY[unit]
        matched, fact = _check_value(quantity, value, facts)
        found.append(Claim(m.group(0), quantity, value, unit, matched, fact, kind))
    for m in _COUNT.finditer(statement):
        raw = m.group(1).lower()
        value = float(_WORD_NUMBERS[raw]) if raw in _WORD_NUMBERS else float(raw)
        unit = _COUNT_UNIT[m.group(2).lower()]
        matched, fact = _check_count(unit, value, facts)
        found.append(Claim(m.group(0), "count", value, unit, matched, fact, kind))
    for m in _LABEL.finditer(statement):
        label = m.group(1).lower()
        matched, fact = _check_label(label, facts)
        found.append(Claim(m.group(0), "label", label, "", matched, fact, kind))
    return found


def _numeric(facts: list[Mapping], units: tuple[str, ...]) -> list[Mapping]:
    return [f for f in facts if str(f.get("unit", "")).lower() in units and _is_number(f.get("value"))]


def _check_value(quantity: str, value: float, facts: list[Mapping]) -> tuple[bool | None, Mapping | None]:
    if quantity == "pitch":
        pool = _numeric(facts, ("hz",))
        ok = lambda f: value > 0 and abs(12 * math.log2(value / float(f["value"]))) <= PITCH_TOLERANCE  # noqa: E731
    elif quantity == "tempo":
        pool = _numeric(facts, ("bpm",))
        ok = lambda f: abs(value - float(f["value"])) <= TEMPO_TOLERANCE * float(f["value"])  # noqa: E731
    elif quantity == "duration":
        pool = _numeric(facts, ("s",))
        ok = lambda f: abs(value - float(f["value"])) <= DURATION_TOLERANCE * float(f["value"])  # noqa: E731
    else:  # interval: a stated interval, or the distance between two stated pitches
        pool = _numeric(facts, ("semitones",))
        pitches = [float(f["value"]) for f in _numeric(facts, ("hz",)) if float(f["value"]) > 0]
        distances = {round(abs(12 * math.log2(a / b))) for a in pitches for b in pitches if a != b}
        if not pool and not distances:
            return None, None
        for f in pool:
            if abs(value) == abs(float(f["value"])):
                return True, f
        return abs(value) in distances, None
    if not pool:
        return None, None
    for f in pool:
        if ok(f):
            return True, f
    return False, None


def _check_count(unit: str, value: float, facts: list[Mapping]) -> tuple[bool | None, Mapping | None]:
    pool = _numeric(facts, (unit,))
    if unit == "notes":
        notes = [f for f in facts if f.get("name") == "pitch" and str(f.get("event", "")).startswith("note")]
        pool = pool or ([{"name": "count", "value": len(notes), "unit": "notes", "event": "melody"}] if notes else [])
    if not pool:
        return None, None
    for f in pool:
        if float(f["value"]) == value:
            return True, f
    return False, None


def _check_label(label: str, facts: list[Mapping]) -> tuple[bool | None, Mapping | None]:
    relevant = [f for f in facts if isinstance(f.get("value"), str) and
                any(label in group and f["value"] in group for group in LABEL_GROUPS.values())]
    if not relevant:
        return None, None
    for f in relevant:
        if f["value"] == label:
            return True, f
    return False, None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_mapping(fact: Mapping | object) -> Mapping:
    if isinstance(fact, Mapping):
        return fact
    return {k: getattr(fact, k, "") for k in ("name", "value", "unit", "event")}
