"""Untrusted text in a prompt: special-token strings it spells are encoded as text, never as control tokens.

A conversation's text (message content, tool schemas) is escaped before rendering: each
special-token string becomes a sentinel made of lone surrogates, which no valid Unicode input
holds. The rendered prompt then holds real special tokens only where the template put them.
Encoding splits it at those, turns the sentinels back into their strings and encodes each
stretch with special tokens as text. Added tokens split a text before it is normalised and
pre-tokenized, so the template's tokens encode exactly as in a whole-prompt encoding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from mgrd.chat.special import AUDIO_PATCH

_SURROGATES = re.compile("[\ud800-\udfff]")
_SENTINEL_MARK = "\udfff"


def _sentinel(k: int) -> str:
    return _SENTINEL_MARK + chr(0xDC00 + (k >> 10)) + chr(0xDC00 + (k & 1023))


@lru_cache(maxsize=8)
def _tables(specials: tuple[str, ...]):
    # `<audio_patch>` stays: in string content it is the audio slot, and text parts refuse it anyway.
    escaped = tuple(s for s in specials if s != AUDIO_PATCH)
    to_sentinel = {s: _sentinel(k) for k, s in enumerate(escaped)}
    from_sentinel = {v: k for k, v in to_sentinel.items()}
    find = re.compile("|".join(re.escape(s) for s in escaped)) if escaped else None
    back = re.compile(re.escape(_SENTINEL_MARK) + "[\udc00-\udfff]{2}")
    split = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")") if specials else None
    return to_sentinel, from_sentinel, find, back, split


def escape_specials(obj: Any, specials: tuple[str, ...]) -> Any:
    """`obj` (str, or lists / dicts of them, keys included) with every special string replaced by its sentinel.

    Raises ValueError for a string holding a lone surrogate (it could pass for a sentinel).
    Other values (numbers, arrays of samples) pass through unchanged.
    """
    to_sentinel, _, find, _, _ = _tables(specials)
    if isinstance(obj, str):
        if _SURROGATES.search(obj):
            raise ValueError("text holds a lone UTF-16 surrogate, which is not valid Unicode; send valid text")
        return find.sub(lambda m: to_sentinel[m.group(0)], obj) if find is not None else obj
    if isinstance(obj, Mapping):
        return {escape_specials(k, specials): escape_specials(v, specials) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(escape_specials(v, specials) for v in obj)
    return obj


def encode_escaped(text: str, tokenizer) -> list[int]:
    """Ids of a rendered `text` whose untrusted parts went through `escape_specials`."""
    _, from_sentinel, _, back, split = _tables(tokenizer.special_strings)
    if split is None:
        return tokenizer.encode(back.sub(lambda m: from_sentinel[m.group(0)], text), special_tokens=False)
    ids: list[int] = []
    for k, piece in enumerate(split.split(text)):
        if k % 2:
            ids.append(tokenizer.token_to_id(piece))
        elif piece:
            ids += tokenizer.encode(back.sub(lambda m: from_sentinel[m.group(0)], piece), special_tokens=False)
    return ids
