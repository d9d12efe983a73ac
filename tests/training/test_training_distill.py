"""Self-distillation filters on real world records: each filter drops exactly the chains it is for."""

import numpy as np
import pytest
import soundfile as sf

from mgrd.data.records import answer_text
from mgrd.data.world.families import make_record
from mgrd.evaluation import NativeBackend
from mgrd.inference import Engine
from mgrd.model import AudioTokenIds, build_model, micro_config
from mgrd.tasks.base import TaskItem
from mgrd.tasks.world import WorldTask, record_item
from mgrd.training.distill import (Chain, ChainFilter, apply_filters, cognition_filter, coherence_filter,
                                   concluded_answer, correctness_filter, default_filters, grounding_evidence,
                                   grounding_filter, repeated_line, same_answer, sample_chains, sft_record,
                                   summarize)


def _beep_record():
    """The first sound record asking to count beeps whose chain says "I can hear N ..." for a counted N."""
    for seed in range(200):
        record, _ = make_record("sound", seed, f"sound-{seed}")
        if record.kind not in ("beep_count", "beep_difference"):
            continue
        counts = {f.event: int(f.value) for f in record.facts if f.name == "count"}
        for event, n in counts.items():
            said = f"I can hear {n} {event}"
            if said in record.reasoning["grounded"]:
                return record, said, event, counts
    raise AssertionError("no beep record with an 'I can hear N' line in 200 seeds")


RECORD, SAID, EVENT, COUNTS = _beep_record()
ITEM = record_item(RECORD, ".")
TASK = WorldTask([ITEM])
GROUNDED = RECORD.reasoning["grounded"]
RIGHT = answer_text(RECORD)


def chain(reasoning=GROUNDED, answer=RIGHT, well_formed=True, item=ITEM, sample=0):
    return Chain(item, sample, reasoning, answer, well_formed)


def reasons(c):
    return {f.name: f.check(c) for f in default_filters(TASK)}


def _wrong_number():
    # A number that is no count of the clip: one more than the largest count.
    return max(COUNTS.values()) + 1


def test_the_records_own_grounded_chain_passes_every_filter():
    assert reasons(chain()) == {"correctness": None, "grounding": None, "coherence": None, "self-cognition": None}
    assert chain().completion == f"<think>\n{GROUNDED}\n</think>\n{RIGHT}"


def test_a_wrong_final_answer_is_dropped_by_correctness():
    wrong = str(int(RECORD.answer) + 1)
    assert correctness_filter(TASK.grade).check(chain(answer=wrong)) == "wrong answer"
    assert correctness_filter(TASK.grade).check(chain(well_formed=False)) == "malformed (no single </think>)"
    assert correctness_filter(lambda r, a: None).check(chain()) == "answer not scorable"


def test_the_surrogate_chain_with_the_right_answer_is_dropped_by_grounding():
    c = chain(reasoning=RECORD.reasoning["surrogate"])
    assert correctness_filter(TASK.grade).check(c) is None
    assert grounding_filter().check(c) is not None


def test_a_count_claim_that_contradicts_the_facts_is_dropped():
    wrong = SAID.replace(f" {COUNTS[EVENT]} ", f" {_wrong_number()} ")
    assert wrong != SAID
    c = chain(reasoning=GROUNDED.replace(SAID, wrong))
    assert grounding_filter().check(c) == "acoustic claim contradicts the facts"
    # A lower bar on claim accuracy lets the same chain through when the rest is right.
    assert grounding_filter(min_score=0.0, min_claim_accuracy=0.5).check(c) is None


def test_a_conclusion_naming_another_answer_is_dropped_by_coherence():
    lines = GROUNDED.splitlines()
    other = str(int(RECORD.answer) + 1)
    changed = "\n".join(lines[:-1] + [lines[-1].replace(RECORD.answer, other)])
    assert concluded_answer(changed) == other
    assert coherence_filter().check(chain(reasoning=changed)) == "conclusion differs from the final answer"


def test_a_looping_chain_is_degenerate_repetition():
    lines = GROUNDED.splitlines()
    looping = "\n".join([lines[0]] + [lines[1]] * 4 + lines[2:])
    assert repeated_line(looping) == lines[1].strip()
    assert coherence_filter().check(chain(reasoning=looping)) == "degenerate repetition"
    assert coherence_filter().check(chain(reasoning="   \n")) == "empty reasoning"
    assert coherence_filter().check(chain(reasoning="I hear beeps.")) == "reasoning reaches no conclusion"


def test_a_judge_has_the_last_word_on_coherence():
    assert coherence_filter(lambda q, r, a: False).check(chain()) == "judge: reasoning does not support the answer"
    assert coherence_filter(lambda q, r, a: None).check(chain()) is None


def test_a_chain_denying_hearing_is_dropped_by_self_cognition():
    denying = "I cannot hear audio.\n" + GROUNDED
    c = chain(reasoning=denying)
    assert {k: v for k, v in reasons(c).items() if k != "self-cognition"} == {
        "correctness": None, "grounding": None, "coherence": None}
    assert cognition_filter().check(c) == "denies hearing"
    assert cognition_filter(lambda q, r: False).check(c) is None        # the judge overrules the rule


def test_apply_filters_chains_the_counts_and_summarize_keeps_the_rate():
    wrong_count = GROUNDED.replace(SAID, SAID.replace(f" {COUNTS[EVENT]} ", f" {_wrong_number()} "))
    chains = [chain(), chain(sample=1),                                     # kept
              chain(answer=str(int(RECORD.answer) + 1)),                    # correctness
              chain(reasoning=RECORD.reasoning["surrogate"]),               # grounding
              chain(reasoning=wrong_count),                                 # grounding
              chain(reasoning="\n".join([GROUNDED.splitlines()[1]] * 4 + GROUNDED.splitlines())),  # coherence
              chain(reasoning="I cannot hear audio.\n" + GROUNDED)]         # self-cognition
    kept, reports = apply_filters(chains, default_filters(TASK))
    assert [c.sample for c in kept] == [0, 1] and kept[0] is chains[0]
    assert [(r.name, r.seen, r.kept) for r in reports] == [
        ("correctness", 7, 6), ("grounding", 6, 4), ("coherence", 4, 3), ("self-cognition", 3, 2)]
    assert reports[0].dropped == {"wrong answer": 1}
    assert sum(reports[1].dropped.values()) == 2
    assert reports[1].dropped["acoustic claim contradicts the facts"] == 1
    assert reports[2].dropped == {"degenerate repetition": 1}
    assert reports[3].dropped == {"denies hearing": 1}
    s = summarize(reports)
    assert (s["chains"], s["kept"]) == (7, 2)
    assert s["keep_rate"] == pytest.approx(2 / 7)
    assert s["filters"][3] == {"name": "self-cognition", "seen": 3, "kept": 2, "dropped": {"denies hearing": 1}}
    assert summarize([]) == {"chains": 0, "kept": 0, "keep_rate": 0.0, "filters": []}


def test_a_filter_that_sees_nothing_reports_zero():
    drop_all = ChainFilter("none", lambda c: "no")
    kept, reports = apply_filters([chain(), chain()], [drop_all, correctness_filter(TASK.grade)])
    assert kept == [] and [(r.seen, r.kept) for r in reports] == [(2, 0), (0, 0)]


@pytest.mark.parametrize("reasoning, expected", [
    ("I hear 3 beeps.\nSo the answer is 3.", "3"),
    ("x\nTherefore the answer is B. minor.", "B. minor"),
    ("x\nHence: 12.", "12"),
    ("x\nthe ANSWER IS rising", "rising"),
    ("So the answer is 3.\nBut wait, I am not sure", None),    # only the last line concludes
    ("", None),
    ("\n  \n", None),
])
def test_concluded_answer(reasoning, expected):
    assert concluded_answer(reasoning) == expected


@pytest.mark.parametrize("a, b, choices, expected", [
    ("B", "B. minor", ["major", "minor"], True),
    ("minor", "B", ["major", "minor"], True),
    ("A", "B. minor", ["major", "minor"], False),
    ("B", "something else", ["major", "minor"], False),        # one names a choice, the other none
    ("12", "12.0", None, True),
    ("1000000", "1000000.5", None, True),                      # within 1e-6 relative
    ("100", "100.5", None, False),
    ("7 beeps", "7", None, True),
    ("Rising!", "rising", None, True),
    ("rising", "falling", None, False),
])
def test_same_answer(a, b, choices, expected):
    assert same_answer(a, b, choices) is expected


def test_repeated_line_counts_stripped_lines_over_the_limit():
    assert repeated_line("a\nb\n a \na") == "a"                 # 3 > 2
    assert repeated_line("a\nb\na") is None
    assert repeated_line("a\na\nb", max_repeats=1) == "a"
    assert repeated_line("") is None


@pytest.fixture(scope="module")
def engine(tokenizer):
    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    return NativeBackend(Engine(build_model(cfg, seed=0), tokenizer), {"kind": "checkpoint", "sha256": "micro"})


def test_sample_chains_returns_samples_per_record_in_record_major_order(engine, tmp_path):
    records = [make_record("sound", 1, "a")[0], make_record("text", 0, "b")[0], make_record("music", 1, "c")[0]]
    t = np.arange(8000) / 16000
    for r in records:                 # short tones stand in for the clips: the micro encoder is small
        for path in r.audio:
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, format="FLAC")
    progress = []
    task = WorldTask([record_item(r, tmp_path) for r in records])
    items = task.items()
    chains, failures = sample_chains(engine, task, items, samples=2, max_tokens=4, batch_prompts=2,
                                     on_progress=lambda done, total: progress.append((done, total)))
    assert failures == []
    assert [(c.item.id, c.sample) for c in chains] == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("c", 1)]
    assert progress == [(2, 3), (3, 3)]
    assert all(c.item is items[i // 2] for i, c in enumerate(chains))
    record = sft_record(chains[0], task)
    assert record["id"] == "a" and record["messages"][:-1] == task.messages(items[0])
    assert record["messages"][-1] == {"role": "assistant", "content": chains[0].completion}
    assert record["messages"][0]["content"][1] == {"type": "audio", "audio": str(tmp_path / records[0].audio[0])}
    again, _ = sample_chains(engine, task, items, samples=2, max_tokens=4, batch_prompts=2)
    assert [(c.reasoning, c.answer, c.well_formed) for c in again] == [
        (c.reasoning, c.answer, c.well_formed) for c in chains]          # seeded: the same chains again


FACTLESS = TaskItem(id="u1", question="How many beeps do you hear?", answer="3", audio=("/x.flac",),
                    meta={"answer_type": "integer"})


def test_without_facts_grounding_is_the_share_of_acoustic_statements():
    # 2 acoustic statements of 2 (the conclusion is neutral): share 1.0
    heard = chain(reasoning="I hear three short beeps.\nThe beeps are evenly spaced.\nSo the answer is 3.",
                  answer="3", item=FACTLESS)
    # 1 acoustic, 1 textual (cites the question): share 0.5
    half = chain(reasoning="I hear three beeps.\nThe question says there are three.\nSo the answer is 3.",
                 answer="3", item=FACTLESS)
    assert grounding_filter(0.75).check(heard) is None
    assert grounding_filter(0.75).check(half) == "reasoning cites text, not sound"
    assert grounding_filter(0.5).check(half) is None
    # no claim can be checked, and none is needed without facts; a wrong count is not caught either
    assert grounding_filter(0.75).check(chain(reasoning="I hear 7 beeps.\nSo the answer is 7.", answer="7",
                                              item=FACTLESS)) is None


def test_the_grounding_judge_has_the_last_word_only_where_there_are_no_facts():
    heard = chain(reasoning="I hear three short beeps.\nSo the answer is 3.", answer="3", item=FACTLESS)
    asked = []

    def judge(question, reasoning):
        asked.append(question)
        return False

    assert grounding_filter(0.75, judge=judge).check(heard) == "judge: reasoning does not refer to the audio"
    assert grounding_filter(0.75, judge=lambda q, r: None).check(heard) is None    # unsure keeps the rule's verdict
    assert grounding_filter(0.75, judge=judge).check(chain()) is None              # facts decide for this one
    assert asked == [FACTLESS.question]
    assert grounding_evidence([heard, chain(), chain(sample=1)]) == {"facts": 2, "lexicon": 1}


def test_correctness_uses_the_tasks_own_grader():
    graded = []

    class Task:
        def messages(self, item):
            return []

        def grade(self, item, answer):
            graded.append((item.id, answer))
            return 1.0 if answer == "yes" else 0.0

    filters = default_filters(Task())
    assert filters[0].check(chain(answer="yes", item=FACTLESS)) is None
    assert filters[0].check(chain(answer="3", item=FACTLESS)) == "wrong answer"
    assert graded == [("u1", "yes"), ("u1", "3")]
