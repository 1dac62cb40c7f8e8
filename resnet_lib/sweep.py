"""Train many runs at once on one device: one small CIFAR net cannot fill a modern GPU.

    sweep(configs, concurrent=4, device="cuda", time_limit=540)               # 4 processes, a run each
    sweep(configs, concurrent=4, together=3, device="cuda", time_limit=540)   # 4 processes, 3 runs each

Worker processes (spawned, so CUDA works) take groups of `together` configurations from a queue and
train each group in one process (`train.train_group`: stepped in turn, a CUDA stream each), so every
run is recorded and resumable on its own: finished runs are skipped, unfinished ones resumed. With
`time_limit`, every run in flight checkpoints before the deadline and the sweep returns; calling it
again continues where it stopped.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import torch

from .config import TrainConfig
from .fastpath import threads_per_run
from .results import RESULTS_DIR, Run, find_run


def _train_group(job: tuple) -> list[tuple[str | None, bool]]:
    config_dicts, out_dir, device, deadline, threads, runs_at_once = job
    from .train import train_group  # imported in the worker

    if threads:
        torch.set_num_threads(threads)
    configs = [TrainConfig.from_dict(c) for c in config_dicts]
    remaining = None if deadline is None else deadline - time.time()
    if remaining is not None and remaining <= 0:  # not started before the deadline: left for the next sweep
        runs = [find_run(config, out_dir, finished=False) for config in configs]
        return [(str(run.path), run.finished) if run else (None, False) for run in runs]
    runs = train_group(configs, out_dir=out_dir, device=device, resume=True, time_limit=remaining, progress=False,
                       runs_at_once=runs_at_once)
    return [(str(run.path), run.finished) for run in runs]


def sweep(configs: list[TrainConfig], concurrent: int = 2, out_dir: str | Path = RESULTS_DIR, device: str = "auto",
          time_limit: float | None = None, together: int = 1) -> list[tuple[Run | None, bool]]:
    """Train `configs`, `concurrent` processes at a time on one device, `together` runs in each; returns
    (run, finished) per config, in order (run None for a config not started before the time limit)."""
    deadline = None if time_limit is None else time.time() + time_limit
    threads = threads_per_run(concurrent) if device == "cpu" or not torch.cuda.is_available() else None
    runs_at_once = min(concurrent * together, len(configs))  # recorded with each piece: the speed of one of them
    groups = [configs[i:i + together] for i in range(0, len(configs), together)]
    jobs = [([c.to_dict() for c in group], str(out_dir), device, deadline, threads, runs_at_once) for group in groups]
    with mp.get_context("spawn").Pool(concurrent, maxtasksperchild=1) as pool:
        done = pool.map(_train_group, jobs, chunksize=1)
    return [(Run(path) if path else None, finished) for group in done for path, finished in group]
