"""Recorded runs: one folder per run under `results/`, found again by configuration.

A run folder is named by readable fields and the run key (config.py), e.g.
resnet20-A-cifar10-jpeg-full-fp32-seed0-1a2b3c4d, and found again by the key alone. It holds
- config.json: the TrainConfig (data_sha256 and precision filled in);
- metrics.csv: one row per evaluation (METRIC_COLUMNS; errors in percent, losses in nats);
- checkpoint.pt: the latest training checkpoint (git-ignored; lets an unfinished run resume);
- summary.json: written when the run finishes (final errors, provenance; see train.py);
- weights.pt: the final weights alone, a plain state_dict (git-ignored);
- lock: held (a POSIX lock) by the one live process that trains the run; a killed holder releases it.
A folder without summary.json is unfinished.
"""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import re
import socket
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from ..config import PAPER_VAL_FRACTION, SCHEDULES, TrainConfig
from ..data.sources import identify, recorded
from ..models.resnet import parse_arch, resolve_shortcut
from .checkpoint import write_error

RESULTS_DIR = Path("results")
SMOKE_DIR = RESULTS_DIR / "smoke"  # runs on synthetic data: tries, never part of the record (git-ignored)
METRIC_COLUMNS = ["iteration", "lr", "train_loss", "train_error", "val_loss", "val_error",
                  "test_loss", "test_error", "elapsed_s"]


class RunBusy(Exception):
    """Another live process is training this run."""


class RecordError(ValueError):
    """A run's record (config.json or summary.json) that cannot be read: cut short, not JSON, or not a run's.
    The message names the file, what is wrong and what to do, in one line."""


_REPORTED: set[Path] = set()  # damaged records already named in this process (each is said once)


def _read_record(path: Path) -> dict:
    """The JSON object in `path`, or RecordError naming the file, what is wrong and the fix."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        what = f"not valid JSON ({error.msg}: line {error.lineno}, column {error.colno}; cut short?)" \
            if isinstance(error, json.JSONDecodeError) else f"unreadable ({error})"
        raise RecordError(f"{path} is {what}; copy the run folder again from where it was trained, or move the folder "
                          f"out of {path.parent.parent} to train the run again") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path} holds a JSON {type(record).__name__}, not a run's record; copy the run folder again "
                          f"from where it was trained, or move the folder out of {path.parent.parent}")
    return record


def run_name(config: TrainConfig, data_name: str) -> str:
    """Folder name: readable fields, then the run key, e.g. resnet20-A-cifar10-jpeg-1-8-bf16-seed0-1a2b3c4d;
    a run that holds out no validation images says "alltrain" after its schedule, another split its share."""
    schedule = config.schedule if config.schedule in SCHEDULES else f"{config.iterations}it"
    split = {PAPER_VAL_FRACTION: "", 0: "-alltrain"}.get(config.val_fraction, f"-val{config.val_fraction:g}")
    label = re.sub(r"[^A-Za-z0-9]+", "-", f"{config.arch}-{config.shortcut or 'none'}-{data_name}-{schedule}{split}-"
                                            f"{config.precision}-seed{config.seed}").strip("-")
    return f"{label}-{config.key}"


class Run:
    """A run folder. `Run.for_config(config, root, data_name)` finds or names it; `Run(path)` opens one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._config: TrainConfig | None = None  # config.json and summary.json, each read once (`config`, `summary`)
        self._summary: dict | None = None

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    @classmethod
    def for_config(cls, config: TrainConfig, root: str | Path = RESULTS_DIR, data_name: str = "data") -> Run:
        """The folder of `config`'s run key under `root`: an existing one whatever its readable prefix, else a new name."""
        existing = sorted(Path(root).glob(f"*-{config.key}"))
        return cls(existing[0] if existing else Path(root) / run_name(config, data_name))

    config_file = property(lambda self: self.path / "config.json")
    metrics_file = property(lambda self: self.path / "metrics.csv")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    summary_file = property(lambda self: self.path / "summary.json")
    weights_file = property(lambda self: self.path / "weights.pt")

    @property
    def finished(self) -> bool:
        return self.summary_file.exists()

    def config(self) -> TrainConfig:
        """The run's settings, read from config.json on first use; `start` writes new ones."""
        if self._config is None:
            record = _read_record(self.config_file)
            try:
                self._config = TrainConfig.from_dict(record)
            except (TypeError, ValueError) as error:
                raise RecordError(f"{self.config_file} is not a run configuration this version reads ({error}); copy the "
                                  f"run folder again from where it was trained, or move it out of {self.path.parent}") from None
        return self._config

    def summary(self) -> dict:
        """The finished run's summary (read-only), read from summary.json on first use; `finish` writes it."""
        if self._summary is None:
            summary = _read_record(self.summary_file)
            missing = [key for key in ("final", "data") if not isinstance(summary.get(key), dict)]
            if missing:
                raise RecordError(f"{self.summary_file} lacks {' and '.join(missing)}: not a finished run's summary; copy "
                                  f"the run folder again from where it was trained, or move it out of {self.path.parent}")
            self._summary = summary
        return self._summary

    def damage(self) -> str | None:
        """What is wrong with this run's record (config.json, and summary.json if finished), or None if it reads."""
        try:
            self.config()
            if self.finished:
                self.summary()
        except RecordError as error:
            return str(error)
        return None

    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.metrics_file) if self.metrics_file.exists() else pd.DataFrame(columns=METRIC_COLUMNS)

    def start(self, config: TrainConfig, metrics: bool = True) -> None:
        """Write config.json (and a fresh metrics.csv, unless continuing a run's)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.config_file, config.to_dict())
        self._config = None
        if metrics:
            with open(self.metrics_file, "w", newline="") as f:
                csv.writer(f).writerow(METRIC_COLUMNS)

    def append_metrics(self, row: dict) -> None:
        """One metrics.csv row (METRIC_COLUMNS), and the same scalars as TensorBoard events in tensorboard/."""
        try:
            with open(self.metrics_file, "a", newline="") as f:
                csv.writer(f).writerow(["" if row[c] != row[c] else row[c] for c in METRIC_COLUMNS])  # NaN: empty, as pandas writes it
        except OSError as error:
            raise write_error(self.metrics_file, error) from None
        self._write_events(row)

    def _write_events(self, row: dict) -> None:
        """`tensorboard --logdir results/` shows every run's curves while it trains: errors, losses and lr at
        each evaluation (tensorboard's own writer, where the package is installed; metrics.csv is the record)."""
        if not hasattr(self, "_board"):
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard not installed: metrics.csv alone
                self._board = None
            else:  # purge_step: events after the checkpoint a resumed run starts from are dropped, as its csv rows
                self._board = SummaryWriter(str(self.path / "tensorboard"), purge_step=int(row["iteration"]))
        if self._board is None:
            return
        for column, tag in (("train_error", "error/train"), ("test_error", "error/test"), ("val_error", "error/val"),
                            ("train_loss", "loss/train"), ("test_loss", "loss/test"), ("val_loss", "loss/val"), ("lr", "lr")):
            if row[column] == row[column]:  # not NaN (validation is evaluated every val_every)
                self._board.add_scalar(tag, row[column], int(row["iteration"]))
        self._board.flush()

    def truncate_metrics(self, iteration: int) -> None:
        """Drop rows after `iteration` (written after the checkpoint a resumed run starts from)."""
        kept = self.metrics()
        kept = kept[kept["iteration"] <= iteration]
        kept.to_csv(self.metrics_file, index=False)

    def finish(self, summary: dict) -> None:
        write_json(self.summary_file, summary)
        self._summary = None
        if getattr(self, "_board", None) is not None:
            self._board.close()

    @contextmanager
    def lock(self):
        """Hold this run for the calling process; RunBusy names the holder if another live process has it."""
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / "lock", "a+")
        try:  # a POSIX lock: released when this process ends, and not inherited by forked data workers
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunBusy(f"{self.path} is being trained by {holder}; wait for it to finish or stop it "
                          f"(Ctrl-C or kill: it checkpoints), then rerun") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv)[:200]})\n")
            handle.flush()
            yield self
        finally:
            handle.close()  # releases the lock


def write_json(path: Path, obj) -> None:
    """Write `obj` as standard JSON atomically, a NaN or infinity as null (a run without validation images has
    no validation error); RecordWriteError (and no temporary file) if it cannot be written."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(_finite(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise write_error(path, error) from None
    tmp.replace(path)


def _finite(obj):
    """`obj` with every non-finite float (NaN, infinity) replaced by None, in dicts, lists and tuples at any depth."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


def results_root(source: str) -> Path:
    """Where runs on `source` are recorded unless told otherwise: results/, or results/smoke/ for synthetic data."""
    return RESULTS_DIR if recorded(source) else SMOKE_DIR


def find_run(config: TrainConfig, root: str | Path = RESULTS_DIR, finished: bool = True) -> Run | None:
    """The recorded run of this experiment (finished ones only unless finished=False), or None.

    `config` may leave its data identity to be looked up (data.identify) and its precision "auto":
    then a recorded fp32 run is preferred, a bf16 one taken otherwise.
    """
    if config.data_sha256 is None:
        config = replace(config, data_sha256=identify(config.data)[1])
    for precision in (["fp32", "bf16"] if config.precision == "auto" else [config.precision]):
        candidate = replace(config, precision=precision)
        for path in sorted(Path(root).glob(f"*-{candidate.key}")):
            run = Run(path)
            if run.config_file.exists() and _sound(run) and run.config().same_experiment(candidate) and \
                    (run.finished or not finished):
                return run
    return None


def list_runs(root: str | Path = RESULTS_DIR) -> list[Run]:
    """The run folders directly under `root` (not those in its subfolders, such as results/smoke/) whose records
    read; a damaged one is left out and named once on stderr with what is wrong and what to do (`damaged_runs`)."""
    return sorted((run for run in (Run(p.parent) for p in Path(root).glob("*/config.json")) if _sound(run)),
                  key=lambda r: r.path.name)


def damaged_runs(root: str | Path = RESULTS_DIR) -> list[tuple[Run, str]]:
    """The run folders under `root` whose records do not read, each with what is wrong and what to do."""
    runs = sorted((Run(p.parent) for p in Path(root).glob("*/config.json")), key=lambda r: r.path.name)
    return [(run, damage) for run in runs if (damage := run.damage())]


def _sound(run: Run) -> bool:
    """Whether `run`'s records read; if not, says so on stderr, once per folder in this process."""
    damage = run.damage()
    if damage and run.path not in _REPORTED:
        _REPORTED.add(run.path)
        print(f"left out of this page: {damage}", file=sys.stderr)
    return damage is None


def pieces_of(summary: dict, key: str) -> list:
    """`key` ("hardware", "device", "git_commit") of each piece a run was trained in, each once, in the
    order trained: a run begun on a GPU and finished on a CPU names both. A value a piece lacks is None."""
    return list(dict.fromkeys(piece.get(key) for piece in summary.get("pieces") or [summary["environment"]]))


QUIET_PIECE_ITERATIONS = 1000  # a piece this long gives a net's pace on a machine; shorter ones are mostly warm-up


def quiet_paces(runs: Iterable[tuple[TrainConfig, list[dict]]], machine: Callable[[str], str] = str) -> dict:
    """{(arch, precision, machine(hardware line)): seconds per iteration}: each net's quiet pace on each machine, the
    fastest piece of at least QUIET_PIECE_ITERATIONS trained alone there, over `runs` ((config, pieces) pairs)."""
    paces: dict[tuple[str, str, str], float] = {}
    for config, pieces in runs:
        for piece in pieces:
            iterations = piece["end_iteration"] - piece["start_iteration"]
            if iterations >= QUIET_PIECE_ITERATIONS and piece.get("runs_at_once", 1) == 1:
                key = (config.arch, config.precision, machine(piece["hardware"]))
                paces[key] = min(paces.get(key, math.inf), piece["train_s"] / iterations)
    return paces


def devices_of(summaries: list[dict]) -> str:
    """The devices runs were trained on, GPU first: "CPU", "CUDA" or, for runs begun on one and finished on
    the other, "CUDA+CPU"."""
    return "+".join(sorted({d.upper() for s in summaries for d in pieces_of(s, "device")}, reverse=True))


def load_runs(root: str | Path = RESULTS_DIR) -> pd.DataFrame:
    """One row per run under `root`: its config, `finished`, and (if finished) its summary's scalars and
    `hardware`, every machine it was trained on joined by " + "."""
    rows = []
    for run in list_runs(root):
        row = {"run": run.path.name, "path": str(run.path), "finished": run.finished, **run.config().to_dict()}
        if run.finished:
            summary = run.summary()
            row["hardware"] = " + ".join(pieces_of(summary, "hardware"))
            row.update({k: v for k, v in _flatten(summary).items() if k not in row})
        rows.append(row)
    return pd.DataFrame(rows)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif not isinstance(v, list):
            out[f"{prefix}{k}"] = v
    return out


def longest(runs: list[Run], archs: list[str], shortcuts: list[str | None] = (None,), below: int | None = None,
             together: bool = False, val_fraction: float = 0.0) -> list[Run]:
    """Of the finished `runs`, those of `archs` x `shortcuts` (None: the family's default option, A on CIFAR)
    on one data set, one split and the schedule with the most iterations (fewer than `below`, if given);
    `together`: the longest on which every one of them is recorded. On a tie the official CIFAR-10 comes
    before a copy, then the split `val_fraction` before another. Runs of two data sets, splits or schedules
    are never returned together. In the order of `archs`, then of the options."""
    wanted = [(arch, resolve_shortcut(parse_arch(arch), s)) for arch in archs for s in shortcuts]
    configs = {run: run.config() for run in runs if run.finished}
    net = {run: (config.arch, config.shortcut) for run, config in configs.items()}
    groups: dict[tuple[int, bool, tuple[bool, float], str], list[Run]] = {}  # (iterations, official, split, data)
    for run, config in configs.items():
        if net[run] in wanted and (below is None or config.iterations < below):
            official = run.summary()["data"]["name"] == "cifar10"
            split = (config.val_fraction == val_fraction, config.val_fraction)
            groups.setdefault((config.iterations, official, split, config.data_sha256), []).append(run)
    for key in sorted(groups, reverse=True):
        group = groups[key]
        if not together or len({net[r] for r in group}) == len(set(wanted)):
            return sorted(group, key=lambda run: wanted.index(net[run]))
    return []
