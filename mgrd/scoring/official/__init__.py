"""The benchmarks' own scoring rules, reproduced as published (bugs documented, never silently fixed)."""

from mgrd.scoring.official.gsm8k import gsm8k_answer, gsm8k_match, gsm8k_reference
from mgrd.scoring.official.mmsu import MMSU_LETTERS, mmsu_letter
from mgrd.scoring.official.string_match import string_match, word_tokens

OFFICIAL_SCORING_VERSION = "1"

__all__ = ["MMSU_LETTERS", "OFFICIAL_SCORING_VERSION", "gsm8k_answer", "gsm8k_match", "gsm8k_reference",
           "mmsu_letter", "string_match", "word_tokens"]
