"""Training throughput: the standard CIFAR-10 pipeline against each setting of this project's trainer, side by side.

In one run on one device, for each architecture (batch 128, the paper's augmentation):
- standard: what common reimplementations do: uint8 arrays turned into PIL images per item (as
  torchvision.datasets.CIFAR10 does), RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor +
  Normalize on DataLoader worker processes, fp32, NCHW, plain eager loop;
- each candidate setting of resnet_lib's trainer step (data resident on the device as uint8, batched
  augmentation there, fused SGD on CUDA): fp32 or bf16 autocast, NCHW or channels-last, eager or
  compiled; bf16 only where the hardware has it natively. The setting the trainer picks by default
  (resnet_lib/training/fastpath.py) is marked; on a CPU with tcmalloc it is measured again in a process
  started as the launcher starts one (tcmalloc preloaded), "<setting>+tcmalloc"; "fast" in the record is
  the default as the launcher runs it;
- concurrent: K processes running the picked setting at once on the same device (aggregate images/s),
  each started as a sweep starts it (its share of a CPU's threads, the launcher's allocator);
- together (--together N): N runs in one process stepped in turn, each on a CUDA stream of its own
  (the many-runs path, train_group), and with --concurrent K, K such processes (K x N runs).

Prints a table and writes JSON (hardware, driver, torch, commit) under results/benchmarks/.

    python benchmarks/throughput.py                                  # on a GPU: ResNet-20/56/110/1202
    python benchmarks/throughput.py --device cpu --archs resnet20 --concurrent 0     # on a CPU: every setting that fits it
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from resnet_lib.config import PAPER_ITERATIONS, PAPER_VAL_FRACTION, TrainConfig  # noqa: E402
from resnet_lib.data.pipeline import CifarPipeline  # noqa: E402
from resnet_lib.data.sources import default_source, load_dataset  # noqa: E402
from resnet_lib.models.analysis import describe  # noqa: E402
from resnet_lib.training import fastpath  # noqa: E402
from resnet_lib.training.provenance import benchmark_hardware, write_benchmark_record  # noqa: E402
from resnet_lib.training.runtime import DEVICES, make_autocast, make_model, make_optimizer, pick_device  # noqa: E402
from resnet_lib.training.train import train_step  # noqa: E402

FULL_RUN_IMAGES = PAPER_ITERATIONS * TrainConfig.batch_size
DENSE_BF16_PEAK = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12}  # datasheet, dense (no sparsity)


class PILDataset(Dataset):
    """uint8 (N, 3, 32, 32) images served as PIL images through `transform`, like torchvision's CIFAR10."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).numpy()
        self.labels, self.transform = labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def standard_rate(arch: str, dataset, device: torch.device, steps: int, warmup: int, workers: int) -> float:
    """Images/s of the standard pipeline (fp32, NCHW, eager, DataLoader with PIL transforms)."""
    mean = dataset.train_images.float().mean((0, 2, 3)) / 255
    std = dataset.train_images.float().std((0, 2, 3)) / 255
    transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize(mean.tolist(), std.tolist())])
    loader = DataLoader(PILDataset(dataset.train_images, dataset.train_labels, transform), batch_size=128, shuffle=True,
                        num_workers=workers, pin_memory=device.type == "cuda", drop_last=True,
                        persistent_workers=workers > 0)
    config = TrainConfig(arch=arch, data="synthetic", precision="fp32", channels_last=False, compile=False)
    _, model = make_model(config, 10, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    batches = iter(loader)
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * 128 / (time.perf_counter() - start)


CANDIDATES = {  # name -> trainer settings, slowest first
    "fp32": {"precision": "fp32", "channels_last": False, "compile": False},
    "fp32+CL": {"precision": "fp32", "channels_last": True, "compile": False},
    "fp32+CL+compile": {"precision": "fp32", "channels_last": True, "compile": True},
    "bf16+CL": {"precision": "bf16", "channels_last": True, "compile": False},
    "bf16+CL+compile": {"precision": "bf16", "channels_last": True, "compile": True},
    "bf16+CL+graphs": {"precision": "bf16", "channels_last": True, "compile": True, "cuda_graphs": True},  # CUDA only
}


def candidates(device: torch.device) -> dict:
    """The settings worth measuring here: bf16 only where the hardware computes it natively, CUDA graphs on CUDA."""
    return {k: v for k, v in CANDIDATES.items() if (v["precision"] == "fp32" or fastpath.native_bf16(device))
            and (not v.get("cuda_graphs") or device.type == "cuda")}


def picked(arch: str, device: torch.device) -> str:
    """The candidate the trainer uses by default for a full-schedule run of `arch` on `device`."""
    config = fastpath.resolve(TrainConfig(arch=arch, data="synthetic"), device)
    return next(k for k, v in CANDIDATES.items() if all(getattr(config, f) == v[f] for f in v))


def fast_rate(arch: str, source: str, device: str, steps: int, warmup: int, settings: dict, barrier=None,
              runs: int = 1) -> tuple[float, float]:
    """(images/s, seconds spent in the warm-up steps, compilation included) of the trainer's step with `settings`;
    with `runs` > 1, that many runs (seeds 0, 1, ...) in this process stepped in turn, each on a CUDA stream of
    its own, as train_group trains them (images/s of all of them together)."""
    device = pick_device(device)
    config = TrainConfig(arch=arch, data=source, **settings)
    dataset = load_dataset(source)
    group = []
    for seed in range(runs):
        pipeline = CifarPipeline(dataset, 128, seed, PAPER_VAL_FRACTION, 0, device, channels_last=config.channels_last)
        raw_model, model = make_model(replace(config, seed=seed), pipeline.num_classes, device)
        stream = torch.cuda.Stream(device) if device.type == "cuda" and runs > 1 else None
        group.append((pipeline, model, make_optimizer(config, raw_model), stream))
    autocast = make_autocast(config, device)
    begin = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            if barrier is not None:
                barrier.wait()
            start = time.perf_counter()
            warmup_s = start - begin
        for pipeline, model, optimizer, stream in group:
            with torch.cuda.stream(stream) if stream is not None else nullcontext():
                x, y = pipeline.batch(step)
                train_step(model, optimizer, x, y, autocast)
    _sync(device)
    return runs * steps * 128 / (time.perf_counter() - start), warmup_s


def _concurrent_worker(args, barrier, queue, threads, runs):
    if threads:
        torch.set_num_threads(threads)
    queue.put(fast_rate(*args, barrier=barrier, runs=runs)[0])


def concurrent_rate(k: int, arch: str, source: str, device: str, steps: int, warmup: int, settings: dict,
                    runs: int = 1) -> float:
    """Aggregate images/s of k processes running `settings` at once (timed windows aligned by a barrier), each
    training `runs` runs together, each started as a sweep starts it: on a CPU with its share of the cores'
    threads, and with the allocator the launcher preloads (fastpath.allocator_env)."""
    context = mp.get_context("spawn")
    barrier, queue = context.Barrier(k), context.Queue()
    args = (arch, source, device, steps, warmup, settings)
    threads = fastpath.threads_per_run(k) if device == "cpu" else None
    workers = [context.Process(target=_concurrent_worker, args=(args, barrier, queue, threads, runs)) for _ in range(k)]
    parent_env = dict(os.environ)
    os.environ.update(fastpath.allocator_env(parent_env))  # what the spawned processes start with
    try:
        for w in workers:
            w.start()
    finally:
        os.environ.clear()
        os.environ.update(parent_env)
    rates = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    return sum(rates)


def matmul_tflops(device: torch.device) -> float | None:
    """Measured dense bf16 matrix-product rate (8192^3), the practical ceiling; CUDA only."""
    if device.type != "cuda":
        return None
    a, b = (torch.randn(8192, 8192, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 10 * 2 * 8192**3 / (start.elapsed_time(end) / 1e3) / 1e12


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="resnet20,resnet56,resnet110,resnet1202")
    parser.add_argument("--data", default="auto", help="auto (official CIFAR-10 or the JPEG copy), synthetic, or a path")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--steps", type=int, default=100, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=20, help="untimed iterations first (compilation happens here)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="DataLoader workers of the standard pipeline (default: one per core, at most 8)")
    parser.add_argument("--concurrent", type=int, default=4, help="processes in the concurrent measurement (0: skip)")
    parser.add_argument("--together", type=int, default=0, help="runs trained together in one process (train_group, "
                        "a CUDA stream each), measured alone and, with --concurrent, in each of that many processes "
                        "(0: skip)")
    parser.add_argument("--settings", help="comma-separated candidates to measure (default: all that fit this hardware: "
                        + ", ".join(CANDIDATES) + ")")
    parser.add_argument("--out", default="results/benchmarks", help="folder for the JSON record")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    source = default_source() if args.data == "auto" else args.data
    dataset = load_dataset(source)
    settings = candidates(device) if not args.settings else {k: CANDIDATES[k] for k in args.settings.split(",")}
    peak = next((v for k, v in DENSE_BF16_PEAK.items() if k in torch.cuda.get_device_name(device)), None) if device.type == "cuda" else None
    record = {"hardware": benchmark_hardware(device), "data": dataset.identity(), "batch_size": 128, "steps": args.steps,
              "warmup": args.warmup, "workers": args.workers, "candidates": settings, "dense_bf16_peak_flops": peak,
              "measured_bf16_matmul_tflops": matmul_tflops(device), "archs": {}}
    print(f"{'arch':<12} {'setting':<18} {'img/s':>9} {'vs standard':>12} {'warm-up s':>10} {'full run':>10}")
    fmt = lambda s: f"{s / 60:.1f} min" if s < 3600 else f"{s / 3600:.1f} h"  # noqa: E731
    for arch in args.archs.split(","):
        macs = describe(arch)["macs"]
        standard = standard_rate(arch, dataset, device, args.steps, args.warmup, args.workers)
        print(f"{arch:<12} {'standard pipeline':<18} {standard:>9.0f} {1:>11.1f}x {'':>10} {fmt(FULL_RUN_IMAGES / standard):>10}")
        rates = {}
        for name, setting in settings.items():
            rate, warmup_s = fast_rate(arch, source, str(device.type), args.steps, args.warmup, setting)
            rates[name] = {"img_s": rate, "warmup_s": warmup_s, "speedup": rate / standard,
                           "full_run_s": FULL_RUN_IMAGES / rate + warmup_s}
            mark = "  <- picked by default" if name == picked(arch, device) else ""
            print(f"{arch:<12} {name:<18} {rate:>9.0f} {rate / standard:>11.1f}x {warmup_s:>10.1f} "
                  f"{fmt(rates[name]['full_run_s']):>10}{mark}", flush=True)
        choice = default = picked(arch, device)  # default: the setting's name, with the allocator if preloaded
        fastest = max(rates, key=lambda name: rates[name]["img_s"])
        if fastest != choice and choice in rates:
            print(f"{arch:<12} note: {fastest} measured faster than the default {choice} here; if a quiet rerun "
                  f"agrees, the default must follow (resnet_lib/training/fastpath.py: COMPILE_PAYS_ON)", flush=True)
        preloads = fastpath.allocator_env(dict(os.environ)) != dict(os.environ)  # the launcher adds an allocator
        if device.type == "cpu" and preloads and choice in rates:  # the picked setting as a sweep's process runs it
            rate, plain = concurrent_rate(1, arch, source, "cpu", args.steps, args.warmup, CANDIDATES[choice]), rates[choice]
            default = f"{choice}+tcmalloc"
            rates[default] = {"img_s": rate, "warmup_s": plain["warmup_s"], "speedup": rate / standard,
                              "full_run_s": FULL_RUN_IMAGES / rate + plain["warmup_s"]}
            print(f"{arch:<12} {default:<18} {rate:>9.0f} {rate / standard:>11.1f}x {'':>10} "
                  f"{fmt(rates[default]['full_run_s']):>10}  <- what the launcher (sweep, campaign) runs", flush=True)
        fast = rates.get(default) or max(rates.values(), key=lambda r: r["img_s"])
        together = concurrent_rate(args.concurrent, arch, source, str(device.type), args.steps, args.warmup,
                                   CANDIDATES[choice]) if args.concurrent else None
        if together:
            print(f"{arch:<12} {f'{args.concurrent}x {choice}':<18} {together:>9.0f} {together / standard:>11.1f}x")
        group = grouped = None
        if args.together:
            group = fast_rate(arch, source, str(device.type), args.steps, args.warmup, CANDIDATES[choice],
                              runs=args.together)[0]
            print(f"{arch:<12} {f'{args.together} in 1 process':<18} {group:>9.0f} {group / standard:>11.1f}x")
            if args.concurrent:
                grouped = concurrent_rate(args.concurrent, arch, source, str(device.type), args.steps, args.warmup,
                                          CANDIDATES[choice], runs=args.together)
                label = f"{args.concurrent}x{args.together} in {args.concurrent}"
                print(f"{arch:<12} {label:<18} {grouped:>9.0f} {grouped / standard:>11.1f}x")
        flops = max(fast["img_s"], together or 0, group or 0, grouped or 0) * 3 * 2 * macs  # forward + backward ~ 3x the forward MACs, 2 FLOPs each
        record["archs"][arch] = {
            "macs": macs, "standard_img_s": standard, "settings": rates, "picked": default,
            "fast_img_s": fast["img_s"], "fast_warmup_s": fast["warmup_s"], "speedup": fast["img_s"] / standard,
            "concurrent_img_s": together, "concurrent_runs": args.concurrent,
            "concurrent_speedup": together / standard if together else None,
            "together_runs": args.together, "together_img_s": group,
            "concurrent_together_img_s": grouped,
            "full_run_s": {"standard": FULL_RUN_IMAGES / standard, "fast": fast["full_run_s"],
                           "concurrent_per_run": FULL_RUN_IMAGES * args.concurrent / together if together else None},
            "achieved_tflops": flops / 1e12, "fraction_of_bf16_peak": flops / peak if peak else None}
    write_benchmark_record(record, "throughput", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
