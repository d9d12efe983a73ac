"""Evaluation: backends (native engine, OpenAI-compatible endpoint), cache and resume, scoring,
budget and seed sweeps, statistics, judge, reports and manifest (layer L4)."""

from mgrd.evaluation.endpoint import EndpointBackend
from mgrd.evaluation.grading import SCORING_VERSION, grade_records
from mgrd.evaluation.native import NativeBackend
from mgrd.inference.backend import GenerationRequest, GenerationResult
from mgrd.evaluation.runner import EvalConfig, plan, run_eval
from mgrd.evaluation.statistics import mean_ci, wilson_interval
from mgrd.evaluation.sweep import Setting, parse_budgets, settings
from mgrd.remote import Judge, RecordStore, RequestFailed, RetryPolicy  # the shared client, re-exported

__all__ = ["SCORING_VERSION", "EndpointBackend", "EvalConfig", "GenerationRequest", "GenerationResult", "Judge",
           "NativeBackend", "RecordStore", "RequestFailed", "RetryPolicy", "Setting", "grade_records", "mean_ci",
           "parse_budgets", "plan", "run_eval", "settings", "wilson_interval"]
