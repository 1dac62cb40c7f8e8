"""What a run is built from on a device: the device, the data pipeline, the model as it is called
(channels-last, compiled, DDP-wrapped), the optimizer and the precision context. The trainer, the
evaluator, the published models' check and the benchmark all build from here, so they measure the
same thing.
"""

from __future__ import annotations

import inspect

import torch
import torch.distributed as dist

from .config import TrainConfig
from .errors import ConfigError
from .models import build_model, parse_arch
from .data import CifarPipeline, load_dataset
from .imagenet import ImageFolderPipeline


DEVICES = ("auto", "cpu", "cuda")  # what --device and a notebook's `device` take


def pick_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """"auto" (CUDA if PyTorch sees a GPU, else CPU), "cpu" or "cuda" (the `local_rank`-th GPU), or ConfigError."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto")
        return torch.device("cuda", local_rank)
    if device != "cpu":
        raise ConfigError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    return torch.device("cpu")


def make_autocast(config: TrainConfig, device: torch.device):
    """The precision context: bf16 autocast for a bf16 run, a no-op for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")


def make_model(config: TrainConfig, num_classes: int, device: torch.device):
    """(the model, the model to call: compiled and/or DDP-wrapped as the config and launch ask)."""
    torch.manual_seed(config.seed)
    raw_model = build_model(config.spec, config.shortcut, num_classes=num_classes).to(device)
    raw_model = raw_model.to(memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
    model = raw_model
    if dist.is_available() and dist.is_initialized():
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.cuda_graphs and device.type == "cuda":
        model = torch.compile(model, mode="reduce-overhead")  # CUDA graphs: the step's kernels replayed at once
    elif config.compile:
        model = torch.compile(model)
    return raw_model, model


def make_optimizer(config: TrainConfig, model) -> torch.optim.SGD:
    """The paper's SGD (momentum, weight decay on every parameter), fused on CUDA where torch has it."""
    fused = next(model.parameters()).is_cuda and "fused" in inspect.signature(torch.optim.SGD).parameters  # torch >= 2.4
    fast = {"fused": True} if fused else {}
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, **fast)


def make_pipeline(config: TrainConfig, device: torch.device, rank: int = 0, world: int = 1):
    """The data pipeline of `config`: CIFAR in device memory, or an ImageNet-style ImageFolder tree."""
    if parse_arch(config.arch).family == "imagenet":
        return ImageFolderPipeline(config.data, config.batch_size, config.seed, config.val_fraction, config.split_seed,
                                   device, rank, world)
    return CifarPipeline(load_dataset(config.data), config.batch_size, config.seed, config.val_fraction,
                         config.split_seed, device, rank, world, channels_last=config.channels_last)
