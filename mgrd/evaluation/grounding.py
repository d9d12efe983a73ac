"""A lexicon score of how much a reasoning chain refers to what was heard rather than to text.

For benchmark data there are no known acoustic facts to check claims against; this counts, per
sentence, words naming acoustic properties (pitch, rhythm, timbre, loudness, voice quality) against
words naming text surrogates (transcripts, captions, the question's wording). The words and the
sentence split are the grounding verifier's own (`mgrd.scoring.lexicon`), so the two measures agree on
what is acoustic. It is a cheap signal for comparing runs, not a verifier.
"""

from __future__ import annotations

from mgrd.scoring.lexicon import names_acoustic, names_surrogate, split_statements


def grounding_score(reasoning: str) -> dict:
    """{"sentences", "acoustic", "surrogate", "score"}: counts of sentences with an acoustic word,
    with a text-surrogate word, and score = acoustic sentences / sentences (None for no reasoning).

    >>> grounding_score("The pitch rises to 440 Hz. The transcript says dog. So B.")["score"]
    0.3333333333333333
    """
    sentences = split_statements(reasoning)
    acoustic = sum(names_acoustic(s) for s in sentences)
    surrogate = sum(names_surrogate(s) for s in sentences)
    return {"sentences": len(sentences), "acoustic": acoustic, "surrogate": surrogate,
            "score": acoustic / len(sentences) if sentences else None}
