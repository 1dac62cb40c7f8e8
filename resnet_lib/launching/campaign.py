"""A campaign: the runs a plan kept in the repository (campaign.toml) lists, trained in order on this machine.

    python -m resnet_lib campaign --time-limit 9000      # train for 2.5 hours, then checkpoint and stop
    python -m resnet_lib campaign --concurrent 2         # two runs at once, a core each (more images/s on some 2-core CPUs)

It prints what it will do and how long it expects (at the quiet pace of the runs trained here), skips
runs already recorded in results/, resumes unfinished ones from the work folder (outside the checkout,
so that a later continuation on the same machine finds them; a GPU lease's unfinished runs go there
too) before it starts new ones, skips steps this machine does not run well (bf16 without native
support), and stops cleanly at the time limit. Each run trains in a process of its own, through
launch.LocalExecutor (`python -m resnet_lib train ... --resume`); a finished run's records are copied
into results/ at once, ready to commit, and a real-data full-schedule run's weights are published
(hub.publish) beside them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import torch

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from ..config import TrainConfig, schedule_settings
from ..console import announce
from ..errors import ConfigError
from ..models.analysis import describe
from ..runs.checkpoint import CheckpointError, load_checkpoint
from ..runs.results import RESULTS_DIR, Run, find_run, list_runs, quiet_paces
from ..training import fastpath
from ..training.hub import publish
from ..training.runtime import ResolvedRun, resolve_run
from ..training.train import estimate_seconds
from .launch import LocalExecutor

PLAN = Path("campaign.toml")
WORK_DIR = Path(os.environ.get("RESNET_LIB_WORK", Path.home() / ".cache" / "resnet_lib" / "runs"))
MIN_PIECE_S = 300  # a piece shorter than this is not started: start-up and compilation would eat it
RECORD_FILES = ("config.json", "metrics.csv", "summary.json", "weights.pt")


@dataclass
class Step:
    """One step of a plan: its name, its runs, and whether it needs hardware with native bf16."""

    name: str
    configs: list[TrainConfig]
    native_bf16: bool = False


def load_plan(path: str | Path = PLAN) -> list[Step]:
    """The steps of a plan file: [[step]] tables with name, archs, seeds, schedule, and optionally
    shortcuts, precisions, val_fraction and native_bf16; a top-level `data` applies to every step, a
    top-level `val_fraction` to every step that does not set its own."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no campaign plan at {path}; pass --plan with a TOML file of [[step]] tables (see campaign.toml)")
    try:
        plan = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    steps = []
    for entry in plan.get("step", []):
        schedule = entry.get("schedule", "full")  # a named schedule, or a number of iterations for a try
        settings = schedule_settings(schedule)
        val_fraction = entry.get("val_fraction", plan.get("val_fraction", TrainConfig.val_fraction))
        configs = [TrainConfig(arch=arch, shortcut=shortcut, seed=seed, precision=precision, data=plan.get("data", "cifar10"),
                               val_fraction=val_fraction, **settings)
                   for arch in entry["archs"] for shortcut in entry.get("shortcuts", [None])
                   for precision in entry.get("precisions", ["auto"]) for seed in entry.get("seeds", [0])]
        steps.append(Step(entry["name"], configs, entry.get("native_bf16", False)))
    return steps


def run_campaign(plan: str | Path = PLAN, results: str | Path = RESULTS_DIR, work: str | Path = WORK_DIR,
                 time_limit: float | None = None, dry_run: bool = False, concurrent: int = 1) -> int:
    """Train the plan's missing runs in order, up to `concurrent` at once (each on its share of the cores),
    until done or `time_limit` seconds; returns the number finished. They train in `work` through a
    launch.LocalExecutor; each finished run's records are copied into `results` at once."""
    work = Path(work)
    todo = _announce_plan(load_plan(plan), results, work, torch.device("cpu"))
    if dry_run:
        return 0

    def record(run: Run) -> None:
        recorded = copy_records(run, results)
        announce(f"campaign: recorded {recorded.path} (test error {run.summary()['final']['test_error']:.2f}%); commit it")
        if run.summary()["data"]["name"] == "cifar10" and run.summary()["full_schedule"]:
            try:  # every real-data full-schedule run's weights, so that no analysis needs it trained again
                card = publish(recorded.path)
                announce(f"campaign: published {card.file} (test error {card.test_error:.2f}% from the file); commit it")
            except ConfigError as error:
                announce(f"campaign: {recorded.path.name} not published: {error}")

    executor = LocalExecutor(concurrent, 1, "cpu", min_piece_s=MIN_PIECE_S, label="campaign")
    outcomes = executor.run(todo, work, time_limit, on_finished=record)
    for outcome in outcomes:  # finished in `work` by an earlier call that stopped before copying it
        if outcome.finished and find_run(outcome.config, results) is None:
            record(outcome.run)
    return sum(outcome.finished for outcome in outcomes)


def _resumes_at(run: Run) -> int:
    """The iteration an unfinished run's checkpoint resumes from; 0 without a readable one (its train
    command then says why)."""
    try:
        return int(load_checkpoint(run.checkpoint_file)["state"]["iteration"])
    except (CheckpointError, KeyError):
        return 0


def _paces_here(results, work: Path, hardware: str) -> dict[tuple[str, str], float]:
    """{(arch, precision): seconds per iteration}: the quiet pace on this machine (`hardware`, its hardware line)
    of each net a run recorded in `results` or begun in `work` trained alone here."""
    runs = [(run.config(), run.summary()["pieces"]) for run in list_runs(results) if run.finished]
    for run in list_runs(work) if work.is_dir() else []:
        try:
            runs.append((run.config(), load_checkpoint(run.checkpoint_file)["state"]["pieces"]))
        except (CheckpointError, KeyError):
            pass
    return {(arch, precision): pace for (arch, precision, machine), pace in quiet_paces(runs).items()
            if machine == hardware}


def _seconds_per_iteration(config: TrainConfig, paces: dict[tuple[str, str], float],
                           timed: dict[str, tuple[str, float]]) -> tuple[float, str]:
    """(seconds, how they were found) for one training iteration of `config` here: its own quiet pace; else the
    pace of the net closest in multiply-adds, scaled by them; else, with no pace here in its precision, that of the
    first such net met, timed now in eager iterations (an upper bound) and kept in `timed` {precision: (arch, s)}."""
    if (config.arch, config.precision) in paces:
        return paces[config.arch, config.precision], "its pace here"
    macs = lambda arch: describe(arch)["macs"]  # noqa: E731
    known = [(arch, pace) for (arch, precision), pace in paces.items() if precision == config.precision]
    source = "pace here"
    if not known:
        if config.precision not in timed:
            timed[config.precision] = config.arch, estimate_seconds(replace(config, iterations=1, milestones=()), "cpu")
        known, source = [timed[config.precision]], "eager iterations timed now"
    arch, pace = min(known, key=lambda known_net: abs(macs(known_net[0]) - macs(config.arch)))
    if arch == config.arch:  # the net just timed
        return pace, source
    return pace * macs(config.arch) / macs(arch), f"{arch}'s {source}, scaled by multiply-adds"


def _announce_plan(steps: list[Step], results, work: Path, device: torch.device) -> list[ResolvedRun]:
    """Print each run's state and the time expected for what remains; return the runs to train: those
    begun (a checkpoint in `work`) first, then the others, each in the plan's order."""
    todo, begun, total, step_seconds = [], [], 0.0, {}
    native, hardware = fastpath.native_bf16(device), fastpath.describe_hardware(device)
    paces, timed = _paces_here(results, work, hardware), {}
    announce(f"campaign on {hardware}; unfinished runs in {work}")
    for step in steps:
        announce(f"{step.name}")
        if step.native_bf16 and not native:
            announce("  skipped: this CPU has no native bf16 (the step waits for a machine that has)")
            continue
        for config in step.configs:
            run = resolve_run(config, work, device)  # its folder in `work`, begun or not
            resolved = run.config
            label = f"  {config.arch} {config.shortcut or ''} seed {config.seed} {config.schedule} {resolved.precision}"
            recorded = find_run(replace(resolved, precision="auto") if config.precision == "auto" else resolved, results)
            if recorded is not None:  # a run recorded in either precision counts when the plan leaves it to the machine
                announce(f"{label}: recorded" + (f" ({recorded.config().precision})"
                                                 if recorded.config().precision != resolved.precision else ""))
                continue
            done = _resumes_at(run.folder) if run.folder.checkpoint_file.exists() else 0
            net = (resolved.arch, resolved.shortcut, resolved.precision)
            if net not in step_seconds:
                step_seconds[net] = _seconds_per_iteration(resolved, paces, timed)
            pace, found = step_seconds[net]
            seconds = pace * (config.iterations - done) * 1.1  # + evaluations
            total += seconds
            announce(f"{label}: {'resume at ' + str(done) if done else 'to train'}, about {seconds / 3600:.1f} h "
                     f"({pace:.3f} s/iteration: {found})")
            todo.append(run)
            if run.folder.checkpoint_file.exists():
                begun.append(run)
    announce(f"campaign: {len(todo)} runs to train, about {total / 3600:.1f} h on this machine if trained one at a time"
             + (f"; the {len(begun)} begun first" if begun else ""))
    return [c for c in todo if c in begun] + [c for c in todo if c not in begun]  # no checkpoints piling up


def copy_records(run: Run, results: str | Path) -> Run:
    """Copy a finished run's records (and its weights, git-ignored) into `results`."""
    target = Path(results) / run.path.name
    target.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        if (run.path / name).exists():
            shutil.copy2(run.path / name, target / name)
    return Run(target)
