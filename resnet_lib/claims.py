"""The paper's claims about the figures, each said in one sentence of what our runs show: as the paper
shows, or not (and why, where it is known), with how the runs were made."""

from __future__ import annotations

import numpy as np

from .models import KIND_NAMES, paper_name, parse_arch
from .report import how
from .results import Run


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
