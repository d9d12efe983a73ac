"""`mgrd merge-adapter` round trip, and chat opening a LoRA adapter directory as its model."""

import json

import pytest
import torch
from typer.testing import CliRunner

from mgrd.cli.main import app
from mgrd.model import load_pretrained

runner = CliRunner()
pytest.importorskip("peft")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    """A tiny checkpoint and a LoRA adapter on it with non-zero updates (B random)."""
    from mgrd.chat import Tokenizer
    from mgrd.training.config import LoraConfig
    from mgrd.training.lora import apply_lora, init_adapters, write_adapter_dir

    root = tmp_path_factory.mktemp("lora_cli")
    assert runner.invoke(app, ["init-tiny", str(root / "base"), "--vocab-size", "512"]).exit_code == 0
    tokenizer = Tokenizer.from_dir(root / "base")
    model = load_pretrained(root / "base", tokenizer_special_ids=tokenizer.special)
    cfg = LoraConfig(rank=2, alpha=4.0, target_modules=["q_proj", "v_proj", "down_proj"])
    apply_lora(model, cfg)
    init_adapters(model, seed=0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".lora_B." in n:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    write_adapter_dir(root / "adapter", state, cfg, base=root / "base", tokenizer=tokenizer)
    return root


def test_merge_adapter_writes_a_checkpoint_with_the_adapters_logits(adapter, tmp_path):
    out = tmp_path / "merged"
    result = runner.invoke(app, ["merge-adapter", str(adapter / "adapter"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not list(out.parent.glob(".tmp-*"))
    merged = load_pretrained(out)
    base = load_pretrained(adapter / "base")
    assert merged.state_dict().keys() == base.state_dict().keys()      # the official names, nothing more
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        from_adapter = load_pretrained(adapter / "adapter")(ids).logits
        torch.testing.assert_close(merged(ids).logits, from_adapter, atol=0, rtol=0)   # the same merge, saved
        assert (merged(ids).logits - base(ids).logits).abs().max() > 1e-4
    again = runner.invoke(app, ["merge-adapter", str(adapter / "adapter"), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_merge_adapter_errors_are_one_line(adapter, tmp_path):
    result = runner.invoke(app, ["merge-adapter", str(adapter / "base"), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "adapter_config.json is missing" in result.output
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in (adapter / "adapter").iterdir():
        (moved / f.name).write_bytes(f.read_bytes())
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone")
    (moved / "adapter_config.json").write_text(json.dumps(config))
    result = runner.invoke(app, ["merge-adapter", str(moved), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "not a directory" in result.output
    ok = runner.invoke(app, ["merge-adapter", str(moved), "--out", str(tmp_path / "m"), "--base",
                             str(adapter / "base")])
    assert ok.exit_code == 0, ok.output


def test_chat_and_eval_identity_open_an_adapter_directory(adapter):
    result = runner.invoke(app, ["chat", "--model", str(adapter / "adapter"), "--max-tokens", "4",
                                 "--temperature", "0", "--device", "cpu", "What is 3 + 4?"])
    assert result.exit_code == 0, result.output
    assert "answer" in result.output
    from mgrd.evaluation.identity import checkpoint_identity

    a, b = checkpoint_identity(adapter / "adapter"), checkpoint_identity(adapter / "base")
    assert a["sha256"] != b["sha256"] and a["name"] == "adapter"
