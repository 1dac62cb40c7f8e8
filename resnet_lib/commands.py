"""The shell commands that record configurations: one `python -m resnet_lib train` per run, or one
`sweep` (here or on Slurm) per group of runs that differ only in architecture, seed and shortcut. The book shows
them for what is not yet recorded; the campaign runs them.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path

from .config import SCHEDULES, TrainConfig, cli_fields
from .results import RESULTS_DIR


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


def sweep_commands(configs: list[TrainConfig], results: str | Path = RESULTS_DIR, slurm: bool = True) -> list[str]:
    """Sweep commands that record `configs`, as a Slurm job array (`slurm`) or on this machine: one per group
    sharing every setting but arch, seed and shortcut (a sweep trains the product of its lists; runs already
    recorded are skipped)."""
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
        commands.append(f"python -m resnet_lib sweep {' '.join(lists)}{options}" + (" --executor slurm --wait" * slurm))
    return commands
