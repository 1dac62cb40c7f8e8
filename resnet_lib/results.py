"""Recorded runs: one folder per run under `results/`, found again by configuration.

A run folder holds
- config.json: the TrainConfig;
- metrics.csv: one row per evaluation (METRIC_COLUMNS; errors in percent, losses in nats);
- checkpoint.pt: the latest training checkpoint (git-ignored; lets an unfinished run resume);
- summary.json: written when the run finishes (final errors, provenance; see train.py);
- weights.pt: the final weights alone, a plain state_dict (git-ignored).
A folder without summary.json is unfinished.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd

from .config import TrainConfig

RESULTS_DIR = Path("results")
METRIC_COLUMNS = ["iteration", "lr", "train_loss", "train_error", "val_loss", "val_error",
                  "test_loss", "test_error", "elapsed_s"]


def run_name(config: TrainConfig) -> str:
    """Folder name: readable fields, then the config's hash, e.g. resnet20-A-cifar10-64000it-seed0-1a2b3c4d."""
    data = re.sub(r"[^A-Za-z0-9]+", "-", Path(config.data).name).strip("-")
    return f"{config.arch}-{config.shortcut or 'none'}-{data}-{config.iterations}it-seed{config.seed}-{config.key}"


class Run:
    """A run folder. `Run.for_config(config, root)` names it; `Run(path)` opens an existing one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def for_config(cls, config: TrainConfig, root: str | Path = RESULTS_DIR) -> Run:
        return cls(Path(root) / run_name(config))

    config_file = property(lambda self: self.path / "config.json")
    metrics_file = property(lambda self: self.path / "metrics.csv")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    summary_file = property(lambda self: self.path / "summary.json")
    weights_file = property(lambda self: self.path / "weights.pt")

    @property
    def finished(self) -> bool:
        return self.summary_file.exists()

    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(json.loads(self.config_file.read_text()))

    def summary(self) -> dict:
        return json.loads(self.summary_file.read_text())

    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.metrics_file) if self.metrics_file.exists() else pd.DataFrame(columns=METRIC_COLUMNS)

    def start(self, config: TrainConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.config_file, config.to_dict())
        with open(self.metrics_file, "w", newline="") as f:
            csv.writer(f).writerow(METRIC_COLUMNS)

    def append_metrics(self, row: dict) -> None:
        with open(self.metrics_file, "a", newline="") as f:
            csv.writer(f).writerow([row[c] for c in METRIC_COLUMNS])

    def truncate_metrics(self, iteration: int) -> None:
        """Drop rows after `iteration` (written after the checkpoint a resumed run starts from)."""
        kept = self.metrics()
        kept = kept[kept["iteration"] <= iteration]
        kept.to_csv(self.metrics_file, index=False)

    def finish(self, summary: dict) -> None:
        write_json(self.summary_file, summary)


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def find_run(config: TrainConfig, root: str | Path = RESULTS_DIR, finished: bool = True) -> Run | None:
    """The recorded run of exactly this configuration (finished ones only unless finished=False)."""
    run = Run.for_config(config, root)
    if not run.config_file.exists() or run.config() != config:
        return None
    return run if run.finished or not finished else None


def list_runs(root: str | Path = RESULTS_DIR) -> list[Run]:
    return sorted((Run(p.parent) for p in Path(root).glob("**/config.json")), key=lambda r: r.path.name)


def load_runs(root: str | Path = RESULTS_DIR) -> pd.DataFrame:
    """One row per run under `root`: its config, `finished`, and (if finished) its summary's scalars."""
    rows = []
    for run in list_runs(root):
        row = {"run": run.path.name, "path": str(run.path), "finished": run.finished, **run.config().to_dict()}
        if run.finished:
            row.update({k: v for k, v in _flatten(run.summary()).items() if k not in row})
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
