"""The runner end to end against the fake server: scores, kill-and-resume exactly once, failures
excluded and retried, cache keys, the judge, reports and re-scoring from the run directory."""

import json
import pickle

import pytest
from conftest import make_bba, make_mmau, make_wildspeech, question_of, scripted, tone

from mgrd.evaluation import EndpointBackend, EvalConfig, Judge, RecordStore, RetryPolicy, plan, run_eval
from mgrd.evaluation.fake_endpoint import FakeReply
from mgrd.evaluation.report import rescore, write_report
from mgrd.tasks.registry import load_task

FAST = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)


def backend(server, **kw):
    return EndpointBackend(server.url, "fake-model", concurrency=kw.pop("concurrency", 2), retry=FAST, **kw)


def test_scores_official_and_robust(fake, tmp_path):
    server = fake()
    tasks = {"mmau": load_task("mmau", make_mmau(tmp_path / "mmau"))}
    scores = run_eval(tasks, backend(server), EvalConfig(), tmp_path / "out")
    block = scores["tasks"]["mmau"]["budgets"]["unlimited"]
    # m1 "a dog" (both right), m2 "B" (bare letter: official wrong, robust right), m3 "C. a woman" (both right)
    assert block["official"]["mean"] == pytest.approx(2 / 3) and block["robust"]["mean"] == 1.0
    assert block["official"]["method"] == "wilson" and block["items"] == 3 and block["failed"] == 0
    assert block["differences"] == {"bare letter: the official rule needs the choice text": 1}
    assert block["categories"]["task"]["music"] == {"official": 0.0, "robust": 1.0, "n": 1}
    assert scores["average"]["unlimited"]["robust"]["mean"] == 100.0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["served_model"] == "fake-model" and manifest["tasks"]["mmau"]["items"] == 3
    assert manifest["code"]["mgrd"] and manifest["tasks"]["mmau"]["data_sha256"]
    assert manifest["tasks"]["mmau"]["sampling"]["temperature"] == 0.7
    report = (out / "report.md").read_text()
    assert "| unlimited | 66.7 [" in report and "bare letter" in report
    assert (out / "plots" / "mmau_budget.png").stat().st_size > 1000


class Killed(Exception):
    pass


class DiesAfter:
    """Wraps a backend and dies (like a SIGKILL between two writes) after `n` results."""

    def __init__(self, inner, n):
        self.inner, self.n = inner, n

    def identity(self):
        return self.inner.identity()

    def run(self, requests):
        for i, result in enumerate(self.inner.run(requests)):
            if i == self.n:
                raise Killed
            yield result

    def close(self):
        self.inner.close()


def test_kill_and_resume_evaluates_each_item_once(fake, tmp_path):
    tasks = {"mmau": load_task("mmau", make_mmau(tmp_path / "mmau"))}
    config = EvalConfig(budgets=(0, None), seeds=2)          # 3 items x 2 budgets x 2 seeds = 12 records
    server = fake()
    with pytest.raises(Killed):
        run_eval(tasks, DiesAfter(backend(server, concurrency=1), 5), config, tmp_path / "out")
    first = len(server.bodies)
    stored = [r for r in RecordStore(tmp_path / "out" / "cache")]
    assert len(stored) == 5
    resumed = run_eval(tasks, backend(server, concurrency=1), config, tmp_path / "out")
    assert resumed["run"] == {"planned": 12, "cached": 5, "requested": 7}
    assert len(server.bodies) - first == 7 and first <= 7  # only the discarded/in-flight ones again
    assert len(list(RecordStore(tmp_path / "out" / "cache"))) == 12
    clean = run_eval(tasks, backend(fake(), concurrency=1), config, tmp_path / "clean")
    strip = lambda s: {k: v for k, v in s.items() if k != "run"}  # noqa: E731
    assert strip(resumed) == strip(clean)
    again = run_eval(tasks, backend(server), config, tmp_path / "out")
    assert again["run"]["requested"] == 0 and len(server.bodies) - first == 7


def test_failed_items_are_excluded_reported_and_retried(fake, tmp_path):
    tasks = {"mmau": load_task("mmau", make_mmau(tmp_path / "mmau"))}
    flaky = fake(lambda b, n: FakeReply(status=500) if "tempo" in question_of(b) else scripted(b, n))
    scores = run_eval(tasks, backend(flaky), EvalConfig(), tmp_path / "out")
    block = scores["tasks"]["mmau"]["budgets"]["unlimited"]
    assert block["failed"] == 1 and block["failed_items"] == ["m2"] and block["official"]["n"] == 2
    assert block["official"]["mean"] == 1.0                     # 2 of 2 scored; the failure is not a wrong answer
    failed = [r for r in RecordStore(tmp_path / "out" / "cache") if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["answer"] == "" and "HTTP 500" in failed[0]["error"]
    assert "Failed at budget unlimited" in (tmp_path / "out" / "report.md").read_text()
    flaky.handler, before = scripted, len(flaky.bodies)      # same endpoint (same identity), now healthy
    scores = run_eval(tasks, backend(flaky), EvalConfig(), tmp_path / "out")
    assert scores["run"]["requested"] == 1 and question_of(flaky.bodies[before]).startswith("What is the tempo?")
    assert len(flaky.bodies) == before + 1
    assert scores["tasks"]["mmau"]["budgets"]["unlimited"]["failed"] == 0


def test_cache_keys_change_with_every_keyed_setting(tmp_path):
    task = load_task("mmau", make_mmau(tmp_path / "mmau"))
    model = {"kind": "endpoint", "base_url": "u", "served_model": "m", "shape": "official"}

    def keys(task=task, model=model, **config):
        return [p.request.key for p in plan({"mmau": task}, model, EvalConfig(**config))]

    base = keys()
    assert keys() == base and len(set(base)) == 3
    variants = [keys(model={**model, "served_model": "other"}), keys(prompt="{question}"), keys(temperature=0.0),
                keys(max_tokens=10), keys(repetition_penalty=1.1), keys(budgets=(64,)), keys(seeds=2)[1::2]]
    assert keys(seeds=2)[0::2] == base                      # seed 0 of two is the same sample as before
    for v in variants:
        assert not set(v) & set(base)
    task.version = "2"
    assert not set(keys(task=task)) & set(base)
    task.version = "1-v05.15.25"
    tone(tmp_path / "mmau" / "test-mini-audios" / "m1.wav", freq=999.0)      # same path, new audio bytes
    changed = keys()
    assert changed[0] != base[0] and changed[1:] == base[1:]


def test_judged_task_with_fake_judge(fake, tmp_path):
    pytest.importorskip("langdetect", reason="the `langdetect` extra is not installed")
    tasks = {"bigbench_audio": load_task("bigbench_audio", make_bba(tmp_path / "bba")),
             "wildspeech": load_task("wildspeech", make_wildspeech(tmp_path / "ws"))}
    model = fake(lambda b, n: FakeReply("thinking\n</think>\n7"))

    def judge_reply(body, n):
        prompt = body["messages"][0]["content"]
        if "Score:" in prompt:
            return FakeReply("Strengths: short.\nScore: 6")
        return FakeReply("CORRECT" if "OFFICIAL ANSWER:7" in prompt else "INCORRECT")

    judge_server = fake(judge_reply)
    judge = Judge(judge_server.url, "judge-model", RecordStore(tmp_path / "out" / "judge"), retry=FAST)
    scores = run_eval(tasks, backend(model), EvalConfig(), tmp_path / "out", judge=judge)
    bba = scores["tasks"]["bigbench_audio"]["budgets"]["unlimited"]
    assert bba["official"]["mean"] == 0.25 and bba["robust"]["mean"] == 0.25   # only object_counting is 7
    ws = scores["tasks"]["wildspeech"]["budgets"]["unlimited"]
    assert ws["official"]["mean"] == 6.0 and scores["average"]["unlimited"]["official"]["tasks"]["wildspeech"] == 60.0
    assert judge_server.bodies[0]["model"] == "judge-model"
    stored = list(RecordStore(tmp_path / "out" / "judge"))
    assert len(stored) == 5 and all(r["prompt"] and r["reply"] for r in stored)
    assert "Reply only with CORRECT" in json.loads((tmp_path / "out" / "judge_prompts.json").read_text())["bigbench_audio"]
    # the report rebuilds from the directory alone: cached judge replies, no network
    asked = len(judge_server.bodies)
    rescored = rescore(tmp_path / "out")
    assert rescored["tasks"]["bigbench_audio"]["budgets"]["unlimited"]["official"]["mean"] == 0.25
    assert len(judge_server.bodies) == asked


def test_no_judge_leaves_judged_official_unscored(fake, tmp_path):
    tasks = {"bigbench_audio": load_task("bigbench_audio", make_bba(tmp_path / "bba"))}
    scores = run_eval(tasks, backend(fake(lambda b, n: FakeReply("x\n</think>\ninvalid"))), EvalConfig(), tmp_path / "o")
    block = scores["tasks"]["bigbench_audio"]["budgets"]["unlimited"]
    assert block["official"]["mean"] is None and block["unscored_official"] == 4 and block["robust"]["mean"] == 0.25


def test_report_and_rescore_from_directory_alone(fake, tmp_path):
    tasks = {"mmau": load_task("mmau", make_mmau(tmp_path / "mmau"))}
    run_eval(tasks, backend(fake()), EvalConfig(budgets=(0, 64)), tmp_path / "out", write_report=False)
    import shutil
    shutil.rmtree(tmp_path / "mmau")                           # no data, no model: the cache is enough
    (tmp_path / "out" / "scores.json").unlink()
    scores = rescore(tmp_path / "out")
    assert set(scores["tasks"]["mmau"]["budgets"]) == {"0", "64"}
    path = write_report(tmp_path / "out")
    assert "## mmau" in path.read_text() and (tmp_path / "out" / "plots" / "mmau_reasoning_length.png").is_file()
    with pytest.raises(FileNotFoundError, match="not an evaluation run directory"):
        write_report(tmp_path)


def test_cache_reads_only_json(tmp_path):
    store = RecordStore(tmp_path)
    key = "ab" * 32
    marker = tmp_path / "executed"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_bytes(pickle.dumps(Boom()))
    (tmp_path / "ab" / f"{'ab' * 31}cd.json").write_text('{"key": "truncated')
    assert store.get(key) is None and list(store) == [] and not marker.exists()
    assert len(store.unreadable) == 2
    store.put({"key": key, "status": "ok"})
    assert store.get(key) == {"key": key, "status": "ok"}
    with pytest.raises(ValueError, match="hex"):
        store.get("../../etc")


def test_an_answer_naming_no_choice_is_wrong_not_left_out(fake, tmp_path):
    from mgrd.tasks.base import TaskItem
    from mgrd.tasks.world import WorldTask

    audio = str(tone(tmp_path / "a.wav"))
    items = [TaskItem(id=f"w{i}", question=f"Question {i}?", answer="B", audio=(audio,), choices=("low", "high"),
                      meta={"answer_type": "choice"}) for i in range(10)]
    # one right, two wrong, seven naming no choice: 1 of 10 right (10 %), not 1 of 3 (33 %)
    replies = {0: "B", 1: "A", 2: "low"}
    server = fake(lambda b, n: FakeReply("x\n</think>\n" + replies.get(int(question_of(b).split()[1][:-1]),
                                                                        "I am not sure.")))
    scores = run_eval({"world": WorldTask(items)}, backend(server), EvalConfig(), tmp_path / "out")
    block = scores["tasks"]["world"]["budgets"]["unlimited"]
    assert block["robust"]["mean"] == pytest.approx(0.1) and block["robust"]["n"] == 10
    assert block["unscored_robust"] == 0 and block["unscored_reasons"]["robust"] == {}
    assert "10.0 [" in (tmp_path / "out" / "report.md").read_text()


def test_a_failing_judge_leaves_official_unscored_with_the_reason(fake, tmp_path):
    tasks = {"bigbench_audio": load_task("bigbench_audio", make_bba(tmp_path / "bba"))}
    model = fake(lambda b, n: FakeReply("thinking\n</think>\n7"))
    judge_server = fake(lambda b, n: FakeReply(status=500) if n <= 2 else FakeReply("CORRECT"))
    judge = Judge(judge_server.url, "judge-model", RecordStore(tmp_path / "out" / "judge"),
                  retry=RetryPolicy(max_attempts=1), concurrency=1)
    scores = run_eval(tasks, backend(model), EvalConfig(), tmp_path / "out", judge=judge)
    block = scores["tasks"]["bigbench_audio"]["budgets"]["unlimited"]
    assert block["unscored_reasons"]["official"] == {"judge failed": 2} and block["official"]["n"] == 2
    assert block["official"]["mean"] == 1.0 and block["robust"]["n"] == 4
    assert "(n=2; 2 unscored: judge failed)" in (tmp_path / "out" / "report.md").read_text()
