"""The three reasoning chains of a world item: grounded in what was heard, textual surrogate, and empty.

A grounded chain states the perceived facts with their values, infers step by step, and concludes.
A surrogate chain reasons the way a text-initialised model does: from the question's wording, an
unreliable caption, an imagined transcript or a prior, never from measurements, so it is often wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_HEARD_OPENINGS = ("I listen to the clip carefully.", "Let me listen to the audio first.",
                   "I listen to the recording and note what I hear.", "First, what do I actually hear?")
_HEARD_PREFIXES = ("I hear ", "Listening, I hear ", "The clip contains ", "I can hear ")
_TEXT_OPENINGS = ("The question gives the measurements.", "Let me restate what the question tells me.",
                  "All the facts I need are written in the question.")
_TEXT_PREFIXES = ("The question describes ", "We are told of ", "Given: ")
_CONCLUDE = ("So the answer is {}.", "Therefore the answer is {}.", "Hence: {}.")
_SURROGATE = {
    "wording": ("The question asks about {topic}. Questions worded like this usually expect {prior}.",
                "Reading the question, the wording about {topic} suggests {prior}."),
    "caption": ("The clip probably comes with a caption such as \"{caption}\", and that description points to {prior}.",
                "If the file were titled \"{caption}\", the label would suggest {prior}."),
    "prior": ("Without the transcript I go by what is typical for {topic}: most often it is {prior}.",
              "In most datasets about {topic}, the common answer is {prior}, so I assume that."),
}


def heard_chain(rng: np.random.Generator, observations: Sequence[str], steps: Sequence[str], conclusion: str) -> str:
    """Grounded chain: perceived facts (`observations`, noun phrases with values), steps, conclusion."""
    return _chain(rng, _HEARD_OPENINGS, _HEARD_PREFIXES, observations, steps, conclusion)


def text_chain(rng: np.random.Generator, observations: Sequence[str], steps: Sequence[str], conclusion: str) -> str:
    """The same chain for a text counterpart: the facts come from the question, not from listening."""
    return _chain(rng, _TEXT_OPENINGS, _TEXT_PREFIXES, observations, steps, conclusion)


def surrogate_chain(rng: np.random.Generator, *, topic: str, prior: str, caption: str, conclusion: str) -> str:
    """Surrogate chain: one basis (wording, caption or prior) chosen at random, then the guessed answer."""
    basis = ("wording", "caption", "prior")[int(rng.integers(3))]
    templates = _SURROGATE[basis]
    first = templates[int(rng.integers(len(templates)))].format(topic=topic, prior=prior, caption=caption)
    return f"{first}\nI will go with that guess.\n{_pick(rng, _CONCLUDE).format(conclusion)}"


def denial_chain(rng: np.random.Generator) -> str:
    """The self-cognition error of text-trained models: the assistant believes it cannot hear."""
    return _pick(rng, ("The user mentions an audio clip, but as a text-based model I can only read the text.",
                       "I am a language model; I cannot process sounds, so I cannot listen to this clip.",
                       "There is an audio file, but I only see text, so I cannot hear it."))


def _chain(rng: np.random.Generator, openings: Sequence[str], prefixes: Sequence[str], observations: Sequence[str],
           steps: Sequence[str], conclusion: str) -> str:
    lines = [_pick(rng, openings)]
    lines += [_pick(rng, prefixes) + o + "." for o in observations]
    lines += list(steps)
    lines.append(_pick(rng, _CONCLUDE).format(conclusion))
    return "\n".join(lines)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]
