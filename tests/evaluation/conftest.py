"""Fixture datasets in each benchmark's official layout (a few items, generated audio) and a fake endpoint."""

import json
import re

import numpy as np
import pytest
import soundfile as sf

from mgrd.evaluation.fake_endpoint import FakeEndpoint, FakeReply

SR = 16000


def tone(path, seconds=0.5, freq=440.0, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR, format=fmt)
    return path


MMAU_ITEMS = [
    {"id": "m1", "question": "Which animal is heard?", "choices": ["a cat", "a dog", "a cow", "a bird"],
     "answer": "a dog", "task": "sound", "difficulty": "easy", "category": "Information Extraction",
     "sub-category": "Acoustic Source Inference"},
    {"id": "m2", "question": "What is the tempo?", "choices": ["slow", "fast"], "answer": "fast", "task": "music",
     "difficulty": "hard", "category": ["Reasoning"], "sub-category": "Rhythm and Tempo Understanding"},
    {"id": "m3", "question": "Who speaks?", "choices": ["A motorsport racing event", "a man", "a woman"],
     "answer": "a woman", "task": "speech", "difficulty": "medium", "category": "Reasoning",
     "sub-category": "Speaker Identification"},
]


def make_mmau(root, items=MMAU_ITEMS, name="mmau-test-mini.json"):
    rows = []
    for it in items:
        tone(root / "test-mini-audios" / f"{it['id']}.wav", freq=300 + 100 * len(rows))
        rows.append({**it, "audio_id": f"./test-mini-audios/{it['id']}.wav", "dataset": "fixture", "split": "test-mini"})
    (root / name).write_text(json.dumps(rows))
    return root


def make_mmar(root):
    rows = [{"id": "r1", "audio_path": "./audio/r1.wav", "question": "How many beeps?", "choices": ["two", "three"],
             "answer": "three", "modality": "sound", "category": "Perception", "sub-category": "Counting",
             "language": "en", "source": "fixture", "url": "", "timestamp": ""}]
    tone(root / "audio" / "r1.wav")
    (root / "MMAR-meta.json").write_text(json.dumps(rows))
    return root


def make_mmsu(root):
    rows = [{"id": "s1", "audio_path": "audio/s1.wav", "question": "What emotion?", "choice_a": "happy",
             "choice_b": "sad", "choice_c": "angry", "choice_d": "calm", "answer_gt": "sad", "task_name": "emotion",
             "category": "paralinguistics", "sub-category": "speaker traits"},
            {"id": "s2", "audio_path": "audio/s2.wav", "question": "Is it a question?", "choice_a": "yes",
             "choice_b": "no", "choice_c": None, "choice_d": None, "answer_gt": "yes", "task_name": "intonation",
             "category": "linguistics", "sub-category": "phonology"}]
    for r in rows:
        tone(root / r["audio_path"])
    (root / "question").mkdir(parents=True, exist_ok=True)
    (root / "question" / "mmsu.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def make_bba(root):
    rows = [("0", "formal_fallacies", "invalid"), ("1", "navigate", "Yes"), ("2", "object_counting", "7"),
            ("3", "web_of_lies", "No")]
    lines = ["file_name,category,official_answer,id"]
    for i, cat, ans in rows:
        tone(root / "data" / f"question_{i}.mp3", fmt="MP3")
        lines.append(f"data/question_{i}.mp3,{cat},{ans},{i}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def make_spoken_mqa(root):
    tone(root / "audio" / "a.wav")
    (root / "short_digit.jsonl").write_text(json.dumps(
        {"id": "d1", "context": "audio/a.wav", "context_transcript": "three plus four",
         "instruction": {"text": "Answer"}, "answer": {"text": "7"}}) + "\n")
    (root / "multi_step_reasoning.jsonl").write_text(json.dumps(
        {"id": "q1", "context": {"path": "audio/a.wav"}, "context_transcript": "...",
         "instruction": {"text": "Solve"}, "answer": {"text": ["He has 2 + 3 = 5 apples.\n#### 1,250.0"]}}) + "\n")
    return root


def make_wildspeech(root):
    tone(root / "audio" / "w1.wav")
    row = {"audio": "audio/w1.wav", "user_query": "Tell me a joke", "taskType": "Text Creation",
           "checklist": "- is funny", "conversation_hash": "h1", "modification_type": "natural_noise",
           "additional_info": ""}
    (root / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    return root


def question_of(body):
    """The question text of a request (first text part), for scripted answers."""
    for m in body.get("messages", []):
        if isinstance(m.get("content"), list):
            for p in m["content"]:
                if p.get("type") == "text":
                    return p["text"]
    return ""


ANSWERS = {"Which animal": "a dog", "What is the tempo": "B", "Who speaks": "C. a woman",
           "How many beeps": "three", "What emotion": "B", "Is it a question": "The answer is A."}


def scripted(body, n):
    """A 'model' that reasons, then answers per the ANSWERS table."""
    q = question_of(body)
    answer = next((a for k, a in ANSWERS.items() if k in q), "7")
    return FakeReply(content=f"I hear a tone with rising pitch.\n</think>\n{answer}")


@pytest.fixture
def fake():
    """A factory: `fake(handler)` starts a loopback server and stops it after the test."""
    servers = []

    def start(handler=scripted, **kw):
        server = FakeEndpoint(handler, **kw).__enter__()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.__exit__(None, None, None)


__all__ = ["ANSWERS", "make_bba", "make_mmar", "make_mmau", "make_mmsu", "make_spoken_mqa", "make_wildspeech",
           "question_of", "re", "scripted", "tone"]
