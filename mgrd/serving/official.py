"""The official client's special-token ids, mapped onto a model whose vocabulary is not the released one.

The official Step-Audio-R1 client sends `stop_token_ids: [151665]` (`<|EOT|>` in the released
tokenizer). A model with its own vocabulary (the tiny recipe's, 1,024 ids) has `<|EOT|>` elsewhere:
each known official id becomes this tokenizer's id of the same token, and one the tokenizer does
not have (`<|im_end|>`, `<tool_call>`, ...) is dropped, since such a model can never generate it.
Ids of the model's own vocabulary are left alone; with the released tokenizer nothing changes.
"""

from __future__ import annotations

from typing import Any

from mgrd.chat import OFFICIAL_IDS

# Further ids of the released tokenizer that a client may send (format reference §3).
OFFICIAL_EXTRA: dict[str, int] = {"<|im_end|>": 151645, "<tool_call>": 151657, "</tool_call>": 151658,
                                  "<tts_start>": 151693, "<tts_end>": 151694}
OFFICIAL_NAMES: dict[int, str] = {i: name for name, i in {**OFFICIAL_IDS, **OFFICIAL_EXTRA}.items()}


def released_vocabulary(tokenizer) -> bool:
    return all(_own_id(tokenizer, name) == i for name, i in OFFICIAL_IDS.items())


def map_official_ids(body: Any, tokenizer) -> Any:
    """`body` with its official `stop_token_ids` mapped (a new dict; anything malformed is left to the schema)."""
    if not isinstance(body, dict) or not isinstance(body.get("stop_token_ids"), list):
        return body
    ids = body["stop_token_ids"]
    vocab = int(tokenizer.vocab_size)
    if not any(_is_int(t) and t >= vocab and t in OFFICIAL_NAMES for t in ids) or released_vocabulary(tokenizer):
        return body
    mapped = []
    for t in ids:
        if _is_int(t) and t >= vocab and t in OFFICIAL_NAMES:
            own = _own_id(tokenizer, OFFICIAL_NAMES[t])
            if own is None:
                continue
            t = own
        mapped.append(t)
    return {**body, "stop_token_ids": mapped}


def _own_id(tokenizer, name: str) -> int | None:
    try:
        return tokenizer.token_to_id(name)
    except ValueError:
        return None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
