"""The replication at a glance (the report's first page): each experiment of the paper, the paper's
number, ours from the recorded runs, and what remains, counted against what each page asks for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import paper
from .config import TrainConfig
from .data import CIFAR10_SHA256
from .models import SHORTCUT_OPTIONS, paper_name, parse_arch, resolve_shortcut
from .report import how, show_table
from .results import Run, list_runs, longest
from .tables import jpeg_cost_table

FIG6_ARCHS = [f"{kind}{depth}" for kind in ("plain", "resnet") for depth in (20, 32, 44, 56, 110)]
FIG7_ARCHS = ["plain20", "plain56", "resnet20", "resnet56", "resnet110"]
TABLE6_SEEDS = 5  # the paper reports ResNet-110 as best and mean of 5 runs; the Table 6 page asks 5 of each depth
SHORTCUT_DEPTHS, SHORTCUT_SEEDS = [20, 32, 56], 2  # what the shortcut options page asks


def _remains(runs: list[Run], archs: list[str], shortcuts: list[str | None] = (None,), seeds: int = 1) -> str:
    """What the replication still needs of `archs` x `shortcuts`: the nets with fewer than `seeds` seeds
    finished on real CIFAR-10 on the paper's full schedule with the reported recipe (all 50k training images),
    e.g. 'on real CIFAR-10, full schedule: plain-32 (0 of 1 seed)', or '–' when nothing is missing. A seed
    counts once, whatever its precision; a run on the 45k/5k split is the schedule's check, not a seed."""
    wanted = [(arch, resolve_shortcut(parse_arch(arch), s)) for arch in archs for s in shortcuts]
    seeds_done: dict[tuple, set[int]] = {net: set() for net in wanted}
    for run in runs:
        config = run.config()
        if (config.arch, config.shortcut) in seeds_done and config.data_sha256 == CIFAR10_SHA256 and \
                config.val_fraction == 0 and run.summary()["full_schedule"]:
            seeds_done[config.arch, config.shortcut].add(config.seed)
    by_count: dict[int, list[str]] = {}
    for (arch, shortcut), done in seeds_done.items():
        if len(done) < seeds:
            by_count.setdefault(len(done), []).append(TrainConfig(arch=arch, shortcut=shortcut).net_name)
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
        best = longest(runs, [f"resnet{depth}"])
        rows.append({"experiment": f"Table 6: ResNet-{depth} test error", "paper": f"{paper_error}%",
                     "ours": _errors(best, "test_error") or "not yet run",
                     "remains": _remains(runs, [f"resnet{depth}"], seeds=TABLE6_SEEDS) if depth != 1202 else "a GPU run"})
    resnets = " < ".join(f"{paper_name('resnet', d)} {paper.TABLE6[d][2]}%" for d in (56, 20))
    for claim, kind, paper_says, metric in [
            ("Figure 6: deeper plain nets train worse", "plain", "plain-56 above plain-20 (training error)", "train_error"),
            ("Figure 6: deeper ResNets are better", "resnet", f"{resnets} (test)", "test_error")]:
        both = longest(runs, [f"{kind}20", f"{kind}56"], together=True)
        rows.append({"experiment": claim, "paper": paper_says, "ours": _errors(both, metric, by_arch=True) or "not yet run",
                     "remains": _remains(runs, [a for a in FIG6_ARCHS if a.startswith(kind)])})
    options = longest(runs, ["resnet20"], SHORTCUT_OPTIONS, together=True)
    imagenet = "/".join(f"{paper.TABLE3_TOP1[f'ResNet-34 {o}']}" for o in SHORTCUT_OPTIONS)
    rows.append({"experiment": "Shortcut options A/B/C", "paper": f"ImageNet only (ResNet-34 top-1 {imagenet}%)",
                 "ours": _errors(options, "test_error", by_arch=True) or "not yet run",
                 "remains": _remains(runs, [f"resnet{d}" for d in SHORTCUT_DEPTHS], SHORTCUT_OPTIONS, SHORTCUT_SEEDS)})
    responses = longest(runs, ["plain20", "plain56", "resnet20", "resnet56"], together=True)
    rows.append({"experiment": "Figure 7: smaller responses in ResNets",
                 "paper": "ResNet std below plain, layer by layer, and smaller in the deeper ResNet",
                 "ours": "; ".join(f"{r.config().net_name}: mean std {np.mean(r.summary()['layer_responses']):.2f}"
                                              for r in responses) + how(responses) if responses else "not yet run",
                 "remains": _remains(runs, FIG7_ARCHS)})
    pairs = jpeg_cost_table(results).to_dict("records")
    near = [p["net"] for p in pairs if not p["same recipe"]]
    rows.append({"experiment": "What JPEG compression costs", "paper": "not in the paper",
                 "ours": "; ".join(f"{p['net']}: {p['JPEG − real']:+.2f} points on the JPEG copy ({p['schedule']} "
                                   f"schedule{'' if p['same recipe'] else ', near pair'})" for p in pairs) or "not yet run",
                 "remains": f"the same-recipe pair of {', '.join(near)} (real CIFAR-10 on the copy's split)" if near
                            else "–" if pairs else "a net trained on both copies"})
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
    return "; ".join(parts) + kind + how(runs)
