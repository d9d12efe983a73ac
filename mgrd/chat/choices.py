"""The lettered choice lines of a multiple-choice question, as prompts and records write them."""

from __future__ import annotations

from collections.abc import Sequence


def format_choices(choices: Sequence[str]) -> str:
    """`A. first\\nB. second\\n...` (empty for open questions).

    >>> format_choices(["slow", "fast"])
    'A. slow\\nB. fast\\n'
    """
    return "".join(f"{chr(65 + i)}. {c}\n" for i, c in enumerate(choices))
