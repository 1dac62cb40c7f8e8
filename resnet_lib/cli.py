"""Command line: ``python -m resnet_lib {describe,train,sweep,campaign,publish,lesion,evaluate} ...``.

Bad input exits with status 2 and one line naming the problem and the valid forms.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .config import SCHEDULES, TrainConfig, cli_fields, schedule_settings
from .data.sources import load_dataset
from .errors import ConfigError
from .models.analysis import describe
from .models.resnet import PAPER_ARCHS, parse_arch, parse_shortcut
from .runs.checkpoint import CheckpointError, RecordWriteError
from .runs.commands import EXECUTORS, executor_entry
from .runs.results import RESULTS_DIR, RecordError, RunBusy, results_root
from .training.runtime import DEVICES

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _shortcut(value: str) -> str:
    try:
        return parse_shortcut(value)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m resnet_lib", description="Deep residual learning (He et al., 2015), replicated: "
                     "describe the paper's architectures, train runs with its recipe (alone, as a sweep or a campaign), "
                     "evaluate and publish them. 'python -m resnet_lib <command> --help' lists a command's options.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("describe", help="parameters, multiply-adds and layers of architectures")
    p.add_argument("arch", nargs="*", help="e.g. resnet110, plain56, imagenet-resnet50 (default: all of the paper's)")
    p.add_argument("--shortcut", type=_shortcut, help="A, B or C (default: A; B for bottleneck nets)")
    p.add_argument("--json", action="store_true", help="print JSON (one object per architecture, one per line)")
    p.set_defaults(handler=_describe)

    p = commands.add_parser("train", help="train with the paper's recipe (CIFAR nets; ImageNet nets on an ImageFolder tree)")
    _add_config_options(p, required=("arch",))
    p.add_argument("--configs", help="instead of the options above: a JSON file listing configurations (TrainConfig "
                   "fields) to train together in one process, stepped in turn, each its own run; or runs a sweep or "
                   "the campaign resolved (how they start their processes)")
    _add_execution_options(p)
    p.add_argument("--resume", action="store_true", help="continue an unfinished run of the same experiment")
    p.add_argument("--stop-at", type=_positive_int, help="checkpoint and stop at this iteration (resume later)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--runs-at-once", type=_positive_int, default=1, help="runs sharing this device meanwhile, "
                   "recorded with this piece of the run so that its speed is read right (default 1; a campaign sets it)")
    p.set_defaults(handler=_train)

    p = commands.add_parser("sweep", help="train many runs concurrently on one device, each recorded and resumable")
    p.add_argument("--archs", type=_list(str), required=True, help="comma-separated, e.g. resnet20,resnet32,plain20")
    p.add_argument("--seeds", type=_list(int), default=[0], help="comma-separated, e.g. 0,1,2,3,4")
    p.add_argument("--shortcuts", type=_list(_shortcut), help="comma-separated options for the residual nets (default: A)")
    _add_config_options(p, skip=("arch", "shortcut", "seed"))
    _add_execution_options(p)
    p.add_argument("--executor", choices=tuple(EXECUTORS), default="local", help="where the runs train: " + "; ".join(
        f"{name}: {entry.summary}" for name, entry in EXECUTORS.items()))
    for name, entry in EXECUTORS.items():
        group = p.add_argument_group(f"--executor {name}" + f" ({entry.elsewhere})" * bool(entry.elsewhere))
        entry.load().add_options(group, _positive_int)
    p.set_defaults(handler=_sweep)

    p = commands.add_parser("campaign", help="train the runs of a plan (campaign.toml) in order, within a time limit")
    p.add_argument("--plan", default="campaign.toml", help="the plan: a TOML file of [[step]] tables (default: campaign.toml)")
    p.add_argument("--out", default=str(RESULTS_DIR), help="where finished runs are recorded (default: results)")
    p.add_argument("--work", help="where unfinished runs live, outside the checkout (default: ~/.cache/resnet_lib/runs)")
    p.add_argument("--time-limit", type=float, help="seconds: checkpoint and stop before this much time has passed")
    p.add_argument("--dry-run", action="store_true", help="print the plan, its state and the time expected; train nothing")
    p.add_argument("--concurrent", type=_positive_int, default=1, help="runs trained at once, the cores shared among them "
                   "(default 1; on 2 cores, 2 trained 1.29x as many images/s as 1 for ResNet-56, Intel Xeon AMX)")
    p.set_defaults(handler=_campaign)

    p = commands.add_parser("publish", help="publish a finished run's weights (fp16) with a model card, for torch.hub")
    p.add_argument("run", help="a finished run folder, e.g. results/resnet20-A-cifar10-jpeg-full-bf16-seed0-1a2b3c4d")
    p.add_argument("--name", help="the published model's name (default: the architecture, e.g. resnet20)")
    p.add_argument("--out", help="where to publish (default: published/)")
    _add_device(p)
    p.set_defaults(handler=_publish)

    p = commands.add_parser("lesion", help="test a trained net with blocks deleted, one at a time and k at random "
                                           "(Veit et al., 2016)")
    p.add_argument("weights", help="a published model (published/resnet56.pt) or a finished run folder with its weights.pt")
    p.add_argument("--draws", type=int, default=5, help="random draws for each number of blocks deleted (default 5)")
    p.add_argument("--record", action="store_true", help="write the study beside the run (results/<run>/lesion.json)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto (default): bf16 where the hardware computes it natively, as the trainer evaluates")
    _add_device(p)
    p.set_defaults(handler=_lesion)

    p = commands.add_parser("evaluate", help="test (and validation) error of a checkpoint, weights or published file")
    p.add_argument("checkpoint", help="a run's checkpoint.pt, weights.pt with config.json beside it, or a published "
                                      "model (published/<name>.pt)")
    p.add_argument("--data", help="data source (default: the one the run was trained on)")
    p.add_argument("--record", action="store_true", help="a published model tested on another data set: write the "
                                                         "result beside its run (results/<run>/tested_elsewhere.json)")
    _add_device(p)
    p.set_defaults(handler=_evaluate)
    return parser


def _add_config_options(p: argparse.ArgumentParser, required: tuple = (), skip: tuple = ()) -> None:
    """One option per TrainConfig field (config.py holds each one's help, unit and valid range), and --schedule."""
    for f in cli_fields():
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = "auto" if f.default is None else ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        text = f.metadata["help"] if "default:" in f.metadata["help"] else f"{f.metadata['help']} (default: {default})"
        if f.name in required:
            text = f"{f.metadata['help'].split(' (default:')[0]} (required, unless --configs)"
        options = {"help": text.replace("%", "%%"), "default": None}
        if f.type == "bool | None":
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = {"int": int, "int | None": int, "float": float, "tuple[int, ...]": _milestones}.get(f.type, str)
            if f.name == "shortcut":
                options["type"] = _shortcut
            elif f.metadata["choices"]:
                options["choices"] = f.metadata["choices"]
        p.add_argument(flag, **options)  # a required one is checked by its command (train: --arch, or --configs)
    p.add_argument("--schedule", choices=tuple(SCHEDULES), help="the paper's schedule (full) or a fraction of it: 1/8 is "
                   "8k iterations with lr /10 at 4k and 6k (sets --iterations and --milestones)")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 through torchvision if missing (internet)")


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where to compute: auto (the GPU if there is one, else the CPU), cpu or cuda (default: auto)")


def _add_execution_options(p: argparse.ArgumentParser) -> None:
    _add_device(p)
    p.add_argument("--out", help="results folder (default: results; results/smoke for synthetic data, kept out of the record)")
    p.add_argument("--time-limit", type=float, help="checkpoint and stop after this many seconds (resume later)")


def _config(args, **fixed) -> TrainConfig:
    """The TrainConfig the options describe; options not given take the config's defaults."""
    values = {f.name: getattr(args, f.name) for f in cli_fields() if getattr(args, f.name, None) is not None}
    if args.schedule:
        if "iterations" in values or "milestones" in values:
            raise ConfigError("give --schedule, or --iterations and --milestones, not both")
        values.update(schedule_settings(args.schedule))
    return TrainConfig(**{**values, **fixed})


def _list(kind):
    def parse(value: str) -> list:
        try:
            return [kind(v.strip()) for v in value.split(",") if v.strip()]
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list ({error})") from None
    return parse


def _milestones(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list of iterations, e.g. 32000,48000") from None


def _train(args) -> int:
    from .training.processes import TrainingInterrupted
    from .training.runtime import runs_from_file
    from .training.train import TrainingDiverged, train_group

    if args.configs is None and args.arch is None:
        raise ConfigError("--arch is required (or --configs, a JSON list of configurations to train together)")
    runs = [_config(args)] if args.configs is None else runs_from_file(args.configs)
    if args.download:
        load_dataset(runs[0].data, download=True)
    try:
        folders = train_group(runs, out_dir=args.out, device=args.device, resume=args.resume, stop_at=args.stop_at,
                              time_limit=args.time_limit, progress=not args.no_progress, runs_at_once=args.runs_at_once)
    except TrainingInterrupted as stop:
        print(f"interrupted: {stop}", file=sys.stderr)
        return 130
    except TrainingDiverged as error:
        print(f"diverged: {error}", file=sys.stderr)
        return 1
    for run in folders:
        if not run.finished:
            print(f"stopped early; checkpoint in {run.path}; continue with the same command and --resume")
            continue
        final = run.summary()["final"]
        no_val = final["val_error"] is None or math.isnan(final["val_error"])  # no held-out set (older records: NaN)
        val = "" if no_val else f", validation error {final['val_error']:.2f}%"
        print(f"{run.path}: test error {final['test_error']:.2f}%{val}, training error {final['train_error']:.2f}%")
    return 0


def _sweep(args) -> int:
    configs = [_config(args, arch=arch, shortcut=shortcut if parse_arch(arch).residual else None, seed=seed)
               for arch in args.archs for shortcut in (args.shortcuts or [None]) for seed in args.seeds]
    configs = list({json.dumps(c.experiment()): c for c in configs}.values())  # plain nets once whatever the shortcuts
    data = configs[0].data
    if args.download:
        load_dataset(data, download=True)
    executor = executor_entry(args.executor).load().from_args(args)
    return executor.report(executor.run(configs, args.out or results_root(data), args.time_limit))


def _campaign(args) -> int:
    from .launching.campaign import WORK_DIR, run_campaign

    run_campaign(args.plan, args.out, args.work or WORK_DIR, args.time_limit, args.dry_run, args.concurrent)
    return 0


def _publish(args) -> int:
    from dataclasses import asdict

    from .training.hub import publish

    card = publish(args.run, args.name, args.out, args.device)
    print(json.dumps(asdict(card), indent=2))
    return 0


def _lesion(args) -> int:
    from .training.lesion import study_weights

    if args.draws < 1:
        raise ConfigError(f"--draws must be at least 1, got {args.draws}")
    study = study_weights(args.weights, draws=args.draws, record=args.record, device=args.device,
                         precision=args.precision)
    worst = max((s for s in study["single"] if s["error"] is not None), key=lambda s: s["error"], default=None)
    print(f"{study['net']}: intact {study['intact']:.2f}%" + (f"; worst single deletion {worst['label']} "
                                                              f"{worst['error']:.2f}%" if worst else ""))
    print(json.dumps(study))
    return 0


def _evaluate(args) -> int:
    from .training.evaluation import evaluate_file
    from .training.hub import PUBLISHED_DIR, test_elsewhere

    path = Path(args.checkpoint)
    if path.with_suffix(".json").exists() and path.parent.resolve() == PUBLISHED_DIR.resolve():
        if not args.data:
            raise ConfigError(f"{path} is a published model: its card holds its test error on its own data; pass "
                              f"--data to test it on another data set's test images")
        result = test_elsewhere(path.stem, args.data, record=args.record, device=args.device)
    elif args.record:
        raise ConfigError("--record is for a published model tested on another data set (published/<name>.pt)")
    else:
        result = evaluate_file(args.checkpoint, data=args.data, device=args.device)
    print(json.dumps(result))
    return 0


def _describe(args) -> int:
    if args.arch:
        rows = [describe(a, args.shortcut) for a in args.arch]
    else:  # the paper's nets; a shortcut option applies to the residual ones
        rows = [describe(a, None if "plain" in a else args.shortcut) for a in PAPER_ARCHS]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'architecture':<20} {'shortcut':>8} {'layers':>7} {'params':>13} {'multiply-adds/image':>21}")
    for r in rows:
        print(
            f"{r['arch']:<20} {r['shortcut'] or '-':>8} {r['layers']:>7} {r['params']:>13,} "
            f"{r['macs']:>21,}   ({r['params'] / 1e6:.2f}M params, {r['macs'] / 1e9:.2f}G MACs at {r['input_size']}x{r['input_size']})"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, CheckpointError, RunBusy, RecordError) as error:
        print(f"python -m resnet_lib {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RecordWriteError as error:
        print(f"python -m resnet_lib {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
