"""Tokenizer, the Step-Audio-R1 chat template, conversation encoding and completion parsing."""

from mgrd.chat.choices import format_choices
from mgrd.chat.completion import Completion, parse_completion
from mgrd.chat.encode import EncodedConversation, encode, encode_prompt
from mgrd.chat.special import (AUDIO_END, AUDIO_PATCH, AUDIO_START, BOT, ENDOFTEXT, EOT, GENERATION_PROMPT,
                               NO_THINK_PREFILL, OFFICIAL_IDS, SPECIAL_TOKENS, THINK_CLOSE, THINK_OPEN,
                               SpecialTokenIds)
from mgrd.chat.template import (AUDIO_PART_TYPES, CONTENT_FORMATS, Segment, render, render_content,
                                render_segments)
from mgrd.chat.tokenizer import Tokenizer, train_tokenizer

__all__ = [
    "AUDIO_END", "AUDIO_PART_TYPES", "AUDIO_PATCH", "AUDIO_START", "BOT", "CONTENT_FORMATS", "Completion",
    "ENDOFTEXT", "EOT", "EncodedConversation", "GENERATION_PROMPT", "NO_THINK_PREFILL", "OFFICIAL_IDS",
    "SPECIAL_TOKENS", "Segment", "SpecialTokenIds", "THINK_CLOSE", "THINK_OPEN", "Tokenizer", "encode",
    "encode_prompt", "format_choices", "parse_completion", "render", "render_content", "render_segments",
    "train_tokenizer",
]
