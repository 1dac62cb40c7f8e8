"""The trainer: the paper's CIFAR-10 recipe in one flat loop, on CPU, one GPU, or many via torchrun.

    run = train(TrainConfig(arch="resnet110", data="cifar10-jpeg"), device="cuda")

Every `eval_every` iterations: training loss and error over the iterations since the last
evaluation, test error of the current model (validation error every `val_every`; evaluated through a
copy with each BatchNorm folded into its convolution, `evaluation.FoldedModel`), a metrics.csv row
and an atomic checkpoint. The reported test error is the final model's. Interrupt it (Ctrl-C,
SIGTERM) and it saves a checkpoint first; `resume=True` continues the run exactly where it stopped
(bit-exact on CPU; see the README for CUDA). Each stretch of training is a "piece" of the run,
recorded with its hardware, commit and wall time.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from contextlib import ExitStack, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from . import fastpath
from ..config import TrainConfig
from ..console import announce, progress_stream
from ..data.pipeline import Pipeline
from ..errors import ConfigError
from ..models.analysis import count_macs, count_params, layer_responses
from ..models.resnet import build_model
from ..runs.checkpoint import FORMAT, atomic_save, load_checkpoint
from ..runs.results import Run
from .evaluation import FoldedModel, evaluate
from .processes import StopDecision, TrainingInterrupted, all_reduce, distributed, stop_on_signals
from .provenance import environment
from .runtime import ResolvedRun, make_autocast, make_model, make_optimizer, make_pipeline, pick_device, resolve_runs

class TrainingDiverged(Exception):
    """The training loss became NaN or infinite."""


def train_step(model, optimizer, x: torch.Tensor, y: torch.Tensor, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch under `autocast`; returns (mean loss, logits), both still on the device (no sync)."""
    with autocast:
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def estimate_seconds(config: TrainConfig, device: str = "auto", steps: int = 5, min_seconds: float = 2.0) -> float:
    """Seconds for the whole run, extrapolated from the median of eager training iterations on random data
    with the config's precision and layout: two untimed, then at least `steps` and `min_seconds` of timed
    ones (a median of several is stable where the fastest of three was not). Evaluations not counted;
    a compiled run is faster than this."""
    device = pick_device(device)
    config = fastpath.resolve(config, device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = build_model(config.spec, config.shortcut).to(device, memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(config.batch_size, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (config.batch_size,), device=device)
    autocast, timings = make_autocast(config, device), []
    while len(timings) < steps + 2 or sum(timings[2:]) < min_seconds:
        start = time.perf_counter()
        train_step(model, optimizer, x, y, autocast)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    return float(np.median(timings[2:])) * config.iterations


@dataclass
class TrainState:
    """Everything a checkpoint carries besides config, model and optimizer; saved and loaded whole.

    window: (3,) float64 on the device: training loss sum, errors and images since the last evaluation.
    warm_window: (2,) float64: errors and images in the current warm-up window.
    pieces: one dict per stretch of training (iterations, seconds, environment).
    """

    iteration: int = 0
    warming_up: bool = False
    warmup_end: int | None = None
    warmup_ended_by: str | None = None  # "threshold", or "first milestone" if the threshold was never reached
    window: torch.Tensor = field(default_factory=lambda: torch.zeros(3, dtype=torch.float64))
    warm_window: torch.Tensor = field(default_factory=lambda: torch.zeros(2, dtype=torch.float64))
    pieces: list = field(default_factory=list)

    @property
    def train_seconds(self) -> float:
        return sum(p["train_s"] for p in self.pieces)

    def to(self, device: torch.device) -> TrainState:
        return replace(self, window=self.window.to(device), warm_window=self.warm_window.to(device))


@dataclass(frozen=True)
class _Place:
    """Where a training loop runs: its device, this process's `rank` among the `world` processes of a
    torchrun job, and `runs_at_once`, the runs sharing the device meanwhile (recorded with each piece)."""

    device: torch.device
    rank: int = 0
    world: int = 1
    runs_at_once: int = 1


def train(config: TrainConfig | ResolvedRun, **options) -> Run:
    """Train one run into its folder and return the Run: `train_group([config], **options)[0]`, the same
    options. Under torchrun each process calls this with the same config (DistributedDataParallel)."""
    return train_group([config], **options)[0]


def train_group(runs: list[TrainConfig | ResolvedRun], out_dir: str | Path | None = None, device: str = "auto",
                resume: bool = False, stop_at: int | None = None, time_limit: float | None = None,
                progress: bool = True, stop_signals: tuple = (signal.SIGINT, signal.SIGTERM),
                runs_at_once: int | None = None) -> list[Run]:
    """Train `runs` together in one process, one iteration of each in turn, and return their folders in order.

    A TrainConfig is resolved here for the device (runtime.resolve_runs) into its folder under `out_dir`
    (default: results/, results/smoke/ for synthetic data); a ResolvedRun (a parent process's) is trained
    as it is. A finished run is returned as it is; an unfinished one is continued when `resume` (else
    ConfigError); a run another live process trains raises RunBusy. `stop_at` (an iteration) or
    `time_limit` (seconds) end this call early with checkpoints, leaving the runs resumable; each of
    `stop_signals` does too, then raises TrainingInterrupted (for the first run, after all have saved).
    `runs_at_once`: the runs sharing the device meanwhile, recorded with each piece (default: these).

    Each run stays its own run, as if trained alone: its seed, batch order and augmentation, its folder,
    lock, checkpoints and record, resumable alone or in another group. On CPU a run trained in a group
    equals the same run trained alone, bit for bit (tested). On CUDA each run's kernels go to a stream of
    its own, so that the GPU overlaps the many small kernels of small nets that one run alone leaves it
    waiting on. A data set is loaded once for all the runs that read it. A run that diverges stops alone;
    the others train on, and TrainingDiverged names it at the end. Under torchrun: one run per call.
    """
    deadline = None if time_limit is None else time.perf_counter() + time_limit  # start-up counts too
    with stop_on_signals(stop_signals) as signals, ExitStack() as held:  # a signal while loading stops at iteration 1
        place, loaded = _place(device, len(runs), runs_at_once), {}
        resolved = resolve_runs(runs, out_dir, place.device, loaded)
        should_stop = StopDecision(signals, stop_at, deadline, place.world, place.device)
        alone = len(resolved) == 1
        steppers = []
        for i, run in enumerate(resolved):
            if not run.folder.finished and run.folder not in [r.folder for r in resolved[:i]]:
                data = make_pipeline(run.config, place.device, place.rank, place.world, loaded)  # before its folder
                if place.rank == 0:
                    held.enter_context(run.folder.lock())
                stream = torch.cuda.Stream(place.device) if place.device.type == "cuda" and not alone else None
                steppers.append((_steps(run, place, data, resume, should_stop, progress=progress and alone), stream))
        bar = tqdm(total=len(steppers), desc=f"{len(steppers)} runs together", unit="run", file=progress_stream(),
                   disable=not progress or len(steppers) < 2)
        interrupted, diverged = [], []
        with bar:
            while steppers:
                for stepper in list(steppers):
                    steps, stream = stepper
                    try:
                        with torch.cuda.stream(stream) if stream is not None else nullcontext():
                            next(steps)
                    except StopIteration:
                        steppers.remove(stepper)
                        bar.update(1)
                    except TrainingInterrupted as stop:
                        steppers.remove(stepper)
                        interrupted.append(stop)
                    except TrainingDiverged as error:  # its last checkpoint stays; the others train on
                        steppers.remove(stepper)
                        diverged.append(error)
        if diverged:
            raise TrainingDiverged("; ".join(map(str, diverged)))
        if len(interrupted) == 1:
            raise interrupted[0]
        if interrupted:
            first = interrupted[0]
            raise TrainingInterrupted(f"{first.signal}: {len(interrupted)} runs checkpointed, e.g. {first}", first.signal,
                                      first.iteration, first.run_path)
    return [run.folder for run in resolved]


def _place(device: str, runs: int, runs_at_once: int | None) -> _Place:
    """This process's place: torchrun's rank and world (its process group joined), the device picked."""
    rank, world, local_rank = distributed()
    if world > 1 and runs > 1:
        raise ConfigError("under torchrun each process trains one run; train a group of runs in one process")
    device = pick_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return _Place(device, rank, world, runs_at_once or runs)


@dataclass
class _Training:
    """One run as its loop trains it: the resolved `run`, its `place`, its `data` pipeline, the model (`raw`
    as built, `model` as called: compiled and/or DDP-wrapped; `inference`, the folded copy evaluations
    run), the optimizer, the precision context and the TrainState."""

    run: ResolvedRun
    place: _Place
    data: Pipeline
    raw: torch.nn.Module
    model: torch.nn.Module
    inference: FoldedModel
    optimizer: torch.optim.Optimizer
    autocast: torch.autocast
    state: TrainState

    @classmethod
    def begin(cls, run: ResolvedRun, place: _Place, data: Pipeline, resume: bool) -> _Training:
        """The run built on its device, with its `data`, from its checkpoint (with `resume`) or from scratch,
        recorded as begun."""
        config, device = run.config, place.device
        if data.identity()["sha256"] != config.data_sha256:
            raise ConfigError(f"the data at {config.data} is not the data {run.folder.path.name} was resolved with "
                              f"(sha256 {config.data_sha256[:12]}…); it changed since: resolve the run again")
        raw, model = make_model(config, data.num_classes, device)
        inference = FoldedModel(raw, compile=config.compile)
        training = cls(run, place, data, raw, model, inference, make_optimizer(config, raw), make_autocast(config, device),
                       TrainState(warming_up=config.warmup).to(device))
        training._load_or_start(resume)
        return training

    def _load_or_start(self, resume: bool) -> None:
        """Continue from the run's checkpoint (with `resume`), or record a fresh start in its folder."""
        folder, config, first = self.run.folder, self.run.config, self.place.rank == 0
        if not folder.checkpoint_file.exists():
            if first:
                folder.start(config)
            return
        if not resume:
            raise ConfigError(f"{folder.path} holds an unfinished run of this experiment; pass --resume to continue "
                              f"it, or delete the folder to start over")
        saved = load_checkpoint(folder.checkpoint_file, map_location=self.place.device)
        if not TrainConfig.from_dict(saved["config"]).same_experiment(config):
            raise ConfigError(f"{folder.checkpoint_file} belongs to another experiment; delete the folder to start over")
        self.raw.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng_cpu"].cpu())  # loaded onto the device with the rest
        self.state = TrainState(**saved["state"]).to(self.place.device)
        if first:
            announce(f"resuming {folder.path.name} at iteration {self.state.iteration} of {config.iterations}")
            folder.truncate_metrics(self.state.iteration)
            folder.start(config, metrics=False)  # the execution settings of this piece

    def save_checkpoint(self) -> None:
        if self.place.rank == 0:
            state = self.state
            saved = asdict(replace(state, window=state.window.cpu(), warm_window=state.warm_window.cpu()))
            atomic_save({"format": FORMAT, "config": self.run.config.to_dict(), "state": saved,
                         "model": self.raw.state_dict(), "optimizer": self.optimizer.state_dict(),
                         "rng_cpu": torch.get_rng_state()}, self.run.folder.checkpoint_file)

    def evaluate_and_record(self, lr: float) -> dict:
        """Test (and, every val_every, validation) error of the current model; one metrics.csv row."""
        state, config = self.state, self.run.config
        loss_sum, error_sum, seen = all_reduce(state.window.clone()).tolist()
        state.window.zero_()
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(
                f"training loss became {loss_sum} between iterations {state.iteration - config.eval_interval} and "
                f"{state.iteration}; the last good checkpoint is in {self.run.folder.path}. Try a lower lr or warm-up "
                f"(--warmup)")
        final = state.iteration == config.iterations
        model = self.inference.refreshed()
        val_loss, val_error = evaluate(model, self.data.eval_batches("val"), self.autocast) \
            if final or state.iteration % config.val_interval == 0 else (math.nan, math.nan)
        test_loss, test_error = evaluate(model, self.data.eval_batches("test"), self.autocast)
        row = {"iteration": state.iteration, "lr": lr, "train_loss": loss_sum / seen, "train_error": 100 * error_sum / seen,
               "val_loss": val_loss, "val_error": val_error, "test_loss": test_loss, "test_error": test_error,
               "elapsed_s": round(state.train_seconds, 3)}
        if self.place.rank == 0:
            self.run.folder.append_metrics(row)
        return row

    def finish(self) -> None:
        """Write weights.pt and summary.json (final errors and provenance), then drop the checkpoint."""
        run, config, state, raw, data = self.run.folder, self.run.config, self.state, self.raw, self.data
        atomic_save(raw.state_dict(), run.weights_file)
        spec = config.spec
        responses = None if spec.kind == "preact-resnet" or spec.family != "cifar" else layer_responses(
            raw, (x for x, _ in data.eval_batches("test")))
        final = run.metrics().iloc[-1]
        images = config.batch_size * sum(p["end_iteration"] - p["start_iteration"] for p in state.pieces)
        run.finish({
            "final": {k: final[k] for k in ("train_error", "train_loss", "val_error", "val_loss", "test_error", "test_loss")},
            "full_schedule": config.full_schedule,
            "schedule": config.schedule,
            "iterations": config.iterations,
            "warmup_end": state.warmup_end,
            "warmup_ended_by": state.warmup_ended_by,
            "params": count_params(raw),
            "macs": count_macs(raw, data.input_size),
            "train_time_s": round(state.train_seconds, 1),  # training iterations (compilation included)
            "eval_time_s": round(sum(p["eval_s"] for p in state.pieces), 1),  # evaluations and checkpoints
            "wall_time_s": round(state.train_seconds + sum(p["eval_s"] for p in state.pieces), 1),
            "images_per_s": round(images / max(state.train_seconds, 1e-9), 1),
            "data": data.identity(),
            "seed": config.seed,
            "precision": config.precision,
            "environment": state.pieces[0],
            "pieces": state.pieces,
            "layer_responses": responses,
        })
        run.checkpoint_file.unlink(missing_ok=True)


def _steps(run: ResolvedRun, place: _Place, data: Pipeline, resume: bool, should_stop: StopDecision, progress: bool):
    """The training loop of one run, its folder held, as a generator that yields after each iteration:
    `train_group` drives one or several in turn. It returns when the run is finished or `should_stop`
    says so (stop_at, time limit), and raises TrainingInterrupted after checkpointing on a signal."""
    config, device = run.config, place.device
    if run.folder.finished:  # finished by the process that held the lock before us
        return
    warning = fastpath.slow_precision_warning(config, device)
    if warning and place.rank == 0:
        announce(warning)
    training = _Training.begin(run, place, data, resume)
    state = training.state
    piece = {"start_iteration": state.iteration, "end_iteration": state.iteration, "train_s": 0.0, "eval_s": 0.0,
             **environment(config, device, place.world, place.runs_at_once)}
    state.pieces.append(piece)

    bar = tqdm(total=config.iterations, initial=state.iteration, desc=run.folder.path.name, unit="it",
               disable=not progress or place.rank != 0, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30, file=progress_stream())
    clock = time.perf_counter()
    training.model.train()
    with bar:
        while state.iteration < config.iterations:
            reason = should_stop(state.iteration)
            if reason:
                piece["train_s"] += time.perf_counter() - clock
                training.save_checkpoint()
                if reason == "signal":
                    raise TrainingInterrupted(f"{should_stop.signal} at iteration {state.iteration}: checkpoint saved in "
                                              f"{run.folder.path}; continue with --resume (the same command resumes a "
                                              f"notebook)", should_stop.signal, state.iteration, run.folder.path)
                return

            lr = config.lr_at(state.iteration, state.warming_up)
            for group in training.optimizer.param_groups:
                group["lr"] = lr
            x, y = training.data.batch(state.iteration)
            loss, logits = train_step(training.model, training.optimizer, x, y, training.autocast)
            state.iteration += 1
            piece["end_iteration"] = state.iteration
            _accumulate(state, config, loss, logits, y)
            bar.update(1)
            if state.iteration == piece["start_iteration"] + 1:
                _restart_clock(bar, state.iteration)  # the first step compiled: its minutes would spoil the ETA

            if state.iteration % config.eval_interval == 0 or state.iteration == config.iterations:
                piece["train_s"] += time.perf_counter() - clock
                clock = time.perf_counter()
                row = training.evaluate_and_record(lr)
                piece["eval_s"] += time.perf_counter() - clock
                bar.set_postfix(lr=lr, train_err=f"{row['train_error']:.2f}%", test_err=f"{row['test_error']:.2f}%",
                                img_s=f"{config.batch_size * (state.iteration - piece['start_iteration']) / max(piece['train_s'], 1e-9):.0f}",
                                refresh=False)
                if state.iteration < config.iterations:
                    training.save_checkpoint()
                clock = time.perf_counter()
            yield
    if place.rank == 0:
        training.finish()


def _restart_clock(bar: tqdm, at: int) -> None:
    """Measure the bar's rate and ETA from now on, `at` iterations done (tqdm's reset, keeping the count)."""
    if bar.disable:
        return
    bar.reset()
    bar.n = bar.last_print_n = bar.initial = at
    bar.refresh()


def _accumulate(state: TrainState, config: TrainConfig, loss, logits, y) -> None:
    """Add a batch to the metric windows (on the device, no sync) and end the warm-up when it is due."""
    errors = (logits.detach().argmax(1) != y).sum()
    state.window += torch.stack([loss.detach().double() * len(y), errors.double(),
                                 torch.tensor(len(y), dtype=torch.float64, device=y.device)])
    if not state.warming_up:
        return
    state.warm_window += torch.stack([errors.double(), torch.tensor(len(y), dtype=torch.float64, device=y.device)])
    if state.iteration % config.warmup_window == 0:
        warm_errors, warm_images = all_reduce(state.warm_window.clone()).tolist()
        state.warm_window.zero_()
        if 100 * warm_errors / warm_images < config.warmup_until_error:
            state.warming_up, state.warmup_end, state.warmup_ended_by = False, state.iteration, "threshold"
    if state.warming_up and config.milestones and state.iteration >= config.milestones[0]:
        state.warming_up, state.warmup_end, state.warmup_ended_by = False, state.iteration, "first milestone"
