"""The training configuration: every hyper-parameter of a run in one place, with the paper's defaults.

Saved as config.json in the run folder and inside every checkpoint. Two runs with equal configs
(execution settings such as the device are not part of it) are the same experiment.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from .models import ConfigError, parse_arch, resolve_shortcut

PAPER_SCHEDULE = {"iterations": 64000, "milestones": (32000, 48000), "batch_size": 128, "lr": 0.1}


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run; defaults are the paper's CIFAR-10 recipe (§4.2)."""

    arch: str = "resnet20"
    shortcut: str | None = None  # A, B or C; None: the architecture's default (A for CIFAR ResNets)
    data: str = "cifar10"  # "cifar10", "synthetic", or a path (see data/README.md)
    val_fraction: float = 0.1  # held out of the training images: 0.1 is the paper's 45k/5k split; 0 trains on all
    split_seed: int = 0  # the split is fixed across runs unless this changes
    iterations: int = 64000
    batch_size: int = 128  # global: split over processes when distributed
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (32000, 48000)  # lr divided by 10 at each
    warmup: bool | None = None  # None: on for CIFAR nets of depth >= 110, as the paper does for ResNet-110
    warmup_lr: float = 0.01  # used until training error drops below warmup_until_error
    warmup_until_error: float = 80.0  # percent, measured over each window of warmup_window iterations
    warmup_window: int = 100
    eval_every: int = 400  # iterations between evaluations (160 points over 64k iterations)
    seed: int = 0  # initialisation, batch order, augmentation
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    channels_last: bool = False
    compile: bool = False  # torch.compile the model

    def __post_init__(self):
        spec = parse_arch(self.arch)
        self.arch = spec.name
        self.shortcut = resolve_shortcut(spec, self.shortcut)
        self.data = str(self.data).rstrip("/")
        self.milestones = tuple(int(m) for m in self.milestones)
        if self.warmup is None:
            self.warmup = spec.family == "cifar" and spec.depth >= 110
        for name in ("iterations", "batch_size", "eval_every", "warmup_window"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be a positive whole number, got {getattr(self, name)}")
        if self.lr <= 0 or self.warmup_lr <= 0:
            raise ConfigError(f"learning rates must be positive, got lr={self.lr}, warmup_lr={self.warmup_lr}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"unknown precision {self.precision!r}; valid: fp32, bf16")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}; 0.1 is the paper's 45k/5k split")

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def key(self) -> str:
        """A short hash of the whole config: equal configs, equal keys."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]

    @property
    def full_schedule(self) -> bool:
        """Whether this run follows the paper's full schedule (64k iterations, batch 128, lr 0.1, steps at 32k/48k)."""
        return all(getattr(self, k) == v for k, v in PAPER_SCHEDULE.items())

    def lr_at(self, iteration: int, warming_up: bool) -> float:
        """Learning rate for `iteration` (0-based): warm-up lr, else lr divided by 10 per milestone passed."""
        if warming_up:
            return self.warmup_lr
        return self.lr * 0.1 ** sum(iteration >= m for m in self.milestones)
