"""`mgrd sft|ppo|dpo|pretrain-encoder CONFIG [key=value ...]`: run one training stage (also under torchrun)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mgrd.cli.errors import user_errors

console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="YAML config of the stage", exists=True, dir_okay=False)]
OverridesArg = Annotated[list[str] | None, typer.Argument(help="key=value overrides, e.g. optim.lr=3e-4")]


def _finish(result) -> None:
    import os

    from mgrd.training.distributed import cleanup
    from mgrd.training.preemption import PREEMPTED_EXIT_CODE

    cleanup()
    if os.environ.get("RANK", "0") != "0":   # under torchrun, rank 0 speaks for all
        raise typer.Exit(PREEMPTED_EXIT_CODE if result.preempted else 0)
    if result.preempted:
        console.print(f"stopped by SIGTERM after step {result.steps}; checkpoint committed in {result.run_dir}; "
                      "rerun the same command to resume")
        raise typer.Exit(PREEMPTED_EXIT_CODE)
    console.print(f"done: {result.steps} steps; model in {result.model_dir}")


def sft(config: ConfigArg, overrides: OverridesArg = None) -> None:
    """Supervised fine-tuning (loss on assistant tokens; `loss_on: all` per source for pretraining)."""
    from mgrd.training.config import SFTConfig, load_config
    from mgrd.training.sft import train_sft

    with user_errors():
        result = train_sft(load_config(SFTConfig, config, overrides or []))
    _finish(result)


def ppo(config: ConfigArg, overrides: OverridesArg = None,
        allow_custom_grader: Annotated[bool, typer.Option(
            "--allow-custom-grader", help="let the config's grader import a module outside mgrd (runs its code)")]
        = False) -> None:
    """PPO on verifiable rewards: with a critic (advantage=gae, the paper's) or GRPO (advantage=grpo)."""
    from mgrd.training.config import PPOConfig, load_config
    from mgrd.training.ppo import custom_graders_allowed, train_ppo

    with user_errors(), custom_graders_allowed(allow_custom_grader):
        result = train_ppo(load_config(PPOConfig, config, overrides or []))
    _finish(result)


def dpo(config: ConfigArg, overrides: OverridesArg = None) -> None:
    """DPO on preference pairs against the frozen starting model."""
    from mgrd.training.config import DPOConfig, load_config
    from mgrd.training.dpo import train_dpo

    with user_errors():
        result = train_dpo(load_config(DPOConfig, config, overrides or []))
    _finish(result)


def pretrain_encoder(config: ConfigArg, overrides: OverridesArg = None) -> None:
    """Audio encoder + adaptor pretraining on typed facts through auxiliary heads."""
    from mgrd.training.config import EncoderPretrainConfig, load_config
    from mgrd.training.encoder_pretrain import train_encoder

    with user_errors():
        result = train_encoder(load_config(EncoderPretrainConfig, config, overrides or []))
    _finish(result)


def register(app: typer.Typer) -> None:
    app.command("sft")(sft)
    app.command("ppo")(ppo)
    app.command("dpo")(dpo)
    app.command("pretrain-encoder")(pretrain_encoder)
