"""The grounding lexicon: one vocabulary for the verifier's statement kinds and the benchmark lexicon score."""

from __future__ import annotations

from mgrd.evaluation.grounding import grounding_score
from mgrd.scoring.lexicon import ACOUSTIC, SURROGATE, names_acoustic, names_surrogate, split_statements, statement_kind


def test_words_are_matched_whole_and_phrases_across_spaces():
    assert names_acoustic("The pitch rises.") and names_acoustic("I HEAR it.")
    assert not names_acoustic("The pitcher throws.")  # a word containing an acoustic word is not one
    assert names_surrogate("Going by the question's wording.") and names_surrogate("As a language model I read.")
    assert not names_surrogate("The languages differ.")
    assert not ACOUSTIC & SURROGATE


def test_ordinals_and_reported_speech_are_neither_acoustic_nor_textual():
    # "the second option" refers to no sound; what a speaker says is heard, not read.
    assert not names_acoustic("The second and third options are close.")
    assert statement_kind("The second option is B.") == "neutral"
    assert not names_surrogate("The speaker says forty-two.")
    assert statement_kind("The speaker says forty-two.") == "acoustic"


def test_the_benchmark_score_counts_sentences_with_the_verifiers_words():
    chain = ("I hear a rumbling hum.\nThe caption says it is a truck.\nThe voice sounds hoarse, and the "
             "transcript agrees.\nSo B. the truck.")
    sentences = split_statements(chain)
    assert len(sentences) == 4  # "B. the truck" is not cut after the letter
    kinds = [statement_kind(s) for s in sentences]
    assert kinds == ["acoustic", "text", "text", "neutral"]
    # The lexicon score counts words, not kinds: the third sentence has both an acoustic and a text word.
    assert grounding_score(chain) == {"sentences": 4, "acoustic": 2, "surrogate": 2, "score": 0.5}
    assert grounding_score("   ") == {"sentences": 0, "acoustic": 0, "surrogate": 0, "score": None}
