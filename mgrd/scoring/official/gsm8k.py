"""Spoken-MQA's number rule: the gsm8k path of MAmmoTH's `answer_clean`, as AudioBench applies it.

The prediction is cut at the last answer trigger; commas go; the numbers `-?\\d+/?\\.?\\d*` are
taken, the first one after a trigger or else the last one in the text, each normalised by
`delete_extra_zero`; the result, cut to 100 characters, must equal the reference string (case
folded). There is no numeric tolerance and no special handling of `\\boxed{}`.
"""

from __future__ import annotations

import re

TRIGGERS = ("The answer is:", "The answer is", "the answer is", "####")
_NUMBER = re.compile(r"-?\d+/?\.?\d*")
_SPLIT = re.compile("|".join(re.escape(t) for t in TRIGGERS))
MAX_PREDICTION_CHARS = 100


def delete_extra_zero(text: str) -> str:
    """A number string without trailing zeros ("12.50" -> "12.5", "3.0" -> "3", "1/2" -> "0.5").

    Text that is not a number (nor a simple fraction) is returned unchanged.
    """
    try:
        value = float(text)
    except ValueError:
        try:
            num, den = text.split("/")
            value = float(num) / float(den)
        except (ValueError, ZeroDivisionError):
            return text
    # The original strips zeros from str(float) and re-parses; kept as is, quirks included.
    shown = str(value).rstrip("0")
    return str(int(shown[:-1])) if shown.endswith(".") else str(float(shown))

def gsm8k_answer(prediction: str) -> str:
    """The number string the gsm8k rule extracts from `prediction` ("" when there is none).

    >>> gsm8k_answer("7 + 5 = 12. The answer is 12 apples, not 13.")
    '12'
    >>> gsm8k_answer("It costs 1,250.00 dollars")
    '1250'
    """
    pred = prediction.strip("\n")
    if any(pred.count(t) > 1 for t in TRIGGERS):
        # The MAmmoTH rule treats repeated triggers as few-shot echo and keeps the first block.
        pred = pred.split("\n\n")[0]
    parts = _SPLIT.split(pred)
    after_trigger = len(parts) > 1
    pred = parts[-1] if after_trigger else pred
    pred = pred.strip("\n").rstrip(".").rstrip("/").strip(" ").replace(",", "")
    numbers = [delete_extra_zero(s) for s in _NUMBER.findall(pred)]
    if not numbers:
        return ""
    chosen = numbers[0] if after_trigger else numbers[-1]
    return chosen.rstrip(".").rstrip("/")[:MAX_PREDICTION_CHARS]


def gsm8k_reference(answer: str, *, normalise: bool) -> str:
    """The reference string: the text after `#### ` when present, commas removed and trailing
    zeros dropped when `normalise` (the reasoning splits), else the text as stored (arithmetic)."""
    text = str(answer).strip()
    if "####" in text:
        text = text.split("####")[-1].strip().replace(",", "")
    return delete_extra_zero(text) if normalise else text


def gsm8k_match(prediction: str, reference: str) -> bool:
    """Exact (case-folded) equality of the extracted prediction and the reference string."""
    extracted = gsm8k_answer(prediction)
    return bool(extracted) and extracted.lower() == reference.lower()
