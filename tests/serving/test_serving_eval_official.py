"""`mgrd eval --endpoint ... --request-shape official` against `mgrd serve`, end to end.

A micro model is trained here, on the native engine's own prompts, to a canned completion per thinking
mode: with reasoning it thinks "i hear a high tone" and answers B; without (the `<think>\\n\\n</think>\\n`
prefill) it answers A at once. Served by `mgrd serve` and evaluated through the official request shape
(role `human`, the assistant prefill continued with `continue_final_message`, the released `<|EOT|>` id as
`stop_token_ids`), it must give back exactly those completions, split into reasoning and content, and the
evaluation must score them as they deserve.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from mgrd.chat import THINK_CLOSE, train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.cli.main import app
from mgrd.inference import Engine, SamplingParams, build_prompt
from mgrd.model import AudioTokenIds, build_model, micro_config, save_pretrained
from mgrd.tasks.registry import load_task

from .serving_support import free_port

pytestmark = pytest.mark.slow

REASONING = "i hear a high tone"
THINK_ANSWER, NO_THINK_ANSWER = "B", "A"
PROMPT = "{question}"   # the evaluation's --prompt: a short prompt keeps the training short
# (id, question, choices, answer): B is right on q1 and q2, A on q3.
ITEMS = [("q1", "Which animal is heard?", ["a cat", "a dog", "a cow"], "a dog"),
         ("q2", "What is the tempo?", ["slow", "fast"], "fast"),
         ("q3", "Who speaks?", ["a man", "a woman"], "a man")]
SERVED = "canned"


def _mmau(root: Path) -> Path:
    """The items in MMAU's official layout, each with a half-second tone of its own pitch."""
    (root / "test-mini-audios").mkdir(parents=True)
    rows = []
    for k, (item_id, question, choices, answer) in enumerate(ITEMS):
        t = np.arange(8000) / 16000
        sf.write(root / "test-mini-audios" / f"{item_id}.wav",
                 (0.3 * np.sin(2 * np.pi * (300 + 200 * k) * t)).astype(np.float32), 16000, subtype="PCM_16")
        rows.append({"id": item_id, "audio_id": f"./test-mini-audios/{item_id}.wav", "question": question,
                     "choices": choices, "answer": answer})
    (root / "mmau-test-mini.json").write_text(json.dumps(rows))
    return root


def _train(model, examples: list[tuple[list[int], list[int], tuple]], *, max_steps: int = 400) -> int:
    """Fit (prompt ids, target ids, audio mels) until every target token has probability > 0.9 under teacher
    forcing (so greedy decoding writes the targets); returns the steps taken."""
    width = max(len(p) + len(t) for p, t, _ in examples)
    ids = torch.zeros(len(examples), width, dtype=torch.long)
    labels = torch.full((len(examples), width), -100)
    mask = torch.zeros(len(examples), width, dtype=torch.long)
    mels = [m for _, _, chunks in examples for m in chunks]
    for row, (prompt, target, _) in enumerate(examples):
        ids[row, :len(prompt) + len(target)] = torch.tensor(prompt + target)
        mask[row, :len(prompt) + len(target)] = 1
        labels[row, len(prompt):len(prompt) + len(target)] = torch.tensor(target)
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for step in range(1, max_steps + 1):
        logprobs = model(ids, mels, attention_mask=mask).logits[:, :-1].log_softmax(-1)
        target = labels[:, 1:]
        picked = logprobs.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)[target >= 0]
        if picked.min().item() > np.log(0.9):
            break
        optimizer.zero_grad()
        (-picked.mean()).backward()
        optimizer.step()
    model.eval()
    return step


@pytest.fixture(scope="module")
def canned(tmp_path_factory):
    """(checkpoint dir, MMAU data dir): the micro model trained to the canned completions."""
    root = tmp_path_factory.mktemp("canned")
    data = _mmau(root / "MMAU")
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = micro_config(-(-tokenizer.vocab_size // 64) * 64,
                       audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    engine = Engine(model, tokenizer)
    targets = {None: tokenizer.encode(f"{REASONING}\n{THINK_CLOSE}\n{THINK_ANSWER}") + [s.eot],
               0: tokenizer.encode(NO_THINK_ANSWER) + [s.eot]}
    task, examples = load_task("mmau", data), []
    for item in task.items():
        prompt = build_prompt(task.messages(item, prompt=PROMPT), tokenizer)
        for budget, target in targets.items():   # the native engine's think and no-think prompts
            ids, _ = engine.prompt_ids(prompt, SamplingParams(thinking_budget=budget))
            examples.append((list(ids), target, prompt.audio_mels))
    steps = _train(model, examples)
    assert steps < 400, "the micro model did not learn its canned completions"
    save_pretrained(model, root / "model", tokenizer=tokenizer)
    return root / "model", data


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"mgrd serve did not come up: {log.read_text()}")


def _records(out: Path) -> dict[tuple[str, str], dict]:
    """The run's cached results by (item id, budget as the report writes it)."""
    found = {}
    for path in (out / "cache").rglob("*.json"):
        record = json.loads(path.read_text())
        budget = record["setting"]["budget"]
        found[record["item"]["id"], "unlimited" if budget is None else str(budget)] = record
    return found


def test_official_shape_eval_against_mgrd_serve_scores_the_canned_answers(canned, tmp_path):
    checkpoint, data = canned
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mgrd.cli.main", "serve", "--model", str(checkpoint),
                                 "--port", str(port), "--served-model-name", SERVED, "--device", "cpu",
                                 "--log-level", "warning"], stdout=sink, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(url, proc, log)
            out = tmp_path / "run"
            result = CliRunner().invoke(app, [
                "eval", "mmau", "--data", str(data), "--endpoint", f"{url}/v1", "--served-model", SERVED,
                "--request-shape", "official", "--budgets", "0,unlimited", "--prompt", PROMPT, "--temperature", "0",
                "--max-tokens", "32", "--concurrency", "2", "--retries", "1", "--out", str(out)])
        finally:
            proc.terminate()
            proc.wait(30)
    assert result.exit_code == 0, result.output + log.read_text()
    records = _records(out)
    assert len(records) == 2 * len(ITEMS) and {r["status"] for r in records.values()} == {"ok"}
    for item_id, *_ in ITEMS:
        thought, direct = records[item_id, "unlimited"], records[item_id, "0"]
        assert (thought["reasoning"], thought["answer"], thought["well_formed"]) == (REASONING, THINK_ANSWER, True)
        assert thought["reasoning_tokens"] > 0 and thought["finish_reason"] == "stop"
        assert (direct["reasoning"], direct["answer"], direct["reasoning_tokens"]) == ("", NO_THINK_ANSWER, 0)
        assert direct["finish_reason"] == "stop"
    budgets = json.loads((out / "scores.json").read_text())["tasks"]["mmau"]["budgets"]
    # Robust rule: B is right on q1 and q2, A on q3. MMAU's official string match needs the choice's words:
    # a bare letter is wrong under it.
    assert budgets["unlimited"]["robust"]["mean"] == pytest.approx(2 / 3)
    assert budgets["0"]["robust"]["mean"] == pytest.approx(1 / 3)
    assert budgets["unlimited"]["official"]["mean"] == budgets["0"]["official"]["mean"] == 0.0
