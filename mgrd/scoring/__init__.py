"""Answer extraction and matching (pure, no torch)."""

from mgrd.scoring.answers import LETTERS, extract_number, match_choice, normalize, unwrap_tags

__all__ = ["LETTERS", "extract_number", "match_choice", "normalize", "unwrap_tags"]
