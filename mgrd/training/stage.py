"""What every training stage shares: process group, run directory, model loading, checkpoints, stop signal.

A trainer composes one `StageRun`; it never inherits from another trainer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mgrd.chat import Tokenizer
from mgrd.model import AudioLM, empty_model, restore_buffers, save_pretrained
from mgrd.runtime import seed_everything
from mgrd.training import checkpoint as ckpt
from mgrd.training.config import LoraConfig, config_fingerprint, dump_config
from mgrd.training.distributed import (DistInfo, barrier, full_model_state, full_optimizer_state, init_distributed,
                                       load_model_state, load_optimizer_state)
from mgrd.training.loading import load_for_training
from mgrd.training.lora import (BaseModelView, read_adapter_state, trainable_names, trainable_state,
                               write_adapter_dir)
from mgrd.training.metrics import MetricsLog
from mgrd.training.preemption import StopRequest
from mgrd.training.run import record_run


class StageRun:
    """One stage's run: `RUN/` with config, manifest, metrics.jsonl and checkpoints/."""

    def __init__(self, stage: str, cfg: Any, data_digests: Mapping[str, str]) -> None:
        self.stage, self.cfg, self.run_cfg = stage, cfg, cfg.run
        self.dir = Path(self.run_cfg.dir)
        self.info: DistInfo = init_distributed(self.run_cfg.device)
        seed_everything(self.run_cfg.seed)
        if self.run_cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        self.config_text = dump_config(cfg)
        self.fingerprint = {"config": config_fingerprint(cfg), "data": dict(data_digests),
                            "world_size": self.info.world_size}
        if self.info.main:
            record_run(self.dir, self.config_text, stage=stage)
        barrier()
        self.stop = StopRequest()

    @property
    def device(self) -> torch.device:
        return self.info.device

    @property
    def lora(self) -> LoraConfig | None:
        """The stage's LoRA section (None: full fine-tuning)."""
        return getattr(self.cfg, "lora", None)

    def load_model(self, path: str | os.PathLike, *, critic: bool = False, sharded: bool = True,
                   lora: LoraConfig | None = None) -> tuple[nn.Module, Tokenizer]:
        """The AudioLM (or a Critic on its decoder) of a checkpoint with float32 master weights, on this
        process's device; under FSDP already sharded (mgrd.training.loading), with the run's activation
        checkpointing and mixed-precision switches applied; with `lora`, adapters that alone train."""
        return load_for_training(path, self.info, critic=critic, checkpointing=self.run_cfg.activation_checkpointing,
                                 mixed_precision=self.mixed_precision, sharded=sharded, lora=lora,
                                 seed=self.run_cfg.seed)

    def load_reference(self, path: str | os.PathLike, policy: nn.Module):
        """The frozen starting model that DPO and PPO's KL compare against.

        With LoRA and a frozen adaptor it is `policy` with its adapters switched off (BaseModelView):
        exactly the starting model, with no second copy of the weights. Otherwise a second model is
        loaded (a trained adaptor moves away from the start, so the policy cannot stand for it).
        """
        if self.lora is not None and not self.lora.train_adaptor:
            return BaseModelView(policy)
        reference, _ = self.load_model(path)
        reference.requires_grad_(False)
        return reference

    @property
    def mixed_precision(self) -> bool:
        """bf16 FSDP2 parameters: "bf16", or "auto" under FSDP on GPU."""
        mode = self.run_cfg.mixed_precision
        return mode == "bf16" or (mode == "auto" and self.info.distributed and self.device.type == "cuda")

    def autocast(self):
        """bf16 autocast on GPU ("auto" or "bf16"), nothing on CPU or with "none"."""
        mode = self.run_cfg.autocast
        if mode not in ("auto", "bf16", "none"):
            raise ValueError(f"run.autocast={mode!r}; accepted: auto, bf16, none")
        if mode == "none" or (mode == "auto" and self.device.type != "cuda"):
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    # ---- checkpoints ------------------------------------------------------------------------------
    def resume(self, model: nn.Module, *, optimizers: Mapping[str, tuple[nn.Module, torch.optim.Optimizer]],
               modules: Mapping[str, nn.Module] | None = None) -> tuple[int, dict]:
        """Load the newest committed checkpoint into `model`, `modules` and `optimizers` (name -> (module, opt)).

        Returns (completed steps, trainer state); (0, {}) for a fresh run. A corrupted newest
        checkpoint fails loudly (naming the file) rather than silently restarting.
        """
        if self.run_cfg.resume not in ("auto", "never"):
            raise ValueError(f"run.resume={self.run_cfg.resume!r}; accepted: auto, never")
        path = ckpt.latest_checkpoint(self.dir) if self.run_cfg.resume == "auto" else None
        if path is None:
            return 0, {}
        state = ckpt.load_checkpoint(path)
        ckpt.check_compatible(state.trainer_state.get("fingerprint", {}), self.fingerprint,
                              allow_changed=self.run_cfg.allow_changed, path=path)
        model_state = state.model if self.lora is None else read_adapter_state(state.model)
        if self.lora is not None:
            lost = sorted(set(trainable_names(model)) - set(model_state))
            if lost:
                raise ckpt.CheckpointError(f"checkpoint {path} lacks {len(lost)} trained tensors, e.g. {lost[:3]}")
        load_model_state(model, model_state, strict=self.lora is None)
        for name, module in (modules or {}).items():
            if name not in state.modules:
                raise ckpt.CheckpointError(f"checkpoint {path} has no {name}.safetensors")
            load_model_state(module, state.modules[name], strict=self.lora is None)
        for name, (module, opt) in optimizers.items():
            if name not in state.optimizers:
                raise ckpt.CheckpointError(f"checkpoint {path} has no optim_{name}.safetensors")
            load_optimizer_state(module, opt, state.optimizers[name])
        ckpt.restore_rng(state.rng)
        return state.step, state.trainer_state

    def save(self, step: int, model: AudioLM, tokenizer: Tokenizer, *,
             optimizers: Mapping[str, tuple[nn.Module, torch.optim.Optimizer]],
             modules: Mapping[str, nn.Module] | None = None, extra: Mapping[str, Any] | None = None) -> Path | None:
        """Commit checkpoint `step` (collective: every process calls; the main one writes).

        With LoRA the checkpoint's model/ is an adapter directory and the other modules keep their
        trainable parameters only: the frozen base is the stage's input model, never copied.
        """
        model_state = self._kept_state(model)
        module_states = {n: self._kept_state(m) for n, m in (modules or {}).items()}
        optim_states = {n: full_optimizer_state(m, o) for n, (m, o) in optimizers.items()}
        path = None
        if self.info.main:
            config = model.config
            path = ckpt.save_checkpoint(
                self.dir, step, model_writer=lambda d: self._write_model(config, model_state, d, tokenizer),
                modules=module_states, optimizers=optim_states,
                trainer_state={"stage": self.stage, "fingerprint": self.fingerprint, **(extra or {})},
                config_text=self.config_text, keep_last=self.run_cfg.keep_last)
        barrier()
        return path

    def export(self, model: AudioLM, tokenizer: Tokenizer, name: str = "model") -> Path:
        """Write the trained model to RUN/<name> in the official layout, or with LoRA as an adapter
        directory on the stage's input model (collective)."""
        state = self._kept_state(model)
        out = self.dir / name
        if self.info.main:
            self._write_model(model.config, state, out, tokenizer)
        barrier()
        return out

    def _kept_state(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps of `module`: all of it, or with LoRA its trainable part (collective)."""
        state = full_model_state(module)
        return state if self.lora is None else trainable_state(module, state)

    def _write_model(self, config, state: Mapping[str, torch.Tensor], path: Path, tokenizer: Tokenizer) -> None:
        if self.lora is None:
            export_model(config, state, path, tokenizer)
        else:
            write_adapter_dir(path, state, self.lora, base=self.cfg.model, tokenizer=tokenizer)

    def metrics(self, total: int, start: int, show: tuple[str, ...] = ("loss",)) -> MetricsLog:
        return MetricsLog(self.dir, enabled=self.info.main, total=total, start_step=start,
                          progress=self.run_cfg.progress, tensorboard=self.run_cfg.tensorboard, show=show)


def export_model(config, state: Mapping[str, torch.Tensor], path: str | os.PathLike, tokenizer: Tokenizer) -> None:
    """save_pretrained of a full CPU state dict (no second copy of the weights is made)."""
    model = empty_model(config, dtype=torch.float32, device="meta")
    model.load_state_dict(dict(state), strict=True, assign=True)
    restore_buffers(model, "cpu")
    save_pretrained(model, path, tokenizer=tokenizer)
