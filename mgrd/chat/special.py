"""Special tokens of the Step-Audio-R1 chat format: names, official ids and reasoning markers."""

from __future__ import annotations

from dataclasses import dataclass

BOT = "<|BOT|>"
EOT = "<|EOT|>"
AUDIO_START = "<audio_start>"
AUDIO_END = "<audio_end>"
AUDIO_PATCH = "<audio_patch>"
ENDOFTEXT = "<|endoftext|>"

# Ids in the released Step-Audio-R1 / R1.1 / Step-Audio-2-mini tokenizer (format reference §3).
# `<|BOT|>` has no published constant: always read it from the tokenizer.
OFFICIAL_IDS: dict[str, int] = {
    ENDOFTEXT: 151643,
    EOT: 151665,
    AUDIO_START: 151688,
    AUDIO_END: 151689,
    AUDIO_PATCH: 151690,
}

# The order in which `train_tokenizer` appends them after the learned vocabulary.
SPECIAL_TOKENS: tuple[str, ...] = (ENDOFTEXT, BOT, EOT, AUDIO_START, AUDIO_END, AUDIO_PATCH)

# Plain text, not special tokens: they are several BPE tokens each in the released tokenizer.
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

GENERATION_PROMPT = f"{BOT}assistant\n{THINK_OPEN}\n"
# Appended after GENERATION_PROMPT to answer without reasoning (no-think mode, or when a
# thinking budget runs out): the whole turn then reads `<think>\n\n</think>\n{answer}`.
NO_THINK_PREFILL = f"\n{THINK_CLOSE}\n"


@dataclass(frozen=True)
class SpecialTokenIds:
    """Ids of the special tokens in one tokenizer."""

    bot: int
    eot: int
    endoftext: int
    audio_start: int
    audio_end: int
    audio_patch: int
