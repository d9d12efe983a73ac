"""A generated completion split into its reasoning and its answer."""

from __future__ import annotations

from dataclasses import dataclass

from mgrd.chat.special import ENDOFTEXT, EOT, THINK_CLOSE, THINK_OPEN


@dataclass(frozen=True)
class Completion:
    """The parts of a completion; `well_formed` is True for exactly one `</think>` and no stray tags."""

    reasoning: str
    answer: str
    well_formed: bool


def parse_completion(text: str) -> Completion:
    """Split the text generated after the `<think>\\n` prefill, `reasoning\\n</think>\\nanswer`.

    The text ends at the first `<|EOT|>` or `<|endoftext|>` (both are stop tokens; anything
    after one is dropped). A leading `<think>` (the model repeating the prefill) is dropped.
    Reasoning and answer are stripped of surrounding whitespace. An empty answer after a
    `</think>` is still well formed (the format holds; the answer is just empty).

    >>> parse_completion("The tone rises.\\n</think>\\nB<|EOT|>")
    Completion(reasoning='The tone rises.', answer='B', well_formed=True)
    >>> parse_completion("\\n</think>\\nB")                  # the no-reasoning format
    Completion(reasoning='', answer='B', well_formed=True)
    >>> parse_completion("<think>\\nhmm\\n</think>\\nB")       # repeated prefill
    Completion(reasoning='hmm', answer='B', well_formed=True)
    >>> parse_completion("counting the beeps: 1, 2")          # truncated: no </think>
    Completion(reasoning='counting the beeps: 1, 2', answer='', well_formed=False)
    >>> parse_completion("a\\n</think>\\nB\\n</think>\\nC")      # stray tags removed from the answer
    Completion(reasoning='a', answer='B\\n\\nC', well_formed=False)
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_completion takes a str, got {type(text).__name__}")
    for stop in (EOT, ENDOFTEXT):
        text = text.split(stop, 1)[0]
    text = text.lstrip()
    if text.startswith(THINK_OPEN):
        text = text[len(THINK_OPEN):]
    reasoning, closed, answer = text.partition(THINK_CLOSE)
    if not closed:
        return Completion(reasoning=reasoning.strip(), answer="", well_formed=False)
    stray = THINK_CLOSE in answer or THINK_OPEN in answer
    answer = answer.replace(THINK_CLOSE, "").replace(THINK_OPEN, "")
    return Completion(reasoning=reasoning.strip(), answer=answer.strip(), well_formed=not stray)
