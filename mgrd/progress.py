"""Progress of long loops: a live rich bar on a terminal, a plain line every few seconds otherwise.

One facility for every loop that runs long (world generation, trainers, self-distillation,
curation, evaluation). A terminal gets a bar with steps done / total, the running values (loss,
score) and the time left; a log file or CI gets lines such as
`sft  40/200 (20%)  loss 1.234  elapsed 0:12  left 0:48` with no control characters, at most one
every `every_s` seconds (and every `every_n` steps when given), plus the first and the last.

Bars opened while another is live share its display (one row each), so a loop inside another
loop's step does not fight it for the screen.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress as _RichProgress, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

T = TypeVar("T")

_stderr: Console | None = None
_live: dict[int, list] = {}   # id(console) -> [rich Progress, number of open bars]


@atexit.register
def _stop_all() -> None:
    """A loop that raised leaves its bar open: stop the displays so the terminal gets its cursor back."""
    for bar, _ in list(_live.values()):
        bar.stop()
    _live.clear()


def default_console() -> Console:
    """The process's progress console (standard error, so standard output stays for results)."""
    global _stderr
    if _stderr is None:
        _stderr = Console(stderr=True, highlight=False)
    return _stderr


def format_values(values: dict[str, Any]) -> str:
    """`loss 1.234  reward 0.5`: floats to 4 significant digits, other values as they are."""
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


def format_seconds(seconds: float) -> str:
    """`0:07`, `12:34`, `1:02:03`."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """The progress of one loop of `total` steps (0: unknown), started at `start`.

    `update(done=..., **values)` sets the count, `advance(n, **values)` adds to it; `values` are the
    running numbers to show (loss, score). `enabled=False` shows nothing. `started`: the clock
    reading the loop began at (default: now). Use it as a context manager, or call `close()`.
    """

    def __init__(self, label: str, total: int = 0, *, start: int = 0, unit: str = "steps",
                 console: Console | None = None, every_s: float = 10.0, every_n: int | None = None,
                 enabled: bool = True, clock: Callable[[], float] = time.monotonic,
                 started: float | None = None) -> None:
        self.label, self.total, self.done, self.unit = label, max(0, int(total)), int(start), unit
        self.values: dict[str, Any] = {}
        self.console = console or default_console()
        self.every_s, self.every_n = every_s, every_n
        self.enabled = enabled
        self._clock = clock
        self._start_step, self._started = self.done, clock() if started is None else started
        self._last_line: tuple[float, int] | None = None
        self._task: TaskID | None = None
        self._closed = False
        if enabled and self.console.is_terminal:
            self._open_live()
        elif enabled:
            self._line()

    # -- terminal: one shared rich display per console
    def _open_live(self) -> None:
        slot = _live.get(id(self.console))
        if slot is None:
            bar = _RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[values]}"), TimeElapsedColumn(), TextColumn("left"),
                                TimeRemainingColumn(), console=self.console, transient=False)
            bar.start()
            slot = _live[id(self.console)] = [bar, 0]
        slot[1] += 1
        self._task = slot[0].add_task(self.label, total=self.total or None, completed=self.done, values="")

    def _rich(self) -> _RichProgress | None:
        slot = _live.get(id(self.console))
        return slot[0] if slot and self._task is not None else None

    # -- not a terminal: a plain line now and then
    def _line(self) -> None:
        now = self._clock()
        elapsed = now - self._started
        count = f"{self.done}/{self.total} ({100 * self.done / self.total:.0f}%)" if self.total else f"{self.done}"
        parts = [self.label, f"{count} {self.unit}"]
        if self.values:
            parts.append(format_values(self.values))
        parts.append(f"elapsed {format_seconds(elapsed)}")
        left = self.seconds_left(now)
        if left is not None:
            parts.append(f"left {format_seconds(left)}")
        self.console.file.write("  ".join(parts) + "\n")
        self.console.file.flush()
        self._last_line = (now, self.done)

    def _due(self) -> bool:
        if self._last_line is None or (self.total and self.done >= self.total):
            return True
        at, step = self._last_line
        if self.every_n and self.done - step >= self.every_n:
            return True
        return self._clock() - at >= self.every_s

    def seconds_left(self, now: float | None = None) -> float | None:
        """Estimated seconds to `total` from the pace since the start; None before the first step."""
        ran = self.done - self._start_step
        if not self.total or ran <= 0:
            return None
        now = self._clock() if now is None else now
        return (now - self._started) / ran * max(0, self.total - self.done)

    # -- the loop's side
    def update(self, done: int | None = None, *, total: int | None = None, **values: Any) -> None:
        if done is not None:
            self.done = int(done)
        if total is not None:
            self.total = max(0, int(total))
        self.values.update(values)
        if not self.enabled or self._closed:
            return
        rich = self._rich()
        if rich is not None:
            rich.update(self._task, completed=self.done, total=self.total or None,
                        values=format_values(self.values))
        elif not self.console.is_terminal and self._due():
            self._line()

    def advance(self, n: int = 1, **values: Any) -> None:
        self.update(self.done + n, **values)

    def callback(self) -> Callable[[int, int], None]:
        """An `on_progress(done, total)` hook that drives this bar."""
        return lambda done, total: self.update(done, total=total)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        slot = _live.get(id(self.console))
        if slot is not None and self._task is not None:
            slot[1] -= 1
            if slot[1] <= 0:
                slot[0].stop()
                del _live[id(self.console)]
        elif self._last_line is not None and self._last_line[1] != self.done:
            self._line()   # the last count, if the throttle held it back

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], label: str, total: int | None = None, **kwargs: Any) -> Iterator[T]:
    """`items`, advancing a bar by one per item (total: `len(items)` when it has one)."""
    if total is None:
        total = len(items) if hasattr(items, "__len__") else 0
    with ProgressBar(label, total, **kwargs) as bar:
        for item in items:
            yield item
            bar.advance()


def progress_hook(label: str, *, unit: str = "steps", enabled: bool = True,
                  **kwargs: Any) -> Callable[[int, int], None]:
    """An `on_progress(done, total)` callback for loops that report counts: it opens a bar on the
    first call and closes it when `done` reaches `total`. Its first bar's clock starts when the hook
    is made (loops that report after their first batch still show the time that batch took)."""
    clock = kwargs.pop("clock", time.monotonic)
    state: dict[str, Any] = {"started": clock()}

    def hook(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None or bar._closed:
            bar = state["bar"] = ProgressBar(label, total, unit=unit, enabled=enabled, clock=clock,
                                             started=state.pop("started", None), **kwargs)
        bar.update(done, total=total)
        if total and done >= total:
            bar.close()

    return hook
