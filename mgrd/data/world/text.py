"""Text items for the cold start: text counterparts of the audio reasoning questions, arithmetic and logic."""

from __future__ import annotations

import numpy as np

from mgrd.data.world import composite, music, reasoning, sound
from mgrd.data.world.draft import Draft, choice_draft, pick, value_draft

# Reasoning and composite kinds whose counterparts are written out (speech has its own: arithmetic).
COUNTERPARTS = {**{k: f for k, f in sound.KINDS.items() if k in ("beep_difference", "duration_sum",
                                                                  "loudness_distance", "brightness_source")},
                **{k: f for k, f in music.KINDS.items() if k in ("interval", "chord_mood", "contour_span",
                                                                  "tempo_compare")},
                **composite.KINDS}
NAMES = ("Ann", "Ben", "Cara", "Dev", "Eli", "Fay")
TRAITS = (("taller", "shortest", "tallest"), ("older", "youngest", "oldest"), ("faster", "slowest", "fastest"))


def counterpart(rng: np.random.Generator) -> Draft:
    """A reasoning question with its facts written into the question and a full text chain of thought."""
    kinds = sorted(COUNTERPARTS)
    source = kinds[int(rng.integers(len(kinds)))]
    d = COUNTERPARTS[source](rng)
    question = d.question.replace("the first clip", "the first recording").replace("the second clip",
                                                                                    "the second recording")
    d.question = f"{d.given} {question}"
    d.chain = reasoning.text_chain(rng, d.observations, d.steps, d.conclusion)
    d.kind, d.question_type, d.clips = f"text_{source}", "reasoning", []
    d.meta = {**d.meta, "counterpart_of": source}
    return d


def arithmetic(rng: np.random.Generator) -> Draft:
    """A two-step word problem."""
    rows, per, broken = int(rng.integers(3, 10)), int(rng.integers(3, 10)), int(rng.integers(1, 10))
    total = rows * per
    item = pick(rng, ("eggs", "apples", "tiles", "seats"))
    question = (f"A crate holds {rows} rows of {per} {item}. {broken} of them are taken away. "
                f"How many {item} are left?")
    steps = [f"The crate holds {rows} x {per} = {total} {item}.", f"Taking away {broken}: {total} - {broken} = "
             f"{total - broken}."]
    d = value_draft(rng, kind="text_arithmetic", question_type="reasoning", question=question,
                    answer=total - broken, answer_type="integer", facts=[], observations=[], steps=steps,
                    topic="a word problem", prior_value=total, unit="", caption="", clips=[])
    d.chain = "\n".join(steps + [f"So the answer is {total - broken}."])
    return d


def logic(rng: np.random.Generator) -> Draft:
    """An ordering puzzle: three or four people ranked by pairwise statements."""
    n = int(rng.integers(3, 5))
    people = [NAMES[i] for i in rng.permutation(len(NAMES))[:n]]  # people[0] ranks highest
    more, least, most = TRAITS[int(rng.integers(len(TRAITS)))]
    facts = [f"{people[i]} is {more} than {people[i + 1]}" for i in range(n - 1)]
    shown = [facts[i] for i in rng.permutation(n - 1)]
    ask_least = bool(rng.random() < 0.5)
    target = people[-1] if ask_least else people[0]
    question = f"{'. '.join(shown)}. Who is the {least if ask_least else most}?"
    steps = [f"Chaining the statements: {' > '.join(people)} (by how {more[:-2]} they are)."]
    d = choice_draft(rng, kind="text_logic", question_type="reasoning", question=question, correct=target,
                     distractors=people, n=min(n, 4), facts=[], observations=[], steps=steps, topic="an ordering",
                     prior="{guess}, the first name mentioned", caption="", clips=[])
    d.chain = "\n".join(steps + [f"So the {least if ask_least else most} is {target}: {d.conclusion}."])
    return d


KINDS = {"counterpart": counterpart, "arithmetic": arithmetic, "logic": logic}
WEIGHTS = {"counterpart": 0.6, "arithmetic": 0.2, "logic": 0.2}
