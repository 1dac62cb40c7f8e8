"""The paper's claims about the figures, each said in one sentence of what our runs show: as the paper
shows, or not (and why, where it is known), with how the runs were made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import paper
from ..config import PAPER_VAL_FRACTION
from ..models.resnet import KIND_NAMES, paper_name, parse_arch
from ..runs.results import Run
from .comparisons import holdout_cost_table
from .views import how


CHANCE_TRAIN_ERROR = 80.0  # % : a net whose final training error is this high never learned (chance is 90%)


def show_claims(shown: list[Run]) -> None:
    """`figure6_claims` of `shown`, with how the runs were made."""
    from IPython.display import Markdown, display

    display(Markdown("\n".join(figure6_claims(shown)) + f"\n\nRuns: {how(shown).strip()[1:-1]}."))


def figure6_claims(shown: list[Run]) -> list[str]:
    """Figure 6's two claims, one Markdown line each on what `shown` (one schedule) says: deeper plain nets
    train worse (final training error), deeper ResNets test better (final test error). A net left at chance
    (training error >= CHANCE_TRAIN_ERROR) did not train: it is named so and left out of the ordering."""
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
        chance = {d for d in depths if np.mean([f["train_error"] for f in final[f"{kind}{d}"]]) >= CHANCE_TRAIN_ERROR}
        trained = [d for d in depths if d not in chance]
        pairs = ", ".join(f"{paper_name(kind, d)} {errors[d]:.2f}%" for d in depths)
        ordered = all(errors[a] < errors[b] for a, b in zip(trained, trained[1:]))
        reversed_ = all(errors[a] > errors[b] for a, b in zip(trained, trained[1:]))
        holds = (ordered if kind == "plain" else reversed_) and len(trained) > 1
        verdict = "as in the paper" if holds else "not what the paper shows" + (
            " (on a short schedule the deeper nets have not finished learning)" if not shown[0].summary()["full_schedule"]
            else "")
        if chance:
            names = ", ".join(paper_name(kind, d) for d in sorted(chance))
            verdict = (f"{verdict} for the nets that trained" if len(trained) > 1 else "not shown: too few nets trained") + (
                f". {names} did not train at all: {'its' if len(chance) == 1 else 'their'} training error stayed at "
                f"chance (90% for ten classes), so {'it says' if len(chance) == 1 else 'they say'} nothing of degradation"
                + ("; the paper's plain-110 trains, if badly (its error stays above 60%)" if kind == "plain" and 110 in chance
                   else ""))
        metric_name = "training error" if metric == "train_error" else "test error"
        lines.append(f"- *The paper: {claim}.* Final {metric_name}: {pairs}: {verdict}.")
    return lines


def _table6_runs(shown: list[Run]) -> dict[int, list[Run]]:
    """{depth: runs} of the full-schedule ResNets of `shown` at Table 6's depths."""
    by_depth = {}
    for run in shown:
        spec = parse_arch(run.config().arch)
        if spec.kind == "resnet" and spec.depth in paper.TABLE6 and run.summary()["full_schedule"]:
            by_depth.setdefault(spec.depth, []).append(run)
    return by_depth


def table6_gap_sentences(shown: list[Run], held_out: pd.DataFrame | None = None) -> list[str]:
    """One Markdown line per ResNet of `shown` (full-schedule runs at Table 6's depths): ours against the
    paper's number, judged against what runs of one net differ by (`noise_band`), with what is known about
    why where the gap is larger. `held_out` (`comparisons.holdout_cost_table`: the same nets on real CIFAR-10
    trained with and without the paper's 5k validation images held out) adds the net on the paper's split."""
    return _gap_sentences(_table6_runs(shown), held_out)


def noise_band(ours: int, theirs: int) -> float:
    """Points by which the mean of `ours` runs and the mean of `theirs` runs of one net differ at most, about
    95% of the time, from seed-to-seed variation alone: two standard deviations of that difference, with the
    one run-to-run std the paper gives (0.16, over its five ResNet-110 runs; taken to hold at every depth).
    One run against one run: 2 x 0.16 x sqrt(2) = 0.45 points."""
    std = paper.TABLE6_RESNET110_MEAN_STD[1]
    return 2 * std * float(np.sqrt(1 / ours + 1 / theirs))


NOISE_BASIS = "twice the std of their difference, with the paper's std of 0.16 over its five ResNet-110 runs"


def _gap_sentences(by_depth: dict[int, list[Run]], held_out: pd.DataFrame | None) -> list[str]:
    lines = []
    for depth, runs in sorted(by_depth.items()):
        ours = float(np.mean([r.summary()["final"]["test_error"] for r in runs]))
        theirs = paper.reference_error(depth)
        gap, seeds, paper_seeds = ours - theirs, len(runs), paper.reference_runs(depth)
        band = noise_band(seeds, paper_seeds)
        made = "one run each" if seeds == paper_seeds == 1 else \
            f"ours {'one run' if seeds == 1 else f'the mean of {seeds} runs'}, the paper's the mean of {paper_seeds}"
        spread = (f"({made}; results so made differ by up to about {band:.2f} points from the seeds alone: {NOISE_BASIS})")
        head = (f"- *{paper_name('resnet', depth)}:* ours {ours:.2f}%, the paper's {theirs}%: {abs(gap):.2f} points "
                f"{'lower' if gap < 0 else 'higher'}")
        real = all(r.summary()["data"]["name"] == "cifar10" for r in runs)
        on_all = all(not r.config().val_fraction for r in runs)
        split = _on_the_papers_split(held_out, depth, theirs) if real and on_all and held_out is not None \
            and not held_out.empty else ""
        if abs(gap) <= band:
            lines.append(f"{head}, within seed-to-seed variation {spread}{split}.")
            continue
        others = "; ".join(f"[{name.split()[0]}]({paper.REIMPLEMENTATION_HOW[name][0]}) {numbers[depth]}: "
                           f"{paper.REIMPLEMENTATION_HOW[name][1]}"
                           for name, numbers in paper.OTHER_REIMPLEMENTATIONS.items() if depth in numbers)
        if not real:
            why = ("these runs trained and tested on the JPEG copy, whose own share is measured net by net on the "
                   "page \"What JPEG compression costs\"")
        elif gap < 0 and on_all:
            why = (f"the public reimplementations land below the paper too ({others}); these models train on all 50k "
                   f"training images, while the paper chose its schedule with 5k of them held out and does not say "
                   f"what its reported models trained on")
        else:
            why = f"not explained yet: the public reimplementations are at {others}"
        lines.append(f"{head}, more than seed-to-seed variation {spread}. {why[0].upper() + why[1:]}{split}.")
    return lines


def _on_the_papers_split(held_out: pd.DataFrame, depth: int, theirs: float) -> str:
    """A clause on ResNet-`depth` trained on real CIFAR-10 with the paper's 5k validation images held out
    (full schedule; rows of `comparisons.holdout_cost_table`): its test error against the paper's, and what
    holding out the images cost, each judged against `noise_band`; "" when no such run is recorded."""
    rows = held_out[(held_out["net"] == paper_name("resnet", depth)) & (held_out["schedule"] == "full") &
                    (held_out["val_fraction"] == PAPER_VAL_FRACTION)]
    if rows.empty:
        return ""
    split_error, cost, seeds = float(rows["test error"].mean()), float(rows["difference"].mean()), len(rows)
    to_paper, to_ours = noise_band(seeds, paper.reference_runs(depth)), noise_band(seeds, seeds)
    near = (f"within seed-to-seed variation of the paper's number (±{to_paper:.2f})" if abs(split_error - theirs) <= to_paper
            else f"{abs(split_error - theirs):.2f} points {'below' if split_error < theirs else 'above'} the paper's")
    each = "one run each" if seeds == 1 else f"means of {seeds} runs each"
    judged = (f"within what seed-to-seed variation alone gives (±{to_ours:.2f}, {each}): these runs do not measure "
              f"what holding out the 5k images costs" if abs(cost) <= to_ours else
              f"beyond what seed-to-seed variation alone gives (±{to_ours:.2f}, {each}): a first estimate of what "
              f"holding out the 5k images costs")
    listed = ", ".join(str(s) for s in sorted(rows["seed"]))
    return (f". Trained with the 5k images of the paper's validation split held out (45k images; seed{'s' * (seeds > 1)} "
            f"{listed}), the same net tests at {split_error:.2f}%, {near}; the {cost:.2f} points between the two are "
            f"{judged}")


def show_table6_gaps(shown: list[Run], results: str | Path) -> None:
    """`table6_gap_sentences` of the runs in Table 6 (with the held-out cost recorded in `results`)."""
    from IPython.display import Markdown, display

    lines = _gap_sentences(_table6_runs(shown), holdout_cost_table(results))
    display(Markdown("\n".join(lines) or "No full-schedule run to compare with the paper yet."))


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
                         f"(below at {below} of {len(res)} ranks)")
        verdict = "as in the paper" if holds else "not what the paper shows"
        lines = [f"- *The paper: ResNets respond less than plain nets.* Mean std: {'; '.join(parts)}: {verdict}. "
                 f"(Ranks: each net's layers sorted from the largest std to the smallest, as the paper's lower panel "
                 f"draws them; the ResNet's std compared with the plain net's of the same rank.)"]
    else:
        lines = ["- *The paper: ResNets respond less than plain nets.* Not shown yet: it needs a plain net and a ResNet "
                 "of one depth."]
    depths = sorted(d for kind, d in nets if kind == "resnet")
    if len(depths) > 1:
        means = {d: float(np.mean(nets["resnet", d])) for d in depths}
        holds = all(means[a] > means[b] for a, b in zip(depths, depths[1:]))
        listed = ", ".join(f"{paper_name('resnet', d)} {means[d]:.2f}" for d in depths)
        line = (f"- *The paper: the deeper the ResNet, the smaller its responses.* Mean std: {listed}: "
                f"{'as in the paper' if holds else 'not what the paper shows'}.")
        plain_depths = sorted(d for kind, d in nets if kind == "plain")
        if len(plain_depths) > 1:
            plain_means = {d: float(np.mean(nets["plain", d])) for d in plain_depths}
            shrink = all(plain_means[a] > plain_means[b] for a, b in zip(plain_depths, plain_depths[1:]))
            plain_listed = ", ".join(f"{paper_name('plain', d)} {plain_means[d]:.2f}" for d in plain_depths)
            line += (f" The plain nets' responses {'shrink with depth too' if shrink else 'do not shrink with depth'} "
                     f"({plain_listed})" + (": this part of the comparison shows an effect of depth, not of the "
                                            "shortcuts alone; the comparison at equal depth above is the one that "
                                            "isolates the shortcuts." if shrink else
                                            ", so the shrinking comes with the shortcuts."))
        lines.append(line)
    else:
        lines.append("- *The paper: the deeper the ResNet, the smaller its responses.* Not shown yet: it needs two "
                     "ResNet depths.")
    return lines


def show_layer_response_claims(drawn: list[Run]) -> None:
    """`layer_response_claims` of the runs drawn in Figure 7, with how they were made."""
    from IPython.display import Markdown, display

    lines = layer_response_claims({r.config().arch: r.summary()["layer_responses"] for r in drawn})
    display(Markdown("\n".join(lines) + (f"\n\nRuns: {how(drawn).strip()[1:-1]}." if drawn else "")))


RESOLUTION_BLOCKS = ("layers.1.0", "layers.2.0")  # the blocks of a CIFAR net that halve the maps and widen them
BARELY = 0.25  # "barely moves": deleting a block raises the error by at most this share of the intact net's, median


def single_rises(study: dict) -> dict[str, float]:
    """{block: points its deletion alone adds to the intact net's test error} of a lesion study, for the
    blocks that could be deleted."""
    return {s["block"]: s["error"] - study["intact"] for s in study["single"] if s["error"] is not None}


def lesion_claims(studies: dict[str, dict]) -> list[str]:
    """Veit et al.'s findings, one Markdown line each, said of `studies` ({net name: `lesion.lesion_study`}):
    deleting one block barely moves a ResNet's error (a median rise of at most BARELY of the intact error) except
    at the blocks that change the resolution (each above every other), while a plain net collapses; deleting
    several, a ResNet's error grows gradually (its mean rises with k but for dips within the draws' spread, and
    the first deletions give at most half of the whole rise)."""
    lines = []
    for name, study in studies.items():
        rises = single_rises(study)
        keep = [v for b, v in rises.items() if b not in RESOLUTION_BLOCKS]
        change = {b: v for b, v in rises.items() if b in RESOLUTION_BLOCKS}
        head = f"- *{name}* (intact {study['intact']:.2f}%): deleting one block"
        if name.startswith("plain"):
            errors = sorted(study["intact"] + v for v in rises.values())
            lines.append(f"{head} of the {len(rises)} that can be deleted gives a median test error of "
                         f"{np.median(errors):.2f}% (from {errors[0]:.2f}% to {errors[-1]:.2f}%; chance is 90%): "
                         + ("it collapses, as Veit et al. find of plain nets." if np.median(errors) > 50 else
                            "it does not collapse, unlike the plain nets of Veit et al."))
            continue
        small = float(np.median(keep)) <= BARELY * study["intact"]
        apart = bool(change) and min(change.values()) > max(keep, default=0)
        lines.append(f"{head} that keeps the resolution raises the error by a median of {np.median(keep):.2f} points "
                     f"(at most {max(keep):.2f}, over {len(keep)} blocks); deleting one that changes it, by "
                     + " and ".join(f"{v:.2f}" for v in change.values()) + " points: "
                     + ("as Veit et al. find" if small and apart else "not what Veit et al. find")
                     + (f" (their net was a 110-layer ResNet of 54 blocks; this one has {study['blocks']})."
                        if study["blocks"] < 54 else "."))
        by_k: dict[int, list[float]] = {}
        for r in study["random"]:
            by_k.setdefault(r["k"], []).append(r["error"])
        if by_k:
            ks = sorted(by_k)
            means = {k: float(np.mean(by_k[k])) for k in ks}
            dips = [(a, b) for a, b in zip(ks, ks[1:]) if means[b] < means[a]]
            noise = all(means[a] - means[b] <= max(np.ptp(by_k[a]), np.ptp(by_k[b])) for a, b in dips)
            first = (means[ks[0]] - study["intact"]) / max(means[ks[-1]] - study["intact"], 1e-9)
            rise = ("rising at every step" if not dips else
                    f"rising but for {len(dips)} dip{'s' * (len(dips) > 1)} within the draws' spread" if noise else
                    f"with {len(dips)} dip{'s' * (len(dips) > 1)} larger than the draws' spread")
            verdict = ("a gradual rise, as Veit et al. find" if noise and first <= 0.5 else
                       f"{first:.0%} of the whole rise already at {ks[0]} blocks: not the gradual rise Veit et al. find"
                       if first > 0.5 else "not the steady rise Veit et al. find")
            lines.append(f"- *{name}*, several blocks deleted at random ({study['draws']} draws each): the mean error "
                         f"goes from {means[ks[0]]:.2f}% at {ks[0]} blocks to {means[ks[-1]]:.2f}% at {ks[-1]}, {rise}: "
                         f"{verdict}.")
    return lines
