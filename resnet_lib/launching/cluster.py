"""Sweeps on a Slurm cluster through submitit (`SlurmExecutor`, a launch.Executor): one job of a job
array per run, requeued when Slurm warns of its time limit or preemption, and resumed exactly.

    python -m resnet_lib sweep --archs resnet20,resnet56 --seeds 0,1,2 --data cifar10-jpeg --executor slurm \\
        --partition gpu --time 240 --gpus-per-run 1 --wait

The results folder and the data must be on a file system that every node sees (a shared home or
project folder): jobs write their run folders there and read the data from there. Runs already
recorded are not submitted, nor are runs another process is training (their folder is locked).

A job is told of its end by SIGUSR2 (`--signal-delay` seconds before the time limit, or on
preemption) or SIGTERM (`scontrol requeue`). Either way the trainer finishes its iteration and saves
a checkpoint; on SIGUSR2 the job is requeued through submitit, on SIGTERM Slurm requeues it itself.
An interrupted attempt leaves no result behind, so a waiting `--wait` sees only the finished run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import TrainConfig
from ..data.sources import identify_each, locate
from ..errors import ConfigError
from ..runs.results import RunBusy, find_run
from ..training.runtime import ResolvedRun
from .launch import Outcome


class TrainJob:
    """One run as a Slurm job (a submitit Checkpointable, see `checkpoint`)."""

    def __call__(self, config: dict, out: str) -> str:
        import submitit

        from ..training.processes import TrainingInterrupted
        from ..training.train import train

        env = submitit.JobEnvironment()
        if os.environ.get("SLURM_CPUS_PER_TASK"):  # the cores Slurm gave this task, not all the node's
            import torch

            torch.set_num_threads(int(os.environ["SLURM_CPUS_PER_TASK"]))
        if env.num_tasks > 1:  # one run on several processes: what torchrun would set, from Slurm's variables
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        requeue = signal.getsignal(signal.SIGUSR2)  # submitit's checkpoint-and-requeue handler
        try:
            run = train(TrainConfig.from_dict(config), out_dir=out, device="auto", resume=True, progress=False,
                        stop_signals=(signal.SIGINT, signal.SIGTERM, signal.SIGUSR2))
        except TrainingInterrupted as stop:
            if env.global_rank == 0 and stop.signal == "SIGUSR2" and callable(requeue):
                requeue(signal.SIGUSR2, None)  # calls checkpoint() below, requeues the job, exits without a result
            raise SystemExit(-1) from None  # SIGTERM: Slurm requeues the job itself; leave no result behind
        return str(run.path)

    def checkpoint(self, config: dict, out: str):
        """What the requeued job runs: the same run, which resumes from the checkpoint just saved."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, config, out)


@dataclass
class SlurmOptions:
    partition: str | None = None
    time_min: int = 60  # per job
    cpus_per_run: int = 2
    gpus_per_run: int = 0
    tasks_per_run: int | None = None  # processes of one run (default: one per GPU, else 1)
    nodes: int = 1
    signal_delay_s: int = 120


def submit(configs: list[TrainConfig], out: str | Path, options: SlurmOptions, announce=print) -> list:
    """Submit the configs not yet recorded nor being trained as one job array; returns the submitit jobs."""
    import submitit

    if shutil.which("sbatch") is None:
        raise ConfigError("no Slurm on this machine (sbatch not found); use --executor local, or run on a Slurm "
                          "cluster's login node")
    locate(configs[0].data)  # the data must be where every node looks for it
    out = Path(out).resolve()
    todo = []
    for config in configs:
        if find_run(config, out) is not None:
            announce(f"recorded, not submitted: {config.arch} seed {config.seed}")
            continue
        unfinished = find_run(config, out, finished=False)
        if unfinished is not None:
            try:
                with unfinished.lock():
                    pass
            except RunBusy:
                announce(f"being trained, not submitted: {unfinished.path}")
                continue
        todo.append(config)
    if not todo:
        return []
    tasks = options.tasks_per_run or max(1, options.gpus_per_run)
    executor = submitit.AutoExecutor(folder=out / "slurm" / "%j", cluster="slurm")
    executor.update_parameters(
        slurm_partition=options.partition, timeout_min=options.time_min, cpus_per_task=max(1, options.cpus_per_run // tasks),
        tasks_per_node=max(1, tasks // options.nodes), nodes=options.nodes, slurm_signal_delay_s=options.signal_delay_s,
        slurm_additional_parameters={"requeue": True},
        **({"gpus_per_node": options.gpus_per_run // options.nodes} if options.gpus_per_run else {}))
    with tempfile.TemporaryFile("w+") as sbatch_errors:
        saved = os.dup(2)
        os.dup2(sbatch_errors.fileno(), 2)  # sbatch's own complaints become part of our one line
        try:
            jobs = executor.map_array(TrainJob(), [c.to_dict() for c in todo], [str(out)] * len(todo))
        except Exception as error:  # sbatch failed: submitit raises CalledProcessError or its own error
            sbatch_errors.seek(0)
            lines = (sbatch_errors.read() or str(error)).strip().splitlines()
            raise ConfigError(f"sbatch refused the jobs: {lines[0] if lines else error}") from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    for config, job in zip(todo, jobs):
        announce(f"submitted {config.arch} seed {config.seed}: job {job.job_id}, log {job.paths.stderr}")
    announce(f"watch them with: squeue -j {jobs[0].job_id.split('_')[0]}; rerun this command to resubmit what failed")
    return jobs


def wait(jobs: list, configs: list[TrainConfig], progress: bool = True) -> list[tuple[TrainConfig, str]]:
    """Wait for `jobs` with a progress bar over finished runs; returns (config, log) of those that failed.

    A job is over when it has left a result, or has left Slurm's queue without one (killed, or on a
    cluster whose accounting does not tell submitit); a requeued job stays in the queue.
    """
    import logging

    from tqdm import tqdm

    from ..console import progress_stream

    logging.getLogger("submitit").setLevel(logging.ERROR)  # clusters without accounting make sacct fail at every poll
    failed, pending, gone = [], dict(zip(jobs, configs)), {}
    with tqdm(total=len(jobs), unit="run", disable=not progress, file=progress_stream()) as bar:
        while pending:
            queued = set(subprocess.run(["squeue", "-h", "-o", "%i", "-r"], capture_output=True, text=True).stdout.split())
            for job in list(pending):
                if not job.paths.result_pickle.exists():
                    gone[job] = gone.get(job, 0) + 1 if job.job_id not in queued else 0
                    if gone[job] < 5:  # a few polls out of the queue: not a requeue in flight
                        continue
                config = pending.pop(job)
                if not job.paths.result_pickle.exists() or job.exception() is not None:
                    failed.append((config, str(job.paths.stderr)))
                bar.update(1)
            time.sleep(1)
    return failed


class SlurmExecutor:
    """A launch.Executor on a Slurm cluster: the runs not yet recorded nor being trained as one job array
    (`submit`), and, with `wait`, a progress bar until they end (`wait`). Each job resolves its run on its
    own node (precision, layout: the login node's hardware is not the job's); a job's time is
    `options.time_min`, after which it is checkpointed and requeued, so `time_limit` is not used here."""

    def __init__(self, options: SlurmOptions, wait: bool = False, announce=print):
        self.options, self.wait, self.announce = options, wait, announce
        self.failed: list[tuple[TrainConfig, str]] = []  # (config, log) of the jobs that failed, after a wait

    @staticmethod
    def add_options(group, positive_int) -> None:
        group.description = "results and data on a file system every node sees"
        group.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
        group.add_argument("--time", type=positive_int, default=60, help="minutes per job; a run longer than that is "
                           "checkpointed and requeued (default 60)")
        group.add_argument("--cpus-per-run", type=positive_int, default=2, help="CPU cores per run (default 2)")
        group.add_argument("--gpus-per-run", type=int, default=0, help="GPUs per run; above 1, one process per GPU (DDP)")
        group.add_argument("--tasks-per-run", type=positive_int, help="processes per run (default: one per GPU, else 1)")
        group.add_argument("--nodes", type=positive_int, default=1, help="nodes per run (default 1)")
        group.add_argument("--wait", action="store_true", help="wait for the jobs, with a progress bar; exit 1 if any failed")

    @classmethod
    def from_args(cls, args) -> SlurmExecutor:
        return cls(SlurmOptions(args.partition, args.time, args.cpus_per_run, args.gpus_per_run, args.tasks_per_run,
                                args.nodes), wait=args.wait)

    def report(self, outcomes: list[Outcome]) -> int:
        for config, log in self.failed:
            print(f"failed: {config.arch} seed {config.seed}; log {log}", file=sys.stderr)
        return 1 if self.failed else 0

    def run(self, configs: list[TrainConfig], out_dir: str | Path, time_limit: float | None = None,
            on_finished=None) -> list[Outcome]:
        configs = [c.config if isinstance(c, ResolvedRun) else c for c in configs]  # resolved again for the node's device
        identities = identify_each(c.data for c in configs)
        configs = [replace(c, data_sha256=c.data_sha256 or identities[c.data][1]) for c in configs]  # checked again on the node
        recorded = [find_run(config, out_dir) is not None for config in configs]
        jobs = submit(configs, out_dir, self.options, self.announce)
        if self.wait and jobs:
            self.failed = wait(jobs, [TrainConfig.from_dict(j.submission().args[0]) for j in jobs])
        outcomes = []
        for config, before in zip(configs, recorded):
            run = find_run(config, out_dir, finished=False)
            outcomes.append(Outcome(config, run, run is not None and run.finished))
            if run is not None and run.finished and not before and on_finished is not None:
                on_finished(run)
        return outcomes
