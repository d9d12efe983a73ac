"""Datasets: the record schema (JSONL with chat messages), dataset directories, and the synthetic world."""

from mgrd.data.dataset import read_manifest, read_split, split_info
from mgrd.data.records import (ANSWER_TYPES, QUESTION_TYPES, REASONING_STYLES, Fact, Record, messages_for,
                               read_records)

__all__ = ["ANSWER_TYPES", "QUESTION_TYPES", "REASONING_STYLES", "Fact", "Record", "messages_for", "read_manifest",
           "read_records", "read_split", "split_info"]
