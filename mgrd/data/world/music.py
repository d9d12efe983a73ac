"""The music family: pitch comparison and intervals, chord quality and mood, melody contour, tempo."""

from __future__ import annotations

import numpy as np

from mgrd.data.records import Fact
from mgrd.data.world import synth
from mgrd.data.world.draft import Draft, choice_draft, pick, value_draft

CONTOURS = ("rising", "falling", "arch", "valley")
MOODS = {"major": "happy and bright", "minor": "sad and melancholy"}
OTHER_MOODS = ("tense and unresolved", "mysterious and floating")
REFERENCES = ((70, "a resting heartbeat"), (100, "a brisk walk"), (120, "a military march"),
              (90, "a relaxed hip-hop groove"), (140, "a fast dance track"))
NOTE_SECONDS = 0.45  # s


def _note_fact(note: int, event: str) -> Fact:
    return Fact("pitch", round(synth.midi_to_hz(note), 1), "Hz", event)


def _say(note: int) -> str:
    return f"{synth.midi_to_hz(note):.1f} Hz ({synth.note_name(note)})"


def melody(notes: list[int], *, note_seconds: float = NOTE_SECONDS, gap: float = 0.1) -> np.ndarray:
    """Notes one after another, each `note_seconds` long with `gap` s of silence between them."""
    events = [(0.2 + i * (note_seconds + gap), synth.harmonic_tone(synth.midi_to_hz(m), note_seconds), 0.0, "note", (m,))
              for i, m in enumerate(notes)]
    return synth.finish(synth.mix(events, 0.2 + len(notes) * (note_seconds + gap) + 0.2))


def two_notes(rng: np.random.Generator) -> tuple[np.ndarray, list[Fact], int, int]:
    first = int(rng.integers(52, 72))
    step = int(rng.integers(1, 13)) * (1 if rng.random() < 0.5 else -1)
    second = first + step
    facts = [_note_fact(first, "note 1"), _note_fact(second, "note 2"), Fact("interval", step, "semitones",
                                                                             "note 1 to note 2")]
    return melody([first, second], note_seconds=0.6, gap=0.25), facts, first, second


def pitch_compare(rng: np.random.Generator) -> Draft:
    wave, facts, a, b = two_notes(rng)
    question = pick(rng, ("Which note is higher, the first or the second?", "Two notes play one after the other. "
                          "Which one is higher in pitch?", "Is the first or the second note higher?"))
    correct = "the second note" if b > a else "the first note"
    obs = [f"the first note at about {_say(a)}", f"the second note at about {_say(b)}"]
    steps = [f"{'The second' if b > a else 'The first'} note has the higher frequency."]
    return choice_draft(rng, kind="pitch_compare", question_type="perception", question=question, correct=correct,
                        distractors=["the first note", "the second note"], facts=facts, observations=obs,
                        steps=steps, topic="two notes", prior="{guess}, since melodies usually go up",
                        caption="two piano notes", clips=[wave],
                        given=f"The first note is {_say(a)} and the second is {_say(b)}.")


def interval(rng: np.random.Generator) -> Draft:
    wave, facts, a, b = two_notes(rng)
    k = abs(b - a)
    question = pick(rng, ("How many semitones apart are the two notes?", "What is the interval between the two "
                          "notes, in semitones?"))
    obs = [f"the first note at about {_say(a)}", f"the second note at about {_say(b)}"]
    steps = [f"From {synth.note_name(a)} to {synth.note_name(b)} is {k} semitones "
             f"(12 x log2({synth.midi_to_hz(b):.1f} / {synth.midi_to_hz(a):.1f}) = {12 * np.log2(synth.midi_to_hz(b) / synth.midi_to_hz(a)):+.1f})."]
    return value_draft(rng, kind="interval", question_type="reasoning", question=question, answer=k,
                       answer_type="integer", facts=facts, observations=obs, steps=steps, topic="musical intervals",
                       prior_value=7, unit="semitones", caption="two notes", clips=[wave],
                       given=f"The first note is {_say(a)} and the second is {_say(b)}.")


def chord_scene(rng: np.random.Generator) -> tuple[np.ndarray, list[Fact], str, int]:
    quality = ("major", "minor")[int(rng.integers(2))]
    root = int(rng.integers(48, 65))
    third = root + (4 if quality == "major" else 3)
    notes = [root, third, root + 7]
    sound = synth.chord([synth.midi_to_hz(m) for m in notes], float(rng.uniform(1.2, 2.0)))
    wave = synth.finish(synth.mix([(0.2, sound, 0.0, "chord", notes)], 0.4 + len(sound) / synth.SAMPLE_RATE))
    facts = [Fact("chord", quality, "", "chord"), _note_fact(root, "root"), _note_fact(third, "third"),
             _note_fact(root + 7, "fifth"), Fact("interval", third - root, "semitones", "root to third")]
    return wave, facts, quality, root


def _chord_obs(quality: str, root: int) -> list[str]:
    k = 4 if quality == "major" else 3
    return [f"three notes at once: the root at {_say(root)}, the third at {_say(root + k)} and the fifth at "
            f"{_say(root + 7)}",
            f"a third {k} semitones above the root"]


def chord_quality(rng: np.random.Generator) -> Draft:
    wave, facts, quality, root = chord_scene(rng)
    question = pick(rng, ("Is this chord major or minor?", "What is the quality of the chord: major or minor?"))
    steps = [f"A third of {4 if quality == 'major' else 3} semitones makes the chord {quality}."]
    return choice_draft(rng, kind="chord_quality", question_type="perception", question=question, correct=quality,
                        distractors=["major", "minor"], facts=facts, observations=_chord_obs(quality, root),
                        steps=steps, topic="chords", prior="{guess}, the most common chord in popular music",
                        caption="a piano chord", clips=[wave],
                        given=f"A chord has {', '.join(_chord_obs(quality, root))}.")


def chord_mood(rng: np.random.Generator) -> Draft:
    wave, facts, quality, root = chord_scene(rng)
    question = pick(rng, ("What mood does this chord most likely suggest?", "Which feeling does this chord convey?"))
    steps = [f"A third of {4 if quality == 'major' else 3} semitones makes the chord {quality}.",
             f"A {quality} chord conveys a {MOODS[quality]} mood."]
    return choice_draft(rng, kind="chord_mood", question_type="reasoning", question=question, correct=MOODS[quality],
                        distractors=list(MOODS.values()) + list(OTHER_MOODS), n=4, facts=facts,
                        observations=_chord_obs(quality, root), steps=steps, topic="the mood of music",
                        prior="{guess}, judging by how such clips are usually described", caption="an emotional chord",
                        clips=[wave], given=f"A chord has {', '.join(_chord_obs(quality, root))}.")


def contour_scene(rng: np.random.Generator) -> tuple[np.ndarray, list[Fact], str, list[int]]:
    shape = CONTOURS[int(rng.integers(len(CONTOURS)))]
    n = int(rng.integers(4, 7))
    steps = rng.integers(1, 5, size=n - 1)
    if shape in ("arch", "valley"):
        turn = int(rng.integers(1, n - 1))
        signs = np.array([1] * turn + [-1] * (n - 1 - turn))
        signs = signs if shape == "arch" else -signs
    else:
        signs = np.ones(n - 1, dtype=int) * (1 if shape == "rising" else -1)
    start = int(rng.integers(55, 68))
    notes = [start] + [start + int(x) for x in np.cumsum(steps * signs)]
    wave = melody(notes, note_seconds=0.35, gap=0.08)
    facts = [_note_fact(m, f"note {i + 1}") for i, m in enumerate(notes)] + [Fact("contour", shape, "", "melody")]
    return wave, facts, shape, notes


def contour(rng: np.random.Generator) -> Draft:
    wave, facts, shape, notes = contour_scene(rng)
    question = pick(rng, ("What is the shape of the melody?", "Does the melody rise, fall, rise then fall (arch), "
                          "or fall then rise (valley)?", "Describe the contour of this tune."))
    obs = [f"{len(notes)} notes: " + ", ".join(_say(m) for m in notes)]
    steps = [f"The pitches go {', '.join(synth.note_name(m) for m in notes)}, so the contour is {shape}."]
    return choice_draft(rng, kind="contour", question_type="perception", question=question, correct=shape,
                        distractors=CONTOURS, facts=facts, observations=obs, steps=steps, topic="melody shapes",
                        prior="{guess}, the usual shape of a phrase", caption="a short tune", clips=[wave],
                        given=f"A melody plays {len(notes)} notes: " + ", ".join(_say(m) for m in notes) + ".")


def contour_span(rng: np.random.Generator) -> Draft:
    wave, facts, shape, notes = contour_scene(rng)
    span = max(notes) - min(notes)
    question = pick(rng, ("How many semitones separate the highest and the lowest note of the melody?",
                          "What is the range of the melody in semitones, from its lowest to its highest note?"))
    obs = [f"{len(notes)} notes: " + ", ".join(_say(m) for m in notes)]
    steps = [f"The highest is {synth.note_name(max(notes))} and the lowest {synth.note_name(min(notes))}.",
             f"{synth.note_name(max(notes))} is {span} semitones above {synth.note_name(min(notes))}."]
    return value_draft(rng, kind="contour_span", question_type="reasoning", question=question, answer=span,
                       answer_type="integer", facts=facts, observations=obs, steps=steps, topic="melodic range",
                       prior_value=5, unit="semitones", caption="a short tune", clips=[wave],
                       given=f"A melody plays {len(notes)} notes: " + ", ".join(_say(m) for m in notes) + ".")


def tempo_scene(rng: np.random.Generator) -> tuple[np.ndarray, list[Fact], float, int]:
    bpm = float(rng.integers(60, 181))
    period = 60.0 / bpm
    beats = max(6, int(4.0 / period))
    events = [(0.2 + i * period, synth.click(rng), 0.0 if i % 4 else 2.0, "beat") for i in range(beats)]
    wave = synth.finish(synth.mix(events, 0.2 + beats * period + 0.1))
    return wave, [Fact("tempo", bpm, "BPM", "beat"), Fact("count", beats, "beats", "beat")], bpm, beats


def tempo(rng: np.random.Generator) -> Draft:
    wave, facts, bpm, beats = tempo_scene(rng)
    question = pick(rng, ("What is the tempo of this beat, in beats per minute?", "Estimate the tempo in BPM.",
                          "How fast is the beat, in BPM?"))
    obs = [f"{beats} evenly spaced drum hits, one every {60 / bpm:.3f} s"]
    steps = [f"60 / {60 / bpm:.3f} s = {bpm:.0f} beats per minute."]
    return value_draft(rng, kind="tempo", question_type="perception", question=question, answer=bpm,
                       answer_type="number", facts=facts, observations=obs, steps=steps, topic="tempo",
                       prior_value=120, unit="BPM", caption="a drum loop", clips=[wave], tolerance=0.08,
                       given=f"A drum hits {beats} times, once every {60 / bpm:.3f} s.")


def tempo_compare(rng: np.random.Generator) -> Draft:
    while True:
        wave, facts, bpm, beats = tempo_scene(rng)
        ref, what = REFERENCES[int(rng.integers(len(REFERENCES)))]
        if abs(bpm - ref) / ref >= 0.2:
            break
    correct = "faster" if bpm > ref else "slower"
    question = f"Is this beat faster or slower than {what} at {ref} BPM?"
    obs = [f"drum hits one every {60 / bpm:.3f} s, a tempo of {bpm:.0f} BPM"]
    steps = [f"{bpm:.0f} BPM is {'more' if bpm > ref else 'less'} than the reference of {ref}, so the beat is "
             f"{correct}."]
    return choice_draft(rng, kind="tempo_compare", question_type="reasoning", question=question, correct=correct,
                        distractors=["faster", "slower"], facts=facts, observations=obs, steps=steps,
                        topic="tempo", prior="{guess}, as most music is", caption="a drum loop", clips=[wave],
                        given=f"A drum hits once every {60 / bpm:.3f} s.")


KINDS = {"pitch_compare": pitch_compare, "interval": interval, "chord_quality": chord_quality,
         "chord_mood": chord_mood, "contour": contour, "contour_span": contour_span, "tempo": tempo,
         "tempo_compare": tempo_compare}
