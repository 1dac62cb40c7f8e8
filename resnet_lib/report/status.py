"""The replication at a glance (the report's first page): each experiment of the paper, the paper's
number, ours from the recorded runs, and what remains, counted against what each page asks for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import pages
from .. import paper
from ..config import PAPER_ITERATIONS, TrainConfig
from ..data.datasets import CIFAR10_SHA256, JPEG_SHA256
from ..models.resnet import SHORTCUT_OPTIONS, paper_name, parse_arch, resolve_shortcut
from ..runs.results import Run, devices_of, list_runs, longest
from .comparisons import jpeg_cost_table, test_time_cost_table
from .views import show_table



def _remains(runs: list[Run], archs: list[str], shortcuts: list[str | None] = (None,), seeds: int = 1) -> str:
    """What the replication still needs of `archs` x `shortcuts`: the nets with fewer than `seeds` seeds
    finished on real CIFAR-10 on the paper's full schedule with the reported recipe (all 50k training images),
    e.g. 'plain-32 (0 of 1 seed)', or '–' when nothing is missing. A seed
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
    return "; ".join(parts) if parts else "–"


NOT_YET = "not yet trained"


def _replication(runs: list[Run]) -> list[Run]:
    """The runs comparable with the paper's numbers: real CIFAR-10 and the paper's full schedule."""
    return [r for r in runs if r.config().data_sha256 == CIFAR10_SHA256 and r.summary()["full_schedule"]]


def _elsewhere(runs: list[Run], archs: list[str], page: str, title: str) -> str:
    """NOT_YET, and where shorter or JPEG-copy runs of `archs` are shown, if any is recorded."""
    others = [r for r in runs if r.config().arch in archs and r not in _replication(runs)]
    return NOT_YET + (f" (shorter or JPEG-copy runs: [{title}]({page}))" if others else "")


def verdict(results: str | Path) -> list[str]:
    """Where the replication stands, in Markdown lines from the recorded runs: what replicates on real
    CIFAR-10 with the full schedule (with the numbers), what is not yet run, and what JPEG compression costs."""
    from .claims import layer_response_claims, noise_band

    runs = [r for r in list_runs(results) if r.finished and r.config().data_sha256]
    real = _replication(runs)

    def error(arch: str, metric: str = "test_error") -> float | None:
        found = longest(real, [arch])
        return float(np.mean([r.summary()["final"][metric] for r in found])) if found else None

    replicates, differs = [], []
    plain = {d: error(f"plain{d}", "train_error") for d in (20, 56)}
    resnet = {d: error(f"resnet{d}") for d in (20, 56)}
    if None not in plain.values() and None not in resnet.values():
        shown = plain[56] > plain[20] and resnet[56] < resnet[20]
        (replicates if shown else differs).append(
            f"Figure 6's degradation: plain-56 trains worse than plain-20 (training error {plain[56]:.2f}% against "
            f"{plain[20]:.2f}%) while ResNet-56 tests better than ResNet-20 ({resnet[56]:.2f}% against {resnet[20]:.2f}%)")
    responses = longest(real, ["plain20", "plain56", "resnet20", "resnet56"], together=True)
    if responses:
        stds = {r.config().arch: r.summary()["layer_responses"] for r in responses}
        shown = "as in the paper" in layer_response_claims(stds)[0]
        means = {a: float(np.mean(v)) for a, v in stds.items()}
        (replicates if shown else differs).append(
            "Figure 7: ResNets respond less than plain nets of the same depth (mean std " + ", ".join(
                f"{means[f'resnet{d}']:.2f} against {means[f'plain{d}']:.2f} at {d} layers" for d in (20, 56)) + ")")
    within, beyond, missing = [], [], []
    for depth in [d for d in paper.TABLE6 if d != 1202]:
        found = longest(real, [f"resnet{depth}"])
        if not found:
            missing.append(f"ResNet-{depth}")
            continue
        ours = float(np.mean([r.summary()["final"]["test_error"] for r in found]))
        theirs = paper.reference_error(depth)
        band = noise_band(len(found), paper.reference_runs(depth))
        text = f"ResNet-{depth} {ours:.2f}% (paper {theirs}%)"
        (within if abs(ours - theirs) <= band else beyond).append((text, ours - theirs))
    if within:
        replicates.append("Table 6 within seed-to-seed variation of the paper: " + ", ".join(t for t, _ in within))
    if beyond:
        differs.append("Table 6 beyond seed-to-seed variation: " + ", ".join(
            f"{t}, {abs(g):.2f} points {'lower' if g < 0 else 'higher'}" for t, g in beyond) +
            " (the [Table 6](table6) page says what is known of why)")
    lines = [f"**Where the replication stands** (real CIFAR-10, the paper's full {PAPER_ITERATIONS // 1000}k-iteration "
             f"schedule):", ""]
    if replicates:
        lines.append("- *Replicates:* " + "; ".join(replicates) + ".")
    if differs:
        lines.append("- *Differs:* " + "; ".join(differs) + ".")
    not_yet = missing + [paper_name("plain", d) for d in (20, 32, 44, 56, 110) if not longest(real, [f"plain{d}"])]
    not_yet += [f"shortcut option{'s' * (len(o) > 1)} {' and '.join(o)}" for o in
                [[x for x in SHORTCUT_OPTIONS if x != "A" and not longest(real, ["resnet20"], [x])]] if o]
    not_yet.append("ResNet-1202 (a GPU run)")
    lines.append("- *Not yet run:* " + ", ".join(not_yet) + ". Until then the pages show shorter runs and runs on a "
                 "lossy JPEG copy of CIFAR-10, labelled as such and never set beside the paper's numbers.")
    same = [p for p in jpeg_cost_table(results).to_dict("records") if p["same recipe"] and p["schedule"] == "full"]
    if same:
        lines.append("- *Beyond the paper:* " + "; ".join(
            f"the same {p['net']}, trained the same way, tests at {p['JPEG copy']:.2f}% on a JPEG copy of CIFAR-10 "
            f"against {p['real CIFAR-10']:.2f}% on the real pixels: {p['JPEG − real']:.2f} points lost to JPEG" for p in same)
            + " ([What JPEG compression costs](jpeg_cost)).")
    studies = lesion_medians(results)
    if studies:
        lines.append("- *What the shortcuts buy:* deleting one block that keeps the resolution from a trained ResNet "
                     "raises its test error by a median of " + ", ".join(
                         f"{rise:.2f} points for {net}" for net, rise in studies.items())
                     + " ([What the shortcuts buy](lesion)).")
    tested = [t for t in test_time_cost_table(results).to_dict("records") if t["schedule"] == "full"]
    if tested:
        lines.append("- *At test time:* the published models, trained on the real pixels, err far more on the JPEG "
                     "copy's test images: " + ", ".join(f"{t['model']} {t['JPEG test images']:.2f}% "
                                                       f"({t['real test images']:.2f}% on the real ones)" for t in tested) + ".")
    return lines


def lesion_medians(results: str | Path) -> dict[str, float]:
    """{net: median rise of its test error (points) with one block deleted where the resolution is kept}, from
    the lesion studies recorded beside the published real-data full-schedule ResNets' runs, shallowest first."""
    import json

    from ..training.hub import cards
    from ..training.lesion import LESION_FILE
    from .claims import RESOLUTION_BLOCKS, single_rises

    found = {}
    for card in sorted(cards().values(), key=lambda c: parse_arch(c.arch).depth):
        file = Path(results) / card.run / LESION_FILE
        if card.data_sha256 == CIFAR10_SHA256 and card.full_schedule and parse_arch(card.arch).kind == "resnet" \
                and file.exists():
            study = json.loads(file.read_text())
            rises = [v for block, v in single_rises(study).items() if block not in RESOLUTION_BLOCKS]
            found[TrainConfig(arch=card.arch, shortcut=card.shortcut).net_name] = float(np.median(rises))
    return found


def show_verdict(results: str | Path) -> None:
    """`verdict(results)` as Markdown."""
    from IPython.display import Markdown, display

    display(Markdown("\n".join(verdict(results))))


GRID_DEPTHS = [20, 32, 44, 56, 110, 1202]


def grid_cells(results: str | Path) -> dict[str, dict[int, tuple[str, str]]]:
    """What `plots.status_grid` draws: for each net family (ResNet, plain, ResNet with option B or C) and
    depth, the best kind of record there is ("real", "jpeg", "short" or "none") and its test error (mean
    over seeds, %) or, for a short run, its schedule ("1/8")."""
    runs = [r for r in list_runs(results) if r.finished and r.config().data_sha256]
    real = _replication(runs)
    jpeg = [r for r in runs if r.config().data_sha256 == JPEG_SHA256 and r.summary()["full_schedule"]]
    rows = {}
    for row, kind, shortcut in [("ResNet", "resnet", None), ("plain", "plain", None), ("ResNet, option B", "resnet", "B"),
                                ("ResNet, option C", "resnet", "C")]:
        cells = {}
        for depth in GRID_DEPTHS:
            arch = f"{kind}{depth}"
            for label, pool in (("real", real), ("jpeg", jpeg)):
                found = longest(pool, [arch], [shortcut])
                if found:
                    cells[depth] = (label, f"{np.mean([r.summary()['final']['test_error'] for r in found]):.2f}")
                    break
            else:
                short = longest(runs, [arch], [shortcut])
                if short:
                    cells[depth] = ("short", short[0].config().schedule)
        rows[row] = cells
    return rows


def show_status_grid(results: str | Path) -> None:
    """`plots.status_grid` of `grid_cells(results)`, saved in figures/ and shown."""
    import matplotlib.pyplot as plt

    from .plots import status_grid
    from .views import save_figure

    save_figure(status_grid(grid_cells(results), GRID_DEPTHS), "status-grid")
    plt.show()


def show_status(results: str | Path) -> None:
    """The replication at a glance: each experiment of the paper, the paper's number, ours where it is
    comparable (real CIFAR-10, full schedule; with seeds, device and precision), and what remains
    (`_remains`). An experiment without comparable runs says so and links the page of its other runs."""
    runs = [r for r in list_runs(results) if r.finished and r.config().data_sha256]
    real = _replication(runs)
    rows = []
    for depth, (_, _, paper_error) in paper.TABLE6.items():
        best = longest(real, [f"resnet{depth}"])
        papers = f"{paper_error}% (best of 5; mean {paper.TABLE6_RESNET110_MEAN_STD[0]}%)" if depth == 110 else f"{paper_error}%"
        rows.append({"experiment": f"[Table 6](table6): ResNet-{depth} test error", "paper": papers,
                     "ours": _errors(best, "test_error") or _elsewhere(runs, [f"resnet{depth}"], "table6", "Table 6"),
                     "remains": _remains(runs, [f"resnet{depth}"], seeds=len(pages.TABLE6_SEEDS)) if depth != 1202 else "a GPU run"})
    resnets = " < ".join(f"{paper_name('resnet', d)} {paper.TABLE6[d][2]}%" for d in (56, 20))
    for claim, kind, paper_says, metric in [
            ("deeper plain nets train worse", "plain", "plain-56 above plain-20 (training error)", "train_error"),
            ("deeper ResNets are better", "resnet", f"{resnets} (test)", "test_error")]:
        both = longest(real, [f"{kind}20", f"{kind}56"], together=True)
        rows.append({"experiment": f"[Figure 6](fig6_cifar): {claim}", "paper": paper_says,
                     "ours": _errors(both, metric, by_arch=True) or _elsewhere(runs, [f"{kind}20", f"{kind}56"], "fig6_cifar", "Figure 6"),
                     "remains": _remains(runs, [a for a in pages.fig6_archs() if a.startswith(kind)])})
    options = longest(real, ["resnet20"], SHORTCUT_OPTIONS, together=True)
    imagenet = "/".join(f"{paper.TABLE3_TOP1[f'ResNet-34 {o}']}" for o in SHORTCUT_OPTIONS)
    rows.append({"experiment": "[Shortcut options](shortcuts) A/B/C", "paper": f"ImageNet only (ResNet-34 top-1 {imagenet}%)",
                 "ours": _errors(options, "test_error", by_arch=True) or _elsewhere(
                     [r for r in runs if r.config().shortcut in ("B", "C")], ["resnet20", "resnet32", "resnet56"],
                     "shortcuts", "Shortcut options"),
                 "remains": _remains(runs, [f"resnet{d}" for d in pages.SHORTCUT_DEPTHS], pages.SHORTCUT_OPTIONS,
                                        len(pages.SHORTCUT_SEEDS))})
    responses = longest(real, ["plain20", "plain56", "resnet20", "resnet56"], together=True)
    rows.append({"experiment": "[Figure 7](layer_responses): smaller responses in ResNets",
                 "paper": "ResNet std below plain, layer by layer, and smaller in the deeper ResNet",
                 "ours": "; ".join(f"{r.config().net_name}: mean std {np.mean(r.summary()['layer_responses']):.2f}"
                                   for r in responses) + _how(responses) if responses else
                 _elsewhere(runs, pages.FIG7_ARCHS, "layer_responses", "Figure 7"),
                 "remains": _remains(runs, pages.FIG7_ARCHS)})
    pairs = [p for p in jpeg_cost_table(results).to_dict("records") if p["schedule"] == "full"]
    apart = [p["net"] for p in pairs if not p["same recipe"]]
    same = "; ".join(f"{p['net']} {p['JPEG − real']:+.2f}" for p in pairs if p["same recipe"])
    near = "; ".join(f"{p['net']} {p['JPEG − real']:+.2f}" for p in pairs if not p["same recipe"])
    rows.append({"experiment": "[What JPEG compression costs](jpeg_cost)", "paper": "not in the paper",
                 "ours": ("test error on the JPEG copy minus on real CIFAR-10, full schedule: " +
                          "; ".join(x for x in (same and f"{same} points (same recipe)",
                                                near and f"{near} points (real data trained on all 50k images, the copy on 45k)")
                                    if x)) if pairs else "not yet run",
                 "remains": f"{', '.join(apart)} on real CIFAR-10 with the copy's 45k/5k split" if apart
                            else "–" if pairs else "a net trained on both copies"})
    table = pd.DataFrame(rows).rename(columns={"ours": "ours (real CIFAR-10, full schedule)",
                                               "remains": "remains (real CIFAR-10, full schedule)"})
    show_table(table)


def _how(runs: list[Run]) -> str:
    """' (seed 0; CPU, bf16)': what tells comparable runs apart (all are real CIFAR-10, full schedule)."""
    seeds = sorted({r.config().seed for r in runs})
    precisions = "/".join(sorted({r.config().precision for r in runs}))
    return f" (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}; {devices_of([r.summary() for r in runs])}, {precisions})"


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
