"""Record files of your own as a data source: the user record format, read and checked line by line.

One JSON object per line (docs/pipeline.md, "Data"):
    id, question, answer                    required
    audio        list of paths relative to the JSONL file ([] or absent: a text question)
    choices      list of strings (multiple choice; the answer is a letter A, B, ...)
    answer_type  choice | integer | number | label | cognition (needed without choices)
    labels       the closed label set of a `label` answer;  tolerance: relative, for `number`
    facts        optional [{name, value, unit, event}]: the acoustic facts chains are checked against
    reasoning    optional: a grounded chain (a string), or {grounded, surrogate, empty}
    family, question_type, meta              optional
A record written by the world generator is a valid line too. Every problem raises ValueError with
the file, the line and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mgrd.data.records import ANSWER_TYPES, REASONING_STYLES, Record, answer_text, assistant_text, build_messages
from mgrd.io import data_path

ACCEPTED_ANSWER_TYPES = ", ".join(ANSWER_TYPES)


def read_record_file(path: str | os.PathLike) -> list[Record]:
    """Validated records of a user JSONL file, audio paths made absolute; ids must be unique."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    records: list[Record] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg})") from None
            record = user_record(obj, path.parent, where)
            if record.id in seen:
                raise ValueError(f"{where}: field 'id': {record.id!r} is already used on line {seen[record.id]}")
            seen[record.id] = lineno
            records.append(record)
    if not records:
        raise ValueError(f"data file {path} holds no records")
    return records


def _field_error(where: str, name: str, problem: str) -> ValueError:
    return ValueError(f"{where}: field {name!r}: {problem}")


def user_record(obj: Any, root: Path, where: str) -> Record:
    """A Record from one user line (defaults filled in, then the record schema's own validation)."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: a record must be a JSON object, got {type(obj).__name__}")
    for name in ("id", "question", "answer"):
        if name not in obj:
            raise _field_error(where, name, "missing (every record needs id, question and answer)")
    if not isinstance(obj["question"], str) or not obj["question"].strip():
        raise _field_error(where, "question", "must be a non-empty string")
    audio = _audio(obj.get("audio", []), root, where)
    choices = obj.get("choices") or None
    if choices is not None and (not isinstance(choices, list) or len(choices) < 2
                                or not all(isinstance(c, str) and c for c in choices)):
        raise _field_error(where, "choices", "must be a list of at least two non-empty strings (or null)")
    if "answer_type" not in obj and choices is None:
        raise _field_error(where, "answer_type", f"needed for a question without choices; accepted: "
                                                 f"{ACCEPTED_ANSWER_TYPES}")
    answer_type = obj.get("answer_type", "choice")
    _check_answer(obj, str(obj["answer"]), answer_type, choices, where)
    reasoning = _reasoning(obj.get("reasoning"), where)
    filled = {"family": "user" if audio else "text", "question_type": "perception", "facts": [], "meta": {},
              **obj, "audio": audio, "choices": choices, "answer_type": answer_type, "reasoning": reasoning}
    if "messages" not in filled:
        probe = Record.from_dict({**filled, "messages": []}, where=where)
        filled["messages"] = build_messages(probe.question, probe.choices, probe.audio,
                                            assistant_text(reasoning["grounded"], answer_text(probe)))
    return Record.from_dict(filled, where=where)


def _audio(value: Any, root: Path, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise _field_error(where, "audio", "must be a list of paths (relative to the JSONL file)")
    out = []
    for a in value:
        p = data_path(root, a, f"{where}: field 'audio'").resolve()
        if not p.is_file():
            raise _field_error(where, "audio", f"{a} does not exist (looked for {p})")
        out.append(str(p))
    return out


def _check_answer(obj: Mapping, answer: str, answer_type: str, choices: list | None, where: str) -> None:
    if answer_type not in ANSWER_TYPES:
        raise _field_error(where, "answer_type", f"{answer_type!r}; accepted: {ACCEPTED_ANSWER_TYPES}")
    if answer_type == "choice":
        letters = [chr(65 + i) for i in range(len(choices or ()))]
        if not choices:
            raise _field_error(where, "choices", "a choice answer needs choices")
        if answer not in letters:
            raise _field_error(where, "answer", f"{answer!r} is not a choice letter; accepted: {', '.join(letters)}")
    elif answer_type == "integer":
        try:
            int(answer)
        except ValueError:
            raise _field_error(where, "answer", f"{answer!r} is not an integer (answer_type integer)") from None
    elif answer_type == "number":
        try:
            float(answer)
            float(obj.get("tolerance", 0.0))
        except (TypeError, ValueError):
            raise _field_error(where, "answer", f"{answer!r} (or tolerance) is not a number (answer_type number)") \
                from None
    elif answer_type == "label":
        labels = obj.get("labels")
        if not isinstance(labels, list) or answer not in labels:
            raise _field_error(where, "labels", f"a label answer needs labels, a list that holds the answer "
                                                f"{answer!r}; got {labels!r}")


def _reasoning(value: Any, where: str) -> dict[str, str]:
    """{grounded, surrogate, empty}: a string is the grounded chain; missing styles are empty."""
    if value is None:
        value = {}
    if isinstance(value, str):
        value = {"grounded": value}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise _field_error(where, "reasoning", "must be a chain (a string) or a mapping of "
                                               f"{', '.join(REASONING_STYLES)} to chains")
    unknown = [k for k in value if k not in REASONING_STYLES]
    if unknown:
        raise _field_error(where, "reasoning", f"unknown style {unknown[0]!r}; accepted: {', '.join(REASONING_STYLES)}")
    return {s: value.get(s, "") for s in REASONING_STYLES}
