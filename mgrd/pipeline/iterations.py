"""MGRD proper: the self-distillation iterations, self-cognition correction and the evaluations between them."""

from __future__ import annotations

from pathlib import Path

from mgrd.pipeline import data as D
from mgrd.pipeline.recipe import IterationSpec
from mgrd.pipeline.runner import StageResult, finished
from mgrd.pipeline.stages import Context, ppo_stage, settings, sft_stage
from mgrd.training.config import OptimConfig, SourceConfig


def _progress(ctx: Context, what: str):
    def show(done: int, total: int) -> None:
        if ctx.progress:
            ctx.say(f"  {what}: {done}/{total} questions")
    return show


def _judges(spec):
    """The optional LLM judges (any OpenAI-compatible endpoint) of a spec: (logical coherence, self-cognition)."""
    if not getattr(spec, "judge_url", None):
        return None, None
    from mgrd.training.cognition import endpoint_judge
    from mgrd.training.distill import endpoint_logic_judge

    return endpoint_logic_judge(spec.judge_url, spec.judge_model), endpoint_judge(spec.judge_url, spec.judge_model)


def distill(ctx: Context, t: int, spec: IterationSpec, model_from: StageResult) -> StageResult:
    """Self-distil K chains per selected audio question with the current model; keep the ones that pass."""
    d = spec.distill

    def work(sdir: Path) -> dict:
        from mgrd.pipeline.evaluate import load_engine
        from mgrd.training import distill as dist

        questions = D.take(ctx.audio_items, d.questions, offset=(t - 1) * d.questions)
        engine = load_engine(model_from.info["model"])
        chains = dist.sample_chains(engine, questions, ctx.world_dir, samples=d.samples, max_tokens=d.max_new_tokens,
                                    temperature=d.temperature, seed=ctx.recipe.seed * 1000 + t,
                                    on_progress=_progress(ctx, f"self-distillation {t}"))
        logic_judge, cognition_judge = _judges(d)
        filters = dist.default_filters(min_grounding=d.min_grounding, logic_judge=logic_judge,
                                       cognition_judge=cognition_judge)
        kept, reports = dist.apply_filters(chains, filters)
        records = [dist.sft_record(c, ctx.world_dir) for c in kept]
        if records:
            D.write(sdir / "kept.jsonl", records)
        summary = dist.summarize(reports)
        ctx.say(f"  kept {summary['kept']} of {summary['chains']} chains")
        return {"distill": summary, "kept": str(sdir / "kept.jsonl") if records else None,
                "examples": [c.completion for c in kept[:3]]}

    return ctx.runner.stage(f"iter{t}/distill", settings(d, t), [model_from], work)


def distill_sft(ctx: Context, t: int, spec: IterationSpec, distilled: StageResult,
                model_from: StageResult) -> StageResult:
    """SFT on the kept audio chains + text CoT (paper eq. 5).

    Kept chains take a share 1 / (1 + text_cot_ratio) of the stream, but no chain is seen more than
    `max_chain_repeats` times over the stage: a handful of kept chains is not drilled in hundreds of
    times (the rest of the stream is text CoT).
    """
    def sources(sdir: Path) -> list[SourceConfig]:
        text = [D.sft_record(r, ctx.world_dir, "grounded") for r in ctx.text_items]
        kept = int(distilled.info.get("distill", {}).get("kept", 0))
        share = kept_share(kept, spec)
        out = [SourceConfig(D.write(sdir / "text_cot.jsonl", text), ratio=1.0 - share)]
        if share > 0:
            out.append(SourceConfig(distilled.info["kept"], ratio=share))
        else:
            ctx.say(f"  no chain passed the filters in iteration {t}: this SFT sees text CoT only")
        return out

    return sft_stage(ctx, f"iter{t}/sft", spec.sft, [distilled], model_from, sources,
                     extra_settings={"text_cot_ratio": spec.text_cot_ratio, "max_chain_repeats": spec.max_chain_repeats})


def kept_share(kept: int, spec: IterationSpec) -> float:
    """The kept chains' share of the SFT stream: 1 / (1 + text_cot_ratio), capped by the repeat limit.

    >>> from mgrd.pipeline.recipe import IterationSpec, SFTSpec
    >>> spec = IterationSpec(text_cot_ratio=1.0, max_chain_repeats=4, sft=SFTSpec(steps=50, batch_size=16))
    >>> kept_share(1000, spec), kept_share(10, spec), kept_share(0, spec)
    (0.5, 0.05, 0.0)
    """
    if kept <= 0:
        return 0.0
    samples = spec.sft.steps * spec.sft.batch_size
    return min(1.0 / (1.0 + spec.text_cot_ratio), spec.max_chain_repeats * kept / max(1, samples))


def curate(ctx: Context, t: int, spec: IterationSpec, previous: StageResult) -> StageResult:
    """pass@k of the RL audio questions with the previous model; keep those in the strategy's range."""
    c = spec.curation

    def work(sdir: Path) -> dict:
        from mgrd.inference import build_prompt
        from mgrd.pipeline.evaluate import load_engine
        from mgrd.training import curation as cur

        offset = len(ctx.audio_items) // 2 + (t - 1) * c.questions   # apart from the distillation questions
        questions = D.take(ctx.audio_items, c.questions, offset=offset)
        rl_records = [D.prompt_record(r, ctx.world_dir) for r in questions]
        engine = load_engine(previous.info["model"])
        prompts = [build_prompt(r["messages"], engine.tokenizer) for r in rl_records]
        counts = cur.pass_counts(engine, prompts, lambda i, answer: D.world_grader(answer, rl_records[i]), k=c.k,
                                 max_tokens=c.max_new_tokens, temperature=c.temperature,
                                 seed=ctx.recipe.seed * 1000 + t, on_progress=_progress(ctx, f"pass@{c.k} {t}"))
        config = cur.CurationConfig(k=c.k, low=c.low, high=c.high, strategy=c.strategy)
        kept = cur.select(counts, config)
        fallback = not kept
        if fallback:
            ctx.say(f"  curation kept none of {len(counts)} questions; RL uses them all this iteration")
            kept = list(range(len(counts)))
        D.write(sdir / "audio_prompts.jsonl", [rl_records[i] for i in kept])
        info = {"questions": len(counts), "kept": 0 if fallback else len(kept), "k": c.k,
                "histogram": cur.histogram(counts, c.k), "strategy": c.strategy, "low": c.low, "high": c.high,
                "fallback_unfiltered": fallback}
        ctx.say(f"  kept {info['kept']} of {len(counts)} questions (pass counts {info['histogram']})")
        return {"curation": info, "prompts": str(sdir / "audio_prompts.jsonl")}

    return ctx.runner.stage(f"iter{t}/curate", settings(c, t), [previous], work)


def multimodal_rl(ctx: Context, t: int, spec: IterationSpec, curated: StageResult,
                  model_from: StageResult) -> StageResult:
    """PPO on curated audio questions and text questions: audio 0.8·accuracy + 0.2·format, text accuracy."""
    rl = spec.rl

    def sources(sdir: Path) -> list[SourceConfig]:
        text = [D.prompt_record(r, ctx.world_dir) for r in ctx.text_items]
        out = [SourceConfig(curated.info["prompts"], ratio=rl.audio_share)]
        if rl.audio_share < 1.0:
            out.append(SourceConfig(D.write(sdir / "text_prompts.jsonl", text), ratio=1.0 - rl.audio_share))
        return out

    return ppo_stage(ctx, f"iter{t}/rl", rl, [curated], model_from, sources)


def iteration(ctx: Context, t: int, current: StageResult) -> StageResult:
    """select → self-distil → SFT → curate → multimodal PPO."""
    spec = ctx.recipe.iterations
    distilled = distill(ctx, t, spec, current)
    tuned = distill_sft(ctx, t, spec, distilled, current)
    curated = curate(ctx, t, spec, current)
    return multimodal_rl(ctx, t, spec, curated, tuned)


def cognition(ctx: Context, current: StageResult) -> StageResult:
    """Find denials of hearing among sampled responses to cognition questions, then DPO (correct vs denial)."""
    spec = ctx.recipe.cognition
    if spec.steps <= 0:
        return current

    def work(sdir: Path) -> dict:
        from mgrd.pipeline.evaluate import generate, load_engine
        from mgrd.training.config import DPOConfig
        from mgrd.training.dpo import train_dpo

        pool = [r for r in ctx.records("train") if D.is_probe(r) or D.is_bait(r)]
        questions = D.take(pool, spec.questions)
        engine = load_engine(current.info["model"])
        gens = generate(engine, questions, ctx.world_dir, budget=None, max_tokens=spec.max_new_tokens,
                        temperature=spec.temperature, n=spec.samples, seed=ctx.recipe.seed)
        pairs, denials = cognition_pairs(questions, gens, ctx.world_dir, judge=_judges(spec)[1])
        path = D.write(sdir / "pairs.jsonl", pairs)
        del engine
        cfg = DPOConfig(model=current.info["model"], pairs=[SourceConfig(path)], max_steps=spec.steps,
                        batch_size=spec.batch_size, beta=spec.beta, optim=OptimConfig(lr=spec.lr),
                        run=ctx.run_config(sdir, spec.steps))
        result = finished(train_dpo(cfg))
        stats = {"responses": len(questions) * spec.samples, "denials": denials, "pairs": len(pairs)}
        ctx.say(f"  {denials} of {stats['responses']} sampled responses denied hearing; {len(pairs)} pairs")
        return {"model": str(result.model_dir), "cognition": stats}

    return ctx.runner.stage("cognition", settings(spec), [current], work)


def cognition_pairs(questions, generations, root, *, judge=None) -> tuple[list[dict], int]:
    """DPO records (correct self-cognition vs denial) and the number of denials among the samples.

    The rejected side is each of the model's own well-formed denials of a question; a question
    the model never denied gets the denial a text-only corpus teaches (the record's surrogate turn).
    """
    from mgrd.training.cognition import is_denial

    pairs, denials = [], 0
    for record, samples in zip(questions, generations):
        found = [g for g in samples if is_denial(record.question, g.text, judge)]
        denials += len(found)
        rejected = [f"<think>\n{g.reasoning}\n</think>\n{g.answer}" for g in found if g.well_formed and g.answer]
        rejected = rejected or [D.messages_for(record, "surrogate")[-1]["content"]]
        pairs += [D.preference_record(record, root, r) for r in dict.fromkeys(rejected)]
    return pairs, denials


def evaluation(ctx: Context, name: str, current: StageResult, *, final: bool = False) -> StageResult:
    """Held-out accuracy at thinking budgets, per family, reasoning length, grounding, self-cognition."""
    spec = ctx.recipe.eval
    budgets = spec.budgets if final else spec.stage_budgets

    def work(sdir: Path) -> dict:
        from mgrd.pipeline.evaluate import eval_sets, evaluate, native_backend

        items, probes = eval_sets(ctx.records("heldout"), items=spec.items, probes=spec.probes)
        backend = native_backend(current.info["model"], batch_size=spec.batch_size)
        say = (lambda m: ctx.say(f"  {name}: {m}")) if ctx.progress else None
        result = evaluate(backend, items, probes, ctx.world_dir, sdir / "evaluation", budgets=budgets,
                          max_tokens=spec.max_tokens, temperature=spec.temperature, seed=ctx.recipe.seed,
                          on_progress=say)
        backend.close()
        acc = result["accuracy"]
        ctx.say(f"  {name}: think {_pct(acc['think'])}, no-think {_pct(acc['no_think'])}, "
                f"grounding {_pct(result['grounding'])}, self-cognition error {_pct(result['self_cognition_error'])}")
        return {"eval": result, "eval_name": name, "model": current.info["model"]}

    return ctx.runner.stage(f"eval/{name}", settings(spec, budgets), [current], work)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


__all__ = ["cognition", "cognition_pairs", "curate", "distill", "distill_sft", "evaluation", "iteration", "multimodal_rl"]
