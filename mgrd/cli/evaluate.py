"""`mgrd eval`: evaluate a checkpoint or an endpoint on benchmarks; `mgrd eval report DIR`.

`mgrd eval TASKS ...` is short for `mgrd eval run TASKS ...`: the `eval` group runs `run` whenever
its first argument is not one of its commands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from mgrd.cli.errors import user_errors

console = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


class _DefaultRun(TyperGroup):
    """A group whose unknown first argument (a task list) means `run`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(cls=_DefaultRun, no_args_is_help=True,
                       help="Evaluate on MMAU, MMAR, MMSU, Big Bench Audio, Spoken-MQA, WildSpeech, world.")


def _data_dirs(names: list[str], data: list[str], data_root: Path | None) -> dict[str, Path]:
    from mgrd.tasks.registry import resolve_data_dir

    given: dict[str, Path] = {}
    for entry in data:
        name, sep, path = entry.partition("=")
        if sep:
            given[name] = Path(path)
        elif len(names) == 1:
            given[names[0]] = Path(entry)
        else:
            raise ValueError(f"--data {entry!r}: with several tasks write --data TASK=DIR, or use --data-root")
    out = {}
    for name in names:
        if name in given:
            out[name] = given[name]
        elif data_root is not None:
            out[name] = resolve_data_dir(name, data_root)
        else:
            raise ValueError(f"no data for task {name!r}: pass --data DIR (or TASK=DIR) or --data-root DIR")
    return out


def _templates(path: Path | None) -> dict:
    if path is None:
        return {}
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path} must be a JSON object mapping task names to judge prompt templates")
    return data


def _backend(model, endpoint, served_model, shape, concurrency, timeout, policy, batch_size, dtype, device,
             quantize=None, device_map=None, api_key=None, hash_weights=False):
    from mgrd.evaluation import EndpointBackend, NativeBackend

    if endpoint is not None:
        return EndpointBackend(endpoint, served_model, shape=shape, concurrency=concurrency, timeout_s=timeout,
                               retry=policy, api_key=api_key)
    return NativeBackend.from_checkpoint(model, dtype=dtype, device=device, batch_size=batch_size,
                                         quantize=quantize, device_map=device_map, full_hash=hash_weights)


@eval_app.command("run")
def run(
    tasks: Annotated[str, typer.Argument(help="comma-separated tasks: mmau, mmau-original, mmar, mmsu, "
                                              "bigbench_audio, spoken_mqa, wildspeech, world, world-dev")],
    data: Annotated[list[str] | None, typer.Option("--data", help="task data dir (TASK=DIR with several tasks)")] = None,
    data_root: Annotated[Path | None, typer.Option("--data-root", help="folder holding each task's folder")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="checkpoint directory (native engine)")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:9999/v1")] = None,
    served_model: Annotated[str, typer.Option("--served-model", help="model name at the endpoint")] = "Step-Audio-R1",
    request_shape: Annotated[str, typer.Option("--request-shape", help="official (Step client) or openai")] = "official",
    budgets: Annotated[str, typer.Option(help="thinking budgets, e.g. 0,64,256,unlimited")] = "unlimited",
    seeds: Annotated[int, typer.Option(help="samples per item, seeds 0..N-1")] = 1,
    limit: Annotated[int | None, typer.Option(help="first N items of each task")] = None,
    prompt: Annotated[str | None, typer.Option(help="prompt template overriding the official one ({question}, {choices})")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="default 32000 (endpoint) or 2048 (native)")] = None,
    temperature: Annotated[float, typer.Option()] = 0.7,
    top_p: Annotated[float, typer.Option()] = 1.0,
    repetition_penalty: Annotated[float | None, typer.Option(help="default: the official per-task value")] = None,
    api_key_env: Annotated[str | None, typer.Option(
        "--api-key-env", help="variable holding the --endpoint's API key (default MGRD_ENDPOINT_API_KEY; "
                              "no other variable is read)")] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="judge endpoint base URL")] = None,
    judge_api_key_env: Annotated[str | None, typer.Option(
        "--judge-api-key-env", help="variable holding the --judge's API key (default MGRD_JUDGE_API_KEY)")] = None,
    allow_outside_data: Annotated[bool, typer.Option(
        "--allow-outside-data", help="accept audio paths in benchmark files that lead outside the data folder")] = False,
    judge_model: Annotated[str, typer.Option("--judge-model", help="judge model name")] = "gpt-4o-mini",
    judge_prompts: Annotated[Path | None, typer.Option("--judge-prompts", help="JSON {task: template}")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="run directory (default results/<time>)")] = None,
    concurrency: Annotated[int, typer.Option(help="requests in flight (endpoint)")] = 8,
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 600.0,
    retries: Annotated[int, typer.Option(help="tries per request for 429/5xx/connection errors")] = 4,
    batch_size: Annotated[int, typer.Option(help="sequences decoded at once (native)")] = 32,
    dtype: Annotated[str, typer.Option(help="native: float32 or bfloat16")] = "float32",
    device: Annotated[str, typer.Option(help="native: cpu, cuda or auto")] = "auto",
    quantize: Annotated[str | None, typer.Option(help="native: int8 (CPU or GPU) or int4 (GPU) weight-only; needs the "
                                                      "quantize extra")] = None,
    device_map: Annotated[str | None, typer.Option(help="native: auto (split layers over all GPUs by free memory) or "
                                                        "cuda:0=32,cuda:1=32")] = None,
    hash_weights: Annotated[bool, typer.Option(
        "--hash-weights", help="native: key the cache on every byte of the weights (default: their headers, "
                               "sizes and modification times)")] = False,
) -> None:
    """Evaluate a checkpoint (--model) or an endpoint (--endpoint) on TASKS."""
    from mgrd.evaluation import EvalConfig, Judge, RecordStore, RetryPolicy, run_eval
    from mgrd.evaluation.report import failure_line
    from mgrd.evaluation.sweep import parse_budgets
    from mgrd.progress import progress_hook
    from mgrd.io import outside_data_allowed
    from mgrd.remote.credentials import api_key
    from mgrd.tasks.registry import load_task, task_spec

    with user_errors():
        names = [t.strip() for t in tasks.split(",") if t.strip()]
        budget_list = parse_budgets(budgets)
        for name in names:
            task_spec(name)
        if (model is None) == (endpoint is None):
            raise ValueError("give exactly one of --model DIR (native engine) or --endpoint URL")
        dirs = _data_dirs(names, data or [], data_root)
        loaded = {}
        for name in names:
            try:
                with outside_data_allowed(allow_outside_data):
                    loaded[name] = load_task(name, dirs[name])
            except ModuleNotFoundError as e:
                raise ValueError(str(e)) from None
            task = loaded[name]
            _err.print(f"{name}: {len(task.items())} items from {getattr(task, 'layout', 'release files')} "
                       f"in {getattr(task, 'source', '') or dirs[name]}", markup=False, soft_wrap=True)
        out = out or Path("results") / time.strftime("%Y%m%d-%H%M%S")
        policy = RetryPolicy(max_attempts=retries)
        config = EvalConfig(budgets=budget_list, seeds=seeds, limit=limit, prompt=prompt,
                            max_tokens=max_tokens or (32000 if endpoint else 2048), temperature=temperature,
                            top_p=top_p, repetition_penalty=repetition_penalty, judge_templates=_templates(judge_prompts))
        judge_client = None
        if judge:
            judge_client = Judge(judge, judge_model, RecordStore(out / "judge"), concurrency=concurrency,
                                 retry=policy, api_key=api_key("judge", judge_api_key_env))
        backend = _backend(model, endpoint, served_model, request_shape, concurrency, timeout, policy,
                           batch_size, dtype, device, quantize, device_map,
                           api_key=api_key("endpoint", api_key_env) if endpoint else None,
                           hash_weights=hash_weights)
        try:
            scores = run_eval(loaded, backend, config, out, judge=judge_client,
                              progress=progress_hook(f"eval {','.join(names)}", unit="requests", console=_err))
        finally:
            backend.close()
            if judge_client:
                judge_client.close()
    failures = failure_line(scores)
    requests = scores.get("requests", {})
    if failures and requests.get("failed") == requests.get("total"):
        _err.print(f"error: {failures}", markup=False, soft_wrap=True)  # nothing was scored: no table of dashes
        raise typer.Exit(1)
    _print(scores)
    run_info = scores["run"]
    console.print(f"{run_info['requested']} requested, {run_info['cached']} from the cache; report: {out / 'report.md'}")
    if failures:
        # A partial result must not pass for a finished one: the rerun asks only the failed requests.
        _err.print(f"error: {failures}; run the same command again to retry them", markup=False,
                   soft_wrap=True)
        raise typer.Exit(1)


def _print(scores: dict) -> None:
    from mgrd.evaluation.report import task_summary

    table = Table("task", "budget", "official", "robust")
    for row in task_summary(scores):
        table.add_row(*row)
    console.print(table)


@eval_app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `mgrd eval`")],
    rescore: Annotated[bool, typer.Option(help="score the cached outputs again with the current graders")] = True,
    plots: Annotated[bool, typer.Option(help="write plots (needs matplotlib)")] = True,
) -> None:
    """Tables and plots from a run directory alone (no model, no network)."""
    import json

    from mgrd.evaluation.report import failure_line, write_report
    from mgrd.evaluation.report import rescore as do_rescore

    with user_errors():
        if not run_dir.is_dir():
            raise FileNotFoundError(f"{run_dir} is not a directory; expected a run directory written by `mgrd eval`")
        if rescore:
            do_rescore(run_dir)
        path = write_report(run_dir, plots=plots)
        scores = json.loads((run_dir / "scores.json").read_text(encoding="utf-8"))
    _print(scores)
    if failure_line(scores):
        console.print(failure_line(scores), markup=False, soft_wrap=True)
    console.print(f"report: {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
