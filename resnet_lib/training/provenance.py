"""Provenance of a run: hardware, software versions, the code's commit, and the execution settings."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from ..config import TrainConfig
from .fastpath import allocator, describe_hardware


def environment(config: TrainConfig, device: torch.device, world: int = 1, runs_at_once: int = 1) -> dict:
    """What one piece of a run ran on and with: hardware, versions, commit, execution settings, and how
    many runs shared the device (`runs_at_once`, a sweep's workers)."""
    return {
        "hardware": describe_hardware(device, world),
        "device": device.type,
        "processes": world,
        "runs_at_once": runs_at_once,
        "channels_last": config.channels_last,
        "compile": config.compile,
        "cuda_graphs": bool(config.cuda_graphs),
        "allocator": allocator(),
        "data_path": config.data,
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def benchmark_hardware(device: torch.device) -> dict:
    """`environment` for a benchmark's record, with the GPU's name and driver on CUDA."""
    info = environment(TrainConfig(data="synthetic"), device)
    if device.type == "cuda":
        try:
            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            info["driver"] = None
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def write_benchmark_record(record: dict, kind: str, out: str | Path) -> Path:
    """Write a benchmark's `record` as `<out>/<kind>-<gpu name or cpu>-<local time>.json`; returns the path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    machine = (record["hardware"].get("gpu") or "cpu").replace(" ", "_")
    path = out / f"{kind}-{machine}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"recorded in {path} ({platform.node()})")
    return path


def git_commit() -> str | None:
    """The code's commit (RESNET_LIB_COMMIT overrides, for copies without .git), '+dirty' if modified."""
    if os.environ.get("RESNET_LIB_COMMIT"):
        return os.environ["RESNET_LIB_COMMIT"]
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")
