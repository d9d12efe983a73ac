"""`mgrd experiment ablations` machinery on the smoke recipe: variants reuse the MGRD run's common stages."""

import json

import pytest

from mgrd.pipeline.ablations import run_ablations

pytestmark = pytest.mark.slow


def test_a_variant_reuses_the_common_prefix_and_the_comparison_is_written(tmp_path):
    said: list[str] = []
    report = run_ablations("smoke", tmp_path, only=["curation_failed"], say=said.append, progress=False)

    variant_log = said[said.index("== ablation variant curation_failed =="):]
    shared = {line.split()[1].rstrip(":") for line in variant_log if line.startswith("[shared]")}
    ran = {line.split()[1] for line in variant_log if line.startswith("[run]")}
    # everything up to the curation is the MGRD run's; the curation and what follows it are recomputed
    assert {"world", "cold_start", "text_rl", "iter1/distill", "iter1/sft"} <= shared
    assert ran == {"iter1/curate", "iter1/rl", "cognition", "eval/final"}
    for name in ("mgrd", "curation_failed"):
        assert json.loads((tmp_path / name / "summary.json").read_text())["finished"] is True
    assert json.loads((tmp_path / "curation_failed/summary.json").read_text())["curation"]["iter1"]["strategy"] \
        == "failed"
    text = report.read_text()
    assert "## curation" in text and "failed (pass=0)" in text and "range [3,6]" in text
