"""What the notebooks call, and all they call: check a notebook's parameters, reuse recorded runs and
train what is missing, then show figures and tables in the paper's conventions beside its numbers.

    from resnet_lib import notebook as nb
    req = nb.request(data="auto", schedule="1/8", device="auto", results="results", train_missing=None)
    runs, missing = nb.runs(req, ["plain20", "resnet20"], seeds=[0])
    nb.figure6(req, runs)
    nb.show_missing(req, missing)

A configuration already recorded (finished) is reused as it is; an unfinished one is resumed; a
missing one is trained (after a time estimate on CPU) unless training is off (the report build and
the tests set RESNET_LIB_REPORT_ONLY=1), in which case it is listed with the command that records it.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import paper, plots
from .analysis import describe
from .config import (KIND_NAMES, SCHEDULES, SHORTCUT_OPTIONS, ConfigError, TrainConfig, paper_name, parse_arch,
                     parse_shortcut, resolve_shortcut, schedule_settings)
from .console import announce, kernel_shutting_down, leave_kernel
from .data import CIFAR10_SHA256, JPEG_SHA256, default_source, identify, locate
from . import report
from .report import (benchmark_table, error_stats, evaluation_benchmark_table, run_table, save_figure,
                     short_hardware, short_title, show_provenance, show_table, split_name)
from .results import RESULTS_DIR, SMOKE_DIR, Run, devices_of, find_run, list_runs, load_runs
from .runtime import DEVICES

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
    report.enter_project_root()


@_loud
def request(data: str = "auto", schedule="full", device: str = "auto", results: str = "results",
            train_missing: bool | None = None, val_fraction: float = 0.0) -> Request:
    """Check a notebook's common parameters (ConfigError naming the problem and the fix) and move to the
    project root, so that results/ and data/ are found wherever the notebook was started.

    data "auto" is real CIFAR-10 where it is on this machine or where nothing is trained (the report shows
    the records, whatever machine builds it), else the JPEG copy."""
    enter_project_root()
    if isinstance(schedule, str):
        settings = schedule_settings(schedule)
    elif isinstance(schedule, int) and not isinstance(schedule, bool) and schedule >= 1:
        settings = {"iterations": schedule}
    else:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)} or a number of iterations >= 1, got {schedule!r}")
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    if not isinstance(val_fraction, (int, float)) or isinstance(val_fraction, bool) or not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction!r}; 0 trains on all 50k images (the "
                          f"reported models), 0.1 holds out the paper's 5k validation images")
    if train_missing is None:
        train_missing = os.environ.get("RESNET_LIB_REPORT_ONLY", "0") != "1"
    source = ("cifar10" if not train_missing else default_source()) if data == "auto" else str(data)
    if source == "synthetic" and Path(results) == RESULTS_DIR:
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
    from .runtime import pick_device
    from .train import TrainingInterrupted, estimate_seconds, stop_on_signals, train

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
    from .checkpoint import CheckpointError, load_checkpoint

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
    return _longest_recorded(req, archs, below=below, shortcuts=shortcuts)


def _longest_recorded(req: Request, archs: list[str], below: int | None = None, shortcuts: list[str | None] = (None,)
                      ) -> list[Run]:
    """Finished runs of `archs` x `shortcuts` on `req`'s data with the most iterations (fewer than `below`,
    if given), in the order of `archs`, then of the options; where none is recorded on that data, those
    of the next of `req.sources()` (real CIFAR-10's runs, else the JPEG copy's)."""
    recorded = list_runs(req.results)
    for source in req.sources():
        data_sha256 = identify(source)[1]
        found = _longest([r for r in recorded if r.config().data_sha256 == data_sha256], archs, shortcuts, below=below,
                         val_fraction=req.val_fraction)
        if found:
            return found
    return []


def _longest(runs: list[Run], archs: list[str], shortcuts: list[str | None] = (None,), below: int | None = None,
             together: bool = False, val_fraction: float = 0.0) -> list[Run]:
    """Of the finished `runs`, those of `archs` x `shortcuts` (None: the family's default option, A on CIFAR)
    on one data set, one split and the schedule with the most iterations (fewer than `below`, if given);
    `together`: the longest on which every one of them is recorded. On a tie the official CIFAR-10 comes
    before a copy, then the split `val_fraction` before another. Runs of two data sets, splits or schedules
    are never returned together. In the order of `archs`, then of the options."""
    wanted = [(arch, resolve_shortcut(parse_arch(arch), s)) for arch in archs for s in shortcuts]
    configs = {run: run.config() for run in runs if run.finished}
    net = {run: (config.arch, config.shortcut) for run, config in configs.items()}
    groups: dict[tuple[int, bool, str], list[Run]] = {}
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


# Figures ------------------------------------------------------------------------------------------

def figure6(req: Request, shown: list[Run], name: str) -> None:
    """Figure 6: plain nets (left) and ResNets (right), training error dashed, test error bold."""
    plain = [r for r in shown if r.config().arch.startswith("plain")]
    resnets = [r for r in shown if not r.config().arch.startswith("plain")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plots.error_curves(axes[0], plain, ylim=_ylim(shown))
    plots.error_curves(axes[1], resnets, ylim=_ylim(shown))
    axes[0].set_title("plain nets", fontsize=10)
    axes[1].set_title("ResNets", fontsize=10)
    fig.suptitle(f"Figure 6 {short_title(shown)}", fontsize=9)  # one line over both panels: theirs never overlap
    _save_and_show(fig, f"{name}-{req.label(shown)}")


def show_claims(shown: list[Run]) -> None:
    """Figure 6's two claims, each in one sentence on what `shown` (one schedule) says: deeper plain nets
    train worse (final training error), deeper ResNets test better (final test error)."""
    from IPython.display import Markdown, display

    final = {}
    for run in shown:
        final.setdefault(run.config().arch, []).append(run.summary()["final"])
    lines = []
    for kind, metric, claim in [("plain", "train_error", "deeper plain nets train worse (degradation)"),
                                ("resnet", "test_error", "deeper ResNets reach lower test error")]:
        depths = sorted(int(a[len(kind):]) for a in final if a.startswith(kind) and a[len(kind):].isdigit())
        if len(depths) < 2:
            lines.append(f"- *The paper: {claim}.* Not shown yet: it needs two {KIND_NAMES[kind]} depths on one schedule.")
            continue
        errors = {d: np.mean([f[metric] for f in final[f"{kind}{d}"]]) for d in depths}
        pairs = ", ".join(f"{paper_name(kind, d)} {errors[d]:.2f}%" for d in depths)
        ordered = all(errors[a] < errors[b] for a, b in zip(depths, depths[1:]))
        reversed_ = all(errors[a] > errors[b] for a, b in zip(depths, depths[1:]))
        holds = ordered if kind == "plain" else reversed_
        verdict = "as in the paper" if holds else "not what the paper shows" + (
            " (on a short schedule the deeper nets have not finished learning)" if not shown[0].summary()["full_schedule"]
            else "")
        metric_name = "training error" if metric == "train_error" else "test error"
        lines.append(f"- *The paper: {claim}.* Final {metric_name}: {pairs}: {verdict}.")
    display(Markdown("\n".join(lines) + f"\n\nRuns: {_how(shown).strip()[1:-1]}."))


def error_figure(req: Request, shown: list[Run], name: str) -> None:
    """Training (dashed) and test (bold) error of `shown` in one panel, titled with the nets it draws."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    plots.error_curves(ax, shown, ylim=_ylim(shown))
    title = " and ".join(dict.fromkeys(r.config().net_name for r in shown))
    ax.set_title(f"{title} {short_title(shown)}", fontsize=9)
    _save_and_show(fig, f"{name}-{req.label(shown)}")


def figure7(req: Request, shown: list[Run]) -> list[Run]:
    """Figure 7: std of layer responses in layer order (top) and sorted (bottom), one run per
    architecture (the first recorded); returns the runs drawn."""
    by_arch = {}
    for run in shown:
        by_arch.setdefault(run.config().arch, run)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7))
    plots.layer_responses(top, bottom, {r.config().net_name: r.summary()["layer_responses"] for r in by_arch.values()})
    top.set_title(f"std of layer responses {short_title(list(by_arch.values()))}", fontsize=9)
    fig.tight_layout()
    _save_and_show(fig, f"fig7-{req.label(list(by_arch.values()))}")
    return list(by_arch.values())


def _ylim(shown: list[Run]) -> tuple[float, float] | None:
    return (0, 20) if shown and all(r.summary()["full_schedule"] for r in shown) else None


def _save_and_show(fig, name: str) -> None:
    save_figure(fig, name)
    plt.show()


# Tables -------------------------------------------------------------------------------------------

def show_runs(shown: list[Run], with_paper: bool = True) -> None:
    """Final errors of `shown` beside the paper's Table 6 (ResNets), and how they were made."""
    table = run_table(shown)
    if with_paper and not table.empty:
        table["paper: test error"] = [paper.TABLE6.get(int(a[6:]), (0, 0, None))[2] if a.startswith("resnet") else None
                                      for a in table["arch"]]
    show_table(table)
    show_provenance(shown)


def show_table6(found: list[Run], depths: list[int]) -> None:
    """Table 6: our test error per depth (mean ± std over seeds, best) beside the paper's and others'."""
    stats = error_stats(found).set_index("arch") if found else pd.DataFrame()
    rows = []
    for depth in depths:
        _, params, paper_error = paper.TABLE6[depth]
        ours = stats.loc[f"resnet{depth}"] if f"resnet{depth}" in stats.index else None
        paper_mean = paper.TABLE6_RESNET110_MEAN_STD[0] if depth == 110 else paper_error
        rows.append({
            "depth": depth, "params": params,
            "paper": f"{paper_error} ({paper_mean}±{paper.TABLE6_RESNET110_MEAN_STD[1]})" if depth == 110 else f"{paper_error}",
            "ours: mean ± std": "not yet run" if ours is None else f"{ours['mean']:.2f} ± {ours['std']:.2f}"
            if ours["seeds"] > 1 else f"{ours['mean']:.2f}",
            "ours: best": ours["best"] if ours is not None else None,
            "seeds": int(ours["seeds"]) if ours is not None else 0,
            "ours − paper (mean)": ours["mean"] - paper_mean if ours is not None else None,
            **{name: results.get(depth) for name, results in paper.OTHER_REIMPLEMENTATIONS.items()},
        })
    table = pd.DataFrame(rows)
    if found and not all(r.summary()["full_schedule"] for r in found):  # a short run is not compared with the paper
        table = table.drop(columns="ours − paper (mean)")
    show_table(table)
    show_provenance(found)


def show_identity_mappings(resnet110: list[Run], preact: list[Run]) -> None:
    """The identity-mappings follow-up's ResNet-110 table: ours where measured, beside the paper's."""
    ours = {"original": error_stats(resnet110), "full pre-activation": error_stats(preact)}
    rows = []
    for unit, paper_error in paper.IDENTITY_MAPPINGS_RESNET110.items():
        stats = ours.get(unit)
        measured = stats is not None and not stats.empty
        rows.append({"residual unit (ResNet-110)": unit, "paper": paper_error,
                     "ours: mean": stats["mean"].iloc[0] if measured else None,
                     "ours: seeds": int(stats["seeds"].iloc[0]) if measured else 0})
    show_table(pd.DataFrame(rows))
    show_provenance(preact)


def show_table3() -> None:
    """The paper's ImageNet comparison of shortcut options (Table 3, top-1 error %)."""
    show_table(pd.DataFrame([{"network": k, "top-1 error": v} for k, v in paper.TABLE3_TOP1.items()]))


def show_shortcut_stats(found: list[Run]) -> None:
    """Test error per (depth, shortcut option)."""
    stats = error_stats(found, by=("arch", "shortcut"))
    show_table(stats if not stats.empty else pd.DataFrame([{"result": "not yet run"}]))
    show_provenance(found)


def layer_response_claims(responses: dict[str, list[float]]) -> list[str]:
    """Figure 7's two claims, one Markdown line each, from each arch's response stds (layer order):
    ResNets respond less than plain nets of the same depth (mean std, and position by position once
    both are sorted by magnitude, as the paper's lower panel draws them), and less the deeper they are."""
    nets = {(spec.kind, spec.depth): stds for spec, stds in ((parse_arch(a), v) for a, v in responses.items())}
    pairs = sorted(d for kind, d in nets if kind == "resnet" and ("plain", d) in nets)
    if pairs:
        parts, holds = [], True
        for d in pairs:
            plain, res = np.sort(nets["plain", d])[::-1], np.sort(nets["resnet", d])[::-1]
            below = int(np.sum(res < plain))
            holds &= bool(np.mean(res) < np.mean(plain)) and below > len(res) / 2
            parts.append(f"{paper_name('plain', d)} {np.mean(plain):.2f}, {paper_name('resnet', d)} {np.mean(res):.2f} "
                         f"(below at {below} of {len(res)} sorted positions)")
        verdict = "as in the paper" if holds else "not what the paper shows"
        lines = [f"- *The paper: ResNets respond less than plain nets.* Mean std: {'; '.join(parts)}: {verdict}."]
    else:
        lines = ["- *The paper: ResNets respond less than plain nets.* Not shown yet: it needs a plain net and a ResNet "
                 "of one depth."]
    depths = sorted(d for kind, d in nets if kind == "resnet")
    if len(depths) > 1:
        means = {d: float(np.mean(nets["resnet", d])) for d in depths}
        holds = all(means[a] > means[b] for a, b in zip(depths, depths[1:]))
        listed = ", ".join(f"{paper_name('resnet', d)} {means[d]:.2f}" for d in depths)
        lines.append(f"- *The paper: the deeper the ResNet, the smaller its responses.* Mean std: {listed}: "
                     f"{'as in the paper' if holds else 'not what the paper shows'}.")
    else:
        lines.append("- *The paper: the deeper the ResNet, the smaller its responses.* Not shown yet: it needs two "
                     "ResNet depths.")
    return lines


def show_layer_response_claims(drawn: list[Run]) -> None:
    """`layer_response_claims` of the runs drawn in Figure 7, with how they were made."""
    from IPython.display import Markdown, display

    lines = layer_response_claims({r.config().arch: r.summary()["layer_responses"] for r in drawn})
    display(Markdown("\n".join(lines) + (f"\n\nRuns: {_how(drawn).strip()[1:-1]}." if drawn else "")))


def show_layer_response_stats(drawn: list[Run]) -> None:
    rows = [{"arch": r.config().arch, "layers": len(r.summary()["layer_responses"]),
             "mean std": np.mean(r.summary()["layer_responses"]), "max std": np.max(r.summary()["layer_responses"]),
             "iterations": r.config().iterations} for r in drawn]
    show_table(pd.DataFrame(rows), floatfmt=".3f")
    show_provenance(drawn)


def show_architectures() -> None:
    """Table 1: ImageNet nets, our multiply-adds beside the paper's FLOPs."""
    rows = []
    for depth, flops in paper.TABLE1_FLOPS.items():
        for kind in ("plain", "resnet"):
            if kind == "plain" and depth not in (18, 34):
                continue
            info = describe(f"imagenet-{kind}{depth}")
            rows.append({"network": info["arch"], "shortcut": info["shortcut"] or "-", "layers": info["layers"],
                         "params (M)": info["params"] / 1e6, "ours: mult-adds (G)": info["macs"] / 1e9,
                         "paper: FLOPs (G)": flops / 1e9, "ours / paper": info["macs"] / flops})
    show_table(pd.DataFrame(rows), floatfmt=".3f")


def show_parameters(shortcuts: list[str]) -> None:
    """Table 6's parameter counts: plain and each shortcut option, beside the paper's."""
    rows = []
    for depth, (n, paper_params, _) in paper.TABLE6.items():
        row = {"depth": depth, "n": n, "paper: params": paper_params, "plain": describe(f"plain{depth}")["params"]}
        for option in shortcuts:
            row[f"ResNet {option}"] = describe(f"resnet{depth}", option)["params"]
        row["mult-adds (M), A"] = describe(f"resnet{depth}")["macs"] / 1e6
        rows.append(row)
    show_table(pd.DataFrame(rows), floatfmt=",.1f")


def show_benchmarks(results: str | Path) -> None:
    table = benchmark_table(Path(results) / "benchmarks")
    if table.empty:
        print("No benchmark recorded yet. Record one with\n\n    python benchmarks/throughput.py\n")
    else:
        show_table(table)


def show_evaluation_benchmarks(results: str | Path) -> None:
    table = evaluation_benchmark_table(Path(results) / "benchmarks")
    if table.empty:
        print("No evaluation benchmark recorded yet. Record one with\n\n    python benchmarks/evaluation.py\n")
    else:
        show_table(table, floatfmt=",.0f")


def show_run_times(results: str | Path) -> None:
    """The run-cost table (`run_times`), for the performance page."""
    show_table(run_times(results), floatfmt=".2f")


def run_times(results: str | Path) -> pd.DataFrame:
    """What each finished run cost, to plan one's own: one row per run, machine it trained on and number
    of runs sharing that machine meanwhile, with the iterations trained so, images/s over them, hours
    (training and evaluating), the evaluations' share, and the pieces (stretches of work) it took."""
    rows = []
    for run in list_runs(results):
        if not run.finished:
            continue
        config, summary = run.config(), run.summary()
        groups: dict[tuple[str, str], list[dict]] = {}  # (machine, runs at once) -> its pieces, in order
        for piece in summary["pieces"]:
            key = (short_hardware(piece["hardware"]), str(piece.get("runs_at_once", "not recorded")))
            groups.setdefault(key, []).append(piece)
        for (machine, at_once), pieces in groups.items():
            iterations = sum(p["end_iteration"] - p["start_iteration"] for p in pieces)
            train_s = sum(p["train_s"] for p in pieces)
            eval_s = None if any(p["eval_s"] is None for p in pieces) else sum(p["eval_s"] for p in pieces)
            rows.append({"run": f"{config.net_name}, {config.schedule}, seed {config.seed}, {config.precision}",
                         "hardware": machine, "iterations": iterations,
                         "img/s": round(config.batch_size * iterations / max(train_s, 1e-9)),
                         "runs at once": at_once,
                         "hours": (train_s + (eval_s or 0)) / 3600,
                         "evaluation share": None if eval_s is None else f"{100 * eval_s / (train_s + eval_s):.0f}%",
                         "pieces": len(pieces)})
    return pd.DataFrame(rows)


def show_numerics_check(results: str | Path, arch: str = "resnet20", schedule: str = "1/16") -> None:
    """fp32 against bf16 on the same seeds (the check bf16 must pass before it is a default): final
    errors per run, then the verdict, bf16's mean against fp32's seed-to-seed spread."""
    from .fastpath import BF16_BY_DEFAULT

    runs = [r for r in list_runs(results) if r.finished and r.config().arch == arch and r.config().schedule == schedule]
    table = run_table(runs)
    if table.empty:
        show_table(table)
        return
    table.insert(1, "precision", [r.config().precision for r in runs])
    show_table(table.drop(columns=["shortcut", "data", "iterations"]).sort_values(["precision", "seed"]))
    errors = {p: table[table["precision"] == p]["test error"] for p in ("fp32", "bf16")}
    from IPython.display import Markdown, display

    if len(errors["fp32"]) < 2 or errors["bf16"].empty:
        verdict = "not decided yet: it needs at least two fp32 seeds and one bf16 run."
    else:
        spread = errors["fp32"].max() - errors["fp32"].min()
        gap = abs(errors["bf16"].mean() - errors["fp32"].mean())
        verdict = (f"bf16 mean {errors['bf16'].mean():.2f}% against fp32 mean {errors['fp32'].mean():.2f}%: a gap of "
                   f"{gap:.2f} points, {'within' if gap <= spread else 'outside'} fp32's seed-to-seed spread of "
                   f"{spread:.2f} points ({len(errors['fp32'])} fp32 seeds, {len(errors['bf16'])} bf16).")
    default = ("bf16 is the default where the hardware runs it natively (CUDA, AVX-512 BF16, AMX)" if BF16_BY_DEFAULT
               else "bf16 stays opt-in (--precision bf16)")
    display(Markdown(f"**Verdict:** {verdict} Hence {default}. Runs: {_how(runs).strip()[1:-1]}."))


def show_all_runs(results: str | Path) -> None:
    """Every finished run with its provenance (an unfinished one, `show_unfinished_runs`, changes no checked output)."""
    table = load_runs(results)
    table = table[table["finished"]] if not table.empty else table
    if table.empty:
        print("no recorded runs")
        return
    columns = {"run": "run", "iterations": "iterations", "final.test_error": "test error",
               "data.name": "data", "data.sha256": "data sha256", "hardware": "hardware",
               "environment.torch": "torch", "environment.git_commit": "commit", "wall_time_s": "wall time (s)"}
    shown = table.reindex(columns=list(columns)).rename(columns=columns)
    shown["data sha256"] = shown["data sha256"].str[:8]
    shown["torch"] = shown["torch"].str.split("+").str[0]
    shown["hardware"] = [" + ".join(dict.fromkeys(short_hardware(h) for h in hw.split(" + "))) for hw in shown["hardware"]]
    shown["commit"] = shown["commit"].str[:8]
    show_table(shown)


def show_unfinished_runs(results: str | Path) -> None:
    """Runs begun here and not finished (no summary.json): where each stopped, and the command that resumes it."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .commands import train_command

    rows = []
    for run in list_runs(results):
        if not run.finished:
            try:
                at = load_checkpoint(run.checkpoint_file)["state"]["iteration"]
            except CheckpointError:
                at = "no readable checkpoint"
            rows.append({"run": run.path.name, "stopped at iteration": at,
                         "resume with": train_command(run.config(), results) + " --resume"})
    show_table(pd.DataFrame(rows)) if rows else print("none")


def show_published() -> None:
    """The published models' cards (resnet_lib.hub), beside the paper's test error."""
    from .hub import cards

    rows = [{"model": c.name, "arch": c.arch, "shortcut": c.shortcut or "-", "schedule": c.schedule, "data": c.data,
             "precision": c.precision, "seed": c.seed, "test error (published file)": c.test_error,
             "test error (run)": c.recorded_test_error, "paper": c.paper_test_error, "run": c.run}
            for c in cards().values()]
    if rows:
        show_table(pd.DataFrame(rows))
    else:
        print("none published yet: a model is published when its run on the paper's full schedule is recorded")


FIG6_ARCHS = [f"{kind}{depth}" for kind in ("plain", "resnet") for depth in (20, 32, 44, 56, 110)]
FIG7_ARCHS = ["plain20", "plain56", "resnet20", "resnet56", "resnet110"]
TABLE6_SEEDS = 5  # the paper reports ResNet-110 as best and mean of 5 runs; the Table 6 page asks 5 of each depth
SHORTCUT_DEPTHS, SHORTCUT_SEEDS = [20, 32, 56], 2  # what the shortcut options page asks


def _remains(runs: list[Run], archs: list[str], shortcuts: list[str | None] = (None,), seeds: int = 1) -> str:
    """What the replication still needs of `archs` x `shortcuts`: the nets with fewer than `seeds` finished runs
    on real CIFAR-10 on the paper's full schedule, e.g. 'on real CIFAR-10, full schedule: plain-32 (0 of 1
    seed)', or '–' when nothing is missing."""
    wanted = [(arch, resolve_shortcut(parse_arch(arch), s)) for arch in archs for s in shortcuts]
    counts = dict.fromkeys(wanted, 0)
    for run in runs:
        config = run.config()
        if (config.arch, config.shortcut) in counts and config.data_sha256 == CIFAR10_SHA256 and \
                run.summary()["full_schedule"]:
            counts[config.arch, config.shortcut] += 1
    by_count: dict[int, list[str]] = {}
    for (arch, shortcut), n in counts.items():
        if n < seeds:
            by_count.setdefault(n, []).append(TrainConfig(arch=arch, shortcut=shortcut).net_name)
    parts = [f"{', '.join(names)} ({n} of {seeds} seed{'s' if seeds > 1 else ''}{' each' if len(names) > 1 else ''})"
             for n, names in sorted(by_count.items())]
    return "on real CIFAR-10, full schedule: " + "; ".join(parts) if parts else "–"


def show_status(results: str | Path) -> None:
    """The replication at a glance: each experiment of the paper, the paper's number, ours (from the
    recorded runs on the longest schedule there is, real CIFAR-10 before a copy, with its schedule, seeds,
    data set, device and precision), and what remains (`_remains`)."""
    runs = [r for r in list_runs(results) if r.finished and r.config().data_sha256]
    rows = []
    for depth, (_, _, paper_error) in paper.TABLE6.items():
        best = _longest(runs, [f"resnet{depth}"])
        rows.append({"experiment": f"Table 6: ResNet-{depth} test error", "paper": f"{paper_error}%",
                     "ours": _errors(best, "test_error") or "not yet run",
                     "remains": _remains(runs, [f"resnet{depth}"], seeds=TABLE6_SEEDS) if depth != 1202 else "a GPU run"})
    resnets = " < ".join(f"{paper_name('resnet', d)} {paper.TABLE6[d][2]}%" for d in (56, 20))
    for claim, kind, paper_says, metric in [
            ("Figure 6: deeper plain nets train worse", "plain", "plain-56 above plain-20 (training error)", "train_error"),
            ("Figure 6: deeper ResNets are better", "resnet", f"{resnets} (test)", "test_error")]:
        both = _longest(runs, [f"{kind}20", f"{kind}56"], together=True)
        rows.append({"experiment": claim, "paper": paper_says, "ours": _errors(both, metric, by_arch=True) or "not yet run",
                     "remains": _remains(runs, [a for a in FIG6_ARCHS if a.startswith(kind)])})
    options = _longest(runs, ["resnet20"], SHORTCUT_OPTIONS, together=True)
    imagenet = "/".join(f"{paper.TABLE3_TOP1[f'ResNet-34 {o}']}" for o in SHORTCUT_OPTIONS)
    rows.append({"experiment": "Shortcut options A/B/C", "paper": f"ImageNet only (ResNet-34 top-1 {imagenet}%)",
                 "ours": _errors(options, "test_error", by_arch=True) or "not yet run",
                 "remains": _remains(runs, [f"resnet{d}" for d in SHORTCUT_DEPTHS], SHORTCUT_OPTIONS, SHORTCUT_SEEDS)})
    responses = _longest(runs, ["plain20", "plain56", "resnet20", "resnet56"], together=True)
    rows.append({"experiment": "Figure 7: smaller responses in ResNets",
                 "paper": "ResNet std below plain, layer by layer, and smaller in the deeper ResNet",
                 "ours": "; ".join(f"{r.config().net_name}: mean std {np.mean(r.summary()['layer_responses']):.2f}"
                                              for r in responses) + _how(responses) if responses else "not yet run",
                 "remains": _remains(runs, FIG7_ARCHS)})
    show_table(pd.DataFrame(rows))


def _errors(runs: list[Run], metric: str, by_arch: bool = False) -> str:
    """'8.61%' or '19.56 ± 0.28% (2 seeds)' per precision (and per arch), then how the runs were made."""
    if not runs:
        return ""
    groups: dict[tuple, list[float]] = {}
    for run in runs:
        config = run.config()
        groups.setdefault((config.net_name if by_arch else "", config.precision), []).append(run.summary()["final"][metric])
    precisions = {p for _, p in groups}
    parts = []
    for (name, precision), values in groups.items():
        value = f"{np.mean(values):.2f}" + (f" ± {np.std(values, ddof=1):.2f}" if len(values) > 1 else "") + "%"
        label = " ".join(x for x in (name, precision if len(precisions) > 1 else "") if x)
        parts.append(f"{label}: {value}" if label else value)
    kind = "" if metric == "test_error" else {"train_error": " training error"}[metric]
    return "; ".join(parts) + kind + _how(runs)


def _how(runs: list[Run]) -> str:
    """' (1/8 schedule, seeds 0, 1, cifar10-jpeg, CPU, fp32)': schedule, seeds, data set, device and precision."""
    configs, summaries = [r.config() for r in runs], [r.summary() for r in runs]
    seeds = sorted({c.seed for c in configs})
    schedule = "/".join(sorted({"full schedule" if s["full_schedule"] else f"{c.schedule} schedule"
                                for c, s in zip(configs, summaries)}))
    data = "/".join(sorted({s["data"]["name"] for s in summaries}))
    devices = devices_of(summaries)
    precisions = "/".join(sorted({c.precision for c in configs}))
    return (f" ({schedule}, seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, {data}, {devices}, "
            f"{precisions})")


def jpeg_cost_table(results: str | Path) -> pd.DataFrame:
    """One row per net trained on both real CIFAR-10 and its JPEG copy with the same recipe (every setting
    of the run key but the data equal): the two final test errors (%) and the JPEG copy's excess."""
    finished = [r for r in list_runs(results) if r.finished]
    real = {_without_data(r.config()): r for r in finished if r.config().data_sha256 == CIFAR10_SHA256}
    rows = []
    for run in finished:
        config = run.config()
        twin = real.get(_without_data(config)) if config.data_sha256 == JPEG_SHA256 else None
        if twin is not None:
            jpeg_error, real_error = run.summary()["final"]["test_error"], twin.summary()["final"]["test_error"]
            rows.append({"net": config.net_name, "schedule": config.schedule, "seed": config.seed,
                         "trained on": split_name(config.val_fraction, run.summary()["data"]["train_size"]),
                         "precision": config.precision, "real CIFAR-10": real_error, "JPEG copy": jpeg_error,
                         "JPEG − real": jpeg_error - real_error})
    return pd.DataFrame(rows)


def _without_data(config: TrainConfig) -> str:
    """The run key's settings but the data's identity, as one hashable string."""
    return repr(sorted({k: v for k, v in config.experiment().items() if k != "data_sha256"}.items()))


def seed_spread_table(results: str | Path) -> pd.DataFrame:
    """Seed-to-seed spread measured here: for each group of finished runs that differ only in their seed,
    the number of seeds and the range and sample std of their final test errors (%)."""
    groups: dict[str, list[Run]] = {}
    for run in list_runs(results):
        if run.finished:
            experiment = {k: v for k, v in run.config().experiment().items() if k != "seed"}
            groups.setdefault(repr(sorted(experiment.items())), []).append(run)
    rows = []
    for runs in groups.values():
        if len(runs) > 1:
            config, errors = runs[0].config(), [r.summary()["final"]["test_error"] for r in runs]
            rows.append({"net": config.net_name, "schedule": config.schedule, "data": runs[0].summary()["data"]["name"],
                         "precision": config.precision, "seeds": len(runs), "range": max(errors) - min(errors),
                         "std": float(np.std(errors, ddof=1))})
    return pd.DataFrame(rows)


def show_jpeg_cost(results: str | Path) -> None:
    """The cost of JPEG: the paired table (`jpeg_cost_table`), the seed spread beside it, and the JPEG runs
    still waiting for their real-data twin (with the commands that record it)."""
    from IPython.display import Markdown, display

    pairs = jpeg_cost_table(results)
    if pairs.empty:
        display(Markdown("No net is recorded on both copies with the same recipe yet."))
    else:
        show_table(pairs)
    spread = seed_spread_table(results)
    display(Markdown("**Seed-to-seed spread measured here** (runs that differ only in their seed):"))
    show_table(spread) if not spread.empty else print("none yet: no configuration has two seeds")
    paired = set(zip(pairs.get("net", []), pairs.get("schedule", []), pairs.get("seed", [])))
    waiting = []
    for run in list_runs(results):
        config = run.config()
        if run.finished and config.data_sha256 == JPEG_SHA256 and config.full_schedule and \
                (config.net_name, config.schedule, config.seed) not in paired:
            waiting.append(replace(config, data="cifar10", data_sha256=CIFAR10_SHA256, channels_last=None, compile=None))
    display(Markdown("**JPEG-copy runs on the full schedule still without their real-data twin:**"))
    report.show_missing(waiting, results)


def show_missing(req: Request, missing: list[TrainConfig]) -> None:
    """Configurations not yet recorded, with the commands that record them."""
    report.show_missing(missing, req.results)


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
