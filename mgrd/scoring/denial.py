"""The DPO filter's rule for a denial of hearing: the phrases the self-cognition stage selects rejected responses by.

It lives on the lowest layer so that the training stage (which filters with it) and the evaluation
(which reports the rate it sees beside an independent measure) share one implementation without
importing each other. The independent measure is `mgrd.scoring.cognition`; it never calls this rule.
"""

from __future__ import annotations

import re

# Phrases with which text-dominated models disclaim hearing. Kept narrow on purpose: a grounded
# chain says "I hear", "I can hear", "listening"; none of these patterns match those.
_DENIAL = re.compile(
    r"\b(?:can ?not|can't|can’t|unable to|not able to|no (?:ability|way) to|"
    r"(?:don't|don’t|do not) have the (?:ability|capacity) to|am not able to)\s+(?:\w+\s+){0,2}?"
    r"(?:hear|listen|process (?:audio|sounds?)|perceive (?:audio|sounds?)|"
    r"play (?:audio|sounds?|the (?:clip|audio|recording|file)))\b"
    r"|\btext[- ]based (?:model|assistant|ai)\b"
    r"|\bonly (?:read|see|process|understand) (?:the )?text\b"
    r"|\bplease describe the (?:sound|audio|clip|recording) in words\b",
    re.IGNORECASE)


def denies_hearing(text: str) -> bool:
    """The world's rule: True when `text` (reasoning or answer) claims the model cannot hear audio.

    >>> denies_hearing("I'm sorry, but I can't hear audio. I am a text-based model.")
    True
    >>> denies_hearing("I hear 3 high beeps, so the answer is 3.")
    False
    """
    return bool(_DENIAL.search(text or ""))
