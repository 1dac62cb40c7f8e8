"""The shell commands that record configurations: one `python -m resnet_lib train` per run, or one
`sweep` (here or through another executor) per group of runs that differ only in architecture, seed and shortcut. The book shows
them for what is not yet recorded; the campaign runs them.
"""

from __future__ import annotations

import importlib
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import SCHEDULES, TrainConfig, cli_fields
from ..errors import ConfigError
from .results import RESULTS_DIR


@dataclass(frozen=True)
class ExecutorEntry:
    """An executor that `sweep --executor NAME` can use. `target`: its class (a launch.Executor), or "module:Class",
    imported only when used; `summary`: one line of help; `elsewhere`: where it trains ('' for this machine);
    `sweep_options`: what a sweep command adds to go there."""

    target: str | type
    summary: str
    elsewhere: str = ""
    sweep_options: str = ""

    def load(self) -> type:
        if not isinstance(self.target, str):
            return self.target
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


EXECUTORS = {  # --executor NAME -> its entry; adding an executor is its class and one line here
    "local": ExecutorEntry("resnet_lib.launching.launch:LocalExecutor", "train here, --concurrent at a time (default)"),
    "slurm": ExecutorEntry("resnet_lib.launching.cluster:SlurmExecutor", "one job per run, as a job array", "on a Slurm cluster",
                           "--executor slurm --wait"),
}


def executor_entry(name: str) -> ExecutorEntry:
    """EXECUTORS[name], or ConfigError naming the registered executors."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; registered: {', '.join(EXECUTORS)}")
    return EXECUTORS[name]


def train_command(config: TrainConfig, results: str | Path = RESULTS_DIR) -> str:
    """The command that records `config`: one option per setting that differs from the defaults."""
    paper = TrainConfig(arch=config.arch)  # the schedule's defaults; the others' follow the schedule (eval_every)
    defaults = TrainConfig(arch=config.arch, iterations=config.iterations, milestones=config.milestones)
    parts = ["python -m resnet_lib train"]
    named = config.schedule in SCHEDULES and config.schedule != "full"
    for f in cli_fields():
        value = getattr(config, f.name)
        default = getattr(paper if f.name in ("iterations", "milestones") else defaults, f.name)
        if (f.name not in ("arch", "data") and value == default) or value is None or (
                named and f.name in ("iterations", "milestones")):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{f.name.replace('_', '-')}")
        else:
            parts.append(f"{flag} {shlex.quote(','.join(map(str, value)) if isinstance(value, tuple) else str(value))}")
        if f.name == "data" and named:
            parts.append(f"--schedule {config.schedule}")
    if Path(results) != RESULTS_DIR:
        parts.append(f"--out {shlex.quote(str(results))}")
    return " ".join(parts)


def sweep_commands(configs: list[TrainConfig], results: str | Path = RESULTS_DIR, executor: str = "local") -> list[str]:
    """Sweep commands that record `configs` through `executor` (a name in launch.EXECUTORS: "local" on this
    machine, "slurm" as a job array): one per group sharing every setting but arch, seed and shortcut (a sweep
    trains the product of its lists; runs already recorded are skipped)."""
    where = executor_entry(executor).sweep_options
    groups: dict[str, list[TrainConfig]] = {}
    for config in configs:
        common = train_command(replace(config, arch="resnet20", seed=0, shortcut=None), results)
        groups.setdefault(common, []).append(config)
    commands = []
    for common, group in groups.items():
        options = common.split(" --arch resnet20", 1)[1]
        lists = [f"--archs {','.join(dict.fromkeys(c.arch for c in group))}",
                 f"--seeds {','.join(str(seed) for seed in sorted({c.seed for c in group}))}"]
        shortcuts = sorted({c.shortcut for c in group if c.shortcut and c.shortcut != "A"})
        if shortcuts:
            lists.append(f"--shortcuts {','.join(shortcuts)}")
        commands.append(f"python -m resnet_lib sweep {' '.join(lists)}{options}" + f" {where}" * bool(where))
    return commands
