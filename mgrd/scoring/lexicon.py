"""The grounding lexicon: words naming acoustic properties or text surrogates, and the statement kinds they give.

One vocabulary for both grounding measures: the verifier (`mgrd.scoring.grounding`) classifies each
statement of a chain with it before checking claims, and the benchmark lexicon score
(`mgrd.evaluation.grounding`) counts sentences with it where no facts exist. Ordinals (second, third,
fifth) are not acoustic words: "the second option" refers to no sound; a chord's third is found by
the verifier's event binding instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ACOUSTIC = frozenset("""
hear hears heard hearing listen listens listening listened audible sound sounds sounded sounding acoustic
acoustically tone tones tonal beep beeps note notes pitch pitches pitched high-pitched low-pitched frequency
frequencies hz khz loud louder loudest loudness quiet quieter soft softer level volume amplitude db decibel
decibels bright dark rumble rumbling hiss hissing hum buzz timbre noise noisy tempo bpm beat beats meter rhythm
rhythmic drum drums hit hits percussive duration lasts last lasting seconds ms chord chords major minor
semitone semitones interval intervals octave melody melodic harmony harmonic harmonics contour rising falling
rises falls swelling fades fade fading onset onsets decay sustain attack echo reverb reverberation waveform
spectral spectrum resonance timing fast slow faster slower pace repetition repetitions voice voices vocal
speaker speakers spoken speech syllable syllables phoneme phonemes vowel consonant accent accented intonation
prosody stress stressed pause pauses pausing whisper whispering breathy raspy hoarse instrument instruments
guitar piano bass treble
""".split())
SURROGATE = frozenset("""
question questions question's wording worded caption captions captioned title titled label labels labelled
description described transcript transcripts transcription transcribed lyrics text textual text-based written
writes read reading keyword keywords metadata filename
""".split()) | {"file name", "language model", "only see"}
# Leaning on what is usual instead of on the clip; a surrogate only where nothing was heard.
PRIOR = frozenset("""
usually typically typical commonly common assume guess prior probably dataset datasets cannot can't
""".split()) | {"most often"}
PERCEIVE = frozenset("hear hears heard listen listens listening listened".split())
_CONCLUSION = re.compile(r"\b(the answer is|answer:|hence:)", re.I)
# A statement ends at a line break, or after . ! ? before a capital (so "B. the second note" stays whole),
# or after CJK end punctuation.
_STATEMENT_END = re.compile(r"\n+|(?<=[.!?])\s+(?=[A-Z\"(])|(?<=[。！？])\s*")


def _words(words: Iterable[str]) -> re.Pattern:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(r"(?<![\w'-])(?:" + alternatives + r")(?![\w'-])", re.I)


_ACOUSTIC_RE, _SURROGATE_RE, _PRIOR_RE, _PERCEIVE_RE = (_words(w) for w in (ACOUSTIC, SURROGATE, PRIOR, PERCEIVE))


def names_acoustic(text: str) -> bool:
    """Whether `text` has a word naming an acoustic property, a sound, a voice, or listening."""
    return bool(_ACOUSTIC_RE.search(text))


def acoustic_words(text: str) -> list[str]:
    """The words of the acoustic lexicon in `text`, lower-cased, in order.

    >>> acoustic_words("I hear three high beeps.")
    ['hear', 'beeps']
    """
    return [m.group(0).lower() for m in _ACOUSTIC_RE.finditer(text)]


def names_surrogate(text: str) -> bool:
    """Whether `text` has a word naming a text surrogate (the question, a caption, a transcript...)."""
    return bool(_SURROGATE_RE.search(text))


def split_statements(chain: str) -> list[str]:
    """Lines and sentences of a chain, stripped, empty ones dropped."""
    return [s.strip() for s in _STATEMENT_END.split(chain) if s and s.strip()]


def statement_kind(statement: str) -> str:
    """`text` if it cites the question, a caption, a transcript..., or leans on a prior without listening;
    `neutral` for the conclusion (it restates the answer, whatever the evidence); `acoustic` if it refers
    to an acoustic property; `neutral` otherwise."""
    if names_surrogate(statement):
        return "text"
    if _PRIOR_RE.search(statement) and not _PERCEIVE_RE.search(statement):
        return "text"
    if _CONCLUSION.search(statement):
        return "neutral"
    return "acoustic" if names_acoustic(statement) else "neutral"
