"""What the notebooks call, and all they call: a thin facade over the report's modules. Here: check a
notebook's parameters, reuse recorded runs and train what is missing, pick the runs a page shows; the
figures are drawn by `plots`, the tables by `tables` and `status`, the paper's claims worded by `claims`.

    from resnet_lib.report import notebook as nb
    req = nb.request(data="auto", schedule="1/8", device="auto", results="results", train_missing=None)
    runs, missing = nb.runs(req, ["plain20", "resnet20"], seeds=[0])
    nb.figure6(req, runs, name="fig6")
    nb.show_missing(req, missing)

A configuration already recorded (finished) is reused as it is; an unfinished one is resumed; a
missing one is trained (after a time estimate on CPU) unless training is off (the report build and
the tests set RESNET_LIB_REPORT_ONLY=1), in which case it is listed with the command that records it.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt

from . import plots, views
from ..config import SCHEDULES, TrainConfig, check_setting, schedule_settings
from ..console import announce, kernel_shutting_down, leave_kernel
from ..data.datasets import CIFAR10_SHA256, JPEG_SHA256
from ..data.sources import default_source, identify, locate, recorded
from ..errors import ConfigError
from ..models.resnet import parse_shortcut
from ..runs.results import RESULTS_DIR, SMOKE_DIR, Run, find_run, list_runs, longest
from ..training.runtime import DEVICES
from .claims import layer_response_claims, lesion_claims, show_claims, show_layer_response_claims, show_table6_gaps
from .comparisons import show_jpeg_cost, show_test_time_cost
from .status import show_status, show_status_grid, show_verdict
from .tables import (run_times, show_all_runs, show_architectures, show_benchmarks, show_cpu_targets,
                     show_evaluation_benchmarks, show_identity_mappings, show_layer_response_stats, show_numerics_check, show_parameters,
                     show_published, show_run_times, show_runs, show_shortcut_stats, show_table3, show_table6,
                     show_unfinished_runs)
from .views import run_table, save_figure, show_table


__all__ = [  # what the notebooks call: defined here, or handed on from the modules that make them
    "Request", "request", "check_parameters", "enter_project_root", "whole_numbers", "shortcut_options", "runs",
    "shown_runs", "shorter_runs", "copy_runs", "show_missing", "show_other_runs", "show_page_summary", "figure6",
    "error_figure", "figure7",
    "show_claims", "show_table6_gaps", "layer_response_claims", "show_layer_response_claims", "show_status",
    "show_status_grid", "show_verdict", "table6_figure", "lesion_studies", "lesion_figure", "show_lesion_claims",
    "run_times",
    "show_all_runs",
    "show_architectures", "show_benchmarks", "show_cpu_targets", "show_evaluation_benchmarks", "show_identity_mappings",
    "show_jpeg_cost",
    "show_layer_response_stats", "show_numerics_check", "show_parameters", "show_published", "show_run_times",
    "show_runs", "show_shortcut_stats", "show_table3", "show_table6", "show_test_time_cost", "show_unfinished_runs"]


@dataclass
class Request:
    """A notebook's common parameters, checked: which data and schedule, where runs are recorded, and
    whether to train what is missing."""

    source: str
    schedule: dict  # iterations and milestones
    device: str
    results: Path
    train_missing: bool
    val_fraction: float = 0.0  # 0: train on all 50k (the reported models); 0.1: the paper's 45k/5k split

    def sources(self) -> list[str]:
        """The data sets whose records the notebook shows, in order of preference: real CIFAR-10 first,
        then, until it is recorded there, the JPEG copy (every figure and table names the data set)."""
        return [self.source] + (["cifar10-jpeg"] if self.source == "cifar10" else [])

    def label(self, shown: list[Run] = ()) -> str:
        """Names what a figure draws, for its file name: data set and schedule (of the `shown` runs, else the
        one requested), e.g. 'cifar10-jpeg-1-8'."""
        configs = [r.config() for r in shown] or [TrainConfig(**self.schedule)]
        schedules = sorted({c.schedule if c.schedule in SCHEDULES else f"{c.iterations}it" for c in configs})
        data = "-".join(sorted({r.summary()["data"]["name"] for r in shown})) or Path(self.source).name
        return f"{data}-{'-'.join(schedules)}".replace("/", "-").replace(" ", "").replace(":", "-")


def _loud(check):
    """Let a parameter check's ConfigError reach the terminal too (papermill shows it only after its own traceback)."""
    def checked(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except ConfigError as error:
            announce(f"error: {error}")
            raise
    checked.__doc__, checked.__name__ = check.__doc__, check.__name__
    return checked


def _assigned(source: str) -> set[str]:
    """The names a cell's top-level assignments bind."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}


@_loud
def check_parameters() -> None:
    """ConfigError naming every parameter papermill passed that the notebook's parameters cell does not
    declare (papermill itself only warns, and the notebook would go on with its defaults: a mistyped
    `-p iterations 200` once started 64,000 iterations). Outside papermill, nothing to check."""
    from IPython import get_ipython

    shell = get_ipython()
    cells = list(shell.user_ns.get("In", [])) if shell is not None else []
    for before, cell in zip(cells, cells[1:]):
        if cell.lstrip().startswith("# Parameters"):  # the cell papermill injects after the parameters cell
            unknown = sorted(_assigned(cell) - _assigned(before))
            if unknown:
                raise ConfigError(f"unknown notebook parameter(s): {', '.join(unknown)}; this notebook's parameters "
                                  f"are {', '.join(sorted(_assigned(before)))}")


def enter_project_root() -> None:
    """Check the notebook's parameters (`check_parameters`), then chdir to the project root."""
    check_parameters()
    views.enter_project_root()


@_loud
def request(data: str = "auto", schedule="full", device: str = "auto", results: str = "results",
            train_missing: bool | None = None, val_fraction: float = 0.0) -> Request:
    """Check a notebook's common parameters (ConfigError naming the problem and the fix) and move to the
    project root, so that results/ and data/ are found wherever the notebook was started.

    data "auto" is real CIFAR-10 where it is on this machine or where nothing is trained (the report shows
    the records, whatever machine builds it), else the JPEG copy."""
    enter_project_root()
    settings = schedule_settings(schedule)
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    check_setting("val_fraction", val_fraction)
    if train_missing is None:
        train_missing = os.environ.get("RESNET_LIB_REPORT_ONLY", "0") != "1"
    source = ("cifar10" if not train_missing else default_source()) if data == "auto" else str(data)
    if not recorded(source) and Path(results) == RESULTS_DIR:
        results = SMOKE_DIR  # a try on generated data is not part of the record
    if train_missing:
        locate(source)  # fail here, with the fix, rather than after minutes of work
    return Request(source, settings, device, Path(results), bool(train_missing), float(val_fraction))


@_loud
def whole_numbers(name: str, value) -> list[int]:
    """`value` (an int or a list of them, each >= 1, or >= 0 for seeds) as a list, or ConfigError."""
    values = [value] if isinstance(value, int) else list(value) if isinstance(value, (list, tuple)) else None
    low = 0 if "seed" in name else 1
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < low for v in values):
        raise ConfigError(f"{name} must be a whole number >= {low} or a list of them, got {value!r}")
    return values


@_loud
def shortcut_options(options) -> list[str]:
    """Shortcut options as upper-case letters, or ConfigError naming the bad one."""
    return [parse_shortcut(o) for o in options]


def runs(req: Request, archs: list[str], seeds: list[int], shortcuts: list[str | None] = (None,)
         ) -> tuple[list[Run], list[TrainConfig]]:
    """(finished runs, configs still missing) of `archs` x `shortcuts` x `seeds`: recorded ones reused,
    the others trained or resumed when `req.train_missing`. A Ctrl-C, however often and whenever it comes,
    ends with the run in training checkpointed and the terminal told where (`_stop_training`)."""
    from ..training.processes import TrainingInterrupted, stop_on_signals
    from ..training.runtime import pick_device
    from ..training.train import estimate_seconds, train

    data_sha256 = identify(req.source)[1]  # once, not once per config
    configs = [TrainConfig(arch=arch, seed=seed, shortcut=shortcut, data=req.source, data_sha256=data_sha256,
                           val_fraction=req.val_fraction, **req.schedule)
               for shortcut in shortcuts for arch in archs for seed in seeds]
    recorded = {id(config): find_run(config, req.results) for config in configs}
    todo = [c for c in configs if recorded[id(c)] is None]
    if todo and req.train_missing:
        announce(f"{len(todo)} run(s) to train here, in this order: "
                 + ", ".join(f"{c.net_name} (seed {c.seed})" for c in todo))
    found, missing = [], []
    with stop_on_signals((signal.SIGINT,)) as interrupted:  # a late second Ctrl-C lands here, harmlessly
        for config in configs:
            run = recorded[id(config)]
            if run is None and req.train_missing:
                if pick_device(req.device).type == "cpu":
                    seconds = estimate_seconds(config, "cpu")
                    duration = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{max(seconds / 60, 1):.0f} min"
                    announce(f"training {config.arch} (seed {config.seed}, {config.iterations} iterations) on the CPU: "
                             f"about {duration} (timed eagerly, evaluations not counted; compiled runs go faster)")
                if interrupted["signal"]:
                    _stop_training(f"interrupted before {config.arch} (seed {config.seed}) began training; "
                                   f"{_saved_so_far(config, req.results)}. Run the same command again to continue")
                try:
                    run = train(config, out_dir=req.results, device=req.device, resume=True)
                except TrainingInterrupted as stop:
                    _stop_training(f"interrupted at iteration {stop.iteration} of {config.iterations}: checkpoint saved "
                                   f"in {stop.run_path}; run the same command again to resume from there")
            (found if run is not None else missing).append(run if run is not None else config)
    return found, missing


def _saved_so_far(config: TrainConfig, results: Path) -> str:
    """What an interrupted notebook leaves of `config`: its checkpoint's iteration, or that nothing was trained."""
    from ..runs.checkpoint import CheckpointError, load_checkpoint

    unfinished = find_run(config, results, finished=False)
    try:
        iteration = load_checkpoint(unfinished.checkpoint_file)["state"]["iteration"] if unfinished else None
    except CheckpointError:
        iteration = None
    return f"its checkpoint at iteration {iteration} in {unfinished.path} is intact" if iteration is not None else \
        "nothing of it was trained yet"


def _stop_training(message: str) -> None:
    """End a notebook's training on an interrupt: papermill and nbval shut the kernel down right after a
    Ctrl-C, so the message goes to the terminal and the kernel exits; in Jupyter it is shown and the cell
    ends with KeyboardInterrupt."""
    if kernel_shutting_down():
        leave_kernel(message)
    announce(message)
    raise KeyboardInterrupt(message)


def shown_runs(req: Request, archs: list[str], found: list[Run], shortcuts: list[str | None] = (None,)) -> list[Run]:
    """What a notebook shows: the requested runs if any are recorded, else the recorded runs of the same
    architectures, shortcut options and data on the longest other schedule there is (the titles then say which)."""
    return found or _longest_recorded(req, archs, shortcuts=shortcuts)


def shorter_runs(req: Request, archs: list[str], shown: list[Run], shortcuts: list[str | None] = (None,)) -> list[Run]:
    """The recorded runs of `archs` x `shortcuts` on the longest schedule shorter than that of `shown` (or
    than the one requested, if none is shown), shown in a figure or table of their own: none mixes schedules."""
    below = min(r.config().iterations for r in shown) if shown else req.schedule["iterations"]
    return _longest_recorded(req, archs, below=below, shortcuts=shortcuts, fuller=True)


def copy_runs(req: Request, archs: list[str], shown: list[Run], shortcuts: list[str | None] = (None,)) -> list[Run]:
    """While real CIFAR-10 lacks some of `archs` x `shortcuts` on the requested schedule (`shown` are its runs
    there): the JPEG copy's runs of them on that schedule, whatever their split, for a figure of their own that
    names the copy. Never drawn with the real runs; empty when the copy was requested or the real runs are complete."""
    if req.source != "cifar10" or len({(c.arch, c.shortcut) for c in (r.config() for r in shown)}) == len(archs) * len(shortcuts):
        return []
    iterations = req.schedule["iterations"]
    jpeg = [r for r in list_runs(req.results) if r.finished and r.config().data_sha256 == JPEG_SHA256]
    found = longest(jpeg, archs, shortcuts, below=iterations + 1, val_fraction=req.val_fraction)
    return [r for r in found if r.config().iterations == iterations]


def _longest_recorded(req: Request, archs: list[str], below: int | None = None, shortcuts: list[str | None] = (None,),
                      fuller: bool = False) -> list[Run]:
    """Finished runs of `archs` x `shortcuts` on `req`'s data with the most iterations (fewer than `below`,
    if given), in the order of `archs`, then of the options; where none is recorded on that data, those of the
    next of `req.sources()` (real CIFAR-10's runs, else the JPEG copy's). With `fuller` (shorter schedules,
    shown apart), the source holding more of those nets, real CIFAR-10 on a tie: one source per figure."""
    recorded, best = list_runs(req.results), []
    for source in req.sources():
        data_sha256 = identify(source)[1]
        found = longest([r for r in recorded if r.config().data_sha256 == data_sha256], archs, shortcuts, below=below,
                        val_fraction=req.val_fraction)
        if found and not fuller:
            return found
        if len({(r.config().arch, r.config().shortcut) for r in found}) > len({(r.config().arch, r.config().shortcut)
                                                                               for r in best}):
            best = found
    return best


def show_missing(req: Request, missing: list[TrainConfig]) -> None:
    """Configurations not yet recorded, with the commands that record them."""
    views.show_missing(missing, req.results)


def show_page_summary(req: Request, archs: list[str], found: list[Run]) -> None:
    """One line on what a page holds of `archs`: the nets recorded on the schedule asked for, those recorded
    only on a shorter one, and those not recorded at all (on the data sets of `req.sources()`)."""
    from IPython.display import Markdown, display

    names = {arch: TrainConfig(arch=arch).net_name for arch in archs}
    asked = {r.config().arch for r in found}
    shorter = {r.config().arch for r in _longest_recorded(req, [a for a in archs if a not in asked],
                                                          below=req.schedule["iterations"], fuller=True)}
    parts = [f"{label}: {', '.join(names[a] for a in archs if a in group)}" for label, group in (
        ("recorded on this schedule", asked), ("only on a shorter schedule", shorter),
        ("not yet recorded", set(archs) - asked - shorter)) if group]
    display(Markdown("**On this page:** " + "; ".join(parts) + "."))


def show_other_runs(req: Request, archs: list[str], shown: list[Run]) -> None:
    """Every finished run of `archs` on the data sets of `req.sources()` not in `shown`, whatever its
    schedule or split, with its schedule: listed for transparency, not compared with the paper."""
    shas = {identify(source)[1] for source in req.sources()}
    others = [r for r in list_runs(req.results) if r.finished and r not in shown and r.config().arch in archs
              and r.config().data_sha256 in shas]
    if not others:
        print("none")
        return
    table = run_table(others)
    table.insert(table.columns.get_loc("iterations"), "schedule", [r.config().schedule for r in others])
    show_table(table)


def figure6(req: Request, shown: list[Run], name: str) -> None:
    """Figure 6 of `shown` (plots.figure6), saved as figures/<name>-<data and schedule>.png and shown."""
    _save_and_show(plots.figure6(shown), f"{name}-{req.label(shown)}")


def error_figure(req: Request, shown: list[Run], name: str) -> None:
    """The error curves of `shown` in one panel (plots.error_figure), saved and shown."""
    _save_and_show(plots.error_figure(shown), f"{name}-{req.label(shown)}")


def table6_figure(req: Request) -> None:
    """Table 6 as a dot plot (plots.table6_dots) of the ResNets recorded in `req.results` on real CIFAR-10 and
    the full schedule, beside the paper's and the public reimplementations' numbers; saved and shown."""
    real = [r for r in list_runs(req.results) if r.finished and r.config().data_sha256 == CIFAR10_SHA256
            and r.summary()["full_schedule"]]
    _save_and_show(plots.table6_dots(real), "table6-cifar10-full")


def lesion_studies(req: Request, models: list[str], draws: int = 5) -> tuple[dict[str, dict], list[str]]:
    """({net: lesion study} of the published `models`, [commands that record the missing ones]): each study read
    from `lesion.json` beside the model's run in `req.results`, or measured there and recorded when
    `req.train_missing` (a few minutes to an hour on a CPU), else listed with its command. A model not published
    yet is stood in for by the same net published from a shorter schedule on real CIFAR-10 (the longest), if
    any: its label names its schedule."""
    import json

    from ..training.hub import cards
    from ..training.lesion import LESION_FILE, study_weights

    studies, missing, published = {}, [], cards()
    for name in models:
        card = published.get(name)
        if card is None:
            shorter = sorted((c for c in published.values() if c.arch == name and c.data_sha256 == CIFAR10_SHA256
                              and not c.full_schedule), key=lambda c: SCHEDULES.get(c.schedule, 99))
            missing.append(f"# {name}: not published yet (its weights were not kept); train it again and publish it"
                           + (f" ({shorter[0].name}, {shorter[0].schedule} of the schedule, stands in)" if shorter else ""))
            if not shorter:
                continue
            card, name = shorter[0], shorter[0].name
        file = req.results / card.run / LESION_FILE
        label = f"{TrainConfig(arch=card.arch, shortcut=card.shortcut).net_name} ({card.data}, {card.schedule} schedule)"
        if not file.exists() and req.train_missing:
            announce(f"lesion study of {name}: tens of test-set evaluations, on a CPU minutes to an hour")
            study_weights(name, str(req.results), draws=draws, record=True, device=req.device)
        if file.exists():
            studies[label] = json.loads(file.read_text())
        else:
            missing.append(f"python -m resnet_lib lesion published/{name}.pt --draws {draws} --record")
    return studies, missing


def lesion_figure(studies: dict[str, dict]) -> None:
    """`plots.lesion_figure` of `studies`, saved and shown."""
    _save_and_show(plots.lesion_figure(studies), "lesion-" + "-".join(s["net"] for s in studies.values()))


def show_lesion_claims(studies: dict[str, dict], missing: list[str]) -> None:
    """`claims.lesion_claims`, with how the studies were made and the commands for the missing ones."""
    from IPython.display import Markdown, display

    lines = lesion_claims(studies) or ["No lesion study recorded yet."]
    made = sorted({f"{s['data']} (sha256 {s['data_sha256'][:12]}…), {s['test_size']} test images, {s['precision']}, "
                   f"{s['draws']} draws per number of blocks" for s in studies.values()})
    if made:
        lines += ["", "Measured on: " + "; ".join(made) + "."]
    if missing:
        lines += ["", "**Not yet measured:**", "", "```bash", *missing, "```"]
    display(Markdown("\n".join(lines)))


def figure7(req: Request, shown: list[Run]) -> list[Run]:
    """Figure 7 of `shown` (plots.figure7), saved and shown; returns the runs drawn (one per architecture)."""
    fig, drawn = plots.figure7(shown)
    _save_and_show(fig, f"fig7-{req.label(drawn)}")
    return drawn


def _save_and_show(fig, name: str) -> None:
    save_figure(fig, name)
    plt.show()
