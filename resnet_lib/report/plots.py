"""Figures in the paper's conventions, drawn from recorded runs (matplotlib)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..runs.results import Run
from .views import short_title

FIGURE_WIDTH_IN = 5.2  # 624 px at the 120 dpi figures are saved at: within the book's text column, no scaling down


def error_curves(ax, runs: list[Run], labels: list[str] | None = None, ylim: tuple[float, float] | None = None) -> None:
    """Figure 6: training error (dashed) and test error (bold) in % against iterations, in units of
    1e4 as the paper draws them (1e3 for short runs).

    One colour per run; runs of the same architecture (several seeds) are averaged. Runs of different
    schedules in one panel say so in their labels.
    """
    if not runs:
        ax.text(0.5, 0.5, "not yet run", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_xlabel("iter. (1e4)")
        ax.set_ylabel("error (%)")
        ax.set_xticks([])  # no scale without curves: 0 to 1 would read as a measurement
        ax.set_yticks([])
        return
    schedules = {run.config().schedule for run in runs}
    groups: dict[str, list[pd.DataFrame]] = {}
    for i, run in enumerate(runs):
        label = labels[i] if labels else run.config().net_name + (f" ({run.config().schedule})" if len(schedules) > 1 else "")
        groups.setdefault(label, []).append(run.metrics())
    unit = 1e4 if max(run.config().iterations for run in runs) >= 20000 else 1e3
    colors = plt.get_cmap("tab10")
    for i, (label, frames) in enumerate(groups.items()):
        mean = pd.concat(frames).groupby("iteration").mean(numeric_only=True)
        seeds = f" ({len(frames)} seeds)" if len(frames) > 1 else ""
        x = mean.index / unit
        marker = "o" if len(mean) < 20 else None  # sparse curves of short runs stay visible
        ax.plot(x, mean["train_error"], "--", marker=marker, markersize=3, color=colors(i), linewidth=1)
        ax.plot(x, mean["test_error"], "-", marker=marker, markersize=4, color=colors(i), linewidth=2, label=f"{label}{seeds}")
    ax.set_xlabel(f"iter. (1e{int(np.log10(unit))})")
    ax.set_ylabel("error (%)")
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    # below the panel: the curves of short runs fill it from 10% to 90%, and a legend inside hid plain-110's
    ax.legend(title="dashed: train, bold: test", fontsize=9, title_fontsize=9, loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncol=min(len(groups), 3), frameon=False)


def layer_responses(ax_order, ax_sorted, responses: dict[str, list[float]]) -> None:
    """Figure 7: std of each 3x3 layer's response, in layer order (top) and sorted descending (bottom)."""
    colors = plt.get_cmap("tab10")
    for i, (label, stds) in enumerate(responses.items()):
        style = "--" if label.startswith("plain") else "-"
        ax_order.plot(range(1, len(stds) + 1), stds, style, color=colors(i), label=label)
        ax_sorted.plot(range(1, len(stds) + 1), sorted(stds, reverse=True), style, color=colors(i), label=label)
    for ax, xlabel in ((ax_order, "layer index (original)"), (ax_sorted, "layer index (sorted by magnitude)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("std")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)


def figure6(shown: list[Run]):
    """Figure 6: plain nets (top) and ResNets (bottom), training error dashed, test error bold; for runs on real
    CIFAR-10 and the full schedule, the paper's Table 6 test error of each ResNet drawn marked at the right edge. Panels stacked, so
    that each keeps the text column's width on a phone."""
    plain = [r for r in shown if r.config().arch.startswith("plain")]
    resnets = [r for r in shown if not r.config().arch.startswith("plain")]
    fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 8.4))
    error_curves(axes[0], plain, ylim=_ylim(shown))
    error_curves(axes[1], resnets, ylim=_ylim(shown))
    if resnets and all(r.summary()["full_schedule"] and r.summary()["data"]["name"] == "cifar10" for r in resnets):
        _paper_marks(axes[1], resnets)  # beside comparable runs only: real CIFAR-10, the full schedule
    axes[0].set_title(f"Figure 6, plain nets {short_title(shown)}", fontsize=9)
    axes[1].set_title("ResNets", fontsize=10)
    fig.tight_layout()
    return fig


def _paper_marks(ax, runs: list[Run]) -> None:
    """The paper's Table 6 test error of each ResNet in `runs`, as a triangle at the panel's right edge in the
    net's colour (the order error_curves gives them)."""
    from .. import paper
    from ..models.resnet import parse_arch

    nets = list(dict.fromkeys(r.config().net_name for r in runs))
    end = max(r.config().iterations for r in runs) / 1e4
    colors = plt.get_cmap("tab10")
    for i, net in enumerate(nets):
        spec = parse_arch(next(r.config().arch for r in runs if r.config().net_name == net))
        if spec.kind == "resnet" and spec.depth in paper.TABLE6 and net == f"ResNet-{spec.depth}":
            ax.plot(end * 1.02, paper.reference_error(spec.depth), "<", color=colors(i), markersize=8, clip_on=False)
    ax.legend(title="dashed: train, bold: test; ◁ the paper's Table 6", fontsize=9, title_fontsize=9, loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncol=min(len(nets), 3), frameon=False)


def error_figure(shown: list[Run]):
    """Training (dashed) and test (bold) error of `shown` in one panel, titled with the nets it draws."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.2))
    error_curves(ax, shown, ylim=_ylim(shown))
    title = " and ".join(dict.fromkeys(r.config().net_name for r in shown))
    ax.set_title(f"{title} {short_title(shown)}", fontsize=9)
    return fig


def figure7(shown: list[Run]):
    """Figure 7: std of layer responses in layer order (top) and sorted (bottom), one run per
    architecture (the first recorded); returns (the figure, the runs drawn)."""
    by_arch = {}
    for run in shown:
        by_arch.setdefault(run.config().arch, run)
    drawn = list(by_arch.values())
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 7))
    layer_responses(top, bottom, {r.config().net_name: r.summary()["layer_responses"] for r in drawn})
    top.set_title(f"std of layer responses {short_title(drawn)}", fontsize=9)
    fig.tight_layout()
    return fig, drawn


def _ylim(shown: list[Run]) -> tuple[float, float] | None:
    """The paper's 0-20% error axis for full-schedule runs; short runs' errors are higher."""
    return (0, 20) if shown and all(r.summary()["full_schedule"] for r in shown) else None


def table6_dots(real: list[Run]):
    """Table 6 as a dot plot: per depth, the paper's number with the band one run of ours falls in from the
    seeds alone (claims.noise_band), the public reimplementations, and ours, one dot per seed (`real`: runs
    on real CIFAR-10 and the full schedule)."""
    from .. import paper
    from .claims import noise_band

    depths = [d for d in paper.TABLE6 if d != 1202]
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 3.6))
    for i, depth in enumerate(depths):
        theirs, band = paper.reference_error(depth), noise_band(1, paper.reference_runs(depth))
        ax.errorbar(i, theirs, yerr=band, fmt="D", color="black", markersize=6, capsize=4,
                    label="paper (ResNet-110: mean of 5); bar: where one run\nof ours falls from the seeds alone (2 std of a difference)" if i == 0 else None)
        if depth == 110:
            ax.plot(i, paper.TABLE6[110][2], "d", color="black", fillstyle="none", markersize=6, label="paper, best of 5")
        for j, (name, numbers) in enumerate(paper.OTHER_REIMPLEMENTATIONS.items()):
            if depth in numbers:
                ax.plot(i - 0.22 + 0.1 * j, numbers[depth], "^s"[j], color="gray", fillstyle="none", markersize=6,
                        label=f"{name.split()[0]} ({paper.REIMPLEMENTATION_HOW[name][1]})" if i == 0 else None)
        for held_out, style, label in ((False, "o", "ours, one dot per seed (trained on all 50k images)"),
                                       (True, "o", "ours, 5k held out (the paper's 45k/5k split)")):
            ours = [r.summary()["final"]["test_error"] for r in real if bool(r.config().val_fraction) == held_out
                    and r.config().arch == f"resnet{depth}" and r.config().shortcut == "A"]
            ax.plot([i + 0.22] * len(ours), ours, style, color="tab:blue", markersize=7,
                    fillstyle="none" if held_out else "full",
                    label=label if ours and label not in [h.get_label() for h in ax.lines] else None)
    ax.set_xticks(range(len(depths)), [f"ResNet-{d}" for d in depths], fontsize=9)
    ax.set_xlim(-0.5, len(depths) - 0.5)
    ax.set_ylabel("test error (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Table 6 on real CIFAR-10, full schedule", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, frameon=False)
    return fig


def status_grid(rows: dict[str, dict[int, tuple[str, str]]], depths: list[int]):
    """The replication's status as a grid of experiment (rows) by depth (columns): each cell coloured by
    what is recorded ("real" real CIFAR-10 on the full schedule, "jpeg" the JPEG copy on it, "short" a
    shorter schedule, "none" nothing) and labelled with its number. `rows`: {row: {depth: (kind, label)}}."""
    depths = sorted(depths)
    colours = {"real": "#4c9a5a", "jpeg": "#e0a040", "short": "#d8d8d8", "none": "#ffffff"}
    names = {"real": "real CIFAR-10, full schedule", "jpeg": "JPEG copy, full schedule", "short": "a shorter schedule only",
             "none": "not yet run"}
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 0.5 * len(rows) + 1.3))
    for y, (row, cells) in enumerate(rows.items()):
        for x, depth in enumerate(depths):
            kind, label = cells.get(depth, ("none", ""))
            ax.add_patch(plt.Rectangle((x, y), 0.96, 0.92, color=colours[kind], ec="#999999", lw=0.5))
            ax.text(x + 0.48, y + 0.46, label, ha="center", va="center", fontsize=10,
                    color="white" if kind == "real" else "black")
    ax.set_xlim(0, len(depths))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks([x + 0.48 for x in range(len(depths))], [str(d) for d in depths], fontsize=10)
    ax.set_yticks([y + 0.46 for y in range(len(rows))], list(rows), fontsize=10)
    ax.set_xlabel("depth (layers)")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[k], ec="#999999", lw=0.5) for k in colours]
    ax.legend(handles, [names[k] for k in colours], fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              ncol=2, frameon=False)
    ax.set_title("What is recorded (cells: our test error %, or the\nlongest shorter schedule)", fontsize=10)
    return fig


def lesion_figure(studies: dict[str, dict]):
    """What the shortcuts buy (Veit et al., 2016): test error with each block deleted alone (top; the intact
    net's error dashed, a block that cannot be deleted left out) and against the number of blocks deleted at
    random (bottom; mean over draws, the range shaded; 0: intact, 1: the single deletions). `studies`:
    {net name: a `lesion.lesion_study` record}."""
    from .claims import RESOLUTION_BLOCKS

    fig, (single, many) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 7.6))
    colors = plt.get_cmap("tab10")
    for i, (name, study) in enumerate(studies.items()):
        color, dashed = colors(i), "--" if name.startswith("plain") else "-"
        points = [(j + 1, s["error"]) for j, s in enumerate(study["single"]) if s["error"] is not None]
        single.plot(*zip(*points), dashed, marker="o", markersize=3, color=color, label=name)
        changes = [(j + 1, s["error"]) for j, s in enumerate(study["single"]) if s["block"] in RESOLUTION_BLOCKS
                   and s["error"] is not None]
        if changes:
            single.plot(*zip(*changes), "s", markersize=7, color=color, fillstyle="none")
        single.axhline(study["intact"], color=color, linestyle=":", linewidth=1)
        by_k = {0: [study["intact"]], 1: [e for _, e in points]}
        for r in study["random"]:
            by_k.setdefault(r["k"], []).append(r["error"])
        ks = sorted(by_k)
        many.plot(ks, [np.mean(by_k[k]) for k in ks], dashed, marker="o", markersize=3, color=color, label=name)
        many.fill_between(ks, [min(by_k[k]) for k in ks], [max(by_k[k]) for k in ks], color=color, alpha=0.15)
    single.set_xlabel("block deleted (in the order data flows)")
    single.set_ylabel("test error (%)")
    single.set_title("One block deleted (dotted: the intact net; squares: the\nblocks where the resolution changes)",
                     fontsize=10)
    many.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    many.set_xlabel("blocks deleted at random")
    many.set_ylabel("test error (%)")
    many.set_title("Several blocks deleted (mean over draws, range shaded)", fontsize=10)
    for ax in (single, many):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
