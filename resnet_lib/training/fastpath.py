"""The fastest settings this hardware runs well: precision, memory layout, compilation.

Measured (torch 2.14.1, one ResNet-20 training step, batch 128, 2 CPU cores):

| CPU                           | fp32 NCHW | fp32 channels-last | + compile | bf16 + channels-last | + compile |
|-------------------------------|-----------|--------------------|-----------|----------------------|-----------|
| Intel Xeon, AMX + AVX-512 BF16 | 0.34 s    | 0.30 s             | 0.25 s    | 0.18 s               | 0.16 s    |
| AMD Zen 4, AVX-512 BF16       | 0.32 s    | 0.26 s             | 0.21 s    | 0.15 s               | 0.14 s    |
| AMD Zen 3, AVX2 only          | 0.49 s    | 0.45 s             | 0.35 s    | 5.95 s (emulated)    |           |

(Zen 4 row: `benchmarks/throughput.py`, results/benchmarks/throughput-cpu-20261129-160857.json; the
standard pipeline there 0.33 s, so the default is 2.4x it.)

The Zen 3 row's compiled step came from a separate measurement; the benchmark, which measures every
setting side by side in one run, found compiling slower there: fp32 + channels-last 362 img/s, compiled
330, and 39 s of warm-up on top (standard pipeline 258, fp32 305; issue 53).

Hence, for `auto`: channels-last everywhere; torch.compile on the CPU kinds where the benchmark found it
faster (COMPILE_PAYS_ON) for runs long enough to repay its start-up (about 50 s on 2 cores, paid again by
every resumed piece), not on CUDA until a GPU benchmark decides; bf16 only where the hardware has it
natively (CUDA, AVX-512 BF16, AMX). That waited for the numerics check (the book's performance page):
ResNet-20 at 1/16 of the schedule on the JPEG copy, seeds 0 and 1, gave test errors of 19.36% and 19.75%
in fp32, 19.73% and 19.56% in bf16 (Intel Xeon with AMX): a gap of means of 0.09 points, within fp32's
seed-to-seed spread of 0.39.
Precision is part of a run's identity; layout and compilation are not.

The memory allocator: a training process the launcher starts (a sweep's, the campaign's) preloads
tcmalloc where the machine has it (`allocator_env`; scripts/setup.sh installs it). Measured on the
Zen 4 above, interleaved three times, ResNet-32 bf16 + channels-last + compile: 561 img/s with glibc's
allocator (553, 591, 540), 611 with tcmalloc (611, 610, 611); jemalloc 760 against 846 for ResNet-20
as it comes, 940 with its tuned settings, tcmalloc 965; binding the OpenMP threads to cores (on top)
gained nothing. The benchmark's record (results/benchmarks/throughput-cpu-20261207-050903.json, ResNet-20)
has 1,056 img/s in its own process and 1,068 in a fresh one with tcmalloc: the gain is steadiness more
than speed there. It changes no arithmetic, only how fast memory comes back.
"""

from __future__ import annotations

import ctypes.util
import os
import platform
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import torch

from ..config import TrainConfig

BF16_BY_DEFAULT = True  # the numerics check passed (see above): bf16 within fp32's seed-to-seed spread
COMPILE_MIN_ITERATIONS = 2000  # shorter CPU runs stay eager: compiling costs about 50 s
COMPILE_PAYS_ON = {  # CPU kind (its most capable unit, cpu_kind()) -> whether the benchmark found the compiled
    # step faster than the eager one, side by side (ResNet-20, batch 128, channels-last, the kind's default precision)
    "AMX BF16": True,  # Intel Xeon: bf16 793 -> 1,136 img/s (results/benchmarks/throughput-cpu-20261128-182506.json)
    "AVX-512 BF16": True,  # AMD Zen 4: bf16 1,002 -> 1,056 (results/benchmarks/throughput-cpu-20261207-050903.json)
    "AVX-512": True,  # not measured alone: fp32 gained on both AVX-512 CPUs above (482 -> 543, 641 -> 699)
    "AVX2": False,  # AMD Zen 3: fp32 362 -> 330, and 39 s of warm-up (issue 53's benchmark)
}  # a kind not listed stays eager (nothing measured; eager needs no C++ compiler)
EMULATED_BF16_SLOWDOWN = 13  # bf16 against fp32 on a CPU without native bf16 (Zen 3: 5.95 s vs 0.45 s)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively: any CUDA GPU of compute capability >= 8, a CPU with AMX or AVX-512 BF16."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The vector and matrix units that matter here, e.g. "AVX-512, AMX BF16" or "AVX2"."""
    flags = cpu_flags()
    units = ["AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else torch.backends.cpu.get_cpu_capability()]
    units += [name for flag, name in (("avx512_bf16", "AVX-512 BF16"), ("amx_bf16", "AMX BF16")) if flag in flags]
    return ", ".join(units)


def cpu_kind() -> str:
    """This CPU's most capable unit, the kind its benchmark records and targets are filed under: e.g. "AMX BF16"."""
    return cpu_capability().split(", ")[-1]


def usable_cores() -> int:
    """The cores this process may run on: its affinity (taskset, a container's cpuset, Slurm's binding), else all."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_run(at_once: int) -> int:
    """CPU threads for each of `at_once` processes sharing the cores this one may use (at least one): more
    threads than cores leave OpenMP's threads waiting on each other, 10x slower (ResNet-8, 2 on 1 core)."""
    return max(1, usable_cores() // at_once)


def allocator_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a training process, with tcmalloc preloaded where the machine has it (LD_PRELOAD) and the
    caller's environment does not choose (RESNET_LIB_ALLOCATOR=system keeps glibc's allocator)."""
    library = _tcmalloc()
    if library is None or env.get("RESNET_LIB_ALLOCATOR") == "system" or "LD_PRELOAD" in env:
        return env
    return {**env, "LD_PRELOAD": library}


def _tcmalloc() -> str | None:
    """tcmalloc's library: in the system's library path (apt), or in this Python's prefix (conda's gperftools)."""
    in_prefix = sorted(Path(sys.prefix, "lib").glob("libtcmalloc_minimal.so*"))
    return ctypes.util.find_library("tcmalloc_minimal") or (str(in_prefix[0]) if in_prefix else None)


def allocator() -> str:
    """The allocator this process runs with: the library preloaded (e.g. "libtcmalloc_minimal.so.4"), or "glibc"."""
    preloaded = [Path(p).name for p in os.environ.get("LD_PRELOAD", "").replace(":", " ").split()]
    return next((p for p in preloaded if "malloc" in p), "glibc")


def describe_hardware(device: torch.device, world: int = 1) -> str:
    """e.g. "1x Intel(R) Xeon(R) Processor (2 cores, 2 threads; AVX-512, AVX-512 BF16, AMX BF16)" or "2x NVIDIA H200"."""
    if device.type == "cuda":
        return f"{world}x {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"{world}x {cpu_name()} ({os.cpu_count()} cores, {threads} thread{'s' * (threads != 1)}; {cpu_capability()})"


def resolve(config: TrainConfig, device: torch.device) -> TrainConfig:
    """`config` with precision, channels_last and compile decided for `device` where they are None/"auto"."""
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if BF16_BY_DEFAULT and native_bf16(device) else "fp32"
    channels_last = True if config.channels_last is None else config.channels_last
    compile = config.compile
    if compile is None:
        compile = (device.type == "cpu" and COMPILE_PAYS_ON.get(cpu_kind(), False)
                   and config.iterations >= COMPILE_MIN_ITERATIONS)
    return replace(config, precision=precision, channels_last=channels_last, compile=compile)


def slow_precision_warning(config: TrainConfig, device: torch.device) -> str | None:
    """One line when `config` runs bf16 on a CPU that only emulates it, else None."""
    if config.precision != "bf16" or device.type != "cpu" or native_bf16(device):
        return None
    return (f"warning: this run is bf16 but this CPU ({cpu_name()}; {cpu_capability()}) has no native bf16: expect it "
            f"about {EMULATED_BF16_SLOWDOWN}x slower than fp32 here. Choices: continue anyway; resume it on a machine "
            f"with AVX-512 BF16, AMX or a GPU; or train the fp32 run instead (--precision fp32, a separate run)")
