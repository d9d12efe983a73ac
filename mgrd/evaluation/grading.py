"""Scoring stored outputs: the official and the robust rule side by side, judged tasks through the judge.

Scoring never calls the model; it runs on cache records, so a new scorer version re-scores a run
without re-inference. A failed record stays failed: it is counted and reported, never scored. An
answer that names no choice is wrong (0), never left out; a rule leaves an answer unscored only
when it truly cannot score it (a judged task without its judge), and the row says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mgrd.evaluation.grounding import grounding_score
from mgrd.remote import Judge
from mgrd.tasks.base import Task, TaskItem

SCORING_VERSION = "3"   # 2: an answer naming no choice, or no number, is wrong instead of unscored;
                        # 3: WildSpeech's official language rule is langdetect (was a Latin-letter share)


def item_from_record(record: dict) -> TaskItem:
    snap = record["item"]
    return TaskItem(id=snap["id"], question=snap.get("question", ""), answer=snap.get("answer", ""),
                    audio=tuple(snap.get("audio", ())), choices=tuple(snap.get("choices", ())),
                    category=snap.get("category", ""), meta=snap.get("meta", {}))


def _judge_job(task: Task, item: TaskItem, answer: str, templates: Mapping[str, str]):
    prompt_fn = getattr(task, "judge_prompt", None)
    if prompt_fn is None or not getattr(task, "judged", False):
        return None
    return prompt_fn(item, answer, templates.get(task.name)), dict(getattr(task, "judge_sampling", {}))


def grade_records(records: Iterable[dict], graders: Mapping[str, Task], *, judge: Judge | None = None,
                  judge_templates: Mapping[str, str] = {}) -> list[dict]:
    """One row per record: official, robust, why they differ, and the reasoning's length and grounding."""
    records = list(records)
    jobs = {}
    for r in records:
        task = graders.get(r["task"])
        if r["status"] == "ok" and task is not None:
            job = _judge_job(task, item_from_record(r), r["answer"], judge_templates)
            if job is not None:
                jobs[r["key"]] = job
    replies = judge.replies(jobs.values()) if (judge is not None and jobs) else {}
    rows = []
    for r in records:
        task = graders.get(r["task"])
        if task is None:
            continue
        rows.append(_row(r, task, jobs.get(r["key"]), replies, judge))
    return rows


def _row(r: dict, task: Task, job, replies: dict, judge: Judge | None) -> dict:
    item = item_from_record(r)
    row = {"key": r["key"], "task": r["task"], "item_id": item.id, "budget": r["setting"]["budget"],
           "seed": r["setting"]["seed"], "status": r["status"], "category": item.category,
           "breakdown": {k: str(item.meta.get(k, item.category if k == "category" else ""))
                         for k in getattr(task, "breakdowns", ("category",))},
           "official": None, "robust": None, "unscored": {}, "difference": "", "judge": None,
           "error": r.get("error", "")}
    if r["status"] != "ok":
        return row
    answer = r["answer"]
    judgement = None
    if job is not None:
        record = replies.get(judge.key(*job)) if judge is not None else None
        row["judge"] = {"status": "missing" if record is None else record["status"],
                        "key": judge.key(*job) if judge is not None else None}
        if record is not None and record["status"] == "ok":
            judgement = task.parse_judgement(record["reply"])
            row["judge"]["score"] = judgement
    if hasattr(task, "scores"):
        official, robust = task.scores(item, answer, judgement)
    else:
        official, robust = task.official_grade(item, answer), task.grade(item, answer)
    row["official"], row["robust"] = official, robust
    row["unscored"] = {rule: _unscored_reason(job, row["judge"], judge) for rule, value in
                       (("official", official), ("robust", robust)) if value is None}
    if official is not None and robust is not None and official != robust and hasattr(task, "difference"):
        row["difference"] = task.difference(item, answer, official, robust)
    g = grounding_score(r.get("reasoning", ""))
    row.update(reasoning_tokens=r.get("reasoning_tokens"), reasoning_words=len(r.get("reasoning", "").split()),
               grounding=g["score"], well_formed=r.get("well_formed", False),
               finish_reason=r.get("finish_reason", ""))
    return row


def _unscored_reason(job, judged: dict | None, judge: Judge | None) -> str:
    """Why a rule gave no score: only judged rules can fail to score an answer."""
    if job is None:
        return "the rule cannot score this answer"
    if judge is None:
        return "judge not configured"
    if judged is None or judged["status"] == "missing":
        return "judge reply not cached"
    if judged["status"] != "ok":
        return "judge failed"
    return "judge reply unreadable"
