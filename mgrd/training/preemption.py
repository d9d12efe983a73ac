"""Preemption: SIGTERM asks for a checkpoint at the next step boundary and a clean exit."""

from __future__ import annotations

import signal
import threading

from mgrd.training.distributed import all_reduce

PREEMPTED_EXIT_CODE = 143   # 128 + SIGTERM: the stage stopped early but its checkpoint is committed


class StopRequest:
    """While active, SIGTERM sets a flag (a second one is ignored) instead of killing the process.

    Trainers poll `should_stop()` at each step boundary; under torchrun it is agreed over all
    processes (max of the flags), so every rank saves and stops together.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def should_stop(self) -> bool:
        return bool(all_reduce(float(self.requested), op="max") > 0)
