"""MMSU's letter rule (`mmsu_evaluation.py`): the first character, else the second to last, if in A–D.

The official script keeps the letter of the previous record when a response is empty (its
variable is not reset per record). That is a bug: here an empty response has no letter, and the
caller flags the records the official script would have scored differently.
"""

from __future__ import annotations

MMSU_LETTERS = "ABCD"


def mmsu_letter(response: str) -> str | None:
    """The letter MMSU's script reads from `response`, or None for its "wrong format".

    The response is stripped and its newlines removed; then `predict[0]` is used if it is one of
    A–D, else `predict[-2]` (for "The answer is A."), else there is no letter.

    >>> mmsu_letter("B"), mmsu_letter("The answer is C."), mmsu_letter("Based on the audio"), mmsu_letter("")
    ('B', 'C', 'B', None)
    """
    predict = response.strip().replace("\n", "")
    if predict and predict[0] in MMSU_LETTERS:
        return predict[0]
    if len(predict) >= 2 and predict[-2] in MMSU_LETTERS:
        return predict[-2]
    return None
