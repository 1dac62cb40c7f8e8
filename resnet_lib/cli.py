"""Command line: ``python -m resnet_lib {describe,train,evaluate} ...``.

Bad input exits with status 2 and one line naming the problem and the valid forms.
"""

from __future__ import annotations

import argparse
import json
import sys

from .analysis import describe
from .config import TrainConfig
from .data import load_dataset
from .models import ConfigError
from .results import RESULTS_DIR

PAPER_ARCHS = (
    [f"resnet{d}" for d in (20, 32, 44, 56, 110, 1202)]
    + [f"plain{d}" for d in (20, 32, 44, 56, 110)]
    + ["preact-resnet110"]
    + [f"imagenet-plain{d}" for d in (18, 34)]
    + [f"imagenet-resnet{d}" for d in (18, 34, 50, 101, 152)]
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _shortcut(value: str) -> str:
    if value.upper() not in ("A", "B", "C"):
        raise argparse.ArgumentTypeError(f"unknown shortcut option {value!r}; valid options: A, B, C")
    return value.upper()


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m resnet_lib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("describe", help="parameters, multiply-adds and layers of architectures")
    p.add_argument("arch", nargs="*", help="e.g. resnet110, plain56, imagenet-resnet50 (default: all of the paper's)")
    p.add_argument("--shortcut", type=_shortcut, help="A, B or C (default: A; B for bottleneck nets)")
    p.add_argument("--json", action="store_true", help="print JSON (one object per architecture, one per line)")
    p.set_defaults(handler=_describe)

    p = commands.add_parser("train", help="train with the paper's recipe (CIFAR nets; ImageNet nets on an ImageFolder tree)")
    p.add_argument("--arch", required=True, help="e.g. resnet20, plain56, resnet1202, preact-resnet110, imagenet-resnet50")
    p.add_argument("--shortcut", type=_shortcut, help="A, B or C (default: A for CIFAR ResNets)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    _add_run_options(p)
    p.add_argument("--resume", action="store_true", help="continue an unfinished run of the same config")
    p.add_argument("--stop-at", type=_positive_int, help="checkpoint and stop at this iteration (resume later)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_train)

    p = commands.add_parser("sweep", help="train many runs concurrently on one device, each recorded and resumable")
    p.add_argument("--archs", type=_list(str), required=True, help="comma-separated, e.g. resnet20,resnet32,plain20")
    p.add_argument("--seeds", type=_list(int), default=[0], help="comma-separated, e.g. 0,1,2,3,4")
    p.add_argument("--shortcuts", type=_list(_shortcut), help="comma-separated options for the residual nets (default: A)")
    p.add_argument("--concurrent", type=_positive_int, default=4, help="runs trained at once (default 4)")
    _add_run_options(p)
    p.set_defaults(handler=_sweep)

    p = commands.add_parser("evaluate", help="test (and validation) error of a checkpoint or weights file")
    p.add_argument("checkpoint", help="a run's checkpoint.pt, or weights.pt with config.json beside it")
    p.add_argument("--data", help="data source (default: the one the run was trained on)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(handler=_evaluate)
    return parser


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by train and sweep: the TrainConfig fields besides arch/shortcut/seed, and execution."""
    defaults = TrainConfig()
    p.add_argument("--data", required=True, help="cifar10, synthetic, or a path (see data/README.md); ImageNet nets: root with train/ and val/")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 through torchvision if missing (internet)")
    p.add_argument("--iterations", type=_positive_int, default=defaults.iterations)
    p.add_argument("--milestones", type=_milestones, default=defaults.milestones, help="lr /10 at these iterations (default: 32000,48000)")
    p.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size, help="global batch (default: 128)")
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction, help="held-out share (default 0.1: 45k/5k); 0 trains on all")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=None, help="lr 0.01 until train error < 80%% (default: on for depth >= 110)")
    p.add_argument("--eval-every", type=_positive_int, default=defaults.eval_every)
    p.add_argument("--precision", choices=("fp32", "bf16"), default=defaults.precision)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", default=str(RESULTS_DIR), help="results folder (default: results)")
    p.add_argument("--time-limit", type=float, help="checkpoint and stop after this many seconds (resume later)")


def _config(args, arch: str, shortcut: str | None, seed: int) -> TrainConfig:
    return TrainConfig(
        arch=arch, shortcut=shortcut, data=args.data, val_fraction=args.val_fraction, iterations=args.iterations,
        batch_size=args.batch_size, lr=args.lr, milestones=args.milestones, warmup=args.warmup,
        eval_every=args.eval_every, seed=seed, precision=args.precision, channels_last=args.channels_last,
        compile=args.compile,
    )


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
    from .train import TrainingDiverged, TrainingInterrupted, train

    config = _config(args, args.arch, args.shortcut, args.seed)
    if args.download:
        load_dataset(config.data, download=True)
    try:
        run = train(config, out_dir=args.out, device=args.device, resume=args.resume, stop_at=args.stop_at,
                    time_limit=args.time_limit, progress=not args.no_progress)
    except TrainingInterrupted as stop:
        print(f"interrupted: {stop}", file=sys.stderr)
        return 130
    except TrainingDiverged as error:
        print(f"diverged: {error}", file=sys.stderr)
        return 1
    if not run.finished:
        print(f"stopped early; checkpoint in {run.path}; continue with the same command and --resume")
        return 0
    final = run.summary()["final"]
    print(f"{run.path}: test error {final['test_error']:.2f}%, validation error {final['val_error']:.2f}%, "
          f"training error {final['train_error']:.2f}%")
    return 0


def _sweep(args) -> int:
    from .models import parse_arch
    from .sweep import sweep

    configs = [_config(args, arch, shortcut if parse_arch(arch).residual else None, seed)
               for arch in args.archs for shortcut in (args.shortcuts or [None]) for seed in args.seeds]
    configs = list({c.key: c for c in configs}.values())  # plain nets appear once whatever the shortcuts
    if args.download:
        load_dataset(args.data, download=True)
    for run, finished in sweep(configs, args.concurrent, args.out, args.device, args.time_limit):
        print(f"{'finished' if finished else 'unfinished (rerun to continue)'}: {run.path}")
    return 0


def _evaluate(args) -> int:
    from .train import evaluate_file

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
    except ConfigError as error:
        print(f"python -m resnet_lib {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
