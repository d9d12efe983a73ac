"""Fixtures of the trainer tests: a micro checkpoint on disk, small chat-JSONL datasets, a scripted rollout backend."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from mgrd.chat import NO_THINK_PREFILL, train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.inference import Generation
from mgrd.model import AudioTokenIds, build_model, micro_config, save_pretrained
from mgrd.training.config import PPOConfig, from_dict


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(tiny_corpus(), vocab_size=400)


@pytest.fixture(scope="session")
def micro_dir(tmp_path_factory, tokenizer):
    """A random micro AudioLM + tokenizer saved in the official layout."""
    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    path = tmp_path_factory.mktemp("micro")
    save_pretrained(model, path, tokenizer=tokenizer)
    return path


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_tone(path, hz=440.0, seconds=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000, format="FLAC")
    return path


@pytest.fixture()
def sft_data(tmp_path):
    """Four records (one with audio, relative path) in a JSONL file."""
    write_tone(tmp_path / "data" / "audio" / "a.flac")
    records = [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "How many beeps?"},
                                                   {"type": "audio", "audio": "audio/a.flac"}]},
                      {"role": "assistant", "content": "Counting: 1, 2.\n</think>\n2"}]},
        {"messages": [{"role": "user", "content": "Which tone is higher?"},
                      {"role": "assistant", "content": "<think>\nThe second is higher.\n</think>\nB"}]},
        {"messages": [{"role": "user", "content": "Is the chord major or minor?"},
                      {"role": "assistant", "content": "minor"}]},
        {"messages": [{"role": "user", "content": "What is 3 + 4?"},
                      {"role": "assistant", "content": "3 + 4 = 7.\n</think>\n7"}]},
    ]
    return write_jsonl(tmp_path / "data" / "sft.jsonl", records)


def sft_overrides(micro_dir, data, run_dir, **extra):
    base = {"model": str(micro_dir), "data": [{"path": str(data)}], "batch_size": 4, "max_steps": 8,
            "optim": {"lr": 1e-2, "warmup_steps": 0, "grad_clip": 1.0},
            "run": {"dir": str(run_dir), "save_every": 2, "keep_last": 2, "progress": False}}
    for k, v in extra.items():
        node = base
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return base


@pytest.fixture(autouse=True)
def _threads():
    # Bitwise resume comparisons need one reduction order in every run.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def first_half_grader(answer, record):
    """Toy verifiable task: the answer must start with a letter a-m (~26 % of a random model's tokens)."""
    return 1.0 if answer[:1].lower() in "abcdefghijklm" and answer[:1].isalpha() else 0.0


@pytest.fixture()
def prompts(tmp_path):
    records = [{"messages": [{"role": "user", "content": f"Say a word from the first half of the alphabet ({i})."}],
                "answer": "a-m"} for i in range(8)]
    return write_jsonl(tmp_path / "data" / "prompts.jsonl", records)


def killed_and_resumed(cfg, *, at: int = 3):
    """Train PPO under `cfg`, kill it after iteration `at`, run it again (resuming): the resumed result."""
    from mgrd.training.ppo import train_ppo

    class Killed(BaseException):
        pass

    def hook(step, metrics):
        if step == at:
            raise Killed()

    with pytest.raises(Killed):
        train_ppo(cfg, grader=first_half_grader, after_step=hook)
    return train_ppo(cfg, grader=first_half_grader)


def ppo_cfg(micro_dir, prompts, run_dir, **extra):
    base = {"model": str(micro_dir), "prompts": [{"path": str(prompts)}], "iterations": 8,
            "prompts_per_iteration": 4, "samples_per_prompt": 8, "max_new_tokens": 1, "thinking_budget": 0,
            "reward": "text", "epochs": 2, "minibatch_size": 16,
            "optim": {"lr": 3e-2, "grad_clip": 10.0, "min_lr_ratio": 1.0}, "critic_optim": {"lr": 1e-2},
            "run": {"dir": str(run_dir), "save_every": 2, "progress": False}}
    base.update(extra)
    return from_dict(PPOConfig, base)


class Scripted:
    """A rollout backend that returns fixed completions: sampled reasoning, a forced `</think>`, an answer."""

    def __init__(self, tokenizer, parts):
        self.tokenizer, self.parts = tokenizer, parts
        self.close = tokenizer.encode(NO_THINK_PREFILL)

    def generate(self, prompts, params):
        out = []
        for i, p in enumerate(params):
            gens = []
            for s, (reasoning, answer) in enumerate(self.parts):
                r, a = self.tokenizer.encode(reasoning), self.tokenizer.encode(answer)
                ids = r + self.close + a + [self.tokenizer.special.eot]
                mask = [True] * len(r) + [False] * len(self.close) + [True] * (len(a) + 1)
                text = self.tokenizer.decode(ids[:-1])
                gens.append(Generation(i, s, ids, [0.0] * len(ids), mask, "stop", len(r), text))
            out.append(gens)
        return out

    def sync_weights(self, state):
        pass
