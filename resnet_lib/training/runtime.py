"""What a run is built from on a device: the run resolved for it (`resolve_run`, `resolve_runs`), the
device, the data pipeline, the model as it is called (channels-last, compiled, DDP-wrapped), the
optimizer and the precision context. The trainer, the evaluator, the published models' check and the benchmark all
build from here, so they measure the same thing.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist

from . import fastpath
from ..config import TrainConfig
from ..data.datasets import ImageDataset
from ..data.pipeline import CifarPipeline, Pipeline
from ..data.sources import IN_MEMORY_MAX_SIDE, identify, identify_each, load_dataset, streams_from_disk
from ..errors import ConfigError
from ..models.resnet import build_model
from ..runs.results import Run, results_root


DEVICES = ("auto", "cpu", "cuda")  # what --device and a notebook's `device` take


@dataclass(frozen=True)
class ResolvedRun:
    """A run resolved once, for the device it trains on: `config` with precision, memory layout and
    compilation decided (fastpath.resolve) and its data's identity filled in (data_sha256), the data
    set's `data_name`, and the run `folder` (results.Run). The trainer, the campaign and the executors
    take it as it is, and a parent process hands it to the child that trains it as JSON (`to_dict`);
    nothing after `resolve_run` changes it."""

    config: TrainConfig
    data_name: str
    folder: Run

    @property
    def data(self) -> str:
        """The data source (config.data), as a TrainConfig names it."""
        return self.config.data

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "data_name": self.data_name, "folder": str(self.folder.path)}

    @classmethod
    def from_dict(cls, values: dict) -> ResolvedRun:
        """The run `to_dict` wrote, or ConfigError saying what is missing."""
        if not isinstance(values, dict) or {"config", "data_name", "folder"} - set(values):
            raise ConfigError(f"not a resolved run (a dict of config, data_name and folder): {str(values)[:80]}")
        return cls(TrainConfig.from_dict(values["config"]), values["data_name"], Run(Path(values["folder"])))


def resolve_run(config: TrainConfig, root: str | Path | None, device: torch.device,
                identity: tuple[str, str] | None = None) -> ResolvedRun:
    """`config` resolved for `device` and its data, in its folder under `root` (None: results.results_root).
    `identity`: the data's (name, SHA-256) where the caller has it already, else data.identify (without
    decoding where the data is known). A config whose data_sha256 is not the data's is a ConfigError."""
    config = fastpath.resolve(config, device)
    name, sha256 = identity or identify(config.data)
    if config.data_sha256 not in (None, sha256):
        raise ConfigError(f"the data at {config.data} ({name}, sha256 {sha256[:12]}…) is not the data this run was "
                          f"configured with (sha256 {config.data_sha256[:12]}…)")
    config = replace(config, data_sha256=sha256)
    return ResolvedRun(config, name, Run.for_config(config, root or results_root(config.data), name))


def resolve_runs(runs: list[TrainConfig | ResolvedRun], root: str | Path | None, device: torch.device,
                 loaded: dict[str, ImageDataset] | None = None) -> list[ResolvedRun]:
    """Each configuration of `runs` resolved (`resolve_run`), each data source identified once (into
    `loaded`, data sets by source, where one is loaded to be identified); a ResolvedRun is kept as it is."""
    identities = identify_each((r.data for r in runs if isinstance(r, TrainConfig)), loaded)
    return [r if isinstance(r, ResolvedRun) else resolve_run(r, root, device, identities[r.data]) for r in runs]


def runs_from_file(path: str | Path) -> list[TrainConfig | ResolvedRun]:
    """The runs a JSON file lists (`train --configs`): configurations (objects of TrainConfig fields), or runs a
    parent process resolved (ResolvedRun.to_dict), or ConfigError saying what is wrong."""
    try:
        listed = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"--configs {path}: not a readable JSON file ({error})") from None
    if not isinstance(listed, list) or not listed or not all(isinstance(c, dict) for c in listed):
        raise ConfigError(f"--configs {path}: expected a JSON list of configurations (objects of TrainConfig fields)")
    return [ResolvedRun.from_dict(c) if "folder" in c else TrainConfig.from_dict(c) for c in listed]


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
    if streamed != (spec.family == "imagenet"):
        raise ConfigError(
            f"{spec.name} takes 224x224 crops of an ImageNet-style tree (train/<class>/ and val/<class>/ of images larger "
            f"than {IN_MEMORY_MAX_SIDE} px); {config.data} is not one" if not streamed else
            f"{spec.name} is a CIFAR net ({spec.input_size}x{spec.input_size} inputs); {config.data} holds large images "
            f"that are cropped to 224x224 for the ImageNet nets (imagenet-resnet18, ...); use one of those, or a CIFAR-shaped source")
    if streamed:
        from ..data.imagenet import ImageFolderPipeline  # here, not above: torchvision takes ~2 s to import

        return ImageFolderPipeline(config.data, config.batch_size, config.seed, config.val_fraction, config.split_seed,
                                   device, rank, world)
    loaded = {} if loaded is None else loaded
    if config.data not in loaded:
        loaded[config.data] = load_dataset(config.data)
    return CifarPipeline(loaded[config.data], config.batch_size, config.seed, config.val_fraction, config.split_seed,
                         device, rank, world, channels_last=config.channels_last)
