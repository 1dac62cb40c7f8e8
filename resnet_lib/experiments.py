"""What the notebooks call: reuse recorded runs, train what is missing, say what each result is.

    runs, missing = ensure_runs(configs, results="results", train_missing=True)

A configuration already recorded (finished) under `results` is reused as it is; an unfinished one
is resumed; a missing one is trained (after printing a time estimate on CPU) when `train_missing`,
else listed in `missing` with the exact command that produces it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .console import announce
from .data import DATA_DIR, locate
from .models import ConfigError, build_model
from .results import RESULTS_DIR, Run, find_run, load_runs
from .train import pick_device, train

SHARED_JPEG_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"
JPEG_COPY = DATA_DIR / "cifar10-jpeg"


def resolve_data(data: str) -> str:
    """The data source a notebook means by `data`. "auto": the official CIFAR-10 in data/ if there,
    else the JPEG copy in data/cifar10-jpeg (extracted from the shared archive when needed)."""
    if data != "auto":
        return data
    if (DATA_DIR / "cifar-10-batches-py").exists():
        return "cifar10"
    return str(JPEG_COPY)


def make_available(source: str) -> None:
    """Extract the shared JPEG archive into data/ if `source` is the JPEG copy and it is not there yet."""
    if Path(source) == JPEG_COPY and not JPEG_COPY.exists():
        if not SHARED_JPEG_ARCHIVE.exists():
            raise ConfigError(f"no data at {JPEG_COPY} and no archive at {SHARED_JPEG_ARCHIVE}; "
                              f"get CIFAR-10 with `python -m resnet_lib train ... --data cifar10 --download` (see data/README.md)")
        DATA_DIR.mkdir(exist_ok=True)
        subprocess.run(["tar", "xzf", str(SHARED_JPEG_ARCHIVE), "-C", str(DATA_DIR)], check=True)


def train_missing_default() -> bool:
    """Notebooks train missing runs unless RESNET_LIB_REPORT_ONLY=1 (set by the test suite and the report build)."""
    return os.environ.get("RESNET_LIB_REPORT_ONLY", "0") != "1"


def prepare(data: str, iterations, train_missing: bool | None) -> tuple[str, bool]:
    """Check a notebook's common parameters: (the data source meant by `data`, whether to train what is missing)."""
    if not (isinstance(iterations, int) and not isinstance(iterations, bool) and iterations >= 1):
        raise ConfigError(f"iterations must be a whole number >= 1, got {iterations!r}")
    return resolve_data(data), train_missing_default() if train_missing is None else bool(train_missing)


def train_command(config: TrainConfig, results: str | Path = RESULTS_DIR) -> str:
    """The CLI command that records `config` (device chosen automatically)."""
    defaults = TrainConfig(arch=config.arch)
    parts = ["python -m resnet_lib train", f"--arch {config.arch}", f"--data {shlex.quote(config.data)}"]
    if config.shortcut != defaults.shortcut:
        parts.append(f"--shortcut {config.shortcut}")
    flags = {"iterations": "--iterations", "seed": "--seed", "batch_size": "--batch-size", "lr": "--lr",
             "val_fraction": "--val-fraction", "eval_every": "--eval-every", "precision": "--precision"}
    parts += [f"{flag} {getattr(config, key)}" for key, flag in flags.items() if getattr(config, key) != getattr(defaults, key)]
    if config.milestones != defaults.milestones:
        parts.append("--milestones " + ",".join(map(str, config.milestones)))
    if config.warmup != defaults.warmup:
        parts.append("--warmup" if config.warmup else "--no-warmup")
    parts += [flag for key, flag in (("channels_last", "--channels-last"), ("compile", "--compile")) if getattr(config, key)]
    if Path(results) != RESULTS_DIR:
        parts.append(f"--out {shlex.quote(str(results))}")
    return " ".join(parts)


def estimate_seconds(config: TrainConfig, device: str = "auto", steps: int = 3) -> float:
    """Seconds for the whole run, extrapolated from timing `steps` training iterations on random data."""
    device = pick_device(device)
    model = build_model(config.arch, config.shortcut).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(config.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (config.batch_size,), device=device)
    timings = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    return min(timings[1:]) * config.iterations


def ensure_runs(configs: list[TrainConfig], results: str | Path = RESULTS_DIR, device: str = "auto",
                train_missing: bool = True) -> tuple[list[Run], list[TrainConfig]]:
    """(finished runs, configs still missing): reuse recorded runs, train or resume the others if asked."""
    found, missing = [], []
    for config in configs:
        run = find_run(config, results)
        if run is None and train_missing:
            make_available(config.data)
            if pick_device(device).type == "cpu":
                seconds = estimate_seconds(config, "cpu")
                duration = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{max(seconds / 60, 1):.0f} min"
                announce(f"training {config.arch} (seed {config.seed}, {config.iterations} iterations) on the CPU: "
                         f"about {duration} (from 3 timed iterations, evaluations not counted)")
            run = train(config, out_dir=results, device=device, resume=True)
        (found if run is not None else missing).append(run if run is not None else config)
    return found, missing


def recorded_runs(results: str | Path = RESULTS_DIR, **where) -> list[Run]:
    """Finished runs under `results` whose config matches `where` (a value or a list of values per field)."""
    table = load_runs(results)
    if table.empty:
        return []
    table = table[table["finished"]]
    for key, value in where.items():
        values = value if isinstance(value, (list, tuple, set)) else [value]
        table = table[table[key].isin(values)]
    return [Run(p) for p in table["path"]]


def shown_runs(configs: list[TrainConfig], found: list[Run], results: str | Path = RESULTS_DIR) -> list[Run]:
    """What a notebook shows: the requested runs if any are recorded, else every recorded run of the
    same architectures and data (other schedules, e.g. short CPU runs), which the titles then flag."""
    if found:
        return found
    return recorded_runs(results, arch=sorted({c.arch for c in configs}), data=sorted({c.data for c in configs}))


def check_source(source: str, needed: bool) -> None:
    """Fail early, with the fix, if `source` is needed for training and is not available."""
    if needed:
        make_available(source)
        locate(source)


def configs_for(archs: list[str], seeds: list[int], **settings) -> list[TrainConfig]:
    """One TrainConfig per (arch, seed), other fields from `settings`."""
    return [TrainConfig(**{**settings, "arch": arch, "seed": seed}) for arch in archs for seed in seeds]
