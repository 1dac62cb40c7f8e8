"""What a run is built from on a device: the run resolved for it (`resolve_run`), the device, the data
pipeline, the model as it is called (channels-last, compiled, DDP-wrapped), the optimizer and the
precision context. The trainer, the evaluator, the published models' check and the benchmark all
build from here, so they measure the same thing.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist

from . import fastpath
from ..config import TrainConfig
from ..data.datasets import ImageDataset
from ..data.imagenet import ImageFolderPipeline
from ..data.pipeline import CifarPipeline, Pipeline
from ..data.sources import IN_MEMORY_MAX_SIDE, identify, load_dataset, streams_from_disk
from ..errors import ConfigError
from ..models.resnet import build_model
from ..runs.results import Run


DEVICES = ("auto", "cpu", "cuda")  # what --device and a notebook's `device` take


@dataclass(frozen=True)
class ResolvedRun:
    """A run resolved once, for the device it trains on: `config` with precision, memory layout and
    compilation decided (fastpath.resolve) and its data's identity filled in (data_sha256), the data
    set's `data_name`, and the run `folder` (results.Run) under the results root. The trainer and the
    campaign take it as it is; nothing after `resolve_run` changes it."""

    config: TrainConfig
    data_name: str
    folder: Run


def resolve_run(config: TrainConfig, root: str | Path, device: torch.device,
                identity: tuple[str, str] | None = None) -> ResolvedRun:
    """`config` resolved for `device` and its data, in its folder under `root`. `identity`: the data's (name,
    SHA-256) where the caller has it already (a loaded pipeline's, or one source's for many runs), else
    data.identify (without decoding where the data is known). A config whose data_sha256 is not the
    data's is a ConfigError."""
    config = fastpath.resolve(config, device)
    name, sha256 = identity or identify(config.data)
    if config.data_sha256 not in (None, sha256):
        raise ConfigError(f"the data at {config.data} ({name}, sha256 {sha256[:12]}…) is not the data this run was "
                          f"configured with (sha256 {config.data_sha256[:12]}…)")
    config = replace(config, data_sha256=sha256)
    return ResolvedRun(config, name, Run.for_config(config, root, name))


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


def make_pipeline(config: TrainConfig, device: torch.device, rank: int = 0, world: int = 1,
                  loaded: dict[str, ImageDataset] | None = None) -> Pipeline:
    """The data pipeline of `config`'s source (data.Pipeline): an ImageNet-style tree streamed from disk
    (ImageFolderPipeline), any other source held in device memory (CifarPipeline). A net that the source
    cannot feed (a CIFAR net on 224-pixel crops, an ImageNet net on 32-pixel images) is a ConfigError.
    `loaded`: data sets already loaded, by source, and filled in here (a group of runs loads each once)."""
    spec, streamed = config.spec, streams_from_disk(config.data)
    if streamed != (spec.input_size == ImageFolderPipeline.input_size):
        raise ConfigError(
            f"{spec.name} takes 224x224 crops of an ImageNet-style tree (train/<class>/ and val/<class>/ of images larger "
            f"than {IN_MEMORY_MAX_SIDE} px); {config.data} is not one" if not streamed else
            f"{spec.name} is a CIFAR net ({spec.input_size}x{spec.input_size} inputs); {config.data} holds large images "
            f"that are cropped to 224x224 for the ImageNet nets (imagenet-resnet18, ...); use one of those, or a CIFAR-shaped source")
    if streamed:
        return ImageFolderPipeline(config.data, config.batch_size, config.seed, config.val_fraction, config.split_seed,
                                   device, rank, world)
    loaded = {} if loaded is None else loaded
    if config.data not in loaded:
        loaded[config.data] = load_dataset(config.data)
    return CifarPipeline(loaded[config.data], config.batch_size, config.seed, config.val_fraction, config.split_seed,
                         device, rank, world, channels_last=config.channels_last)
