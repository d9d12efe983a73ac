"""`mgrd plan`: memory arithmetic for serving a checkpoint (weights, KV per token, concurrent requests)."""

from __future__ import annotations

from typing import Annotated

import typer

from mgrd.cli.errors import user_errors


def plan_serve(
    model: Annotated[str, typer.Argument(help="checkpoint directory, config.json, or r1 / r1.1 / step-audio-2-mini")],
    gpus: Annotated[int, typer.Option(help="number of devices")] = 1,
    gib_per_gpu: Annotated[float, typer.Option("--gib", help="memory per device, GiB")] = 80.0,
    prompt_tokens: Annotated[int, typer.Option(help="prompt tokens per request (audio included)")] = 1024,
    generation_tokens: Annotated[int, typer.Option(help="generated tokens per request (max_tokens)")] = 7168,
) -> None:
    """Weight memory per dtype / quantisation, KV bytes per token, and how many requests fit."""
    with user_errors():
        from mgrd.inference.plan import load_plan_config, report

        typer.echo(report(load_plan_config(model), gpus=gpus, gib_per_gpu=gib_per_gpu, prompt_tokens=prompt_tokens,
                          generation_tokens=generation_tokens))


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Capacity planning: memory a model needs to serve (and train).")
    group.command("serve")(plan_serve)
    app.add_typer(group, name="plan")
