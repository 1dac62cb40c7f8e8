"""Evaluation throughput: the trained model against its BatchNorm-folded copy, side by side.

The trainer evaluates the test set (10k images) at every point of a curve and the validation set (5k)
at every fourth, which on a CPU is a large share of a short run. It evaluates a copy of the model
with each BN folded into the convolution before it (`resnet_lib.training.evaluation.FoldedModel`). In one run
on one device, for each architecture, with the trainer's default settings for it there (precision,
channels-last, compilation) and its evaluation batches:
- model: the model itself in eval mode, as the trainer evaluated before (compiled if the trainer compiles);
- folded: the folded copy, refreshed from the model before each pass as the trainer does.
Repetitions alternate between the two; the best of each is kept. Prints images/s, the ratio and the
evaluation time of a run on the 1/8 and the full schedule, and writes JSON (hardware, versions,
commit) under results/benchmarks/.

    python benchmarks/evaluation.py --device cpu --archs resnet20,resnet56
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from resnet_lib.config import PAPER_VAL_FRACTION, TrainConfig, schedule_settings  # noqa: E402
from resnet_lib.data.datasets import synthetic_dataset  # noqa: E402
from resnet_lib.data.pipeline import CifarPipeline  # noqa: E402
from resnet_lib.training import fastpath  # noqa: E402
from resnet_lib.training.evaluation import FoldedModel, evaluate  # noqa: E402
from resnet_lib.training.provenance import benchmark_hardware, write_benchmark_record  # noqa: E402
from resnet_lib.training.runtime import DEVICES, make_autocast, make_model, pick_device  # noqa: E402

TEST_IMAGES, VAL_IMAGES = 10_000, 5_000


def images_evaluated(schedule: str) -> int:
    """Images a run on `schedule` evaluates at the trainer's default cadence (test at every point, val at every 4th)."""
    config = TrainConfig(**schedule_settings(schedule))
    return (config.iterations // config.eval_interval * TEST_IMAGES
            + config.iterations // config.val_interval * VAL_IMAGES)


def measure(arch: str, device: torch.device, repeats: int, images: int = TEST_IMAGES, eager: bool = False) -> dict:
    config = fastpath.resolve(TrainConfig(arch=arch, data="synthetic"), device)
    config = replace(config, compile=config.compile and not eager)
    pipeline = CifarPipeline(synthetic_dataset((1000, images)), 128, 0, PAPER_VAL_FRACTION, 0, device,
                             channels_last=config.channels_last)
    raw_model, model = make_model(config, pipeline.num_classes, device)
    folded = FoldedModel(raw_model, compile=config.compile)
    autocast = make_autocast(config, device)
    ways = {"model": lambda: model, "folded": folded.refreshed}
    seconds = {name: [] for name in ways}
    for repeat in range(repeats + 1):  # the first pass of each is the warm-up (compilation)
        for name, module in ways.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            evaluate(module(), pipeline.eval_batches("test"), autocast)
            seconds[name].append(time.perf_counter() - start)
    rates = {name: images / min(s[1:]) for name, s in seconds.items()}
    return {"precision": config.precision, "channels_last": config.channels_last, "compile": config.compile,
            "batch_size": pipeline.eval_batch_size, "img_s": rates, "warmup_s": {n: s[0] for n, s in seconds.items()},
            "speedup": rates["folded"] / rates["model"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="resnet20,resnet56,resnet110")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the images, per way")
    parser.add_argument("--images", type=int, default=TEST_IMAGES, help="images per pass (default: a test set's)")
    parser.add_argument("--eager", action="store_true", help="never compile (a quick check of the script)")
    parser.add_argument("--out", default="results/benchmarks", help="folder for the JSON record")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    record = {"hardware": benchmark_hardware(device), "images": args.images, "repeats": args.repeats, "archs": {}}
    schedules = {name: images_evaluated(name) for name in ("1/8", "full")}
    print(f"{'arch':<10} {'settings':<22} {'model img/s':>12} {'folded img/s':>13} {'ratio':>6}   evaluation in a run "
          f"(model -> folded)")
    for arch in args.archs.split(","):
        result = measure(arch, device, args.repeats, args.images, args.eager)
        record["archs"][arch] = result
        rates = result["img_s"]
        settings = f"{result['precision']}{' CL' if result['channels_last'] else ''}{' compiled' if result['compile'] else ''}"
        per_run = ", ".join(f"{name}: {images / rates['model'] / 60:.0f} -> {images / rates['folded'] / 60:.0f} min"
                            for name, images in schedules.items())
        print(f"{arch:<10} {settings:<22} {rates['model']:>12.0f} {rates['folded']:>13.0f} {result['speedup']:>5.2f}x   "
              f"{per_run}", flush=True)
    write_benchmark_record(record, "evaluation", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
