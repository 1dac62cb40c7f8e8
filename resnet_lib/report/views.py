"""Display helpers for the notebooks: tables of runs, provenance lines, missing-run commands, figures."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from ..config import PAPER_ITERATIONS, TrainConfig
from ..console import tell_terminal
from ..runs.commands import EXECUTORS, sweep_commands
from ..runs.results import RESULTS_DIR, Run, devices_of, pieces_of
from . import pages

FIGURES_DIR = Path("figures")


def enter_project_root() -> None:
    """chdir to the repository root (the folder holding resnet_lib/ and results/), wherever the
    notebook was started from (papermill from the root, nbval or Jupyter from notebooks/). Returns
    nothing, so that a notebook cell ending with it shows nothing."""
    for folder in [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]]:
        if (folder / "resnet_lib").is_dir() and (folder / "pyproject.toml").exists():
            os.chdir(folder)
            return


def show_table(table: pd.DataFrame, floatfmt: str = ".2f") -> None:
    """Display a table as Markdown: rendered by Jupyter and the book, and a stable text for nbval. An
    empty table says so (an empty Markdown display would show as a raw object in the book)."""
    from IPython.display import Markdown, display

    if table.empty:
        display(Markdown("*No recorded runs for this table yet.*"))
        return
    table = table.astype(object).where(table.notna(), None)  # missing numbers show as "–", not "nan"
    display(Markdown(table.to_markdown(index=False, floatfmt=floatfmt, missingval="–")))


def hardware_name(hardware: str) -> str:
    """A recorded hardware string in today's form (fastpath.describe_hardware): early records wrote
    '1x CPU AMD EPYC (...)' and '1 threads'."""
    return re.sub(r"\b1 threads\b", "1 thread", re.sub(r"^(\d+x )CPU ", r"\1", hardware))


def cpu_kind_of(hardware: str) -> str | None:
    """The most capable compute unit a CPU's hardware line lists (fastpath.cpu_kind() where it was recorded),
    e.g. "AMX BF16"; None for a GPU or an early record."""
    match = re.fullmatch(r"(?:\d+x )?.*? \(\d+ cores[^;]*;\s*(.*)\)", hardware_name(hardware))
    return match.group(1).split(", ")[-1] if match else None


def short_hardware(hardware: str) -> str:
    """'1x Intel(R) Xeon(R) Processor (2 cores, 2 threads; AVX-512, AVX-512 BF16, AMX BF16)' -> 'Intel Xeon
    (2 cores, AMX BF16)': the name, the cores and the most capable unit (they are listed in that order)."""
    hardware = hardware_name(hardware)
    match = re.fullmatch(r"(?:\d+x )?(.*?) \((\d+ cores)[^;]*;\s*(.*)\)", hardware)
    if not match:  # an early record without the units: '1x AMD EPYC (2 cores, 2 threads)' -> 'AMD EPYC (2 cores)'
        return re.sub(r"\(R\)|\(TM\)| Processor|, \d+ threads?|^1x ", "", hardware).strip()
    name, cores, units = match.groups()
    name = re.sub(r" +", " ", re.sub(r"\(R\)|\(TM\)| Processor", "", name)).strip()
    return f"{name} ({cores}, {units.split(', ')[-1]})"


def run_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: architecture, shortcut, seed, final errors (%) and how it was made; precision and the
    images trained on as well where the runs differ in them (else the provenance line says them once)."""
    rows = []
    for run in runs:
        config, summary = run.config(), run.summary()
        rows.append({
            "arch": config.arch, "shortcut": config.shortcut or "-", "seed": config.seed,
            "precision": config.precision, "trained on": split_name(config.val_fraction, summary["data"]["train_size"], True),
            "train error": summary["final"]["train_error"], "val error": summary["final"]["val_error"],
            "test error": summary["final"]["test_error"], "iterations": config.iterations,
            "data": summary["data"]["name"],
            "hardware": " + ".join(dict.fromkeys(short_hardware(h) for h in pieces_of(summary, "hardware"))),  # in full: the runs page
        })
    table = pd.DataFrame(rows)
    return table.drop(columns=[c for c in ("precision", "trained on") if c in table and table[c].nunique() < 2])


def error_stats(runs: list[Run], by: tuple[str, ...] = ("arch",)) -> pd.DataFrame:
    """Test error (%) per group of runs: seeds, mean, std (sample) and best."""
    table = run_table(runs)
    if table.empty:
        return pd.DataFrame(columns=[*by, "seeds", "mean", "std", "best"])
    grouped = table.groupby(list(by), sort=False)["test error"]
    return grouped.agg(seeds="count", mean="mean", std="std", best="min").reset_index()


def provenance(runs: list[Run]) -> str:
    """One short line on what the runs are: data set (with checksum), split, schedule, seeds, the kinds of
    hardware and the commits they were trained at (the first and the last; each piece in full: the runs page)."""
    if not runs:
        return "no recorded runs"
    summaries = [r.summary() for r in runs]
    configs = [r.config() for r in runs]
    data = sorted({f"{s['data']['name']} (sha256 {s['data']['sha256'][:12]}…)" for s in summaries})
    iterations = sorted({c.iterations for c in configs})
    full = all(s["full_schedule"] for s in summaries)
    schedule = f"full {PAPER_ITERATIONS // 1000}k-iteration paper schedule" if full else f"SHORT RUN ({', '.join(map(str, iterations))} iterations), not the replication"
    hardware = sorted({short_hardware(h) for s in summaries for h in pieces_of(s, "hardware")})
    pieces = sorted((piece.get("started") or "", piece.get("start_iteration", 0), (piece.get("git_commit") or "unknown")[:7])
                    for s in summaries for piece in (s.get("pieces") or [s["environment"]]))  # in the order trained
    commits = list(dict.fromkeys(commit for *_, commit in pieces))
    trained_at = commits[0] if len(commits) == 1 else f"{len(commits)} commits, {commits[0]} to {commits[-1]}"
    seeds = sorted({c.seed for c in configs})
    splits = "; ".join(sorted({split_name(c.val_fraction, s["data"]["train_size"]) for c, s in zip(configs, summaries)}))
    return (f"data: {', '.join(data)}; trained on: {splits}; schedule: {schedule}; seeds: {', '.join(map(str, seeds))}; "
            f"hardware: {'; '.join(hardware)}; code: {trained_at} (each run: [Recorded runs](runs))")


def split_name(val_fraction: float, train_size: int, short: bool = False) -> str:
    """'all 50k training images' or '45k/5k train/validation split' (sizes from the data set's training size);
    `short`: 'all 50k' or '45k (5k held out)', for a table column."""
    held = round(train_size * val_fraction)
    if not held:
        return f"all {train_size / 1000:g}k" + ("" if short else " training images")
    if short:
        return f"{(train_size - held) / 1000:g}k ({held / 1000:g}k held out)"
    return f"{(train_size - held) / 1000:g}k/{held / 1000:g}k train/validation split"


def how(runs: list[Run]) -> str:
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


def show_provenance(runs: list[Run]) -> None:
    """Display `provenance(runs)` as a paragraph."""
    from IPython.display import Markdown, display

    display(Markdown(f"**Provenance:** {provenance(runs)}"))


def short_title(runs: list[Run]) -> str:
    """A figure-title suffix: schedule (flagging anything short of the paper's), device, precision, data set."""
    if not runs:
        return "(no recorded runs)"
    summaries, configs = [r.summary() for r in runs], [r.config() for r in runs]
    schedules = "/".join(sorted({c.schedule for c in configs}))
    full = all(s["full_schedule"] for s in summaries)
    schedule = "paper's full schedule" if full else f"{schedules} schedule, SHORT: not the replication"
    devices = devices_of(summaries)
    precision = "/".join(sorted({c.precision for c in configs}))
    data = "/".join(sorted({s["data"]["name"] for s in summaries}))
    return f"({schedule}; {devices}, {precision}, {data})"


def show_missing(missing: list[TrainConfig], results: str | Path = RESULTS_DIR) -> None:
    """What is not yet recorded, net by net with its seeds, and the one command (a sweep per group of runs that
    share their settings) that records it here, and how each other executor (launch.EXECUTORS) takes the same sweep."""
    from IPython.display import Markdown, display

    if not missing:
        display(Markdown("All requested configurations are recorded."))
        return
    seeds: dict[str, list[int]] = {}
    for config in missing:
        seeds.setdefault(config.net_name, []).append(config.seed)
    nets = ", ".join(f"{net} (seed{'s' * (len(s) > 1)} {', '.join(map(str, sorted(s)))})" for net, s in seeds.items())
    commands = sweep_commands(missing, results)
    elsewhere = "; ".join(f"{e.elsewhere}, add `{e.sweep_options}`" for e in EXECUTORS.values() if e.elsewhere)
    lines = [f"**Not yet recorded** ({len(missing)} run{'s' * (len(missing) > 1)}): {nets}. "
             f"{'This command records' if len(commands) == 1 else 'These commands record'} "
             f"{'it' if len(missing) == 1 else 'them'} (a sweep skips what is recorded; {elsewhere}):", "", "```bash",
             *commands, "```"]
    display(Markdown("\n".join(lines)))


def save_figure(fig, name: str) -> Path:
    """Save `fig` as figures/<name>.png (git-ignored) and tell the terminal where, relative to the project root."""
    FIGURES_DIR.mkdir(exist_ok=True)
    path = FIGURES_DIR / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    tell_terminal(f"figure saved to {path}")
    return path


def _benchmark_records(folder: str | Path, kind: str):
    """Yield (machine label, record) for each `<kind>-*.json` benchmark record under `folder`, oldest name first."""
    for record_file in sorted(Path(folder).glob(f"{kind}-*.json")):
        record = json.loads(record_file.read_text())
        environment = record["hardware"]
        yield f"{environment.get('gpu') or short_hardware(environment['hardware'])}, {environment['started'][:10]}", record


def benchmark_table(folder: str | Path = Path("results/benchmarks")) -> pd.DataFrame:
    """One row per (benchmark record, architecture, setting) under `folder`: the standard pipeline, each
    setting measured (the trainer's default marked), and the concurrent runs if measured; images/s,
    speed-up over the standard pipeline and the projected full 64k-iteration run (h)."""
    rows = []
    for machine, record in _benchmark_records(folder, "throughput"):
        for arch, r in record["archs"].items():
            measured = [("standard pipeline", r["standard_img_s"], 1.0, r["full_run_s"]["standard"])]
            measured += [(f"{name} (default)" if name == r["picked"] else name, s["img_s"], s["speedup"], s["full_run_s"])
                         for name, s in r["settings"].items()]
            if r["concurrent_runs"]:
                measured.append((f"{r['concurrent_runs']} concurrent runs, default setting", r["concurrent_img_s"],
                                 r["concurrent_speedup"], r["full_run_s"]["concurrent_per_run"]))
            for setting, img_s, speedup, full_run_s in measured:
                rows.append({"machine": machine, "arch": arch, "setting": setting, "img/s": img_s,
                             "vs standard": speedup, "full run (h)": full_run_s / 3600})
            if r.get("fraction_of_bf16_peak"):
                rows[-1]["setting"] += f"; {100 * r['fraction_of_bf16_peak']:.1f}% of bf16 peak"
    return pd.DataFrame(rows)


def cpu_target_table(folder: str | Path = Path("results/benchmarks"), targets: dict = pages.CPU_TARGETS) -> pd.DataFrame:
    """One row per CPU kind with a target (`targets`: {most capable unit: (kind, img/s)}): the target for the
    trainer's default ResNet-20 step, the best a benchmark record under `folder` measured on that kind and
    where, and whether it meets the target or by how much it misses it."""
    rows = []
    for unit, (kind, target) in targets.items():
        measured = [(record["archs"]["resnet20"]["fast_img_s"], machine) for machine, record in
                    _benchmark_records(folder, "throughput")
                    if "resnet20" in record["archs"] and cpu_kind_of(record["hardware"]["hardware"]) == unit]
        best, machine = max(measured, default=(None, None))
        verdict = "not measured yet" if best is None else "met" if best >= target else \
            f"missed by {100 * (1 - best / target):.0f}%"
        rows.append({"CPU": kind, "target img/s": target, "default img/s": best, "measured on": machine,
                     "verdict": verdict})
    return pd.DataFrame(rows)


def evaluation_benchmark_table(folder: str | Path = Path("results/benchmarks")) -> pd.DataFrame:
    """One row per (evaluation benchmark record, architecture) under `folder`: images/s of the model and
    of its BatchNorm-folded copy (what the trainer evaluates), and the ratio."""
    rows = []
    for machine, record in _benchmark_records(folder, "evaluation"):
        for arch, r in record["archs"].items():
            settings = " ".join([r["precision"]] + ["channels-last"] * r["channels_last"] + ["compiled"] * r["compile"])
            rows.append({"machine": machine, "arch": arch, "setting": f"{settings}, batch {r['batch_size']}",
                         "model img/s": r["img_s"]["model"], "folded img/s": r["img_s"]["folded"],
                         "folded / model": f"{r['speedup']:.2f}x"})
    return pd.DataFrame(rows)
