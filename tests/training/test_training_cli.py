"""`mgrd sft|ppo|dpo CONFIG key=value`: configs, overrides and clear errors (exit 2)."""

import pytest
import yaml
from typer.testing import CliRunner

from mgrd.cli.main import app
from mgrd.training.config import PPOConfig, SFTConfig, load_config

from conftest import write_jsonl


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndata:\n  - {path: a.jsonl, ratio: 2}\noptim: {lr: 1.0e-4}\n")
    cfg = load_config(SFTConfig, path, ["optim.lr=3e-4", "run.dir=r", "data=[{path: b.jsonl}]"])
    assert cfg.optim.lr == 3e-4 and cfg.run.dir == "r" and cfg.data[0].path == "b.jsonl"
    assert cfg.data[0].ratio == 1.0 and cfg.optim.betas == (0.9, 0.95)
    ppo = load_config(PPOConfig, None, ["model=m", "prompts=[{path: p.jsonl}]"])
    assert (ppo.samples_per_prompt, ppo.clip, ppo.gamma, ppo.lam, ppo.kl_coef) == (16, 0.2, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="unknown key"):
        load_config(SFTConfig, path, ["optim.learning_rate=1"])
    with pytest.raises(ValueError, match="batch_size: expected int"):
        load_config(SFTConfig, path, ["batch_size=many"])
    with pytest.raises(ValueError, match="missing required"):
        load_config(SFTConfig, None, ["model=m"])


def test_cli_runs_a_stage_and_reports_bad_input(micro_dir, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": [{"role": "user", "content": "q"},
                                                            {"role": "assistant", "content": "a\n</think>\nb"}]}])
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(yaml.safe_dump({"model": str(micro_dir), "data": [{"path": str(data)}], "batch_size": 1,
                                   "max_steps": 2, "run": {"dir": str(tmp_path / "run"), "progress": False}}))
    runner = CliRunner()
    ok = runner.invoke(app, ["sft", str(cfg), "optim.lr=1e-3"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    changed = runner.invoke(app, ["sft", str(cfg), "optim.lr=2e-3", "max_steps=3"])
    assert changed.exit_code == 2 and "refusing to resume" in changed.output
    bad = runner.invoke(app, ["dpo", str(cfg)])
    assert bad.exit_code == 2 and "unknown key" in bad.output
