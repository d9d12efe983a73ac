"""`mgrd chat`: ask a checkpoint about audio; the reasoning is shown dimmed, then the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mgrd.cli.errors import user_errors

console = Console(highlight=False)


def _load(model_dir: Path, dtype: str, device: str, quantize: str | None = None, device_map: str | None = None):
    from mgrd.chat import Tokenizer
    from mgrd.inference import Engine
    from mgrd.inference.placement import prepare
    from mgrd.model import load_pretrained, require_model_dir
    from mgrd.runtime import resolve_device, resolve_dtype

    require_model_dir(model_dir)   # an adapter directory loads as its base with the adapter merged
    tokenizer = Tokenizer.from_dir(model_dir)
    model = load_pretrained(model_dir, dtype=resolve_dtype(dtype), device=resolve_device(device),
                            tokenizer_special_ids=tokenizer.special)
    return Engine(prepare(model, quantize_mode=quantize, device_map=device_map), tokenizer)


NO_REASONING = "(no reasoning)"
NO_ANSWER = "(none: generation ended inside the reasoning)"


def _print_result(reasoning: str, answer: str) -> None:
    if reasoning.strip():
        console.print("[dim]── reasoning ──[/]")
        console.print(reasoning, style="dim", markup=False)
    else:
        console.print(NO_REASONING, style="dim")
    console.print("[bold]── answer ──[/]")
    if answer:
        console.print(answer, markup=False)
    else:
        console.print(NO_ANSWER, style="dim")


def _ask(engine, messages, params, stream: bool) -> str:
    from mgrd.inference import build_prompt

    prompt = build_prompt(messages, engine.tokenizer)
    if not stream:
        gen = engine.generate([prompt], params)[0][0]
        _print_result(gen.reasoning, gen.answer)
        return gen.answer
    return _print_stream(engine.stream([prompt], params))


def _print_stream(events) -> str:
    """Print streamed reasoning (dimmed) then the answer; returns the answer. Reasoning that is only
    whitespace counts as none."""
    answer, in_answer, started, pending = [], False, False, ""
    for event in events:
        if event.reasoning and not started:
            pending += event.reasoning
            if pending.strip():
                console.print("[dim]── reasoning ──[/]")
                console.print(pending.lstrip(), style="dim", end="", markup=False)
                started = True
        elif event.reasoning:
            console.print(event.reasoning, style="dim", end="", markup=False)
        if event.answer:
            if not in_answer:
                console.print("\n[bold]── answer ──[/]" if started else f"[dim]{NO_REASONING}[/]\n[bold]── answer ──[/]")
                in_answer = True
            console.print(event.answer, end="", markup=False)
            answer.append(event.answer)
    if not in_answer:
        console.print(("\n" if started else f"[dim]{NO_REASONING}[/]\n") + "[bold]── answer ──[/]")
        console.print(NO_ANSWER, style="dim")
    console.print()
    return "".join(answer)


def chat(
    question: Annotated[str | None, typer.Argument(help="the question; omit it for an interactive session")] = None,
    model: Annotated[Path, typer.Option("--model", help="checkpoint or LoRA adapter directory")] = Path("runs/quickstart/final"),
    audio: Annotated[list[Path] | None, typer.Option("--audio", help="audio file (wav, flac, ogg, mp3); repeatable")] = None,
    system: Annotated[str | None, typer.Option(help="system prompt")] = None,
    thinking_budget: Annotated[int | None, typer.Option(help="close the reasoning after this many tokens")] = None,
    no_think: Annotated[bool, typer.Option("--no-think", help="answer without reasoning (budget 0)")] = False,
    stream: Annotated[bool, typer.Option(help="print tokens as they are generated")] = False,
    max_tokens: Annotated[int, typer.Option(help="most tokens to generate")] = 1024,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.7,
    top_p: Annotated[float, typer.Option()] = 1.0,
    repetition_penalty: Annotated[float, typer.Option()] = 1.0,
    seed: Annotated[int | None, typer.Option()] = None,
    dtype: Annotated[str, typer.Option(help="float32 or bfloat16")] = "float32",
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    quantize: Annotated[str | None, typer.Option(help="int8 (CPU or GPU) or int4 (GPU) weight-only; needs the "
                                                      "quantize extra")] = None,
    device_map: Annotated[str | None, typer.Option(help="auto (split layers over all GPUs by free memory) or "
                                                        "cuda:0=32,cuda:1=32")] = None,
) -> None:
    """Chat with a checkpoint about audio clips."""
    from mgrd.inference import SamplingParams

    with user_errors():
        if no_think and thinking_budget not in (None, 0):
            raise ValueError("--no-think and --thinking-budget N > 0 contradict each other; give one")
        for path in audio or []:
            if not path.is_file():
                raise FileNotFoundError(f"audio file {path} does not exist")
        params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                repetition_penalty=repetition_penalty, seed=seed,
                                thinking_budget=0 if no_think else thinking_budget)
        engine = _load(model, dtype, device, quantize, device_map)
        history = [{"role": "system", "content": system}] if system else []
        pending_audio = [{"type": "audio", "audio": str(p)} for p in audio or []]
        interactive = question is None
        while True:
            if interactive:
                try:
                    question = console.input("[bold cyan]you>[/] ")
                except (EOFError, KeyboardInterrupt):
                    console.print()
                    return
                if not question.strip():
                    continue
            content = [{"type": "text", "text": question}] + pending_audio
            pending_audio = []
            history.append({"role": "user", "content": content})
            answer = _ask(engine, history, params, stream)
            # Later turns carry the answer only, as most clients resend history without the thinking.
            history.append({"role": "assistant", "content": answer})
            if not interactive:
                return
