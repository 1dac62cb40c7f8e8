"""The trainer: the paper's CIFAR-10 recipe in one flat loop, on CPU, one GPU, or many via torchrun.

    run = train(TrainConfig(arch="resnet110", data="data/cifar10-jpeg"), device="cuda")

Every `eval_every` iterations: training loss and error over the iterations since the last
evaluation, validation and test error of the current model, a metrics.csv row and an atomic
checkpoint. The reported test error is the final model's. Interrupt it (Ctrl-C, SIGTERM) and it
saves a checkpoint first; `resume=True` continues the run exactly where it stopped.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from .analysis import count_macs, count_params, layer_responses
from .checkpoint import FORMAT, CheckpointError, atomic_save, load_checkpoint, load_weights
from .config import TrainConfig
from .console import progress_stream
from .data import CifarPipeline, load_dataset
from .imagenet import ImageFolderPipeline
from .models import ConfigError, build_model, parse_arch
from .results import RESULTS_DIR, Run


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint."""


class TrainingDiverged(Exception):
    """The training loss became NaN or infinite."""


def pick_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto")
        return torch.device("cuda", local_rank)
    if device != "cpu":
        raise ConfigError(f"unknown device {device!r}; valid: auto, cpu, cuda")
    return torch.device("cpu")


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank): from torchrun's environment, or (0, 1, 0) for one process."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return t


@torch.no_grad()
def evaluate(model, batches, autocast=nullcontext) -> tuple[float, float]:
    """(loss in nats, error in %) of `model` in eval mode over `batches` of (x, labels), summed over processes.

    x is (B, 3, H, W), or (B, crops, 3, H, W) for multi-crop testing: softmax averaged over the crops.
    """
    was_training = model.training
    model.eval()
    sums = None  # loss, errors, count
    for x, y in batches:
        with autocast():
            logits = model(x.flatten(0, 1) if x.dim() == 5 else x).float()
        if x.dim() == 5:
            log_probs = logits.softmax(-1).view(x.shape[0], x.shape[1], -1).mean(1).clamp_min(1e-12).log()
        else:
            log_probs = logits.log_softmax(-1)
        batch = torch.stack([F.nll_loss(log_probs, y, reduction="sum").double(), (log_probs.argmax(1) != y).sum().double(),
                             torch.tensor(len(y), dtype=torch.float64, device=y.device)])
        sums = batch if sums is None else sums + batch
    model.train(was_training)
    if sums is None:
        sums = torch.zeros(3, dtype=torch.float64, device=next(model.parameters()).device)
    loss, errors, count = _all_reduce(sums).tolist()
    return (loss / count, 100 * errors / count) if count else (math.nan, math.nan)


def train_step(model, optimizer, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch; returns (mean loss, logits), both still on the device (no sync)."""
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def make_model(config: TrainConfig, num_classes: int, device: torch.device):
    """(the model, the model to call: compiled and/or DDP-wrapped as the config and launch ask)."""
    torch.manual_seed(config.seed)
    raw_model = build_model(config.arch, config.shortcut, num_classes=num_classes).to(device)
    raw_model = raw_model.to(memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
    model = raw_model
    if dist.is_available() and dist.is_initialized():
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        model = torch.compile(model)
    return raw_model, model


def make_optimizer(config: TrainConfig, model) -> torch.optim.SGD:
    fused = next(model.parameters()).is_cuda and "fused" in inspect.signature(torch.optim.SGD).parameters  # torch >= 2.4
    fast = {"fused": True} if fused else {}
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, **fast)


def make_pipeline(config: TrainConfig, device: torch.device, rank: int = 0, world: int = 1):
    """The data pipeline of `config`: CIFAR in device memory, or an ImageNet-style ImageFolder tree."""
    if parse_arch(config.arch).family == "imagenet":
        return ImageFolderPipeline(config.data, config.batch_size, config.seed, config.val_fraction, config.split_seed,
                                   device, rank, world)
    return CifarPipeline(load_dataset(config.data), config.batch_size, config.seed, config.val_fraction,
                         config.split_seed, device, rank, world)


@contextmanager
def _stop_on_signals():
    """Turn the first SIGINT/SIGTERM into a flag the loop checks once per iteration (it then saves a
    checkpoint and stops); a second one aborts at once. Main thread only."""
    flag = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(number, _frame):
        if flag["signal"]:
            raise KeyboardInterrupt(f"second {signal.Signals(number).name}: stopped without saving")
        flag["signal"] = signal.Signals(number).name

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def train(config: TrainConfig, out_dir: str | Path = RESULTS_DIR, device: str = "auto", resume: bool = False,
          stop_at: int | None = None, time_limit: float | None = None, progress: bool = True) -> Run:
    """Train `config` into its run folder under `out_dir` and return the Run.

    A finished run of the same config is returned as it is. An unfinished one is continued when
    `resume` (else ConfigError). `stop_at` (an iteration) or `time_limit` (seconds) end this call
    early with a checkpoint, leaving the run unfinished and resumable.
    """
    rank, world, local_rank = _distributed()
    device = pick_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    run = Run.for_config(config, out_dir)
    if run.finished:
        return run
    env = environment(device, world)  # taken now: the code that trains is the code at the start
    resuming = run.checkpoint_file.exists()
    if resuming and not resume:
        raise ConfigError(f"{run.path} holds an unfinished run of this config; pass --resume to continue it, "
                          f"or delete the folder to start over")
    spec = parse_arch(config.arch)
    data = make_pipeline(config, device, rank, world)

    # Model and optimizer.
    raw_model, model = make_model(config, data.num_classes, device)
    optimizer = make_optimizer(config, raw_model)
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")  # noqa: E731

    # State that a checkpoint carries besides model and optimizer.
    start, elapsed, warming_up, warmup_end = 0, 0.0, config.warmup, None
    window = torch.zeros(3, device=device, dtype=torch.float64)  # loss sum, errors, images since last evaluation
    warm_window = torch.zeros(2, device=device, dtype=torch.float64)  # errors, images in the warm-up window
    if resuming:
        state = load_checkpoint(run.checkpoint_file, map_location=device)
        if TrainConfig.from_dict(state["config"]) != config:
            raise ConfigError(f"{run.checkpoint_file} belongs to another config; delete the folder to start over")
        raw_model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, elapsed = state["iteration"], state["elapsed_s"]
        warming_up, warmup_end = state["warming_up"], state["warmup_end"]
        window.copy_(state["window"]), warm_window.copy_(state["warm_window"])
        torch.set_rng_state(state["rng_cpu"])
        if rank == 0:
            run.truncate_metrics(start)
    elif rank == 0:
        run.start(config)

    def save_checkpoint(iteration: int, elapsed_s: float) -> None:
        if rank == 0:
            atomic_save({
                "format": FORMAT, "config": config.to_dict(), "iteration": iteration, "elapsed_s": elapsed_s,
                "model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                "warming_up": warming_up, "warmup_end": warmup_end,
                "window": window.cpu(), "warm_window": warm_window.cpu(), "rng_cpu": torch.get_rng_state(),
            }, run.checkpoint_file)

    bar = tqdm(total=config.iterations, initial=start, desc=run.path.name, disable=not progress or rank != 0,
               unit="it", dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30, file=progress_stream())
    session_start, session_images, eval_seconds = time.perf_counter(), 0, 0.0
    iteration = start
    model.train()
    with _stop_on_signals() as stop:
        while iteration < config.iterations:
            if stop["signal"] or (stop_at is not None and iteration >= stop_at) or (
                time_limit is not None and time.perf_counter() - session_start > time_limit
            ):
                save_checkpoint(iteration, elapsed + time.perf_counter() - session_start - eval_seconds)
                bar.close()
                if stop["signal"]:
                    raise TrainingInterrupted(f"{stop['signal']} at iteration {iteration}: checkpoint saved in "
                                              f"{run.path}; continue with --resume")
                return run

            lr = config.lr_at(iteration, warming_up)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = data.batch(iteration)
            loss, logits = train_step(model, optimizer, x, y, config)
            iteration += 1
            session_images += config.batch_size

            # Metrics accumulate on the device; they are read only at evaluations and warm-up checks.
            errors = (logits.detach().argmax(1) != y).sum()
            window[0] += loss.detach().double() * len(y)
            window[1] += errors
            window[2] += len(y)
            if warming_up:
                warm_window[0] += errors
                warm_window[1] += len(y)
                if iteration % config.warmup_window == 0:
                    warm_errors, warm_images = _all_reduce(warm_window.clone()).tolist()
                    warm_window.zero_()
                    if 100 * warm_errors / warm_images < config.warmup_until_error:
                        warming_up, warmup_end = False, iteration
            bar.update(1)

            if iteration % config.eval_every == 0 or iteration == config.iterations:
                eval_start = time.perf_counter()
                loss_sum, error_sum, seen = _all_reduce(window.clone()).tolist()
                window.zero_()
                if not math.isfinite(loss_sum):
                    bar.close()
                    raise TrainingDiverged(
                        f"training loss became {loss_sum} between iterations {iteration - config.eval_every} and "
                        f"{iteration}; the last good checkpoint is in {run.path}. Try a lower lr or warm-up (warmup=True)")
                val_loss, val_error = evaluate(model, data.eval_batches("val"), autocast)
                test_loss, test_error = evaluate(model, data.eval_batches("test"), autocast)
                eval_seconds += time.perf_counter() - eval_start
                wall = elapsed + time.perf_counter() - session_start - eval_seconds
                row = {"iteration": iteration, "lr": lr, "train_loss": loss_sum / seen, "train_error": 100 * error_sum / seen,
                       "val_loss": val_loss, "val_error": val_error, "test_loss": test_loss, "test_error": test_error,
                       "elapsed_s": round(wall, 3)}
                if rank == 0:
                    run.append_metrics(row)
                images_per_s = session_images / max(time.perf_counter() - session_start - eval_seconds, 1e-9)
                bar.set_postfix(lr=lr, train_err=f"{row['train_error']:.2f}%", val_err=f"{val_error:.2f}%",
                                img_s=f"{images_per_s:.0f}", refresh=False)
                if iteration < config.iterations:
                    save_checkpoint(iteration, wall)
    bar.close()

    train_seconds = time.perf_counter() - session_start - eval_seconds
    elapsed += train_seconds
    if rank == 0:
        atomic_save(raw_model.state_dict(), run.weights_file)
        responses = None if spec.kind == "preact-resnet" or spec.family != "cifar" else layer_responses(
            raw_model, (x for x, _ in data.eval_batches("test")))
        final = run.metrics().iloc[-1]
        run.finish({
            "final": {"train_error": final["train_error"], "train_loss": final["train_loss"], "val_error": final["val_error"],
                      "test_error": final["test_error"], "test_loss": final["test_loss"]},
            "full_schedule": config.full_schedule,
            "iterations": config.iterations,
            "warmup_end": warmup_end,
            "params": count_params(raw_model),
            "macs": count_macs(raw_model, data.input_size),
            "wall_time_s": round(elapsed, 1),
            "images_per_s": round(session_images / max(train_seconds, 1e-9), 1),
            "data": data.identity(),
            "seed": config.seed,
            "environment": env,
            "layer_responses": responses,
        })
        run.checkpoint_file.unlink(missing_ok=True)
    return run


def environment(device: torch.device, world: int = 1) -> dict:
    """Hardware and software a run used, and the code's commit."""
    if device.type == "cuda":
        hardware = f"{world}x {torch.cuda.get_device_name(device)}"
    else:
        hardware = f"{world}x CPU {_cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return {
        "hardware": hardware,
        "device": device.type,
        "processes": world,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The code's commit (RESNET_LIB_COMMIT overrides, for copies without .git), '+dirty' if modified."""
    if os.environ.get("RESNET_LIB_COMMIT"):
        return os.environ["RESNET_LIB_COMMIT"]
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def evaluate_file(path: str | Path, data: str | None = None, device: str = "auto") -> dict:
    """Validation and test error of a checkpoint.pt, or of a weights.pt with its run's config.json beside it."""
    path = Path(path)
    try:
        config = TrainConfig.from_dict(load_checkpoint(path)["config"])
    except CheckpointError:
        config_file = path.parent / "config.json"
        if not config_file.exists():
            raise
        config = TrainConfig.from_dict(json.loads(config_file.read_text()))
    weights = load_weights(path)
    device = pick_device(device)
    if data:
        config = replace(config, data=data)
    pipeline = make_pipeline(config, device)
    model = build_model(config.arch, config.shortcut, num_classes=pipeline.num_classes).to(device)
    model.load_state_dict(weights)
    val_loss, val_error = evaluate(model, pipeline.eval_batches("val"))
    test_loss, test_error = evaluate(model, pipeline.eval_batches("test"))
    identity = pipeline.identity()
    return {"arch": config.arch, "shortcut": config.shortcut, "data": identity["name"], "data_sha256": identity["sha256"],
            "val_error": val_error, "val_loss": val_loss, "test_error": test_error, "test_loss": test_loss}
