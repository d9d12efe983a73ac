"""The in-run evaluation through mgrd.evaluation on a random micro model: per-item scores in a fixed order,
per-item seeds stable across budgets and stages and distinct between items, resume from the cache."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.data.dataset import read_split
from mgrd.data.world import WorldConfig, generate_split
from mgrd.evaluation import NativeBackend, RecordStore
from mgrd.inference import Engine
from mgrd.model import AudioTokenIds, build_model, micro_config
from mgrd.pipeline.evaluate import eval_sets, evaluate, self_cognition_errors

FAMILIES = ("sound", "music", "composite", "cognition", "text")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    generate_split(root, WorldConfig("heldout", 40, FAMILIES, seed=2), workers=1)
    return root


@pytest.fixture(scope="module")
def backend():
    tokenizer = train_tokenizer(tiny_corpus(), vocab_size=400)
    s = tokenizer.special
    cfg = micro_config(tokenizer.vocab_size, audio_token_ids=AudioTokenIds.of(s),
                       eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    # World clips last up to 8 s: 800 mel frames, about 100 audio tokens in the prompt.
    cfg = replace(cfg, encoder=replace(cfg.encoder, n_audio_ctx=1500),
                  text=replace(cfg.text, max_position_embeddings=1024))
    return NativeBackend(Engine(build_model(cfg, seed=0), tokenizer, max_batch_size=4),
                         {"kind": "checkpoint", "sha256": "micro"})


def _seeds(out):
    """(item id, budget) -> the seed the backend sampled with, from the stored records."""
    return {(r["item"]["id"], r["setting"]["budget"]): r["sampling"]["seed"] for r in RecordStore(out / "cache")}


def test_per_item_scores_and_seeds(world, backend, tmp_path):
    items, probes = eval_sets(list(read_split(world, "heldout")), items=4, probes=2)
    assert len(items) == 4 and len(probes) == 2
    kwargs = {"budgets": [0, 4, None], "max_tokens": 6, "temperature": 0.7, "seed": 3}
    result = evaluate(backend, items, probes, world, tmp_path / "a", **kwargs)

    per_item = result["per_item"]
    assert per_item["ids"] == [r.id for r in items]
    assert set(per_item["scores"]) == {"0", "4", "unlimited"}
    for label, scores in per_item["scores"].items():
        assert len(scores) == 4 and all(s in (0.0, 1.0) for s in scores)    # an unmatched answer is wrong, not dropped
        assert result["budgets"][label] == pytest.approx(sum(scores) / 4)
        low, high = result["budgets_ci95"][label]
        assert low <= result["budgets"][label] <= high
    assert result["accuracy"] == {"think": result["budgets"]["unlimited"], "no_think": result["budgets"]["0"]}
    assert len(per_item["grounding"]) == 4 and all(0.0 <= g <= 1.0 for g in per_item["grounding"])
    assert result["per_probe"]["ids"] == [r.id for r in probes] and len(result["per_probe"]["denied"]) == 2
    assert result["items"] == 4 and result["probes"] == 2
    assert sum(f["items"] for f in result["per_family"].values()) == 4
    assert sum(c["n"] for c in result["per_category"]["think"].values()) == 4
    low, high = result["grounding_ci95"]
    assert 0.0 <= low <= result["grounding"] <= high <= 1.0

    seeds = _seeds(tmp_path / "a" / "items")
    assert len(seeds) == 12
    by_item = {}
    for (item_id, _), seed in seeds.items():
        by_item.setdefault(item_id, set()).add(seed)
    assert all(len(s) == 1 for s in by_item.values())                      # one seed per item at every budget
    assert len({next(iter(s)) for s in by_item.values()}) == 4              # and no two items share one

    # Another stage (another run directory, same items): the same seeds; everything cached on a rerun.
    again = evaluate(backend, items, probes, world, tmp_path / "b", **kwargs)
    assert _seeds(tmp_path / "b" / "items") == seeds
    assert again["per_item"] == per_item                                    # same model, same seeds: same samples
    rerun = evaluate(backend, items, probes, world, tmp_path / "a", **kwargs)
    assert rerun["evaluation"]["run"]["requested"] == 0 and rerun["per_item"] == per_item


def test_self_cognition_errors_mark_denials_and_missing_responses():
    probes = [object(), object(), object()]
    out = self_cognition_errors(probes, ["I'm sorry, but I can't hear audio. I am a text-based model.",
                                         "I hear three beeps.", None])
    assert out == [1, 0, None]
