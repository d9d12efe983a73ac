"""A small built-in English corpus for training the tokenizer of a random tiny model.

It covers what tiny models talk about (sounds, music, speech, numbers, the reasoning format), so
that `mgrd init-tiny` works offline. Trained pipelines build their tokenizer from their own data.
"""

from __future__ import annotations

import itertools

_SUBJECTS = ["the tone", "the first beep", "the second note", "the melody", "the speaker", "the chord",
             "the noise", "the rhythm", "the voice", "the drum", "the sound", "the clip", "the music"]
_VERBS = ["is higher than", "is lower than", "is louder than", "is quieter than", "lasts longer than",
          "is faster than", "is slower than", "sounds brighter than", "sounds darker than", "repeats"]
_FACTS = ["pitch 440 Hz", "tempo 120 BPM", "duration 0.8 s", "count 5 beeps", "interval +7 semitones",
          "chord minor", "trend rising", "speech rate fast", "loudness -12 dB", "spoken number 12"]
_QUESTIONS = ["Which tone is higher?", "How many beeps do you hear?", "Is the chord major or minor?",
              "What is the tempo in BPM?", "Is the melody rising, falling or arch-shaped?",
              "What number does the speaker say?", "Is the speech slow, normal or fast?",
              "Does the loudness rise, fall or stay steady?", "Which event lasts longer?",
              "What mood does the music suggest, and why?", "Listen to the audio and answer."]
_REASONING = ["I hear two tones. The first is near 440 Hz and the second near 660 Hz, so the second is higher.",
              "Counting the beeps one by one: 1, 2, 3, 4, 5. There are 5 beeps.",
              "The chord has a minor third above the root, so it is minor, which often sounds sad.",
              "The beats come about every 0.5 s, which is 120 beats per minute.",
              "The speaker says seven plus five. Seven plus five is twelve."]


def tiny_corpus() -> list[str]:
    """Deterministic sentences for tokenizer training (a few thousand lines)."""
    lines = [f"{s.capitalize()} {v} {o}." for s, v, o in itertools.product(_SUBJECTS, _VERBS, _SUBJECTS[:6])]
    lines += [f"The audio has {f}." for f in _FACTS]
    lines += _QUESTIONS + _REASONING
    lines += [f"<think>\n{r}\n</think>\n{q}" for r, q in zip(_REASONING, _QUESTIONS)]
    lines += [f"{a} + {b} = {a + b}. {a} times {b} is {a * b}." for a in range(13) for b in range(13)]
    lines += ["A. yes\nB. no\nC. higher\nD. lower", "The answer is (A).", "Answer: B",
              "I cannot hear audio.", "I can hear the audio clearly."]
    lines += [" ".join(str(i) for i in range(k, k + 10)) for k in range(0, 200, 10)]
    return lines
