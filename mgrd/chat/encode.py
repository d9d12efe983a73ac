"""Conversations to token ids with audio slots expanded and a loss mask on assistant tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mgrd.chat.plain import encode_escaped, escape_specials
from mgrd.chat.special import AUDIO_PATCH, EOT, NO_THINK_PREFILL, THINK_CLOSE, THINK_OPEN
from mgrd.chat.template import Segment, render_content, render_segments
from mgrd.chat.tokenizer import Tokenizer


@dataclass(frozen=True)
class EncodedConversation:
    """Token ids of one conversation.

    `loss_mask[t]` is 1 where token t is trained on (same length as `input_ids`);
    `audio_parts` is the (message index, part index) of each audio part in prompt order, which
    is the order in which its audio chunks are given to the model.
    """

    input_ids: list[int]
    loss_mask: list[int]
    audio_parts: list[tuple[int, int]]


def encode(messages: Sequence[Mapping[str, Any]], audio_token_counts: Sequence[int], tokenizer: Tokenizer, *,
           tools: Any = None) -> EncodedConversation:
    """Training ids: the loss is on every assistant turn's content.

    A final assistant message is trained as a completion: the prompt is rendered up to the
    generation prompt `<|BOT|>assistant\\n<think>\\n` (no loss) and the target is the content
    `reasoning\\n</think>\\nanswer` followed by `<|EOT|>` (loss). A leading `<think>\\n` in that
    content belongs to the prompt; content without `</think>` is trained in the no-reasoning
    format, target `\\n</think>\\n{content}`. Prompt and target are tokenized apart, as the
    engine sees them. `audio_token_counts[i]` is the number of `<audio_patch>` tokens of the
    i-th audio part (each becomes `<audio_start>` + N×`<audio_patch>` + `<audio_end>`).
    """
    if messages and isinstance(messages[-1], Mapping) and messages[-1].get("role") == "assistant":
        if len(messages) == 1:
            raise ValueError("the conversation is a lone assistant message; a trained completion needs a prompt")
        segments = render_segments(messages[:-1], tools=tools, add_generation_prompt=True)
        segments.append(Segment(_completion_target(messages[-1], len(messages) - 1), trainable=True))
    else:
        segments = render_segments(messages, tools=tools, add_generation_prompt=False)
    # Tokens merge across the join of two segments with the same mask, so only loss
    # boundaries split the text.
    groups: list[Segment] = []
    for s in segments:
        if groups and groups[-1].trainable == s.trainable:
            prev = groups.pop()
            s = Segment(prev.text + s.text, s.trainable, prev.audio_parts + s.audio_parts)
        groups.append(s)
    return _encode_groups(groups, audio_token_counts, tokenizer)


def encode_prompt(messages: Sequence[Mapping[str, Any]], audio_token_counts: Sequence[int], tokenizer: Tokenizer, *,
                  tools: Any = None, add_generation_prompt: bool = True,
                  continue_final_message: bool = False, text_special_tokens: bool = True) -> EncodedConversation:
    """Inference ids of the prompt `render` builds (loss mask all zeros).

    The whole prompt is tokenized as one text, as the official server does. With
    `text_special_tokens=False` (untrusted input), special-token strings inside the messages'
    text and the tools are encoded as the plain text they spell, so a message cannot forge a turn
    boundary; the template's own tokens stay control tokens.
    """
    if not text_special_tokens:
        messages = escape_specials(list(messages), tokenizer.special_strings)
        tools = escape_specials(tools, tokenizer.special_strings)
    segments = render_segments(messages, tools=tools, add_generation_prompt=add_generation_prompt,
                               continue_final_message=continue_final_message)
    whole = Segment("".join(s.text for s in segments), False, tuple(a for s in segments for a in s.audio_parts))
    return _encode_groups([whole], audio_token_counts, tokenizer, escaped=not text_special_tokens)


def _completion_target(message: Mapping[str, Any], index: int) -> str:
    if message.get("eot", True) is False:
        raise ValueError(f"message {index}: a final assistant message with eot=False is an unfinished turn; "
                         "encode trains finished turns (use encode_prompt to continue one)")
    text, audio = render_content(message.get("content"), index)
    if not text:
        raise ValueError(f"message {index}: the final assistant message is empty; nothing to train "
                         "(use encode_prompt for a prompt that ends in the generation prompt)")
    if audio:
        raise ValueError(f"message {index}: assistant content may not hold audio")
    if text.startswith(THINK_OPEN + "\n"):
        if THINK_CLOSE not in text:
            raise ValueError(f"message {index}: content opens {THINK_OPEN!r} but never closes it with "
                             f"{THINK_CLOSE!r}; accepted: 'reasoning\\n</think>\\nanswer', or an answer alone")
        return text[len(THINK_OPEN) + 1:] + EOT
    if text.startswith(THINK_OPEN):
        raise ValueError(f"message {index}: content starts with {THINK_OPEN!r} not followed by a newline; "
                         "accepted: '<think>\\nreasoning\\n</think>\\nanswer', 'reasoning\\n</think>\\nanswer' "
                         "or an answer alone")
    return (text if THINK_CLOSE in text else NO_THINK_PREFILL + text) + EOT


def _encode_groups(groups: list[Segment], audio_token_counts: Sequence[int], tokenizer: Tokenizer, *,
                   escaped: bool = False) -> EncodedConversation:
    audio_parts = [a for g in groups for a in g.audio_parts]
    counts = list(audio_token_counts)
    if len(counts) != len(audio_parts):
        raise ValueError(f"the conversation has {len(audio_parts)} audio parts {audio_parts} but "
                         f"{len(counts)} audio token counts were given; give one count per audio part, in order")
    bad = [n for n in counts if not isinstance(n, int) or isinstance(n, bool) or n < 1]
    if bad:
        raise ValueError(f"audio token counts must be integers >= 1, got {bad}")
    sp = tokenizer.special
    ids: list[int] = []
    mask: list[int] = []
    k = 0
    for group in groups:
        pieces = group.text.split(AUDIO_PATCH)
        for j, piece in enumerate(pieces):
            if j:
                ids += [sp.audio_start] + [sp.audio_patch] * counts[k] + [sp.audio_end]
                mask += [0] * (counts[k] + 2)
                k += 1
            piece_ids = encode_escaped(piece, tokenizer) if escaped else tokenizer.encode(piece)
            ids += piece_ids
            mask += [int(group.trainable)] * len(piece_ids)
    return EncodedConversation(input_ids=ids, loss_mask=mask, audio_parts=audio_parts)
