"""The report's tables of recorded runs, each beside the paper's numbers where it gives them: Table 6,
shortcut options, layer responses, architectures and parameters, benchmarks and run costs, the numerics
check, the recorded, unfinished and published runs. Tables that compare our runs with each other (what JPEG
compression costs, what a held-out split costs, the seed spread) are in comparisons.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import paper
from ..config import SCHEDULES, TrainConfig
from ..data.datasets import CIFAR10_SHA256
from ..models.analysis import describe
from ..runs.results import Run, list_runs, quiet_paces
from .views import (benchmark_table, cpu_target_table, error_stats, evaluation_benchmark_table, hardware_name, how,
                    run_table, short_hardware, show_provenance, show_table, split_name)


def comparable(runs: list[Run]) -> bool:
    """Whether `runs` may stand beside the paper's numbers: all on real CIFAR-10 and the paper's full schedule."""
    return all(r.config().data_sha256 == CIFAR10_SHA256 and r.summary()["full_schedule"] for r in runs)


def show_runs(shown: list[Run], with_paper: bool = True) -> None:
    """Final errors of `shown`, beside the paper's Table 6 (ResNets) where they are comparable (`comparable`),
    and how they were made."""
    table = run_table(shown)
    if with_paper and not table.empty and comparable(shown):
        table["paper: test error"] = [paper.reference_error(int(a[6:])) if a.startswith("resnet") and int(a[6:]) in
                                      paper.TABLE6 else None for a in table["arch"]]
    show_table(table)
    show_provenance(shown)


def show_table6(found: list[Run], depths: list[int]) -> None:
    """Table 6: our test error per depth (mean ± std over seeds, best), beside the paper's and others' where the
    runs are comparable (`comparable`: real CIFAR-10, full schedule)."""
    stats = error_stats(found).set_index("arch") if found else pd.DataFrame()
    rows = []
    for depth in depths:
        _, params, paper_error = paper.TABLE6[depth]
        ours = stats.loc[f"resnet{depth}"] if f"resnet{depth}" in stats.index else None
        paper_mean = paper.reference_error(depth)
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
    if found and not comparable(found):  # a short run or the JPEG copy's is not set beside the paper's numbers
        table = table.drop(columns=["paper", "ours − paper (mean)", *paper.OTHER_REIMPLEMENTATIONS])
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


def show_cpu_targets(results: str | Path) -> None:
    """The CPU targets against the best default step measured on each CPU kind (`cpu_target_table`)."""
    show_table(cpu_target_table(Path(results) / "benchmarks"), floatfmt=",.0f")


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
    of runs sharing that machine meanwhile, with the run's data set, the iterations trained so, seconds per
    iteration over them beside the quiet pace (the fastest piece of at least QUIET_PIECE_ITERATIONS of that
    net and precision on that machine, alone on it, in any run: what it costs undisturbed) and their ratio,
    hours (training and evaluating), the evaluations' share, and the pieces (stretches of work) it took."""
    finished = [(run.config(), run.summary()) for run in list_runs(results) if run.finished]
    quiet = quiet_paces(((config, summary["pieces"]) for config, summary in finished), short_hardware)
    rows = []
    for config, summary in finished:
        groups: dict[tuple[str, str], list[dict]] = {}  # (machine, runs at once) -> its pieces, in order
        for piece in summary["pieces"]:
            key = (short_hardware(piece["hardware"]), str(piece.get("runs_at_once", "not recorded")))
            groups.setdefault(key, []).append(piece)
        for (machine, at_once), pieces in groups.items():
            iterations = sum(p["end_iteration"] - p["start_iteration"] for p in pieces)
            train_s = sum(p["train_s"] for p in pieces)
            eval_s = None if any(p["eval_s"] is None for p in pieces) else sum(p["eval_s"] for p in pieces)
            pace, fastest = train_s / max(iterations, 1), quiet.get((config.arch, config.precision, machine))
            rows.append({"run": f"{config.net_name}, {config.schedule}, seed {config.seed}, {config.precision}",
                         "data": summary["data"]["name"], "hardware": machine, "iterations": iterations,
                         "s/it": pace, "quiet s/it": fastest,
                         "vs quiet": f"{pace / fastest:.2f}x" if fastest else "–",
                         "runs at once": at_once,
                         "hours": (train_s + (eval_s or 0)) / 3600,
                         "evaluation share": None if eval_s is None else f"{100 * eval_s / (train_s + eval_s):.0f}%",
                         "pieces": len(pieces)})
    return pd.DataFrame(rows)


def show_numerics_check(results: str | Path, arch: str = "resnet20", schedule: str = "1/16") -> None:
    """fp32 against bf16 on the same seeds (the check bf16 must pass before it is a default): final
    errors per run, then the verdict, bf16's mean against fp32's seed-to-seed spread."""
    from ..training.fastpath import BF16_BY_DEFAULT

    runs = [r for r in list_runs(results) if r.finished and r.config().arch == arch and r.config().schedule == schedule]
    table = run_table(runs)
    if table.empty:
        show_table(table)
        return
    if "precision" not in table:
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
    display(Markdown(f"**Measured:** {verdict} {default[0].upper() + default[1:]}. Runs: {how(runs).strip()[1:-1]}."))


def show_all_runs(results: str | Path) -> None:
    """Every finished run, one short row each (net, seed, data and images trained on, schedule and precision,
    test error, wall time, machines, code), then the machines named in full and the data sets with their checksums. An
    unfinished run (`show_unfinished_runs`) changes no checked output."""
    runs = [r for r in list_runs(results) if r.finished]
    if not runs:
        print("no recorded runs")
        return
    rows, machines, data = [], {}, {}
    for run in runs:
        config, summary = run.config(), run.summary()
        pieces = summary.get("pieces") or [summary["environment"]]
        for piece in pieces:
            machines.setdefault(short_hardware(piece["hardware"]), set()).add(hardware_name(piece["hardware"]))
        commits = list(dict.fromkeys((p.get("git_commit") or "unknown")[:7] for p in pieces))
        data[summary["data"]["name"]] = summary["data"]["sha256"]
        schedule = config.schedule if config.schedule in SCHEDULES else f"{config.iterations} it"
        rows.append({"net": config.net_name, "seed": config.seed,
                     "data": f"{summary['data']['name']}, "
                             f"{split_name(config.val_fraction, summary['data']['train_size'], short=True).split(' (')[0]}",
                     "schedule": f"{schedule}, {config.precision}", "test error": summary["final"]["test_error"],
                     "wall time": f"{summary['wall_time_s'] / 3600:.1f} h" if summary.get("wall_time_s") else "–",
                     "machines": " + ".join(dict.fromkeys(short_hardware(p["hardware"]) for p in pieces)),
                     "code": commits[0] if len(commits) == 1 else f"{commits[0]}…{commits[-1]} ({len(commits)})",
                     "folder": f"…{run.path.name.rsplit('-', 1)[-1]}"})
    show_table(pd.DataFrame(rows))
    show_table(pd.DataFrame([{"machine": name, "in full": "; ".join(sorted(full))} for name, full in sorted(machines.items())]))
    show_table(pd.DataFrame([{"data": name, "sha256": sha} for name, sha in sorted(data.items())]))


def show_unfinished_runs(results: str | Path) -> None:
    """Runs begun here and not finished (no summary.json): where each stopped, and the command that resumes it."""
    from ..runs.checkpoint import CheckpointError, load_checkpoint
    from ..runs.commands import train_command

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
    """The published models' cards (training.hub): those trained on real CIFAR-10 beside the paper's test
    error, those trained on the JPEG copy apart (tested on that copy, not comparable with the paper); each with
    its file's SHA-256."""
    from ..training.hub import cards

    published = list(cards().values())
    if not published:
        print("none published yet: a model is published when its run on the paper's full schedule is recorded")
        return
    for real in (True, False):
        rows = [{"model": c.name, "file": f"published/{c.name}.pt", "net": TrainConfig(arch=c.arch, shortcut=c.shortcut).net_name,
                 "schedule": c.schedule, "data": c.data, "precision": c.precision, "seed": c.seed,
                 "test error (published file)": c.test_error, "test error (run)": c.recorded_test_error,
                 **({"paper": c.paper_test_error} if real else {}), "sha256": f"{c.file_sha256[:16]}…"}
                for c in published if (c.data_sha256 == CIFAR10_SHA256) == real]
        if rows:
            print("Trained on real CIFAR-10:" if real else
                  "Trained and tested on the JPEG copy (not comparable with the paper's numbers):")
            show_table(pd.DataFrame(rows))
