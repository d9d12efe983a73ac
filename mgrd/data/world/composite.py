"""Composite items: two perceptions (two clips) and an operation, where explicit reasoning helps."""

from __future__ import annotations

import numpy as np

from mgrd.data.records import Fact
from mgrd.data.world import music, sound, synth
from mgrd.data.world.draft import Draft, value_draft


def _in_clip(facts: list[Fact], clip: int) -> list[Fact]:
    return [Fact(f.name, f.value, f.unit, f"clip {clip}, {f.event}") for f in facts]


def beeps_plus_interval(rng: np.random.Generator) -> Draft:
    beeps, beep_facts, s = sound.beep_scene(rng)
    notes, note_facts, a, b = music.two_notes(rng)
    k = abs(b - a)
    answer = s["total"] + k
    question = ("Count the beeps in the first clip, then add the number of semitones between the two notes in "
                "the second clip. What number do you get?")
    obs = [f"{s['total']} beeps in the first clip ({s['high']} high, {s['low']} low)",
           f"two notes in the second clip, {synth.midi_to_hz(a):.1f} Hz ({synth.note_name(a)}) then "
           f"{synth.midi_to_hz(b):.1f} Hz ({synth.note_name(b)})"]
    steps = [f"The notes are {k} semitones apart.", f"{s['total']} + {k} = {answer}."]
    return value_draft(rng, kind="beeps_plus_interval", question_type="composite", question=question,
                       answer=answer, answer_type="integer", facts=_in_clip(beep_facts, 1) + _in_clip(note_facts, 2),
                       observations=obs, steps=steps, topic="counting and intervals", prior_value=11, unit="",
                       caption="beeps and two notes", clips=[beeps, notes],
                       given=f"The first clip has {s['total']} beeps; the second has two notes, "
                             f"{synth.midi_to_hz(a):.1f} Hz ({synth.note_name(a)}) then "
                             f"{synth.midi_to_hz(b):.1f} Hz ({synth.note_name(b)}).")


def chord_then_beeps(rng: np.random.Generator) -> Draft:
    chord, chord_facts, quality, root = music.chord_scene(rng)
    beeps, beep_facts, s = sound.beep_scene(rng)
    answer = s["total"] if quality == "major" else 2 * s["total"]
    question = ("If the chord in the first clip is major, answer with the number of beeps in the second clip; "
                "if it is minor, answer with twice that number.")
    third = 4 if quality == "major" else 3
    obs = [f"a chord in the first clip whose third is {third} semitones above the root at "
           f"{synth.midi_to_hz(root):.1f} Hz, so it is {quality}", f"{s['total']} beeps in the second clip"]
    steps = [f"The chord is {quality}, so I " + ("keep the count" if quality == "major" else
                                                 f"double the count: 2 x {s['total']} = {answer}") + "."]
    return value_draft(rng, kind="chord_then_beeps", question_type="composite", question=question, answer=answer,
                       answer_type="integer", facts=_in_clip(chord_facts, 1) + _in_clip(beep_facts, 2),
                       observations=obs, steps=steps, topic="a chord and beeps", prior_value=8, unit="",
                       caption="a chord and some beeps", clips=[chord, beeps],
                       given=f"The first clip is a {quality} chord; the second has {s['total']} beeps.")


def tempo_difference(rng: np.random.Generator) -> Draft:
    while True:
        first, facts1, bpm1, _ = music.tempo_scene(rng)
        second, facts2, bpm2, _ = music.tempo_scene(rng)
        if abs(bpm1 - bpm2) >= 30:
            break
    diff = abs(bpm1 - bpm2)
    question = "Two drum beats play in two clips. How many beats per minute faster is the faster one?"
    obs = [f"the beat of the first clip at {bpm1:.0f} BPM (a hit every {60 / bpm1:.3f} s)",
           f"the beat of the second clip at {bpm2:.0f} BPM (a hit every {60 / bpm2:.3f} s)"]
    steps = [f"The difference is {max(bpm1, bpm2):.0f} - {min(bpm1, bpm2):.0f} = {diff:.0f}."]
    # Two tempos each heard within 8 % give a looser difference, hence 15 % rather than 8 %.
    return value_draft(rng, kind="tempo_difference", question_type="composite", question=question, answer=diff,
                       answer_type="number", facts=_in_clip(facts1, 1) + _in_clip(facts2, 2), observations=obs,
                       steps=steps, topic="two tempos", prior_value=20, unit="BPM", caption="two drum loops",
                       clips=[first, second], tolerance=0.15,
                       given=f"The first beat hits every {60 / bpm1:.3f} s, the second every {60 / bpm2:.3f} s.")


KINDS = {"beeps_plus_interval": beeps_plus_interval, "chord_then_beeps": chord_then_beeps,
         "tempo_difference": tempo_difference}
