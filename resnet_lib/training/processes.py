"""The processes a run trains in, and how they stop: torchrun's rank and world size, their all-reduce,
signals turned into a flag, and the decision to stop (a signal, a time limit, an iteration to stop at),
agreed by all processes of a torchrun job so that they checkpoint together."""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist

STOP_SYNC_EVERY = 20  # iterations between the processes' agreement on stopping (torchrun jobs)



class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint: `signal` (its name), the `iteration` it
    stopped at and `run_path`, the folder holding the checkpoint."""

    def __init__(self, message: str, signal: str, iteration: int, run_path: Path):
        super().__init__(message)
        self.signal, self.iteration, self.run_path = signal, iteration, run_path


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank): from torchrun's environment, or (0, 1, 0) for one process."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))


def all_reduce(t: torch.Tensor, op=None) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
    return t


class StopDecision:
    """Whether to stop before an iteration ("signal", "time limit", "stop at", or None), agreed by all
    processes of a torchrun job: they compare notes every STOP_SYNC_EVERY iterations and stop together."""

    REASONS = (None, "stop at", "time limit", "signal")

    def __init__(self, signals: dict, stop_at: int | None, deadline: float | None, world: int = 1,
                 device: torch.device | None = None):
        self.signals, self.stop_at, self.deadline, self.world, self.device = signals, stop_at, deadline, world, device

    @property
    def signal(self) -> str | None:
        """The name of the first signal caught, or None."""
        return self.signals["signal"]

    def __call__(self, iteration: int) -> str | None:
        at_stop = self.stop_at is not None and iteration >= self.stop_at
        if self.world > 1 and iteration % STOP_SYNC_EVERY and not at_stop:
            return None
        local = 3 if self.signals["signal"] else 2 if self.deadline and time.perf_counter() > self.deadline else int(at_stop)
        if self.world > 1:
            local = int(all_reduce(torch.tensor([local], device=self.device), dist.ReduceOp.MAX).item())
        return self.REASONS[local]


@contextmanager
def stop_on_signals(signals: tuple, on_signal=None):
    """Turn each of `signals` into a flag, {"signal": the first one's name or None}, that the training loop
    checks once per iteration (it then saves a checkpoint and stops) and a campaign before starting a run.
    However many come, and whenever (a terminal's Ctrl-C reaches a notebook kernel twice), none aborts
    without that checkpoint; SIGKILL is the way to stop at once. `on_signal(number)`, if given, is called
    on each (a campaign passes a SIGTERM on to its training processes). Main thread only."""
    flag = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(number, _frame):
        flag["signal"] = flag["signal"] or signal.Signals(number).name
        if on_signal is not None:
            on_signal(number)

    previous = {s: signal.getsignal(s) for s in signals}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
