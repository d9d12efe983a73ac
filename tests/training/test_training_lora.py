"""LoRA adapters (peft): SFT learns through the adapters alone, the saved adapter directory merges to the same
logits, resume is exact, DPO and PPO train with adapters, bad sections and a missing peft are clear errors."""

import json
import sys

import pytest
import torch

from mgrd.model import is_adapter_dir, load_pretrained
from mgrd.model.lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTOR_WEIGHTS, PEFT_PREFIX
from mgrd.training import checkpoint as ckpt
from mgrd.training.config import DPOConfig, LoraConfig, PPOConfig, SFTConfig, from_dict
from mgrd.training.dpo import train_dpo
from mgrd.training.lora import MergedState, apply_lora, init_adapters, write_adapter_dir
from mgrd.training.ppo import train_ppo
from mgrd.training.sft import train_sft

from conftest import sft_overrides, write_jsonl

pytest.importorskip("peft")

# float32 logits of the micro model (|logit| < 1) agree to rounding: merged W + s·BA against x·W + s·(x·A)·B.
MERGE_ATOL = 1e-5
TARGETED = (".q_proj.weight", ".k_proj.weight", ".v_proj.weight", ".o_proj.weight", ".gate_proj.weight",
            ".up_proj.weight", ".down_proj.weight")
LORA = {"rank": 4, "alpha": 8.0}


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, tokenizer):
    """The micro checkpoint with an lm_head of std 0.2 instead of 0.02, as a trained head is: a random head
    of std 0.02 spreads the logits of any hidden state by less than one nat, so no adapter can fit data."""
    from mgrd.model import AudioTokenIds, build_model, micro_config, save_pretrained

    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    model = build_model(cfg, seed=0)
    with torch.no_grad():
        model.lm_head.weight.mul_(10.0)
    path = tmp_path_factory.mktemp("lora_base")
    save_pretrained(model, path, tokenizer=tokenizer)
    return path


def lora_sft(model_dir, data, run_dir, **extra):
    return from_dict(SFTConfig, sft_overrides(model_dir, data, run_dir, lora=dict(LORA), **extra))


def ids_batch(tokenizer):
    return torch.tensor([tokenizer.encode("What is 3 + 4? The second tone is higher.")])


def trained_adapter(model_dir, tokenizer, path, *, train_adaptor=False):
    """An adapter directory with random (non-zero) A and B, and the LoRA model it came from."""
    model = load_pretrained(model_dir, tokenizer_special_ids=tokenizer.special)
    apply_lora(model, LoraConfig(**LORA, train_adaptor=train_adaptor))
    init_adapters(model, seed=3)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".lora_B." in n or (train_adaptor and n.startswith("adapter.")):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    write_adapter_dir(path, state, LoraConfig(**LORA, train_adaptor=train_adaptor), base=model_dir,
                      tokenizer=tokenizer)
    return model.eval()


def test_sft_with_lora_lowers_the_loss_and_changes_only_the_adapters(base_dir, sft_data, tmp_path):
    result = train_sft(lora_sft(base_dir, sft_data, tmp_path / "run", max_steps=30,
                                **{"optim.lr": 3e-2, "run.save_every": 100}))
    assert result.losses[-1] < result.losses[0] - 2.0, result.losses     # 6.5 -> 3.7 nats in 30 steps
    out = result.model_dir
    assert is_adapter_dir(out) and not (out / "config.json").exists() and not (out / ADAPTOR_WEIGHTS).exists()
    config = json.loads((out / ADAPTER_CONFIG).read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8.0
    assert config["base_model_name_or_path"] == str(base_dir.resolve())
    from safetensors import safe_open

    with safe_open(out / ADAPTER_WEIGHTS, framework="pt") as f:
        keys = sorted(f.keys())
    # 2 layers x 7 projections x (A, B), peft's names
    assert len(keys) == 28 and all(k.startswith(PEFT_PREFIX + "model.layers.") for k in keys)
    base = load_pretrained(base_dir).state_dict()
    merged = load_pretrained(out).state_dict()
    assert merged.keys() == base.keys()
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(k.endswith(TARGETED) for k in changed)       # embeddings, norms, biases, lm_head,
    assert len(changed) == 14                                           # encoder and adaptor are the base's


def test_merged_model_gives_the_adapter_models_logits(base_dir, tokenizer, tmp_path):
    lora_model = trained_adapter(base_dir, tokenizer, tmp_path / "adapter", train_adaptor=True)
    merged = load_pretrained(tmp_path / "adapter")
    ids = ids_batch(tokenizer)
    with torch.no_grad():
        want = lora_model(ids).logits
        got = merged(ids).logits
        base = load_pretrained(base_dir)(ids).logits
    assert (want - base).abs().max() > 1e-3          # the adapter does change the outputs
    torch.testing.assert_close(got, want, atol=MERGE_ATOL, rtol=0)
    # the trained adaptor is part of the directory, under its checkpoint names
    assert (tmp_path / "adapter" / ADAPTOR_WEIGHTS).is_file()
    torch.testing.assert_close(merged.adapter.linear1.weight, lora_model.adapter.linear1.weight)


def test_merged_state_refreshes_a_plain_replica_to_the_lora_models_logits(base_dir, tokenizer, tmp_path):
    lora_model = trained_adapter(base_dir, tokenizer, tmp_path / "adapter")
    replica = load_pretrained(base_dir)
    state = MergedState(lora_model)
    assert sorted(state) == sorted(replica.state_dict())
    with torch.no_grad():
        own = replica.state_dict()
        for k, v in state.items():
            own[k].copy_(v)
        ids = ids_batch(tokenizer)
        torch.testing.assert_close(replica(ids).logits, lora_model(ids).logits, atol=MERGE_ATOL, rtol=0)


def test_lora_resume_is_exact_and_the_optimizer_holds_adapters_only(base_dir, sft_data, tmp_path):
    extra = {"max_steps": 6, "run.save_every": 3, "lora.dropout": 0.1}
    full = train_sft(lora_sft(base_dir, sft_data, tmp_path / "a", **extra))

    class Killed(BaseException):
        pass

    def hook(step, metrics):
        if step == 3:
            raise Killed()

    cfg = lora_sft(base_dir, sft_data, tmp_path / "b", **extra)
    with pytest.raises(Killed):
        train_sft(cfg, after_step=hook)
    resumed = train_sft(cfg)
    assert resumed.losses == full.losses[3:]
    a = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "a"))
    b = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "b"))
    assert a.model.keys() == b.model.keys() and len(a.model) == 28
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)
    names = list(a.optimizers["model"]["state"])
    assert len(names) == 28 and all(".lora_A." in n or ".lora_B." in n for n in names)


def test_dpo_with_lora_uses_the_base_as_reference_and_raises_the_margin(base_dir, tmp_path):
    records = [{"messages": [{"role": "user", "content": "Which tone is higher?"}],
                "chosen": "The second is higher.\n</think>\nB", "rejected": "\n</think>\nA"},
               {"messages": [{"role": "user", "content": "Can you hear this?"}],
                "chosen": "A steady tone.\n</think>\nYes.", "rejected": "I cannot hear.\n</think>\nNo."}]
    pairs = write_jsonl(tmp_path / "pairs.jsonl", records)
    base = {"model": str(base_dir), "pairs": [{"path": str(pairs)}], "max_steps": 8, "batch_size": 2,
            "optim": {"lr": 3e-2, "min_lr_ratio": 1.0}, "lora": dict(LORA),
            "run": {"dir": str(tmp_path / "run"), "save_every": 100, "progress": False}}
    result = train_dpo(from_dict(DPOConfig, base))
    margins = [h["margin"] for h in result.history]
    assert margins[0] == pytest.approx(0.0, abs=1e-6)     # B = 0: the policy is the base at the start
    assert margins[-1] > 1.0
    assert is_adapter_dir(result.model_dir)
    # a trained adaptor moves away from the start: a separate reference model is loaded, and it works
    base.update(max_steps=2, lora={**LORA, "train_adaptor": True}, run={**base["run"], "dir": str(tmp_path / "r2")})
    again = train_dpo(from_dict(DPOConfig, base))
    assert again.history[0]["margin"] == pytest.approx(0.0, abs=1e-6)
    assert (again.model_dir / ADAPTOR_WEIGHTS).is_file()


def test_ppo_with_lora_critic_and_kl_reference(micro_dir, tmp_path):
    # the plain micro model: its near-uniform policy samples rewarded tokens (~26 %) from the start
    def grader(answer, record):
        return 1.0 if answer[:1].lower() in "abcdefghijklm" and answer[:1].isalpha() else 0.0

    prompts = write_jsonl(tmp_path / "prompts.jsonl", [
        {"messages": [{"role": "user", "content": f"Say a word ({i})."}], "answer": "a-m"} for i in range(4)])
    cfg = from_dict(PPOConfig, {
        "model": str(micro_dir), "prompts": [{"path": str(prompts)}], "iterations": 3, "prompts_per_iteration": 2,
        "samples_per_prompt": 4, "max_new_tokens": 1, "thinking_budget": 0, "reward": "text", "epochs": 1,
        "minibatch_size": 8, "kl_coef": 0.1, "lora": dict(LORA), "optim": {"lr": 3e-2, "min_lr_ratio": 1.0},
        "critic_optim": {"lr": 1e-2}, "run": {"dir": str(tmp_path / "run"), "save_every": 1, "progress": False}})
    result = train_ppo(cfg, grader=grader)
    last = result.history[-1]
    assert "kl_ref" in last and last["kl_ref"] > 0      # the adapters moved the policy away from the base
    # the rollout replica decodes with the merged adapters: its log-probs are the training forward's
    assert all(h["rollout_logprob_gap"] < 1e-4 for h in result.history)
    saved = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "run"))
    critic_keys = set(saved.modules["critic"])
    assert "value_head.weight" in critic_keys and len(critic_keys) == 28 + 2
    assert all(".lora_" in k or k.startswith("value_head.") for k in critic_keys)


@pytest.mark.parametrize("lora, message", [
    ({"target_modules": ["q_proj", "qkv"]}, "names among q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj"),
    ({"rank": 0}, "lora.rank=0"),
    ({"dropout": 1.0}, "lora.dropout"),
    ({"target_modules": []}, "lora.target_modules"),
    ({"ranks": 4}, "unknown key(s) ['ranks']"),
])
def test_bad_lora_values_are_refused_with_what_is_accepted(base_dir, sft_data, tmp_path, lora, message):
    with pytest.raises(ValueError, match="accepted") as e:
        from_dict(SFTConfig, sft_overrides(base_dir, sft_data, tmp_path, lora=lora))
    assert message in str(e.value)


def test_lora_and_adaptor_only_contradict(base_dir, sft_data, tmp_path):
    with pytest.raises(ValueError, match="contradict"):
        from_dict(SFTConfig, sft_overrides(base_dir, sft_data, tmp_path, lora={}, train_adaptor_only=True))


def test_missing_peft_names_the_extra(monkeypatch):
    from mgrd.cli.errors import missing_module_message
    from mgrd.training.lora import require_peft

    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(ModuleNotFoundError) as e:
        require_peft()
    assert '.[lora]' in str(e.value)
    assert missing_module_message(e.value) == ("this command needs the optional dependency 'peft'; install it with: "
                                               'pip install -e ".[lora]"')


def test_an_adapter_for_another_base_is_refused(base_dir, tokenizer, tmp_path):
    trained_adapter(base_dir, tokenizer, tmp_path / "adapter")
    other = tmp_path / "other"
    other.mkdir()
    for f in base_dir.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    config = json.loads((other / "config.json").read_text())
    config["text_config"]["rms_norm_eps"] = 1e-5
    (other / "config.json").write_text(json.dumps(config))
    from mgrd.model.checkpoint import load_with_adapter

    with pytest.raises(ValueError, match="different base model"):
        load_with_adapter(tmp_path / "adapter", base=other)
