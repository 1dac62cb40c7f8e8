"""Train many runs concurrently on one device: one small CIFAR net cannot fill a modern GPU.

    sweep(configs, concurrent=4, device="cuda", time_limit=540)

Worker processes (spawned, so CUDA works) take configurations from a queue and train each with the
ordinary trainer, so every run is recorded and resumable on its own: finished runs are skipped,
unfinished ones resumed. With `time_limit`, every run in flight checkpoints before the deadline and
the sweep returns; calling it again continues where it stopped.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import torch

from .config import TrainConfig
from .fastpath import threads_per_run
from .results import RESULTS_DIR, Run, find_run


def _train_one(job: tuple) -> tuple[str | None, bool]:
    config_dict, out_dir, device, deadline, threads, runs_at_once = job
    from .train import train  # imported in the worker

    if threads:
        torch.set_num_threads(threads)
    config = TrainConfig.from_dict(config_dict)
    remaining = None if deadline is None else deadline - time.time()
    if remaining is not None and remaining <= 0:  # not started before the deadline: left for the next sweep
        run = find_run(config, out_dir, finished=False)
        return (str(run.path), run.finished) if run else (None, False)
    run = train(config, out_dir=out_dir, device=device, resume=True, time_limit=remaining, progress=False,
                runs_at_once=runs_at_once)
    return str(run.path), run.finished


def sweep(configs: list[TrainConfig], concurrent: int = 2, out_dir: str | Path = RESULTS_DIR, device: str = "auto",
          time_limit: float | None = None) -> list[tuple[Run | None, bool]]:
    """Train `configs`, `concurrent` at a time on one device; returns (run, finished) per config, in order
    (run None for a config not started before the time limit)."""
    deadline = None if time_limit is None else time.time() + time_limit
    threads = threads_per_run(concurrent) if device == "cpu" or not torch.cuda.is_available() else None
    runs_at_once = min(concurrent, len(configs))  # recorded with each piece: the speed of one of them
    jobs = [(c.to_dict(), str(out_dir), device, deadline, threads, runs_at_once) for c in configs]
    with mp.get_context("spawn").Pool(concurrent, maxtasksperchild=1) as pool:
        done = pool.map(_train_one, jobs, chunksize=1)
    return [(Run(path) if path else None, finished) for path, finished in done]
