"""FSDP2 check: SFT and PPO in 2 processes with bf16 mixed precision and activation checkpointing; each
process's peak memory next to `mgrd plan`'s estimate for the same config.

    python bench/gpu_fsdp.py [--work DIR]          # needs 2 CUDA devices (1: one process, no FSDP)
    python bench/gpu_fsdp.py --cpu-dry-run         # 2 gloo processes on the CPU, float32, peak RSS

Prints one line per stage and process: measured peak, planned, ratio. GPU peak is
torch.cuda.max_memory_allocated; the CPU dry run measures the resident-set peak above the
process's size before the model was loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def _rss(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def child(stage: str, cfg_path: str, out_dir: str) -> None:
    """One torchrun process: train the stage, write this rank's peak memory."""
    from mgrd.training.config import PPOConfig, SFTConfig, load_config

    cpu = not torch.cuda.is_available()
    if cpu and os.path.exists("/proc/self/clear_refs"):
        open("/proc/self/clear_refs", "w").write("5")
    base = _rss("VmRSS") if cpu else 0
    if stage == "sft":
        from mgrd.training.sft import train_sft

        train_sft(load_config(SFTConfig, cfg_path, []))
    else:
        from mgrd.training.ppo import train_ppo

        train_ppo(load_config(PPOConfig, cfg_path, []), reward_fn=_length_reward)
    peak = _rss("VmHWM") - base if cpu else torch.cuda.max_memory_allocated()
    rank = int(os.environ.get("RANK", "0"))
    Path(out_dir, f"{stage}_rank{rank}.json").write_text(json.dumps({"peak": peak}))


def _length_reward(completion, record):
    from mgrd.training.rewards import Reward

    return Reward(min(len(completion), 32) / 32.0, {})


def make_model(work: Path, *, hidden: int, layers: int) -> Path:
    from mgrd.chat import train_tokenizer
    from mgrd.chat.corpus import tiny_corpus
    from mgrd.model import AudioTokenIds, build_model, save_pretrained
    from mgrd.model.config import AdaptorConfig, AudioLMConfig, EncoderConfig, TextConfig

    tok = train_tokenizer(tiny_corpus(), vocab_size=400)
    sp = tok.special
    cfg = AudioLMConfig(
        text=TextConfig(vocab_size=-(-tok.vocab_size // 64) * 64, hidden_size=hidden, intermediate_size=3 * hidden,
                        num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=4,
                        max_position_embeddings=4096, eos_token_id=(sp.eot, sp.endoftext), pad_token_id=sp.endoftext,
                        torch_dtype="float32"),
        encoder=EncoderConfig(n_mels=128, n_audio_ctx=64, n_audio_state=64, n_audio_head=2, n_audio_layer=1),
        adaptor=AdaptorConfig(llm_dim=hidden, n_audio_state=64, adapter_state=128),
        audio_token_ids=AudioTokenIds.of(sp))
    path = work / "model"
    save_pretrained(build_model(cfg, seed=0), path, tokenizer=tok)
    return path


def configs(work: Path, model: Path, device: str, seq: int) -> dict[str, dict]:
    text = "one two three four five six seven eight nine ten " * (seq // 40)
    sft = work / "sft.jsonl"
    sft.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Count {i}."},
                                                    {"role": "assistant", "content": text}]}) + "\n"
                           for i in range(16)))
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Say {i}."}], "answer": "x"})
                               + "\n" for i in range(8)))
    run = {"progress": False, "save_every": 1000, "device": device, "activation_checkpointing": True,
           "mixed_precision": "bf16" if device == "cuda" else "none"}
    return {
        "sft": {"model": str(model), "data": [{"path": str(sft)}], "batch_size": 8, "micro_batch_size": 2,
                "max_length": seq + 64, "max_steps": 3, "run": {**run, "dir": str(work / "run_sft")}},
        "ppo": {"model": str(model), "prompts": [{"path": str(prompts)}], "iterations": 2, "prompts_per_iteration": 2,
                "samples_per_prompt": 4, "max_new_tokens": 64, "max_length": 256, "reward": "text",
                "minibatch_size": 8, "micro_batch_size": 2, "rollout_batch_size": 8,
                "run": {**run, "dir": str(work / "run_ppo")}},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None)
    ap.add_argument("--cpu-dry-run", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("STAGE", "CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    from mgrd.pipeline import plan as P
    from mgrd.training.config import PPOConfig, SFTConfig, from_dict

    cuda = torch.cuda.is_available() and not args.cpu_dry_run
    nproc = min(2, torch.cuda.device_count()) if cuda else 2
    work = Path(args.work or tempfile.mkdtemp(prefix="mgrd-fsdp-"))
    work.mkdir(parents=True, exist_ok=True)
    model = make_model(work, hidden=1024 if cuda else 128, layers=8 if cuda else 2)
    cfgs = configs(work, model, "cuda" if cuda else "cpu", 1024 if cuda else 256)
    from mgrd.model import read_config

    shapes = P.Shapes.of(read_config(model))
    print(f"{nproc} process(es) on {'CUDA' if cuda else 'CPU (gloo)'}; model {shapes.total / 1e6:.1f} M parameters")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for stage, cls in (("sft", SFTConfig), ("ppo", PPOConfig)):
        path = work / f"{stage}.yaml"
        path.write_text(json.dumps(cfgs[stage]))
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                               str(nproc), __file__, "--child", stage, str(path), str(work)],
                              capture_output=True, text=True, timeout=1200, env=env)
        if proc.returncode != 0:
            print(f"{stage}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}")
            continue
        planned = P.total(P.stage_memory(from_dict(cls, cfgs[stage]), shapes, P.Setup(nproc, 2 if cuda else 4)))
        for rank in range(nproc):
            peak = json.loads((work / f"{stage}_rank{rank}.json").read_text())["peak"]
            print(f"{stage} rank {rank}: peak {peak / 2**20:8.1f} MiB, planned {planned / 2**20:8.1f} MiB, "
                  f"planned/measured {planned / max(peak, 1):.2f}")


if __name__ == "__main__":
    main()
