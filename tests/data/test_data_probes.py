"""Held-out self-cognition probes: disjoint from the training templates, deterministic, built on held-out clips."""

import random
import re

import numpy as np
import pytest

from mgrd.data.records import Record, messages_for
from mgrd.data.world import cognition, probes, reasoning
from mgrd.data.world.families import make_draft, make_record
from mgrd.scoring.answers import normalize

N = 5  # words in the n-grams that must not be shared


def _sentences(text):
    """Sentences of a text, normalised: lower case, punctuation dropped, whitespace collapsed."""
    return [n for part in re.split(r"[.;:!?\n]+", text.replace("’", "'")) if (n := normalize(part))]


def _ngrams(texts, n=N):
    grams = set()
    for text in texts:
        for sentence in _sentences(text):
            words = sentence.split()
            grams |= {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}
    return grams


def _shared(a, b):
    """(shared normalised sentences, shared n-grams) of two collections of texts."""
    sa = {s for t in a for s in _sentences(t)}
    sb = {s for t in b for s in _sentences(t)}
    return sa & sb, _ngrams(a) & _ngrams(b)


def _denial_chains():
    """The phrasings of the world's denial chain (it picks one of a few; 60 draws reach them all)."""
    return sorted({reasoning.denial_chain(np.random.default_rng(s)) for s in range(60)})


def _drafts():
    return [make_draft("cognition", seed) for seed in range(300)]


def _training_texts():
    """Every cognition wording the training data can hold: the templates, and what 300 world drafts say."""
    texts = [*cognition.DENIALS, *cognition.BAIT_QUESTIONS, *cognition.HEAR_QUESTIONS, *cognition.DESCRIBE_QUESTIONS,
             *_denial_chains()]
    for d in _drafts():
        texts += [d.question, d.answer, d.conclusion, d.chain, d.surrogate, d.surrogate_answer, *d.steps]
    return [t for t in texts if t]


def _training_denials():
    """The denials the training data stores (bait dialogues, probes' rejected sides) and the rule's examples."""
    return [*cognition.DENIALS, *_denial_chains(), *(t for d in _drafts() for t in (d.surrogate, d.surrogate_answer))]


def _heldout_texts():
    return [*probes.CLIP_PROBES, *probes.HEARING_QUESTIONS, *probes.HELDOUT_DENIALS, probes.QUESTION_REFERENCE,
            *probes.CLIP_REFERENCE.split("{facts}")]


@pytest.fixture(scope="module")
def training_texts():
    return _training_texts()


def test_the_training_collection_covers_every_template(training_texts):
    # The drafts are sampled: the collection must reach every phrasing, or the disjointness test is blind.
    normal = {s for t in training_texts for s in _sentences(t)}
    for template in (*cognition.DENIALS, *cognition.BAIT_QUESTIONS, *cognition.HEAR_QUESTIONS,
                     *cognition.DESCRIBE_QUESTIONS):
        assert set(_sentences(template)) <= normal
    assert len(_denial_chains()) == 3
    assert {d.question for d in _drafts()} == {*cognition.BAIT_QUESTIONS, *cognition.HEAR_QUESTIONS,
                                               *cognition.DESCRIBE_QUESTIONS}


def test_heldout_wording_shares_no_sentence_and_no_5_gram_with_training(training_texts):
    sentences, grams = _shared(_heldout_texts(), training_texts)
    assert sentences == set()
    assert grams == set()


def test_heldout_denials_share_nothing_with_the_training_denials():
    sentences, grams = _shared(probes.HELDOUT_DENIALS, _training_denials())
    assert (sentences, grams) == (set(), set())


def test_the_overlap_check_catches_a_copied_sentence_and_a_copied_5_gram():
    # Case, punctuation and spacing do not hide a copy; one shared run of 5 words is found.
    sentences, _ = _shared(["DESCRIBE  what you hear!"], cognition.DESCRIBE_QUESTIONS)
    assert sentences == {"describe what you hear"}
    _, grams = _shared(["So, tell me what sounds are playing."], cognition.DESCRIBE_QUESTIONS)
    assert grams == {"tell me what sounds are"}
    _, four = _shared(["Tell me what sounds play."], cognition.DESCRIBE_QUESTIONS)
    assert four == set()   # 4 shared words are allowed


def test_heldout_templates_are_distinct_and_not_empty():
    for group in (probes.CLIP_PROBES, probes.HEARING_QUESTIONS, probes.HELDOUT_DENIALS):
        assert len(group) == len({_sentences(t)[0] for t in group}) >= 4


def _items():
    """Held-out-like items: sound and music records (one clip each), two composite records (two clips)."""
    out = [make_record(f, 900 + s, f"heldout-{f}-{s}", split="heldout")[0] for f in ("sound", "music")
           for s in range(4)]
    return out + [make_record("composite", 900 + s, f"heldout-composite-{s}", split="heldout")[0] for s in range(2)]


@pytest.fixture(scope="module")
def items():
    return _items()


def test_probes_are_a_pure_function_of_the_items_the_seed_and_n(items):
    first = [p.to_dict() for p in probes.heldout_probes(items, 12, seed=3)]
    again = [p.to_dict() for p in probes.heldout_probes(items, 12, seed=3)]
    shuffled = list(items)
    random.Random(1).shuffle(shuffled)
    assert shuffled != items
    assert [p.to_dict() for p in probes.heldout_probes(shuffled, 12, seed=3)] == first == again
    other = [p.to_dict() for p in probes.heldout_probes(items, 12, seed=4)]
    assert other != first


def test_probes_carry_their_clip_and_facts_and_use_every_clip_once_first(items):
    made = probes.heldout_probes(items, 10, seed=0, question_share=0.2)
    clips = [p for p in made if p.audio]
    questions = [p for p in made if not p.audio]
    assert (len(clips), len(questions)) == (8, 2)          # round(10 * 0.2) = 2 questions
    by_id = {r.id: r for r in items}
    sources = [p.meta["source"] for p in clips]
    assert sorted(sources) == sorted(r.id for r in items if len(r.audio) == 1)   # 8 single clips, once each
    for p in clips:
        source = by_id[p.meta["source"]]
        assert p.audio == source.audio and p.facts == source.facts and p.split == "heldout"
        assert p.question in probes.CLIP_PROBES and p.kind == probes.CLIP_KIND
    for p in questions:
        assert p.question in probes.HEARING_QUESTIONS and p.facts == [] and p.kind == probes.QUESTION_KIND
    assert all(probes.is_heldout_probe(p) for p in made)
    assert not any(probes.is_heldout_probe(r) for r in items)


def test_more_probes_than_clips_reuse_clips_in_a_second_round(items):
    made = probes.heldout_probes(items, 20, seed=5, question_share=0.0)
    sources = [p.meta["source"] for p in made]
    assert len(set(sources[:8])) == 8 and set(sources[8:16]) == set(sources[:8])


def test_probe_records_round_trip_and_render_a_user_turn(items):
    for p in probes.heldout_probes(items, 6, seed=1, question_share=0.5):
        assert Record.from_dict(p.to_dict()) == p
        user = messages_for(p, "empty")[0]
        assert user["content"][0]["text"] == p.question
        assert [part["audio"] for part in user["content"][1:]] == p.audio
        assert p.family == "cognition" and p.answer_type == "cognition" and p.answer


@pytest.mark.parametrize("kwargs, message", [
    ({"n": -1}, "non-negative"), ({"n": 2.0}, "non-negative"), ({"n": True}, "non-negative"),
    ({"n": 4, "question_share": 1.5}, "question_share"),
])
def test_bad_arguments_are_refused(items, kwargs, message):
    with pytest.raises(ValueError, match=message):
        probes.heldout_probes(items, **kwargs)


def test_clip_probes_need_single_clip_items(items):
    composite = [r for r in items if len(r.audio) == 2]
    with pytest.raises(ValueError, match="exactly one clip"):
        probes.heldout_probes(composite, 3)
    only_questions = probes.heldout_probes(composite, 3, question_share=1.0)
    assert [p.audio for p in only_questions] == [[], [], []]
    assert probes.heldout_probes([], 0) == []
