"""The sound family: beep counting, duration comparison, loudness trend, bright versus dark noise."""

from __future__ import annotations

import numpy as np

from mgrd.data.records import Fact
from mgrd.data.world import synth
from mgrd.data.world.draft import Draft, choice_draft, ordinal, pick, value_draft

BEEP_SECONDS = 0.12  # s
NOISE_BED_DB = -30.0  # dB of the distractor noise under the beeps
TRENDS = ("rising", "falling", "steady", "swelling")
TREND_MEANING = {"rising": "approaching", "falling": "moving away", "steady": "staying at the same distance",
                 "swelling": "passing by"}
DARK_SOURCES = ("distant thunder", "an idling truck engine", "a far-away waterfall", "wind against a window")
BRIGHT_SOURCES = ("steam hissing from a pipe", "a crash cymbal ringing", "radio static", "a spray can")


def beep_scene(rng: np.random.Generator, *, more_high: bool = False) -> tuple[np.ndarray, list[Fact], dict]:
    """High and low beeps in random order over a quiet noise bed; facts: counts and both pitches."""
    low_note = int(rng.integers(55, 65))
    high_note = low_note + int(rng.integers(7, 13))
    high = int(rng.integers(2 if more_high else 1, 7))
    low = int(rng.integers(0, high if more_high else 6))
    total = high + low
    if total < 2:
        low += 2 - total
        total = 2
    order = rng.permutation([1] * high + [0] * low)
    ioi = float(rng.uniform(0.3, 0.45))
    lead = float(rng.uniform(0.2, 0.4))
    seconds = lead + total * ioi + 0.3
    f_low, f_high = synth.midi_to_hz(low_note), synth.midi_to_hz(high_note)
    events = [(lead + i * ioi, synth.harmonic_tone(f_high if h else f_low, BEEP_SECONDS), 0.0,
               "high" if h else "low", (high_note if h else low_note,))
              for i, h in enumerate(order)]
    events.append((0.0, synth.shaped_noise(rng, seconds, low_hz=200, high_hz=4000), NOISE_BED_DB))
    wave = synth.finish(synth.mix(events, seconds))
    facts = [Fact("count", total, "beeps", "all beeps"), Fact("count", high, "beeps", "high beeps"),
             Fact("count", low, "beeps", "low beeps"), Fact("pitch", round(f_high, 1), "Hz", "high beeps"),
             Fact("pitch", round(f_low, 1), "Hz", "low beeps")]
    scene = {"total": total, "high": high, "low": low, "f_high": f_high, "f_low": f_low,
             "low_note": low_note, "high_note": high_note}
    return wave, facts, scene


def beep_count(rng: np.random.Generator) -> Draft:
    wave, facts, s = beep_scene(rng)
    question = pick(rng, ("How many beeps do you hear?", "Count the beeps in the clip. How many are there?",
                          "How many beeps are in this recording, high and low together?"))
    obs = [f"{s['high']} high beeps at about {s['f_high']:.1f} Hz",
           f"{s['low']} low beeps at about {s['f_low']:.1f} Hz, over a quiet background noise"]
    steps = [f"Counting every beep: {s['high']} + {s['low']} = {s['total']} beeps."]
    return value_draft(rng, kind="beep_count", question_type="perception", question=question, answer=s["total"],
                       answer_type="integer", facts=facts, observations=obs, steps=steps,
                       topic="counting beeps", prior_value=4, unit="beeps", caption="a few beeps", clips=[wave],
                       given=f"A clip has {s['high']} high beeps at {s['f_high']:.1f} Hz and {s['low']} low "
                             f"beeps at {s['f_low']:.1f} Hz.")


def beep_difference(rng: np.random.Generator) -> Draft:
    wave, facts, s = beep_scene(rng, more_high=True)
    diff = s["high"] - s["low"]
    question = pick(rng, ("How many more high beeps than low beeps are there?",
                          "There are two kinds of beeps, high and low. By how many do the high ones outnumber "
                          "the low ones?"))
    obs = [f"high beeps at about {s['f_high']:.1f} Hz and low beeps at about {s['f_low']:.1f} Hz",
           f"{s['high']} high beeps and {s['low']} low beeps"]
    steps = [f"The difference is {s['high']} - {s['low']} = {diff}."]
    return value_draft(rng, kind="beep_difference", question_type="reasoning", question=question, answer=diff,
                       answer_type="integer", facts=facts, observations=obs, steps=steps,
                       topic="comparing high and low beeps", prior_value=2, unit="", caption="high and low beeps",
                       clips=[wave], given=f"A clip has {s['high']} high beeps at {s['f_high']:.1f} Hz and "
                                           f"{s['low']} low beeps at {s['f_low']:.1f} Hz.")


def duration_scene(rng: np.random.Generator, events: int) -> tuple[np.ndarray, list[Fact], list[float]]:
    """2-3 sounds (tones or noise bursts) whose durations differ by at least 50 %."""
    steps = sorted(rng.choice(5, size=events, replace=False))
    durations = [round(0.25 * 1.5 ** int(k), 3) for k in steps]
    durations = [durations[i] for i in rng.permutation(events)]
    t = float(rng.uniform(0.2, 0.4))
    mixed = []
    for d in durations:
        notes: tuple[int, ...] = ()
        if rng.random() < 0.5:
            notes = (int(rng.integers(55, 75)),)
            wave = synth.harmonic_tone(synth.midi_to_hz(notes[0]), d)
        else:
            wave = synth.shaped_noise(rng, d, low_hz=300, high_hz=3000)
        mixed.append((t, wave, float(rng.uniform(-3, 0)), "sound", notes))
        t += d + float(rng.uniform(0.3, 0.5))
    wave = synth.finish(synth.mix(mixed, t + 0.1))
    facts = [Fact("duration", d, "s", f"sound {i + 1}") for i, d in enumerate(durations)]
    return wave, facts, durations


def duration_compare(rng: np.random.Generator) -> Draft:
    n = int(rng.integers(2, 4))
    wave, facts, d = duration_scene(rng, n)
    longest = int(np.argmax(d))
    names = [f"the {ordinal(i)} sound" for i in range(n)]
    question = pick(rng, (f"Which of the {n} sounds lasts the longest?", "Which sound is the longest?",
                          f"You will hear {n} sounds. Which one lasts longest?"))
    obs = [f"{n} separate sounds"] + [f"{names[i]} lasting about {x:.2f} s" for i, x in enumerate(d)]
    steps = [f"The longest duration is {d[longest]:.2f} s, which belongs to {names[longest]}."]
    return choice_draft(rng, kind="duration_compare", question_type="perception", question=question,
                        correct=names[longest], distractors=names, facts=facts, observations=obs, steps=steps,
                        topic="which sound is longest", prior="{guess}, since the last sound is often held longest",
                        caption="short sound effects", clips=[wave],
                        given="A clip has " + ", ".join(f"{names[i]} lasting {x:.2f} s" for i, x in enumerate(d)) + ".")


def duration_sum(rng: np.random.Generator) -> Draft:
    wave, facts, d = duration_scene(rng, 3)
    first_longer = d[0] > d[1] + d[2]
    question = pick(rng, ("Is the first sound longer than the second and third sounds put together?",
                          "Compare the first sound with the other two combined: which lasts longer?"))
    correct = "the first sound" if first_longer else "the second and third together"
    obs = [f"the first sound lasting about {d[0]:.2f} s", f"the second sound lasting about {d[1]:.2f} s",
           f"the third sound lasting about {d[2]:.2f} s"]
    steps = [f"Together the second and third last {d[1]:.2f} + {d[2]:.2f} = {d[1] + d[2]:.2f}, in seconds.",
             f"The first, at {d[0]:.2f} s, is {'longer' if first_longer else 'shorter'} than that sum."]
    return choice_draft(rng, kind="duration_sum", question_type="reasoning", question=question, correct=correct,
                        distractors=["the first sound", "the second and third together"], facts=facts,
                        observations=obs, steps=steps, topic="sound durations",
                        prior="{guess}, because one sound rarely outlasts two", caption="three sounds",
                        clips=[wave], given=f"A clip has three sounds lasting {d[0]:.2f} s, {d[1]:.2f} s and "
                                            f"{d[2]:.2f} s.")


def loudness_scene(rng: np.random.Generator) -> tuple[np.ndarray, list[Fact], str, list[float]]:
    """6-8 equal tones (or noise bursts) whose level follows one of TRENDS; facts: trend and change in dB."""
    trend = TRENDS[int(rng.integers(len(TRENDS)))]
    n = int(rng.integers(6, 9))
    span = float(rng.uniform(15, 24))
    ramp = np.linspace(0.0, 1.0, n)
    levels = {"rising": -span + span * ramp, "falling": -span * ramp, "steady": np.zeros(n),
              "swelling": -span * np.abs(2 * ramp - 1)}[trend]
    levels = [round(float(x), 1) for x in levels]
    tonal = rng.random() < 0.5
    note = int(rng.integers(57, 72))
    f0 = synth.midi_to_hz(note)
    ioi = float(rng.uniform(0.35, 0.5))
    # One sound repeated, so that only the gain changes from one repetition to the next.
    wave = synth.harmonic_tone(f0, 0.2) if tonal else synth.shaped_noise(rng, 0.2, low_hz=300, high_hz=3000)
    events = [(0.2 + i * ioi, wave, level, "sound", (note,) if tonal else ()) for i, level in enumerate(levels)]
    wave = synth.finish(synth.mix(events, 0.2 + n * ioi + 0.2))
    facts = [Fact("trend", trend, "", "loudness"), Fact("level change", round(levels[-1] - levels[0], 1), "dB",
                                                         "first to last sound")]
    if trend == "swelling":
        facts.append(Fact("level change", round(max(levels) - levels[0], 1), "dB", "first to loudest sound"))
    return wave, facts, trend, levels


def _describe_levels(trend: str, levels: list[float]) -> str:
    if trend == "swelling":
        return f"a level growing by about {max(levels) - levels[0]:.0f} dB and then fading by as much"
    if trend == "steady":
        return "the same level on every repetition, within a decibel"
    return f"a level going from {levels[0]:.0f} dB to {levels[-1]:.0f} dB relative to the loudest sound"


def loudness_trend(rng: np.random.Generator) -> Draft:
    wave, facts, trend, levels = loudness_scene(rng)
    question = pick(rng, ("How does the loudness change over the clip?", "Does the sound get louder, quieter, "
                          "stay the same, or swell and fade?", "Describe the loudness trend of the repeated sound."))
    obs = [f"{len(levels)} repetitions of the same sound", _describe_levels(trend, levels)]
    steps = [f"That pattern means the loudness trend is {trend}."]
    return choice_draft(rng, kind="loudness_trend", question_type="perception", question=question, correct=trend,
                        distractors=TRENDS, facts=facts, observations=obs, steps=steps, topic="loudness",
                        prior="{guess}, as sounds in clips like this usually are", caption="a repeating sound",
                        clips=[wave], given=f"A repeated sound: {_describe_levels(trend, levels)}.")


def loudness_distance(rng: np.random.Generator) -> Draft:
    wave, facts, trend, levels = loudness_scene(rng)
    question = pick(rng, ("This is a car horn honking repeatedly. Is the car approaching, moving away, staying at "
                          "the same distance, or passing by?",
                          "A bell rings several times while its source moves (or not). What is the source doing?"))
    obs = [_describe_levels(trend, levels)]
    steps = [f"So the loudness trend is {trend}.",
             f"A {trend} level means the source is {TREND_MEANING[trend]}, since closer sources sound louder."]
    return choice_draft(rng, kind="loudness_distance", question_type="reasoning", question=question,
                        correct=TREND_MEANING[trend], distractors=list(TREND_MEANING.values()), facts=facts,
                        observations=obs, steps=steps, topic="a moving sound source",
                        prior="{guess}, which is what such scenes usually show", caption="traffic noise",
                        clips=[wave], given=f"A repeated sound: {_describe_levels(trend, levels)}.")


def brightness_scene(rng: np.random.Generator) -> tuple[np.ndarray, list[Fact], str, float]:
    bright = bool(rng.random() < 0.5)
    low, high = (float(rng.integers(25, 41)) * 100, float(rng.integers(60, 78)) * 100) if bright else \
        (float(rng.integers(6, 16)) * 10, float(rng.integers(50, 101)) * 10)
    seconds = float(rng.uniform(1.0, 2.5))
    wave = synth.finish(synth.shaped_noise(rng, seconds, low_hz=low, high_hz=high, ramp=0.05))
    label = "bright" if bright else "dark"
    centroid = (low + high) / 2  # a flat band's spectral centroid is its middle
    return wave, [Fact("brightness", label, "", "noise"), Fact("spectral centroid", centroid, "Hz", "noise")], \
        label, centroid


def brightness(rng: np.random.Generator) -> Draft:
    wave, facts, label, centroid = brightness_scene(rng)
    question = pick(rng, ("Is this noise bright (hissing) or dark (rumbling)?", "Does the noise sound bright "
                          "or dark?", "Is the timbre of this noise bright or dark?"))
    obs = [f"a steady noise whose energy is centred near {centroid:.0f} Hz"]
    steps = [f"Energy {'high' if label == 'bright' else 'low'} in frequency sounds {label}."]
    return choice_draft(rng, kind="brightness", question_type="perception", question=question, correct=label,
                        distractors=["bright", "dark"], facts=facts, observations=obs, steps=steps,
                        topic="the timbre of noise", prior="{guess}, since noise is usually described that way",
                        caption="background noise", clips=[wave],
                        given=f"A steady noise has its energy centred near {centroid:.0f} Hz.")


def brightness_source(rng: np.random.Generator) -> Draft:
    wave, facts, label, centroid = brightness_scene(rng)
    same, other = (BRIGHT_SOURCES, DARK_SOURCES) if label == "bright" else (DARK_SOURCES, BRIGHT_SOURCES)
    correct = same[int(rng.integers(len(same)))]
    question = pick(rng, ("Which source most likely made this noise?", "What is the most plausible source of "
                          "this sound?"))
    obs = [f"a steady {label} noise whose energy is centred near {centroid:.0f} Hz"]
    steps = [f"Of the options, only {correct} makes a {label} noise; the others make the opposite kind."]
    return choice_draft(rng, kind="brightness_source", question_type="reasoning", question=question,
                        correct=correct, distractors=list(other), n=4, facts=facts, observations=obs, steps=steps,
                        topic="identifying a noise source", prior="{guess}, which is a common sound",
                        caption="ambient sound", clips=[wave],
                        given=f"A steady noise has its energy centred near {centroid:.0f} Hz.")


KINDS = {"beep_count": beep_count, "beep_difference": beep_difference, "duration_compare": duration_compare,
         "duration_sum": duration_sum, "loudness_trend": loudness_trend, "loudness_distance": loudness_distance,
         "brightness": brightness, "brightness_source": brightness_source}
