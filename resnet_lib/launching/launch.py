"""One way to launch runs: an executor trains a list of configurations somewhere and says how each ended.

    LocalExecutor(concurrent=4, together=3, device="cuda").run(configs, "results", time_limit=540)
    SlurmExecutor(SlurmOptions(partition="gpu"), wait=True).run(configs, "/shared/results")   # cluster.py

The CLI's `sweep` (and through it the GPU lease script) and the campaign launch through these. Every
executor skips runs already recorded and resumes unfinished ones, and each run stays recorded and
resumable on its own. Adding a scheduler is one new class (the `Executor` protocol: its options, `run` and
`report`) and its entry in commands.EXECUTORS, which `sweep --executor NAME` and the book's commands read.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from ..config import TrainConfig
from ..console import announce
from ..runs.results import Run
from ..training.fastpath import allocator_env, threads_per_run
from ..training.processes import stop_on_signals
from ..training.runtime import ResolvedRun, pick_device, resolve_runs

if TYPE_CHECKING:
    import argparse

STOP_MARGIN_S = 30  # a process stops this long before a time limit: its last evaluation and checkpoint


@dataclass
class Outcome:
    """How one configuration ended: its run folder (None if never started) and whether it is finished."""

    config: TrainConfig
    run: Run | None
    finished: bool


class Executor(Protocol):
    """A place runs are trained, registered for `sweep --executor NAME` in commands.EXECUTORS."""

    @staticmethod
    def add_options(group: argparse._ArgumentGroup, positive_int: Callable[[str], int]) -> None:
        """The executor's own command-line options, added to `sweep`'s `group` (`positive_int`: the CLI's type
        for a whole number >= 1)."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Executor:
        """The executor the parsed `sweep` options describe."""

    def report(self, outcomes: list[Outcome]) -> int:
        """Say how a sweep's runs ended (one line each to stdout or stderr); the sweep's exit status."""

    def run(self, configs: list[TrainConfig | ResolvedRun], out_dir: str | Path, time_limit: float | None = None,
            on_finished: Callable[[Run], None] | None = None) -> list[Outcome]:
        """Train `configs` into `out_dir`, in their order, and return their outcomes in that order (a ResolvedRun,
        the campaign's, is trained as resolved).
        `on_finished(run)` is called for each run as it finishes; at `time_limit` seconds (or on a signal)
        what trains checkpoints and stops, and the same call later continues it."""


class LocalExecutor:
    """Training processes on this machine: `concurrent` at a time, `together` runs in each (train.train_group:
    stepped in turn, a CUDA stream each). On CPU each process has 1/concurrent of the cores, whatever runs
    beside it: a run's arithmetic depends on its thread count, so the same sweep gives the same numbers.
    Each runs a command of the CLI, announced before it starts (`python -m resnet_lib train --configs FILE
    --resume ...`).

    Each run is resolved once, here, for the device (runtime.resolve_runs), unless it comes resolved: its
    process is handed that object's JSON and trains it as it is, and its folder is where the outcome is read. With a time limit no process starts with
    less than `min_piece_s` left, and each stops STOP_MARGIN_S before it. A SIGTERM is passed on to the
    processes (a terminal's Ctrl-C reaches them itself); after either, no further process starts.
    """

    def __init__(self, concurrent: int = 1, together: int = 1, device: str = "auto", min_piece_s: float = 0.0,
                 label: str = "sweep"):
        self.concurrent, self.together, self.device, self.min_piece_s, self.label = concurrent, together, device, min_piece_s, label

    @staticmethod
    def add_options(group, positive_int) -> None:
        group.add_argument("--concurrent", type=positive_int, default=4, help="processes training at once (default 4)")
        group.add_argument("--together", type=positive_int, default=1, help="runs each process trains together, "
                           "stepped in turn, a CUDA stream each: the many-runs path for small nets on a GPU (default 1)")

    @classmethod
    def from_args(cls, args) -> LocalExecutor:
        return cls(args.concurrent, args.together, args.device)

    def report(self, outcomes: list[Outcome]) -> int:
        for outcome in outcomes:
            where = outcome.run.path if outcome.run else f"{outcome.config.arch} seed {outcome.config.seed} (not started)"
            print(f"{'finished' if outcome.finished else 'unfinished (rerun to continue)'}: {where}")
        return 0

    def run(self, configs: list[TrainConfig | ResolvedRun], out_dir: str | Path, time_limit: float | None = None,
            on_finished: Callable[[Run], None] | None = None) -> list[Outcome]:
        deadline = None if time_limit is None else time.time() + time_limit
        device = pick_device(self.device)
        resolved = resolve_runs(configs, out_dir, device)
        outcomes = {r.folder: Outcome(r.config, r.folder, True) if r.folder.finished else Outcome(r.config, None, False)
                    for r in resolved}  # a recorded run is not trained again
        todo = list({r.folder: r for r in resolved if not r.folder.finished}.values())
        groups = [todo[i:i + self.together] for i in range(0, len(todo), self.together)]
        running: dict[subprocess.Popen, list] = {}

        def pass_on(number: int) -> None:
            if number == signal.SIGTERM:
                for child in list(running):
                    if child.poll() is None:
                        child.send_signal(number)

        with stop_on_signals((signal.SIGINT, signal.SIGTERM), on_signal=pass_on) as stop, \
                tempfile.TemporaryDirectory() as folder:
            while groups or running:
                remaining = None if deadline is None else deadline - time.time()
                while (groups and len(running) < self.concurrent and not stop["signal"]
                       and (remaining is None or remaining > max(self.min_piece_s, 0))):
                    group = groups.pop(0)
                    starting = [group] + groups[:self.concurrent - len(running) - 1]  # with the next that start meanwhile
                    runs_at_once = sum(map(len, running.values())) + sum(map(len, starting))
                    command = self._command(group, device.type, runs_at_once, remaining, Path(folder))
                    announce(f"{self.label}: training {', '.join(run.folder.path.name for run in group)} in {out_dir}: "
                             f"{shlex.join(['python'] + command[1:])}")
                    threads = threads_per_run(self.concurrent) if device.type == "cpu" else None  # the same for every run
                    running[_start(command, threads, stop)] = group
                if not running:
                    if groups and not stop["signal"]:
                        announce(f"{self.label}: {remaining:.0f} s left, less than a piece needs ({self.min_piece_s:.0f} s); "
                                 f"stopping here")
                    break
                child, status = _wait_any(running)
                for run in running.pop(child):
                    finished = run.folder.finished
                    outcomes[run.folder] = Outcome(run.config, run.folder if run.folder.path.exists() else None, finished)
                    if finished and on_finished is not None:
                        on_finished(run.folder)
                if status not in (0, 130) and not stop["signal"]:
                    announce(f"{self.label}: a training process ended with status {status}; going on with the next")
            if stop["signal"]:
                announce(f"{self.label}: stopped on {stop['signal']}; what was training saved its checkpoint in {out_dir} "
                         f"and resumes next time")
        return [outcomes[r.folder] for r in resolved]

    def _command(self, group: list, device: str, runs_at_once: int, remaining: float | None, folder: Path) -> list[str]:
        """The CLI command that trains `group` (resolved runs, handed over as their JSON): `train --configs`."""
        listed = folder / f"group-{group[0].folder.path.name}.json"
        listed.write_text(json.dumps([run.to_dict() for run in group]))
        command = ["-m", "resnet_lib", "train", "--configs", str(listed), "--resume", "--device", device, "--no-progress",
                   "--runs-at-once", str(runs_at_once)]
        if remaining is not None:
            command += ["--time-limit", f"{max(remaining - STOP_MARGIN_S, 1):.0f}"]
        return [sys.executable] + command


def _start(command: list[str], threads: int | None, stop: dict) -> subprocess.Popen:
    """Start a training process, with the fast allocator (fastpath.allocator_env) and on `threads` CPU threads if
    given (its share of the cores)."""
    env = allocator_env(dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})))
    child = subprocess.Popen(command, env=env)
    if stop["signal"] == "SIGTERM":  # it came while the process was being started
        child.send_signal(signal.SIGTERM)
    return child


def _wait_any(running: dict) -> tuple[subprocess.Popen, int]:
    """The first of the `running` processes to end, and its exit status."""
    while True:
        for child in running:
            status = child.poll()
            if status is not None:
                return child, status
        time.sleep(0.5)
