"""The speech family (the Spoken-MQA analogue): spoken numbers, spoken arithmetic, number comparison, speech rate."""

from __future__ import annotations

import numpy as np

from mgrd.data.records import Fact
from mgrd.data.world import synth
from mgrd.data.world.draft import Draft, choice_draft, pick, value_draft
from mgrd.data.world.voice import RATES, shared_voice

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SENTENCES = ("The train to the city leaves from the second platform.", "Please put the green box on the table.",
             "My brother likes to walk his dog in the park.", "We will meet at the library after lunch.",
             "The little boat sailed across the quiet lake.", "She bought fresh bread at the corner shop.")
OPERATIONS = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}


def number_words(n: int) -> str:
    """English words of 0 <= n < 1000 (`forty-two`, `three hundred and five`)."""
    if not 0 <= n < 1000:
        raise ValueError(f"number_words takes 0..999, got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    rest = n % 100
    return f"{_ONES[n // 100]} hundred" + ("" if rest == 0 else f" and {number_words(rest)}")


def active_seconds(wave: np.ndarray, floor_db: float = -35.0) -> float:
    """Seconds from the first to the last 20 ms frame within `floor_db` of the loudest frame."""
    frame = int(0.02 * synth.SAMPLE_RATE)
    frames = wave[:len(wave) // frame * frame].reshape(-1, frame).astype(np.float64)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    active = np.flatnonzero(db > db.max() + floor_db)
    return float((active[-1] - active[0] + 1) * frame / synth.SAMPLE_RATE)


def _speak(text: str, rate: str = "normal") -> np.ndarray:
    wave = shared_voice().speak(text, rate)
    pad = np.zeros(synth.n_samples(0.2), dtype=np.float32)
    return np.concatenate([pad, wave, pad])


def spoken_number(rng: np.random.Generator) -> Draft:
    n = int(rng.integers(0, 1000)) if rng.random() < 0.5 else int(rng.integers(0, 100))
    script = pick(rng, ("The number is {}.", "{}.", "Write down {}.", "My number is {}."))
    wave = _speak(script.format(number_words(n)))
    facts = [Fact("spoken number", n, "", "utterance")]
    question = pick(rng, ("What number does the speaker say?", "Which number is spoken in the clip? Answer with "
                          "digits."))
    return value_draft(rng, kind="spoken_number", question_type="perception", question=question, answer=n,
                       answer_type="integer", facts=facts, observations=[f"the words \"{number_words(n)}\" in a clear voice"],
                       steps=[f"\"{number_words(n)}\" is {n} in digits."], topic="a spoken number",
                       prior_value=10, unit="", caption="a voice reading a number", clips=[wave],
                       given=f"A speaker says \"{number_words(n)}\".")


def spoken_arithmetic(rng: np.random.Generator) -> Draft:
    op = ("plus", "minus", "times")[int(rng.integers(3))]
    a, b = (int(rng.integers(2, 13)), int(rng.integers(2, 13))) if op == "times" else \
        (int(rng.integers(5, 60)), int(rng.integers(1, 40)))
    if op == "minus" and b > a:
        a, b = b, a
    result = OPERATIONS[op](a, b)
    spoken_op = {"plus": pick(rng, ("plus", "and")), "minus": pick(rng, ("minus", "take away")),
                 "times": pick(rng, ("times", "multiplied by"))}[op]
    script = pick(rng, ("What is {a} {op} {b}?", "Compute {a} {op} {b}.", "Tell me {a} {op} {b}."))
    text = script.format(a=number_words(a), op=spoken_op, b=number_words(b))
    wave = _speak(text)
    facts = [Fact("spoken number", a, "", "operand 1"), Fact("spoken number", b, "", "operand 2"),
             Fact("operation", op, "", "utterance")]
    question = pick(rng, ("Solve the arithmetic problem spoken in the clip.", "Answer the spoken question with a "
                          "number.", "The speaker asks a maths question. What is the answer?"))
    symbol = {"plus": "+", "minus": "-", "times": "x"}[op]
    return value_draft(rng, kind="spoken_arithmetic", question_type="reasoning", question=question, answer=result,
                       answer_type="integer", facts=facts, observations=[f"the words \"{text}\" in a clear voice"],
                       steps=[f"That is {a} {symbol} {b}.", f"{a} {symbol} {b} = {result}."],
                       topic="a spoken maths question", prior_value=12, unit="", caption="a maths question",
                       clips=[wave], given=f"A speaker asks: \"{text}\"")


def number_compare(rng: np.random.Generator) -> Draft:
    a, b = (int(x) for x in rng.choice(100, size=2, replace=False))
    text = pick(rng, ("The first number is {a}. The second number is {b}.", "{a}, and then {b}.",
                      "First {a}, then {b}.")).format(a=number_words(a), b=number_words(b))
    wave = _speak(text)
    facts = [Fact("spoken number", a, "", "number 1"), Fact("spoken number", b, "", "number 2")]
    correct = "the first number" if a > b else "the second number"
    question = pick(rng, ("The speaker says two numbers. Which one is larger?", "Which spoken number is bigger, "
                          "the first or the second?"))
    obs = [f"the voice saying {number_words(a)} first and {number_words(b)} second"]
    steps = [f"{max(a, b)} is larger than {min(a, b)}, and {max(a, b)} was said {'first' if a > b else 'second'}."]
    return choice_draft(rng, kind="number_compare", question_type="reasoning", question=question, correct=correct,
                        distractors=["the first number", "the second number"], facts=facts, observations=obs,
                        steps=steps, topic="two spoken numbers", prior="{guess}, since people often count upwards",
                        caption="someone reading numbers", clips=[wave], given=f"A speaker says: \"{text}\"")


def speech_rate(rng: np.random.Generator) -> Draft:
    rate = tuple(RATES)[int(rng.integers(len(RATES)))]
    sentence = SENTENCES[int(rng.integers(len(SENTENCES)))]
    wave = _speak(sentence, rate)
    words = len(sentence.split())
    wps = words / active_seconds(wave)
    facts = [Fact("speech rate", rate, "", "utterance"), Fact("speaking rate", round(wps, 2), "words/s", "utterance")]
    question = pick(rng, ("Is the speaker talking slowly, at a normal pace, or fast?", "How fast is the speech: "
                          "slow, normal or fast?"))
    obs = [f"{words} words spoken at about {wps:.1f} words per second"]
    steps = [f"About {wps:.1f} words per second counts as {rate} speech."]
    return choice_draft(rng, kind="speech_rate", question_type="perception", question=question, correct=rate,
                        distractors=list(RATES), facts=facts, observations=obs, steps=steps, topic="speaking pace",
                        prior="{guess}, the usual pace of a recorded sentence", caption="a person reading a sentence",
                        clips=[wave], given=f"A speaker says {words} words at {wps:.1f} words per second.")


KINDS = {"spoken_number": spoken_number, "spoken_arithmetic": spoken_arithmetic, "number_compare": number_compare,
         "speech_rate": speech_rate}
