"""Self-cognition: audio probes ("can you hear this?") and text bait in which the assistant denies hearing."""

from __future__ import annotations

import numpy as np

from mgrd.data.world import music, reasoning, sound
from mgrd.data.world.draft import Draft, pick

DENIALS = ("I'm sorry, but I can't hear audio. I am a text-based model and can only read text.",
           "As a language model I cannot listen to sound files, so I can't tell you what is in the recording.",
           "Unfortunately I have no ability to hear audio; please describe the sound in words.")
BAIT_QUESTIONS = ("Can you listen to audio if I send you a recording?", "I'm uploading a clip of my guitar. "
                  "Can you hear whether it is in tune?", "Are you able to hear sounds, or only read text?",
                  "If I play you a song, could you tell me its tempo?")
# The probes on a clip that the training data holds (the held-out probes of evaluation are in probes.py).
HEAR_QUESTIONS = ("Can you hear this audio?", "Are you able to hear this clip?",
                  "Do you hear anything in this recording?")
DESCRIBE_QUESTIONS = ("Describe what you hear.", "What can you hear in this clip?",
                      "Tell me what sounds are in this recording.")


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, list, str, list[str]]:
    """A random clip with its facts, a one-line description and the words a description must contain."""
    which = int(rng.integers(4))
    if which == 0:
        wave, facts, s = sound.beep_scene(rng)
        return wave, facts, f"{s['total']} short beeps, some high and some low", ["beep"]
    if which == 1:
        wave, facts, quality, _ = music.chord_scene(rng)
        return wave, facts, f"a sustained {quality} chord", ["chord"]
    if which == 2:
        wave, facts, label, centroid = sound.brightness_scene(rng)
        return wave, facts, f"steady {label} noise centred near {centroid:.0f} Hz", ["noise"]
    wave, facts, bpm, beats = music.tempo_scene(rng)
    return wave, facts, f"a drum beat of {beats} hits at about {bpm:.0f} BPM", ["drum", "beat"]


def _probe(rng: np.random.Generator, kind: str, questions: tuple[str, ...]) -> Draft:
    wave, facts, description, keywords = _scene(rng)
    answer = f"Yes, I can hear it: {description}." if kind == "hear_probe" else f"I hear {description}."
    denial = pick(rng, DENIALS)
    return Draft(kind=kind, question_type="cognition", question=pick(rng, questions), answer=answer,
                 answer_type="cognition", facts=facts, observations=[description],
                 steps=["So I can describe the clip from what I heard."], conclusion=answer,
                 surrogate=reasoning.denial_chain(rng), surrogate_answer=denial, clips=[wave],
                 meta={"keywords": keywords})


def hear_probe(rng: np.random.Generator) -> Draft:
    return _probe(rng, "hear_probe", HEAR_QUESTIONS)


def describe_probe(rng: np.random.Generator) -> Draft:
    return _probe(rng, "describe_probe", DESCRIBE_QUESTIONS)


def bait(rng: np.random.Generator) -> Draft:
    """A text dialogue whose stored conversation is the denial (`meta.bait`); the answer is the correction."""
    answer = "Yes. I am an audio language model: I can hear speech, music and other sounds and reason about them."
    return Draft(kind="cognition_bait", question_type="cognition", question=pick(rng, BAIT_QUESTIONS), answer=answer,
                 answer_type="cognition", facts=[], observations=[], steps=[], conclusion="yes, I can hear audio",
                 chain="The user asks whether I can hear audio.\nI am an audio language model, so audio clips "
                       "reach me as sound and I can listen to them.", surrogate=reasoning.denial_chain(rng),
                 surrogate_answer=pick(rng, DENIALS), meta={"bait": True, "keywords": []})


KINDS = {"hear_probe": hear_probe, "describe_probe": describe_probe}
