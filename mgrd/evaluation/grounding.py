"""A lexicon score of how much a reasoning chain refers to what was heard rather than to text.

For benchmark data there are no known acoustic facts to check claims against; this counts, per
sentence, words naming acoustic properties (pitch, rhythm, timbre, loudness, voice quality) against
words naming text surrogates (transcripts, captions, the question's wording). It is a cheap signal for
comparing runs, not a verifier.
"""

from __future__ import annotations

import re

ACOUSTIC = frozenset("""
pitch pitches pitched hz khz frequency frequencies tone tones tonal timbre loud louder loudest loudness
quiet quieter soft softer volume amplitude decibel db rhythm rhythmic tempo bpm beat beats meter melody
melodic harmony harmonic harmonics chord chords interval intervals note notes octave semitone semitones
rising falling rises falls intonation prosody stress stressed pause pauses pausing duration seconds
second ms echo reverb reverberation noise noisy hiss hum buzz whisper whispering breathy raspy
hoarse vocal voice voices speaker speakers accent accented spoken speech syllable syllables phoneme
phonemes vowel consonant onset decay sustain attack percussive drum drums guitar piano instrument
instruments bass treble high-pitched low-pitched audible hear hears heard hearing listen listening sound
sounds sounding acoustic acoustically waveform spectral spectrum resonance timing fast slow faster slower
""".split())
SURROGATE = frozenset("""
transcript transcription transcribed caption captions text textual wording worded written writes
question's says said keyword keywords label labels title description described metadata
""".split())
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_WORD = re.compile(r"[a-z][a-z'\-]*")


def grounding_score(reasoning: str) -> dict:
    """{"sentences", "acoustic", "surrogate", "score"}: counts of sentences with an acoustic word,
    with a text-surrogate word, and score = acoustic sentences / sentences (None for no reasoning).

    >>> grounding_score("The pitch rises to 440 Hz. The transcript says dog. So B.")["score"]
    0.3333333333333333
    """
    sentences = [s for s in _SENTENCE.split(reasoning.strip()) if s.strip()] if reasoning.strip() else []
    acoustic = surrogate = 0
    for sentence in sentences:
        words = set(_WORD.findall(sentence.lower()))
        acoustic += bool(words & ACOUSTIC)
        surrogate += bool(words & SURROGATE)
    return {"sentences": len(sentences), "acoustic": acoustic, "surrogate": surrogate,
            "score": acoustic / len(sentences) if sentences else None}
