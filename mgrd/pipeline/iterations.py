"""MGRD proper: the self-distillation iterations, self-cognition correction and the evaluations between them."""

from __future__ import annotations

from pathlib import Path

from mgrd.pipeline import data as D
from mgrd.pipeline.artifacts import EvalResult, ModelDir, RecordFile
from mgrd.pipeline.outputs import (CognitionReport, CognitionTrained, Curated, CurationReport, Distilled,
                                   DistillReport, FilterCount, HasModel)
from mgrd.pipeline.recipe import IterationSpec
from mgrd.pipeline.runner import StageResult, finished
from mgrd.pipeline.stages import Context, model_of, ppo_stage, settings, sft_stage
from mgrd.progress import progress_hook
from mgrd.training.config import SourceConfig

HERE = "mgrd.pipeline.iterations"
ENGINE_CODE = ("mgrd.pipeline.backends", "mgrd.evaluation.native", "mgrd.evaluation.endpoint", "mgrd.inference",
               "mgrd.model", "mgrd.chat")


def _progress(ctx: Context, what: str):
    return progress_hook(what, unit="questions", enabled=ctx.progress)


def _failures(ctx: Context, failures, asked: int, what: str) -> None:
    """Say how many samples the backend could not produce; none at all is an error (nothing to work on)."""
    if not failures:
        return
    if len(failures) == asked:
        raise RuntimeError(f"{what}: all {asked} samples failed; the first error: {failures[0].error}")
    ctx.say(f"  {what}: {len(failures)} of {asked} samples failed (first error: {failures[0].error}); left out")


def _judges(spec):
    """The optional LLM judges (any OpenAI-compatible endpoint) of a spec: (logical coherence, self-cognition)."""
    if not getattr(spec, "judge_url", None):
        return None, None
    from mgrd.training.cognition import endpoint_judge
    from mgrd.training.distill import endpoint_logic_judge

    key = _judge_key()
    return (endpoint_logic_judge(spec.judge_url, spec.judge_model, api_key=key),
            endpoint_judge(spec.judge_url, spec.judge_model, api_key=key))


def _judge_key() -> str:
    # Only the judge's own variable: a recipe's judge URL never receives another endpoint's key.
    from mgrd.remote.credentials import api_key

    return api_key("judge") or "EMPTY"


def _grounding_judge(spec):
    """The optional LLM judge of grounding for chains of items without facts (YES/NO; anything else is unsure)."""
    if not getattr(spec, "judge_url", None):
        return None
    from mgrd.training.cognition import yes_no_endpoint

    ask = yes_no_endpoint(spec.judge_url, spec.judge_model, api_key=_judge_key())

    def judge(question: str, reasoning: str) -> bool | None:
        return ask("Here is a question about an audio clip and a step-by-step reasoning about it.\n"
                   f"Question: {question}\nReasoning: {reasoning}\n"
                   "Does the reasoning rest on what is heard in the clip (pitch, rhythm, timbre, loudness, voice) "
                   "rather than on the question's wording, a caption or a transcript? Reply YES or NO.")

    return judge


def distill(ctx: Context, t: int, spec: IterationSpec, model_from: StageResult[HasModel]) -> StageResult[Distilled]:
    """Self-distil K chains per selected audio question with the current model; keep the ones that pass.

    Chains of items with facts are checked against them; the others by the share of acoustic
    statements and, with `judge_url`, an LLM judge (the report counts which).
    """
    d = spec.distill

    def work(sdir: Path) -> Distilled:
        from mgrd.pipeline.backends import stage_backend
        from mgrd.tasks.world import WorldTask, record_item
        from mgrd.training import distill as dist

        questions = D.take(ctx.audio_items, d.questions, offset=(t - 1) * d.questions)
        task = WorldTask([record_item(r, ctx.world_dir) for r in questions], name="distill")
        backend = stage_backend(model_of(model_from), d.endpoint, key="iterations.distill.endpoint",
                                cache=sdir / "samples")
        try:
            chains, failures = dist.sample_chains(backend, task, task.items(), samples=d.samples,
                                                  max_tokens=d.max_new_tokens, temperature=d.temperature,
                                                  seed=ctx.recipe.seed * 1000 + t,
                                                  on_progress=_progress(ctx, f"self-distillation {t}"))
        finally:
            backend.close()
        _failures(ctx, failures, len(questions) * d.samples, f"self-distillation {t}")
        logic_judge, cognition_judge = _judges(d)
        filters = dist.default_filters(task, min_grounding=d.min_grounding, logic_judge=logic_judge,
                                       cognition_judge=cognition_judge, grounding_judge=_grounding_judge(d))
        kept, reports = dist.apply_filters(chains, filters)
        records = [dist.sft_record(c, task) for c in kept]
        evidence = dist.grounding_evidence(chains)
        report = DistillReport(len(chains), len(kept),
                               tuple(FilterCount(r.name, r.seen, r.kept, dict(r.dropped)) for r in reports), evidence,
                               f"{d.judge_model}@{d.judge_url}" if d.judge_url and evidence["lexicon"] else "")
        ctx.say(f"  kept {report.kept} of {report.chains} chains (grounding checked against facts for "
                f"{evidence['facts']}, by the statement lexicon for {evidence['lexicon']}"
                f"{', with the LLM judge' if report.judge else ''})")
        return Distilled(RecordFile.of(D.write(sdir / "kept.jsonl", records)) if records else None, report,
                         tuple(c.completion for c in kept[:3]))

    return ctx.runner.stage(f"iter{t}/distill", settings(d, t), [model_from], work,
                            code=(HERE, "mgrd.training.distill", "mgrd.tasks.world", *ENGINE_CODE))


def distill_sft(ctx: Context, t: int, spec: IterationSpec, distilled: StageResult[Distilled],
                model_from: StageResult[HasModel]) -> StageResult[HasModel]:
    """SFT on the kept audio chains + text CoT (paper eq. 5).

    Kept chains take a share 1 / (1 + text_cot_ratio) of the stream, but no chain is seen more than
    `max_chain_repeats` times over the stage: a handful of kept chains is not drilled in hundreds of
    times (the rest of the stream is text CoT). Data without text records trains on the kept chains
    alone, and the stage is left out when there are neither.
    """
    kept = distilled.output.report.kept
    if not ctx.text_items and not kept and spec.sft.steps > 0:
        ctx.say(f"[skip] iter{t}/sft: no chain passed the filters and the train data has no text records")
        return model_from

    def sources(sdir: Path) -> list[SourceConfig]:
        if not ctx.text_items:
            ctx.say(f"  the train data has no text records: iteration {t}'s SFT sees the {kept} kept chains only")
            return [SourceConfig(distilled.output.kept.path)]
        text = [D.sft_record(r, ctx.world_dir, "grounded") for r in ctx.text_items]
        share = kept_share(kept, spec)
        out = [SourceConfig(D.write(sdir / "text_cot.jsonl", text), ratio=1.0 - share)]
        if share > 0:
            out.append(SourceConfig(distilled.output.kept.path, ratio=share))
        else:
            ctx.say(f"  no chain passed the filters in iteration {t}: this SFT sees text CoT only")
        return out

    return sft_stage(ctx, f"iter{t}/sft", spec.sft, [distilled], model_from, sources,
                     extra_settings={"text_cot_ratio": spec.text_cot_ratio, "max_chain_repeats": spec.max_chain_repeats},
                     code=(HERE,))


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


def curate(ctx: Context, t: int, spec: IterationSpec, previous: StageResult[HasModel]) -> StageResult[Curated]:
    """pass@k of the RL audio questions with the previous model; keep those in the strategy's range."""
    c = spec.curation

    def work(sdir: Path) -> Curated:
        from mgrd.pipeline.backends import stage_backend
        from mgrd.training import curation as cur

        questions = D.take(ctx.rl_items, c.questions, offset=(t - 1) * c.questions)
        rl_records = [D.prompt_record(r, ctx.world_dir) for r in questions]
        backend = stage_backend(model_of(previous), c.endpoint, key="iterations.curation.endpoint",
                                cache=sdir / "samples")
        try:
            counts = cur.pass_counts(backend, [(r.id, rec["messages"]) for r, rec in zip(questions, rl_records)],
                                     lambda i, answer: D.world_grader(answer, rl_records[i]), k=c.k,
                                     max_tokens=c.max_new_tokens, temperature=c.temperature,
                                     seed=ctx.recipe.seed * 1000 + t, on_progress=_progress(ctx, f"pass@{c.k} {t}"))
        finally:
            backend.close()
        unknown = sum(n is None for n in counts)
        if unknown == len(counts) and counts:
            raise RuntimeError(f"pass@{c.k} {t}: every question had a sample the backend could not produce")
        if unknown:
            ctx.say(f"  {unknown} of {len(counts)} questions had a failed sample and no pass count: left out")
        config = cur.CurationConfig(k=c.k, low=c.low, high=c.high, strategy=c.strategy)
        kept = cur.select(counts, config)
        fallback = not kept
        if fallback:
            ctx.say(f"  curation kept none of {len(counts)} questions; RL uses them all this iteration")
            kept = [i for i, n in enumerate(counts) if n is not None]
        path = D.write(sdir / "audio_prompts.jsonl", [rl_records[i] for i in kept])
        report = CurationReport(len(counts), 0 if fallback else len(kept), c.k, tuple(cur.histogram(counts, c.k)),
                                c.strategy, c.low, c.high, fallback)
        ctx.say(f"  kept {report.kept} of {len(counts)} questions (pass counts {list(report.histogram)})")
        return Curated(RecordFile.of(path), report)

    return ctx.runner.stage(f"iter{t}/curate", settings(c, t), [previous], work,
                            code=(HERE, "mgrd.training.curation", "mgrd.tasks.world", *ENGINE_CODE))


def multimodal_rl(ctx: Context, t: int, spec: IterationSpec, curated: StageResult[Curated],
                  model_from: StageResult[HasModel]) -> StageResult[HasModel]:
    """PPO on curated audio questions and text questions: audio 0.8·accuracy + 0.2·format, text accuracy."""
    rl = spec.rl

    def sources(sdir: Path) -> list[SourceConfig]:
        out = [SourceConfig(curated.output.prompts.path, ratio=rl.audio_share)]
        if rl.audio_share < 1.0 and ctx.text_items:
            text = [D.prompt_record(r, ctx.world_dir) for r in ctx.text_items]
            out.append(SourceConfig(D.write(sdir / "text_prompts.jsonl", text), ratio=1.0 - rl.audio_share))
        elif rl.audio_share < 1.0:
            ctx.say(f"  the train data has no text records: iteration {t}'s RL sees audio questions only")
        return out

    return ppo_stage(ctx, f"iter{t}/rl", rl, [curated], model_from, sources, code=(HERE,))


def iteration(ctx: Context, t: int, current: StageResult[HasModel]) -> StageResult[HasModel]:
    """select → self-distil → SFT → curate → multimodal PPO."""
    spec = ctx.recipe.iterations
    distilled = distill(ctx, t, spec, current)
    tuned = distill_sft(ctx, t, spec, distilled, current)
    curated = curate(ctx, t, spec, current)
    return multimodal_rl(ctx, t, spec, curated, tuned)


def cognition(ctx: Context, current: StageResult[HasModel]) -> StageResult[HasModel]:
    """Find denials of hearing among sampled responses to cognition questions, then DPO (correct vs denial).

    Needs self-cognition questions (family `cognition`: the world's probes and bait); data without
    them leaves the stage out.
    """
    spec = ctx.recipe.cognition
    if spec.steps <= 0:
        return current
    pool = [r for r in ctx.records("train") if D.is_probe(r) or D.is_bait(r)]
    if not pool:
        ctx.say("[skip] cognition: the train data has no self-cognition questions (family cognition)")
        return current

    def work(sdir: Path) -> CognitionTrained:
        from mgrd.inference.backend import sample
        from mgrd.pipeline.backends import stage_backend
        from mgrd.pipeline.trainer_configs import dpo_config
        from mgrd.training.dpo import train_dpo

        questions = D.take(pool, spec.questions)
        backend = stage_backend(model_of(current), spec.endpoint, key="cognition.endpoint", cache=sdir / "samples")
        try:
            gens = sample(backend, [(r.id, D.absolute(D.messages_for(r, "empty")[:1], ctx.world_dir))
                                    for r in questions], n=spec.samples, seed=ctx.recipe.seed,
                          sampling={"max_tokens": spec.max_new_tokens, "temperature": spec.temperature, "top_p": 1.0,
                                    "repetition_penalty": 1.0, "thinking_budget": None})
        finally:
            backend.close()
        _failures(ctx, [g for outs in gens for g in outs if g.status != "ok"], len(questions) * spec.samples,
                  "cognition sampling")
        pairs, denials = cognition_pairs(questions, gens, ctx.world_dir, judge=_judges(spec)[1])
        path = D.write(sdir / "pairs.jsonl", pairs)
        cfg = dpo_config(spec, model_of(current), [SourceConfig(path)], ctx.run_config(sdir, spec.steps))
        result = finished(train_dpo(cfg))
        report = CognitionReport(len(questions) * spec.samples, denials, len(pairs))
        ctx.say(f"  {denials} of {report.responses} sampled responses denied hearing; {len(pairs)} pairs")
        return CognitionTrained(ModelDir.of(result.model_dir), report)

    return ctx.runner.stage("cognition", settings(spec), [current], work,
                            code=(HERE, "mgrd.training.dpo", "mgrd.training.cognition", *ENGINE_CODE))


def cognition_pairs(questions, generations, root, *, judge=None) -> tuple[list[dict], int]:
    """DPO records (correct self-cognition vs denial) and the number of denials among the samples.

    The rejected side is each of the model's own well-formed denials of a question; a question
    the model never denied gets the denial a text-only corpus teaches (the record's surrogate turn).
    """
    from mgrd.training.cognition import is_denial

    pairs, denials = [], 0
    for record, samples in zip(questions, generations):
        found = [g for g in samples if g.status == "ok" and is_denial(record.question, g.text, judge)]
        denials += len(found)
        rejected = [f"<think>\n{g.reasoning}\n</think>\n{g.answer}" for g in found if g.well_formed and g.answer]
        rejected = rejected or [D.messages_for(record, "surrogate")[-1]["content"]]
        pairs += [D.preference_record(record, root, r) for r in dict.fromkeys(rejected)]
    return pairs, denials


EVAL_CODE = (HERE, "mgrd.pipeline.evaluate", *ENGINE_CODE)


def evaluation(ctx: Context, name: str, current: StageResult[HasModel], *, final: bool = False
               ) -> StageResult[EvalResult]:
    """Held-out accuracy at thinking budgets, per family, reasoning length, grounding, self-cognition, the
    perception ladder and the text control; written to RUN/eval/<name>/eval.json."""
    spec = ctx.recipe.eval
    budgets = spec.budgets if final else spec.stage_budgets
    model = current.output.model

    def work(sdir: Path) -> EvalResult:
        from mgrd.pipeline.backends import stage_backend
        from mgrd.pipeline.evaluate import eval_sets, evaluate
        from mgrd.pipeline.perception import text_counterparts

        heldout = ctx.records("heldout")
        items, probes = eval_sets(heldout, items=spec.items, probes=spec.probes)
        backend = stage_backend(model_of(current), spec.endpoint, batch_size=spec.batch_size, key="eval.endpoint")
        say = (lambda m: ctx.say(f"  {name}: {m}")) if ctx.progress else None
        try:
            result = evaluate(backend, items, probes, ctx.world_dir, sdir / "evaluation", budgets=budgets,
                              max_tokens=spec.max_tokens, temperature=spec.temperature, seed=ctx.recipe.seed,
                              describe=spec.describe, text_items=text_counterparts(heldout, spec.text_items),
                              on_progress=say)
        finally:
            backend.close()
        acc = result["accuracy"]
        ctx.say(f"  {name}: think {_pct(acc['think'])}, no-think {_pct(acc['no_think'])}, "
                f"grounding {_pct(result['grounding'])}, self-cognition error "
                f"{_pct(result.get('self_cognition_error_independent'))} (filter rule {_pct(result['self_cognition_error'])})")
        return EvalResult.write(sdir / "eval.json", name, result, model)

    return ctx.runner.stage(f"eval/{name}", settings(spec, budgets), [current], work, code=EVAL_CODE)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


__all__ = ["cognition", "cognition_pairs", "curate", "distill", "distill_sft", "evaluation", "iteration", "multimodal_rl"]
