"""`mgrd plan`: memory arithmetic before running — `plan serve` (weights, KV per token, concurrent
requests of a checkpoint) and `plan train` (per-GPU memory of every training stage of a recipe)."""

from __future__ import annotations

from typing import Annotated

import typer

from mgrd.cli.errors import user_errors


def plan_serve(
    model: Annotated[str, typer.Argument(help="checkpoint directory, config.json, or r1 / r1.1 / step-audio-2-mini")],
    gpus: Annotated[int, typer.Option(help="number of devices")] = 1,
    gib_per_gpu: Annotated[float, typer.Option("--gpu-mem", "--gib", help="memory per GPU, GiB")] = 80.0,
    prompt_tokens: Annotated[int, typer.Option(help="prompt tokens per request (audio included)")] = 1024,
    generation_tokens: Annotated[int, typer.Option(help="generated tokens per request (max_tokens)")] = 7168,
) -> None:
    """Weight memory per dtype / quantisation, KV bytes per token, and how many requests fit."""
    with user_errors():
        from mgrd.inference.plan import load_plan_config, report

        typer.echo(report(load_plan_config(model), gpus=gpus, gib_per_gpu=gib_per_gpu, prompt_tokens=prompt_tokens,
                          generation_tokens=generation_tokens))


plan_app = typer.Typer(no_args_is_help=True, help="Capacity planning: the memory a model needs to serve or train.")


def render(recipe, shapes, source: str, gpus: int, gpu_mem: float, lora_rank: int = 0) -> tuple[str, bool]:
    """The table and verdict text of a recipe on `gpus` GPUs of `gpu_mem` GB; (text, fits)."""
    from mgrd.pipeline import plan as P

    plans = P.plan_recipe(recipe, shapes, gpus=gpus, lora_rank=lora_rank)
    limit = P.USABLE * gpu_mem * P.GiB
    gb = lambda v: f"{v / P.GiB:8.1f}"
    cols = ("params", "grads", "optimizer", "gathered", "activations_no_ckpt", "activations_ckpt", "rollout")
    head = ["stage".ljust(16), "params", "  grads", "  optim", " gather", " act/no-ck", " act/ck", " rollout",
            "   total", "  fits"]
    lines = [f"model: {shapes.total / 1e9:.2f} B parameters ({source}); {gpus} GPU(s) x {gpu_mem:g} GB, "
             f"usable {P.USABLE:.0%} = {limit / P.GiB:.1f} GB per GPU"
             + (f"; LoRA rank {lora_rank} on every stage" if lora_rank else "") + "; GB per GPU:", " ".join(head)]
    fits = True
    for stage, parts in plans.items():
        tot = P.total(parts)
        ok = tot <= limit
        fits &= ok
        ck = "ck" if parts["activations"] == parts["activations_ckpt"] else "no-ck"
        lines.append(" ".join([stage.ljust(16)] + [gb(parts[c]) for c in cols] + [gb(tot), f" {'yes' if ok else 'NO'}"])
                     + f"  ({ck})")
    least = P.smallest_fit(recipe, shapes, gpu_bytes=gpu_mem * P.GiB, lora_rank=lora_rank)
    verdict = "fits" if fits else "does not fit"
    lines.append(f"verdict: {verdict} on {gpus} x {gpu_mem:g} GB; smallest number of GPUs at which every stage fits: "
                 + (str(least) if least else "none (a per-GPU part does not shrink with more GPUs: the rollout "
                                             "replica, gathered groups or activations)"))
    return "\n".join(lines), fits


def train(recipe: Annotated[str, typer.Argument(help="recipe YAML or shipped name")],
          gpus: Annotated[int, typer.Option("--gpus", min=1, help="GPUs (processes) the run shards over")] = 8,
          gpu_mem: Annotated[float, typer.Option("--gpu-mem", min=1.0, help="memory per GPU in GB")] = 80.0,
          shapes: Annotated[str, typer.Option("--shapes", help="model shapes when model.base is not here: r1 (33B) "
                                              "or mini (8B)")] = "r1",
          lora_rank: Annotated[int, typer.Option("--lora-rank", min=0, help="LoRA adapters of this rank on every "
                                                 "stage (all seven projections); 0 = as the recipe says")] = 0,
          overrides: Annotated[list[str] | None, typer.Argument(help="key=value recipe overrides")] = None) -> None:
    """Per-GPU memory of each training stage at the recipe's shapes (arithmetic; docs/training.md)."""
    with user_errors():
        from mgrd.pipeline import plan as P
        from mgrd.pipeline.recipe import load_recipe

        r = load_recipe(recipe, overrides or [])
        config, source = P.recipe_config(r, shapes)
        text, _ = render(r, P.Shapes.of(config), source, gpus, gpu_mem, lora_rank)
        typer.echo(text)


plan_app.command("serve")(plan_serve)
plan_app.command("train")(train)


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")
