"""Tables that compare our runs with each other rather than with the paper: what the JPEG copy costs in
training (each net on both copies) and at test time (published real-data models on the JPEG test images),
what holding out the paper's validation split costs, and the seed-to-seed spread measured here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import views
from ..config import TrainConfig
from ..data.datasets import CIFAR10_SHA256, JPEG_SHA256
from ..runs.results import Run, list_runs
from .views import show_table


def jpeg_cost_table(results: str | Path) -> pd.DataFrame:
    """One row per JPEG-copy run with a real-data twin: a finished run with every setting of the run key equal
    but the data (same recipe), or, while none is recorded, one that differs in its train/validation split too.
    Final test errors (%) on each copy's own test set, and the JPEG copy's excess."""
    finished = [r for r in list_runs(results) if r.finished]
    real = [r for r in finished if r.config().data_sha256 == CIFAR10_SHA256]
    same = {_key_but(r.config(), "data_sha256"): r for r in real}
    near = {_key_but(r.config(), "data_sha256", "val_fraction"): r for r in real}
    rows = []
    for run in finished:
        config = run.config()
        if config.data_sha256 != JPEG_SHA256:
            continue
        twin = same.get(_key_but(config, "data_sha256")) or near.get(_key_but(config, "data_sha256", "val_fraction"))
        if twin is not None:
            jpeg_error, real_error = run.summary()["final"]["test_error"], twin.summary()["final"]["test_error"]
            rows.append({"net": config.net_name, "schedule": config.schedule, "seed": config.seed,
                         "precision": config.precision, "real CIFAR-10": real_error,
                         "real: trained on": _trained_on(twin), "JPEG copy": jpeg_error,
                         "JPEG: trained on": _trained_on(run), "JPEG − real": jpeg_error - real_error,
                         "same recipe": twin.config().val_fraction == config.val_fraction})
    return pd.DataFrame(rows)


def test_time_cost_table(results: str | Path) -> pd.DataFrame:
    """One row per published model trained on real CIFAR-10 and tested on the JPEG copy's test images
    (`hub.test_elsewhere`, recorded beside its run): its test error on each test set (%), what the JPEG test
    images cost, and beside it the training-side cost of the same net on the same schedule (JPEG copy minus real,
    both trained and tested on their own copy; `jpeg_cost_table`), if recorded."""
    from ..training.hub import TESTED_ELSEWHERE, cards

    training_side = {(p["net"], p["schedule"], p["seed"]): p for p in jpeg_cost_table(results).to_dict("records")}
    rows = []
    for card in cards().values():
        file = Path(results) / card.run / TESTED_ELSEWHERE
        if card.data_sha256 != CIFAR10_SHA256 or not file.exists():
            continue
        tested = json.loads(file.read_text()).get("cifar10-jpeg")
        if tested is None or tested["data_sha256"] != JPEG_SHA256 or tested["weights_sha256"] != card.file_sha256:
            continue
        net = TrainConfig(arch=card.arch, shortcut=card.shortcut).net_name
        pair = training_side.get((net, card.schedule, card.seed))
        rows.append({"model": card.name, "schedule": card.schedule, "real test images": card.test_error, "JPEG test images": tested["test_error"],
                     "cost at test time": tested["test_error"] - card.test_error,
                     "cost in training (JPEG − real, each on its own copy)": pair["JPEG − real"] if pair else None,
                     "training pair": ("same recipe" if pair["same recipe"] else "real on 50k, JPEG on 45k") if pair
                     else "not recorded"})
    return pd.DataFrame(rows)


def show_test_time_cost(results: str | Path) -> None:
    """`test_time_cost_table`, and the commands that measure the published real-data models it lacks."""
    from IPython.display import Markdown, display

    from ..training.hub import cards

    table = test_time_cost_table(results)
    show_table(table) if not table.empty else print("none measured yet")
    done = set(table.get("model", []))
    todo = [c.name for c in cards().values() if c.data_sha256 == CIFAR10_SHA256 and c.name not in done]
    if todo:
        display(Markdown("**Not yet measured:** " + ", ".join(todo) + ". These commands measure and record them:\n\n"
                         "```bash\n" + "\n".join(f"python -m resnet_lib evaluate published/{name}.pt --data cifar10-jpeg "
                                                   f"--record" for name in todo) + "\n```"))


def holdout_cost_table(results: str | Path) -> pd.DataFrame:
    """One row per net recorded on real CIFAR-10 both on all its training images and with a validation split
    held out, every other setting of the run key equal: the share held out (`val_fraction`), the two final
    test errors (%) and the difference."""
    real = [r for r in list_runs(results) if r.finished and r.config().data_sha256 == CIFAR10_SHA256]
    on_all = {_key_but(r.config(), "val_fraction"): r for r in real if not r.config().val_fraction}
    rows = []
    for run in real:
        config = run.config()
        whole = on_all.get(_key_but(config, "val_fraction")) if config.val_fraction else None
        if whole is not None:
            split_error, all_error = run.summary()["final"]["test_error"], whole.summary()["final"]["test_error"]
            rows.append({"net": config.net_name, "schedule": config.schedule, "seed": config.seed,
                         "precision": config.precision, "val_fraction": config.val_fraction,
                         "trained on": _trained_on(run), "test error": split_error,
                         "on all training images": all_error, "difference": split_error - all_error})
    return pd.DataFrame(rows)


def _key_but(config: TrainConfig, *left_out: str) -> str:
    """The run key's settings but those named, as one hashable string."""
    return repr(sorted((k, v) for k, v in config.experiment().items() if k not in left_out))


def _trained_on(run: Run) -> str:
    """'all 50k' or '45k (5k held out)': the images `run` trained on (`views.split_name`, short)."""
    return views.split_name(run.config().val_fraction, run.summary()["data"]["train_size"], short=True)


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
    """The cost of JPEG: the paired table (`jpeg_cost_table`), what holding out the validation split costs
    (`holdout_cost_table`, which pairs that differ in their split mix in), the seed spread, and the JPEG runs
    still waiting for their same-recipe real-data twin (with the commands that record it)."""
    from IPython.display import Markdown, display

    pairs = jpeg_cost_table(results)
    if pairs.empty:
        display(Markdown("No net is recorded on both copies yet."))
    else:
        show_table(pairs.assign(**{"same recipe": pairs["same recipe"].map({True: "yes", False: "no"})}))
    if not pairs.empty and not pairs["same recipe"].all():
        display(Markdown("In a row without the same recipe the two runs differ in their training images too (the "
                         "real-data run on all 50k, the JPEG one with 5k held out), so its difference mixes JPEG's "
                         "cost with that of the held-out images. That second cost, measured on real CIFAR-10 (the "
                         "same net trained both ways):"))
        holdout = holdout_cost_table(results)
        if holdout.empty:
            print("not recorded yet: it needs one net recorded on real CIFAR-10 both ways (all 50k images, and 5k held out)")
        else:
            show_table(holdout.drop(columns="val_fraction"))
    spread = seed_spread_table(results)
    display(Markdown("**Seed-to-seed spread measured here** (runs that differ only in their seed):"))
    show_table(spread) if not spread.empty else print("none yet: no configuration has two seeds")
    exact = pairs[pairs["same recipe"]] if not pairs.empty else pairs
    paired = set(zip(exact.get("net", []), exact.get("schedule", []), exact.get("seed", [])))
    waiting = []
    for run in list_runs(results):
        config = run.config()
        if run.finished and config.data_sha256 == JPEG_SHA256 and config.full_schedule and \
                (config.net_name, config.schedule, config.seed) not in paired:
            waiting.append(replace(config, data="cifar10", data_sha256=CIFAR10_SHA256, channels_last=None, compile=None))
    display(Markdown("**JPEG-copy runs on the full schedule still without their same-recipe real-data twin:**"))
    views.show_missing(waiting, results)
