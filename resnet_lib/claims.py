"""The paper's claims about the figures, each said in one sentence of what our runs show: as the paper
shows, or not (and why, where it is known), with how the runs were made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import paper
from .config import PAPER_VAL_FRACTION
from .models import KIND_NAMES, paper_name, parse_arch
from .report import how
from .results import Run
from .tables import holdout_cost_table


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
    display(Markdown("\n".join(lines) + f"\n\nRuns: {how(shown).strip()[1:-1]}."))


def _table6_runs(shown: list[Run]) -> dict[int, list[Run]]:
    """{depth: runs} of the full-schedule ResNets of `shown` at Table 6's depths."""
    by_depth = {}
    for run in shown:
        spec = parse_arch(run.config().arch)
        if spec.kind == "resnet" and spec.depth in paper.TABLE6 and run.summary()["full_schedule"]:
            by_depth.setdefault(spec.depth, []).append(run)
    return by_depth


def table6_gap_sentences(shown: list[Run], held_out: pd.DataFrame | None = None) -> list[str]:
    """One Markdown line per ResNet of `shown` (full-schedule runs) whose mean test error differs from the
    paper's Table 6 by more than the paper's own spread (the std of its five ResNet-110 runs, the only
    spread it gives): by how much, and what is known about why. `held_out` (`tables.holdout_cost_table`:
    the same nets on real CIFAR-10 trained with and without the paper's 5k validation images held out)
    adds what the real-data runs on all 50k images would test at on the paper's 45k."""
    return _gap_sentences(_table6_runs(shown), held_out)


def _gap_sentences(by_depth: dict[int, list[Run]], held_out: pd.DataFrame | None) -> list[str]:
    spread = paper.TABLE6_RESNET110_MEAN_STD[1]
    lines = []
    for depth, runs in sorted(by_depth.items()):
        ours = float(np.mean([r.summary()["final"]["test_error"] for r in runs]))
        theirs = paper.TABLE6_RESNET110_MEAN_STD[0] if depth == 110 else paper.TABLE6[depth][2]
        gap, seeds = ours - theirs, len(runs)
        if abs(gap) <= spread:
            continue
        others = ", ".join(f"{name.split()[0]} {numbers[depth]}" for name, numbers in paper.OTHER_REIMPLEMENTATIONS.items()
                           if depth in numbers)
        real = all(r.summary()["data"]["name"] == "cifar10" for r in runs)
        on_all = all(not r.config().val_fraction for r in runs)
        if not real:
            why = ("these runs trained and tested on the JPEG copy, whose own share is measured net by net on the "
                   "page \"What JPEG compression costs\"")
        elif gap < 0 and on_all:
            why = (f"the public reimplementations land below the paper too ({others}); like them, these models "
                   f"train on all 50k training images, while the paper chose its schedule on 45k and does not say "
                   f"what its reported models trained on")
        else:
            why = f"not explained yet: the public reimplementations are at {others}"
        if real and on_all and held_out is not None and not held_out.empty:
            why += _on_the_papers_split(held_out, depth, theirs, spread)
        ours_runs = "one run" if seeds == 1 else f"the mean of {seeds} runs"
        papers_runs = "the mean of five" if depth == 110 else "one run"
        single = (f"; ours is {ours_runs}, as is the paper's" if ours_runs == papers_runs else
                  f"; ours is {ours_runs}, the paper's {papers_runs}") + ", so seed-to-seed variation is part of it"
        lines.append(f"- *{paper_name('resnet', depth)}:* ours {ours:.2f}%, the paper's {theirs}%: "
                     f"{abs(gap):.2f} points {'lower' if gap < 0 else 'higher'}, more than the paper's own spread "
                     f"(std {spread} over its five ResNet-110 runs). {why[0].upper() + why[1:]}{single}.")
    return lines


def _on_the_papers_split(held_out: pd.DataFrame, depth: int, theirs: float, spread: float) -> str:
    """A clause on ResNet-`depth` trained on real CIFAR-10 with the paper's 5k validation images held out
    (full schedule; rows of `tables.holdout_cost_table`): its test error against the paper's, and what
    holding out the images cost; "" when no such run is recorded."""
    rows = held_out[(held_out["net"] == paper_name("resnet", depth)) & (held_out["schedule"] == "full") &
                    (held_out["val_fraction"] == PAPER_VAL_FRACTION)]
    if rows.empty:
        return ""
    split_error, cost = float(rows["test error"].mean()), float(rows["difference"].mean())
    seeds = ", ".join(str(s) for s in sorted(rows["seed"]))
    near = ("within the paper's spread of its number" if abs(split_error - theirs) <= spread else
            f"{abs(split_error - theirs):.2f} points {'below' if split_error < theirs else 'above'} the paper's")
    return (f". Trained on the paper's 45k images instead (5k held out; seed{'s' * (len(rows) > 1)} {seeds}), the "
            f"same net tests at {split_error:.2f}%, {near}: holding out the 5k images costs {cost:.2f} points here")


def show_table6_gaps(shown: list[Run], results: str | Path) -> None:
    """`table6_gap_sentences` of the runs in Table 6 (with the held-out cost recorded in `results`), or one
    line saying every depth is within the spread."""
    from IPython.display import Markdown, display

    by_depth = _table6_runs(shown)
    lines = _gap_sentences(by_depth, holdout_cost_table(results))
    if not lines:
        lines = ["No full-schedule run to compare with the paper yet." if not by_depth else
                 f"Every depth shown is within the paper's own spread (std {paper.TABLE6_RESNET110_MEAN_STD[1]} over "
                 f"its five ResNet-110 runs) of the paper's number."]
    display(Markdown("\n".join(lines)))


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
    display(Markdown("\n".join(lines) + (f"\n\nRuns: {how(drawn).strip()[1:-1]}." if drawn else "")))
