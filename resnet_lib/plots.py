"""Figures in the paper's conventions, drawn from recorded runs (matplotlib)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .report import short_title
from .results import Run


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
    ax.legend(title="dashed: train, bold: test", fontsize=8, title_fontsize=8, loc="upper center",
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
        ax.legend(fontsize=8)


def figure6(shown: list[Run]):
    """Figure 6: plain nets (left) and ResNets (right), training error dashed, test error bold."""
    plain = [r for r in shown if r.config().arch.startswith("plain")]
    resnets = [r for r in shown if not r.config().arch.startswith("plain")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    error_curves(axes[0], plain, ylim=_ylim(shown))
    error_curves(axes[1], resnets, ylim=_ylim(shown))
    axes[0].set_title("plain nets", fontsize=10)
    axes[1].set_title("ResNets", fontsize=10)
    fig.suptitle(f"Figure 6 {short_title(shown)}", fontsize=9)  # one line over both panels: theirs never overlap
    return fig


def error_figure(shown: list[Run]):
    """Training (dashed) and test (bold) error of `shown` in one panel, titled with the nets it draws."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
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
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7))
    layer_responses(top, bottom, {r.config().net_name: r.summary()["layer_responses"] for r in drawn})
    top.set_title(f"std of layer responses {short_title(drawn)}", fontsize=9)
    fig.tight_layout()
    return fig, drawn


def _ylim(shown: list[Run]) -> tuple[float, float] | None:
    """The paper's 0-20% error axis for full-schedule runs; short runs' errors are higher."""
    return (0, 20) if shown and all(r.summary()["full_schedule"] for r in shown) else None
