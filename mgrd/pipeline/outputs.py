"""What each kind of stage returns: its artifacts plus a small typed report (frozen, stored in DONE.json)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mgrd.pipeline.artifacts import ModelDir, RecordFile, artifact


class HasModel(Protocol):
    """A stage output with a model directory: what the next training stage starts from."""

    @property
    def model(self) -> ModelDir: ...


@artifact
@dataclass(frozen=True)
class DataReport:
    """Counts of one split: records, audio questions, text questions, records with facts / with a chain."""

    split: str
    records: int
    audio: int
    text: int
    with_facts: int
    with_chain: int


@artifact
@dataclass(frozen=True)
class DataSet:
    """The run's data: `world` (generated, `root` is its dataset directory) or `files` (the user's JSONL)."""

    source: str
    root: str
    splits: Mapping[str, RecordFile]
    reports: tuple[DataReport, ...]
    families: tuple[str, ...] | str = "all"
    speech: bool = False

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "splits": {r.split: {k: v for k, v in vars(r).items() if k != "split"}
                                                  for r in self.reports}}

    def world_summary(self) -> dict[str, Any]:
        """The summary's `world` section (train / heldout counts, families, speech)."""
        counts = {r.split: r.records for r in self.reports}
        families = self.families if isinstance(self.families, str) else list(self.families)
        return {**counts, "families": families, "speech": self.speech}


@artifact
@dataclass(frozen=True)
class BaseModel:
    model: ModelDir
    parameters: int | None = None      # None for a released checkpoint (not loaded to count)
    probes: Mapping | None = None      # an audio base's encoder probes, measured when it was made


@artifact
@dataclass(frozen=True)
class Trained:
    """A supervised stage: the model it wrote, its steps and the mean of its last ten losses."""

    model: ModelDir
    steps: int
    final_loss: float | None = None


@artifact
@dataclass(frozen=True)
class EncoderTrained:
    """The encoder stage: the model with the trained, now frozen, encoder; its steps; what its heads know."""

    model: ModelDir
    steps: int
    final: Mapping[str, float]         # the last logged training-batch accuracies / errors
    probes: Mapping | None = None      # held-out probe accuracy per fact type (training/encoder_probes.py)


@artifact
@dataclass(frozen=True)
class RLPoint:
    iteration: int
    reward: float | None = None
    accuracy: float | None = None
    reasoning_tokens: float | None = None


@artifact
@dataclass(frozen=True)
class RLTrained:
    model: ModelDir
    iterations: int
    series: tuple[RLPoint, ...]


@artifact
@dataclass(frozen=True)
class FilterCount:
    name: str
    seen: int
    kept: int
    dropped: Mapping[str, int]


@artifact
@dataclass(frozen=True)
class DistillReport:
    """Chains seen and kept, per filter with drop reasons, and what the grounding filter had to go on:
    `grounding` counts the sampled chains whose item has facts (claims checked against them) and those
    whose item has none (the statement lexicon); `judge` names the LLM judge of fact-less chains
    (empty when none, or when every item had facts)."""

    chains: int
    kept: int
    filters: tuple[FilterCount, ...]
    grounding: Mapping[str, int]
    judge: str = ""

    @property
    def keep_rate(self) -> float:
        return self.kept / self.chains if self.chains else 0.0

    def summary(self) -> dict[str, Any]:
        return {"chains": self.chains, "kept": self.kept, "keep_rate": self.keep_rate,
                "filters": [dict(vars(f), dropped=dict(f.dropped)) for f in self.filters],
                "grounding": dict(self.grounding), "judge": self.judge or None}


@artifact
@dataclass(frozen=True)
class Distilled:
    kept: RecordFile | None            # None when no chain passed
    report: DistillReport
    examples: tuple[str, ...] = ()


@artifact
@dataclass(frozen=True)
class CurationReport:
    questions: int
    kept: int
    k: int
    histogram: tuple[int, ...]
    strategy: str
    low: int
    high: int
    fallback_unfiltered: bool

    def summary(self) -> dict[str, Any]:
        return dict(vars(self), histogram=list(self.histogram))


@artifact
@dataclass(frozen=True)
class Curated:
    prompts: RecordFile
    report: CurationReport


@artifact
@dataclass(frozen=True)
class CognitionReport:
    responses: int
    denials: int
    pairs: int


@artifact
@dataclass(frozen=True)
class CognitionTrained:
    model: ModelDir
    report: CognitionReport
