"""Command line: ``python -m resnet_lib {describe,train,evaluate} ...``.

Bad input exits with status 2 and one line naming the problem and the valid forms.
"""

from __future__ import annotations

import argparse
import json
import sys

from .analysis import describe
from .models import ConfigError

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
    return parser


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
