"""The record: one question with its audio, facts, answer and three reasoning chains, as a JSONL line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mgrd.chat.choices import format_choices

QUESTION_TYPES = ("perception", "reasoning", "composite", "cognition")
REASONING_STYLES = ("grounded", "surrogate", "empty")
# How a record's answer is graded: a choice letter, an exact integer, a number within a relative
# tolerance, one label of a closed set, or a self-cognition answer (affirms hearing, never denies it).
ANSWER_TYPES = ("choice", "integer", "number", "label", "cognition")
REQUIRED_KEYS = ("id", "family", "question_type", "question", "choices", "answer", "facts", "audio",
                 "reasoning", "messages")


@dataclass(frozen=True)
class Fact:
    """A measurement the audio really contains: `pitch 440.0 Hz, event "note 1"`.

    `value` is a number (Hz, s, BPM, dBFS, semitones, a count) or a label (`minor`, `rising`).
    """

    name: str
    value: float | int | str
    unit: str = ""
    event: str = ""


@dataclass(frozen=True)
class Record:
    """One item of a dataset; `to_dict` is exactly its JSONL line.

    `audio` holds paths relative to the dataset directory (`audio/<id>.flac`); `messages` is the
    conversation in mgrd.chat's format with the grounded chain (or, for cognition bait, the denial).
    `tolerance` is relative (0.08 = 8 %) for `number` answers; `labels` is the closed label set of
    `label` answers; `surrogate_answer` is the answer the surrogate chain arrives at.
    """

    id: str
    family: str
    question_type: str
    question: str
    choices: list[str] | None
    answer: str
    facts: list[Fact]
    audio: list[str]
    reasoning: dict[str, str]
    messages: list[dict]
    kind: str = ""
    answer_type: str = "choice"
    tolerance: float = 0.0
    labels: list[str] | None = None
    surrogate_answer: str = ""
    split: str = ""
    seed: int = 0
    duration: float = 0.0
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(obj: Mapping[str, Any], where: str = "record") -> Record:
        """A record from its JSON object; raises ValueError naming what is missing or malformed."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"{where}: a record must be a JSON object, got {type(obj).__name__}")
        missing = [k for k in REQUIRED_KEYS if k not in obj]
        if missing:
            raise ValueError(f"{where}: missing keys {missing}; a record needs {list(REQUIRED_KEYS)}")
        if obj["question_type"] not in QUESTION_TYPES:
            raise ValueError(f"{where}: question_type {obj['question_type']!r} is not one of {QUESTION_TYPES}")
        answer_type = obj.get("answer_type", "choice" if obj["choices"] else "label")
        if answer_type not in ANSWER_TYPES:
            raise ValueError(f"{where}: answer_type {answer_type!r} is not one of {ANSWER_TYPES}")
        reasoning = obj["reasoning"]
        if not isinstance(reasoning, Mapping) or any(s not in reasoning for s in REASONING_STYLES):
            raise ValueError(f"{where}: reasoning must map each of {REASONING_STYLES} to a chain")
        try:
            facts = [Fact(f["name"], f["value"], f.get("unit", ""), f.get("event", "")) for f in obj["facts"]]
        except (TypeError, KeyError) as e:
            raise ValueError(f"{where}: each fact needs name and value (and unit, event): {e}") from None
        known = {k: obj[k] for k in ("kind", "tolerance", "labels", "surrogate_answer", "split", "seed",
                                    "duration", "meta") if k in obj}
        return Record(id=str(obj["id"]), family=obj["family"], question_type=obj["question_type"],
                      question=obj["question"], choices=list(obj["choices"]) if obj["choices"] else None,
                      answer=str(obj["answer"]), facts=facts, audio=list(obj["audio"]),
                      reasoning=dict(reasoning), messages=list(obj["messages"]), answer_type=answer_type, **known)


def user_text(question: str, choices: Sequence[str] | None) -> str:
    """The user's text: the question, then `A. ...` lines for multiple choice."""
    return f"{question}\n{format_choices(choices).rstrip()}" if choices else question


def assistant_text(reasoning: str, answer: str) -> str:
    """`<think>\\n{reasoning}\\n</think>\\n{answer}`; empty reasoning gives the no-reasoning format."""
    return f"<think>\n{reasoning}\n</think>\n{answer}" if reasoning else f"<think>\n\n</think>\n{answer}"


def answer_text(record: Record, answer: str | None = None) -> str:
    """The final answer as the assistant writes it: `B. 5 beeps` for a choice, the value otherwise."""
    answer = record.answer if answer is None else answer
    if record.answer_type == "choice" and record.choices and len(answer) == 1 and answer.isalpha():
        index = ord(answer.upper()) - 65
        if 0 <= index < len(record.choices):
            return f"{answer.upper()}. {record.choices[index]}"
    return answer


def build_messages(question: str, choices: Sequence[str] | None, audio: Sequence[str], assistant: str) -> list[dict]:
    """The conversation: a user turn (text, then audio parts in order) and the assistant's turn."""
    content: list[dict] = [{"type": "text", "text": user_text(question, choices)}]
    content += [{"type": "audio", "audio": a} for a in audio]
    return [{"role": "user", "content": content}, {"role": "assistant", "content": assistant}]


def messages_for(record: Record, style: str = "grounded") -> list[dict]:
    """The record's conversation with the assistant reasoning in `style`.

    `grounded` and `empty` end with the record's answer; `surrogate` ends with the answer its chain
    arrives at (`surrogate_answer`, often wrong), so every conversation is coherent.
    """
    if style not in REASONING_STYLES:
        raise ValueError(f"unknown reasoning style {style!r}; accepted: {', '.join(REASONING_STYLES)}")
    answer = record.surrogate_answer if style == "surrogate" and record.surrogate_answer else record.answer
    text = assistant_text(record.reasoning[style], answer_text(record, answer))
    return build_messages(record.question, record.choices, record.audio, text)


def read_records(path: str | os.PathLike) -> Iterator[Record]:
    """Records of a JSONL file, validated; a bad line raises ValueError with its line number."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            yield Record.from_dict(obj, where=f"{path}:{lineno}")


def record_line(record: Record) -> str:
    """The JSONL line of a record (no trailing newline)."""
    return json.dumps(record.to_dict(), ensure_ascii=False)
