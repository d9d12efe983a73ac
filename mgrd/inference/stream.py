"""Turning generated token ids into text deltas, split into reasoning and answer as they arrive.

Joined, the deltas of a sequence equal what `mgrd.chat.parse_completion` makes of the whole text
(tested), so a streamed and a non-streamed response never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from mgrd.chat import THINK_CLOSE, THINK_OPEN

_REPLACEMENT = "\ufffd"


class Detokenizer:
    """Incremental decoding that never emits half a UTF-8 character.

    Decodes a short window of recent ids (not the whole sequence) at each step.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0
        self._read = 0
        self.text = ""

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        decode = self.tokenizer.decode
        before = decode(self.ids[self._prefix:self._read])
        after = decode(self.ids[self._prefix:])
        if len(after) <= len(before) or after.endswith(_REPLACEMENT):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        delta = after[len(before):]
        self.text += delta
        return delta

    def flush(self) -> str:
        """Whatever is still held back at the end (possibly with replacement characters)."""
        full = self.tokenizer.decode(self.ids)
        self._prefix = self._read = len(self.ids)
        if not full.startswith(self.text):
            return ""  # only possible around invalid UTF-8; the emitted text stands
        delta, self.text = full[len(self.text):], full
        return delta


def _held_prefix(text: str, patterns: tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of one of `patterns`."""
    best = 0
    for p in patterns:
        for k in range(min(len(p) - 1, len(text)), best, -1):
            if text.endswith(p[:k]):
                best = k
                break
    return best


@dataclass
class Delta:
    reasoning: str = ""
    answer: str = ""

    def __bool__(self) -> bool:
        return bool(self.reasoning or self.answer)


class ReasoningSplitter:
    """Feeds text deltas; returns reasoning/answer deltas with the whitespace rules of
    `parse_completion` (both parts stripped) and optional stop strings (text from the first stop
    string on is dropped; `stopped` becomes True).

    `reasoning_open=False` starts directly in the answer (the prompt already closed the reasoning).
    """

    def __init__(self, stop: tuple[str, ...] = (), *, reasoning_open: bool = True) -> None:
        self.stop = tuple(stop)
        self.in_reasoning = reasoning_open
        self.stopped = False
        self.closed_reasoning = not reasoning_open
        self._buf = ""          # text received but not yet classified
        self._started = {True: False, False: False}  # leading whitespace of each part is dropped
        self._ws = {True: "", False: ""}             # trailing whitespace held back per part

    def feed(self, text: str) -> Delta:
        out = Delta()
        if self.stopped or not text:
            return out
        self._buf += text
        while self._buf and not self.stopped:
            patterns = self.stop + (THINK_CLOSE, THINK_OPEN)
            hit, pos = self._first_match(patterns)
            if hit is None:
                keep = _held_prefix(self._buf, patterns)
                ready, self._buf = self._buf[:len(self._buf) - keep], self._buf[len(self._buf) - keep:]
                self._emit(ready, out)
                break
            if hit == THINK_OPEN and self.in_reasoning and (self._started[True] or self._buf[:pos].strip()):
                # Only a leading <think> (the model repeating the prefill) is dropped from reasoning.
                self._emit(self._buf[:pos + len(hit)], out)
                self._buf = self._buf[pos + len(hit):]
                continue
            self._emit(self._buf[:pos], out)
            self._buf = self._buf[pos + len(hit):]
            if hit == THINK_CLOSE and self.in_reasoning:
                self.in_reasoning, self.closed_reasoning = False, True
            elif hit in (THINK_CLOSE, THINK_OPEN):
                pass  # stray tags are dropped, as parse_completion does
            else:
                self.stopped = True
                self._buf = ""
        return out

    def finish(self) -> Delta:
        """End of generation: emit text held back only because it could have begun a pattern."""
        out = Delta()
        if not self.stopped:
            self._emit(self._buf, out)
        self._buf = ""
        return out

    def _first_match(self, patterns: tuple[str, ...]) -> tuple[str | None, int]:
        best, where = None, len(self._buf) + 1
        for p in patterns:
            i = self._buf.find(p)
            if 0 <= i < where or (i == where and best is not None and len(p) > len(best)):
                best, where = p, i
        return best, where

    def _emit(self, text: str, out: Delta) -> None:
        part = self.in_reasoning
        if not self._started[part]:
            text = text.lstrip()
            if not text:
                return
            self._started[part] = True
        text = self._ws[part] + text
        body = text.rstrip()
        self._ws[part] = text[len(body):]
        if part:
            out.reasoning += body
        else:
            out.answer += body
