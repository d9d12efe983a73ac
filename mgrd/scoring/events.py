"""Events: which note, beeps, sound or clip a fact is about, and where a statement mentions one.

A fact's `event` is written in the world's vocabulary: `note 2`, `sound 1`, `high beeps`, `low beeps`,
`all beeps`, `root`, `third`, `fifth`, `chord`, `melody`, `beat`, `noise`, `loudness`, `utterance`,
`number 1`, `operand 2`; intervals name a pair (`note 1 to note 2`, `root to third`); in multi-clip items
every event is prefixed by its clip (`clip 2, note 1`). A mention is a phrase of a statement that names
an event: "the first note", "the opening tone", "note 2", "the next one", "the high beeps", "the root",
"the highest note", "the melody", "in the second clip", "3 notes" (a group, whose listed values are its
members in order), or "a tone" (a blank: it names a sound but not which one, so nothing binds through it).
Mentions are read against the item's own vocabulary: "the third" is a chord tone in a chord item and the
third sound in an item of sounds; a phrase naming a part the item lacks ("the noise" under beeps that
have no noise fact) is a blank.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CHORD_TONES = ("root", "third", "fifth")
BEEP_GROUPS = ("high beeps", "low beeps")
SEQUENTIAL = ("note", "sound", "number", "operand")
WHOLES = {"chord": "chord", "chords": "chord", "melody": "melody", "tune": "melody", "noise": "noise",
          "beat": "beat", "beats": "beat", "hits": "beat", "drum hits": "beat", "loudness": "loudness",
          "voice": "utterance", "utterance": "utterance"}
_ORDINALS = {"first": 1, "1st": 1, "opening": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
             "4th": 4, "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8}
_RELATIVE = {"last": "last", "final": "last", "next": "next", "following": "next"}
_COUNT_WORDS = "two three four five six seven eight nine ten"
_ORD = "|".join(_ORDINALS)
_NOUN = r"(notes?|tones?|sounds?|pitch|numbers?|operands?|one)"
# Words that end a noun phrase, so cannot stand between a number and its noun ("440 Hz and notes").
NOT_DESCRIBING = r"(?:and|then|at|or|the|a|an|hz|khz|bpm|s|ms|seconds|semitones?)\b"
# Patterns in priority order: where two overlap, the earlier one names the event.
_PATTERNS = (
    ("clip", re.compile(rf"\b({_ORD}|last)\s+(?:clip|recording)\b|\b(?:clip|recording)\s+(\d+)\b", re.I)),
    ("numbered", re.compile(r"\b(note|tone|sound|pitch|number|operand)\s+(\d+)\b", re.I)),
    ("ordinal", re.compile(rf"\b({_ORD}|last|final|next|following)\s+(?:[a-z-]+\s+)?{_NOUN}\b", re.I)),
    ("beeps", re.compile(r"\b(high|higher|low|lower)(?:-pitched)?\s+(?:beeps?|ones)\b", re.I)),
    ("extreme", re.compile(r"\b(highest|lowest)(?:\s+(?:notes?|tones?|pitch|ones?|sounds?))?\b|"
                           r"\b(higher|lower)\s+(?:notes?|tones?|ones?)\b", re.I)),
    ("tone", re.compile(r"\b(root|third|fifth)\b", re.I)),
    ("bare", re.compile(rf"\b(?:the|and|then)\s+({_ORD})\b", re.I)),
    ("group", re.compile(rf"\b(?:the|these|those|all|both|its|every|each|\d+|{_COUNT_WORDS.replace(' ', '|')})\s+"
                         rf"(?:(?!{NOT_DESCRIBING})[a-z-]+\s+){{0,2}}?(notes|tones|sounds|beeps|pitches)\b|\b(?:every|each)\s+"
                         r"(note|tone|sound|beep)\b", re.I)),
    ("whole", re.compile(r"\b(drum hits|" + "|".join(w for w in WHOLES if w != "drum hits") + r")\b", re.I)),
    ("blank", re.compile(r"\b(note|tone|sound|beep|pitch)\b", re.I)),
)


@dataclass(frozen=True)
class Event:
    """Where a fact belongs: its clip (None in one-clip items) and its part in the world's vocabulary."""

    clip: int | None
    part: str


@dataclass(frozen=True)
class Mention:
    """A phrase naming a clip (`clip`) or a part (`part`: an event such as `note 2`, a group such as
    `all notes`, a position such as `highest` or `last note`, or "" for a blank), at `start` in its statement."""

    start: int
    clip: int | None = None
    part: str | None = None


@dataclass
class Vocabulary:
    """What events an item has, read from its facts: the parts, the largest index of each sequential kind
    (`note` -> 4), the clips. The mentions of a chain are read against it."""

    parts: set[str] = field(default_factory=set)
    sequence: dict[str, int] = field(default_factory=dict)
    clips: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, events: Iterable[Event]) -> Vocabulary:
        vocabulary = cls()
        for event in events:
            if event.clip is not None:
                vocabulary.clips.add(event.clip)
            for part in pair(event.part) or (event.part,):
                vocabulary.parts.add(part)
                seq = sequential(part)
                if seq:
                    vocabulary.sequence[seq[0]] = max(vocabulary.sequence.get(seq[0], 0), seq[1])
        return vocabulary

    def kind(self, noun: str, last: str | None = None) -> str | None:
        """The sequential kind a noun names here: a tone is a note where the item has notes, else a sound;
        "one" (and an elided noun) takes the kind named last, or the item's only kind."""
        noun = {"pitches": "pitch", "ones": "one"}.get(noun.lower(), noun.lower().removesuffix("s"))
        if noun in ("one", ""):
            if last:
                return last
            kinds = [k for k in ("note", "sound") if k in self.sequence]
            return kinds[0] if len(kinds) == 1 else None
        if noun in ("number", "operand"):
            return noun if noun in self.sequence else None
        order = ("sound", "note") if noun == "sound" else ("note", "sound")
        return next((k for k in order if k in self.sequence), None)


def parse_event(text: str) -> Event:
    """`clip 2, note 1` -> Event(2, "note 1"); `high beeps` -> Event(None, "high beeps")."""
    m = re.match(r"\s*clip\s+(\d+)\s*,\s*(.*)$", str(text), re.I)
    return Event(int(m.group(1)), m.group(2).strip().lower()) if m else Event(None, str(text).strip().lower())


def sequential(part: str) -> tuple[str, int] | None:
    """`note 3` -> ("note", 3); None for parts that are not numbered."""
    m = re.fullmatch(r"(note|sound|number|operand) (\d+)", part)
    return (m.group(1), int(m.group(2))) if m else None


def pair(part: str) -> tuple[str, str] | None:
    """The two parts an interval's event names (`root to third`), or None."""
    m = re.fullmatch(r"(.+?) to (.+)", part)
    return (m.group(1), m.group(2)) if m else None


@dataclass
class Reader:
    """Finds the mentions of one chain's statements in order; remembers the last numbered event, so that
    "the next one" follows it and an elided noun ("the first, at 0.84 s") takes its kind."""

    vocabulary: Vocabulary
    last: tuple[str, int] | None = None

    def mentions(self, statement: str) -> list[Mention]:
        taken: list[tuple[int, int, str, re.Match]] = []
        for name, pattern in _PATTERNS:
            for m in pattern.finditer(statement):
                if not any(m.start() < end and start < m.end() for start, end, _, _ in taken):
                    taken.append((m.start(), m.end(), name, m))
        found = [self._mention(name, m) for _, _, name, m in sorted(taken, key=lambda t: t[0])]
        return [m for m in found if m is not None]

    def _mention(self, name: str, m: re.Match) -> Mention | None:
        v, start = self.vocabulary, m.start()
        if name == "clip":
            word = (m.group(1) or "").lower()
            clip = max(v.clips, default=1) if word == "last" else _ORDINALS.get(word) or int(m.group(2) or 0)
            return Mention(start, clip=clip)
        if name == "numbered":
            return self._numbered(start, v.kind(m.group(1), None), int(m.group(2)))
        if name == "ordinal":
            kind = v.kind(m.group(2), self.last[0] if self.last else None)
            word = m.group(1).lower()
            if _RELATIVE.get(word) == "last":
                return Mention(start, part=f"last {kind}" if kind else "")
            if _RELATIVE.get(word) == "next":
                index = self.last[1] + 1 if self.last and self.last[0] == kind else None
                return self._numbered(start, kind, index)
            return self._numbered(start, kind, _ORDINALS[word])
        if name == "beeps":
            group = "high beeps" if m.group(1).lower().startswith("high") else "low beeps"
            return Mention(start, part=group if group in v.parts else "")
        if name == "extreme":
            # "the higher note" picks one of two; "the highest" one of any number.
            return Mention(start, part=(m.group(1) or m.group(2)).lower())
        if name == "tone":
            tone = m.group(1).lower()
            if tone in v.parts and "root" in v.parts:
                return Mention(start, part=tone)
            return None if tone == "root" else self._bare(start, tone)
        if name == "bare":
            return self._bare(start, m.group(1).lower())
        if name == "group":
            noun = (m.group(1) or m.group(2)).lower()
            if noun.startswith("beep"):
                return Mention(start, part="all beeps" if "all beeps" in v.parts or "high beeps" in v.parts else "")
            kind = v.kind("sound" if noun.startswith("sound") else "note")
            return Mention(start, part=f"all {kind}s" if kind else ("all notes" if "root" in v.parts else ""))
        if name == "whole":
            part = WHOLES[m.group(1).lower()]
            return Mention(start, part=part if part in v.parts else "")
        return Mention(start, part="")

    def _bare(self, start: int, word: str) -> Mention:
        kind = self.vocabulary.kind("", self.last[0] if self.last else None)
        return self._numbered(start, kind, _ORDINALS[word])

    def _numbered(self, start: int, kind: str | None, index: int | None) -> Mention:
        if kind is None or index is None:
            return Mention(start, part="")
        self.last = (kind, index)
        return Mention(start, part=f"{kind} {index}")


def members(group: str, parts: Iterable[str]) -> set[str]:
    """The parts a group stands for among `parts`: `all beeps` -> the high and low beeps (and the count
    of all of them), `all notes` -> every numbered note or chord tone, `chord` -> its tones."""
    parts = set(parts)
    if group == "all beeps":
        return parts & {"all beeps", *BEEP_GROUPS}
    if group == "chord":
        return parts & {"chord", *CHORD_TONES}
    if group.startswith("all "):
        kind = group[4:-1]
        found = {p for p in parts if (sequential(p) or ("",))[0] == kind}
        return found | ({group} & parts) | (parts & set(CHORD_TONES) if kind == "note" else set())
    return {group} & parts


def as_mapping(fact: Mapping | object) -> Mapping:
    """A fact as a mapping with name, value, unit and event (records' `Fact` objects or plain dicts)."""
    if isinstance(fact, Mapping):
        return fact
    return {k: getattr(fact, k, "") for k in ("name", "value", "unit", "event")}
