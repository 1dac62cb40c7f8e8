"""A run's settings in one place: every hyper-parameter of a run with its unit and valid range, and
what identifies a run (the architecture names and their grammar are the models' own: models/resnet.py).

`TrainConfig` fields are of two kinds (the `key` entry of each field's metadata):

- the experiment: what changes a result — architecture, shortcut, the data's identity (the SHA-256
  of its decoded pixels and labels, not the path it was found at), split, schedule, optimizer,
  warm-up, evaluation cadence, seed and precision. Their hash is the run key, which names the run
  folder: equal keys, same run.
- execution: where the data is found (`data`), memory layout and compilation. They are recorded in
  the run's environment, not in its key: an eager and a compiled run of one experiment share a
  folder and resume each other.

The CLI's flags (`cli.py`), the commands the notebooks print for missing runs and the notebooks'
checks are all generated from these fields.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property

from .data.sources import SOURCES
from .errors import ConfigError
from .models.resnet import SHORTCUT_OPTIONS, ArchSpec, paper_name, parse_arch, resolve_shortcut

PAPER_ITERATIONS, PAPER_MILESTONES = 64000, (32000, 48000)
PAPER_VAL_FRACTION = 0.1  # the paper's 45k/5k train/validation split of CIFAR-10's 50k training images
SCHEDULES = {"full": 1, "1/2": 2, "1/4": 4, "1/8": 8, "1/16": 16}  # name -> divisor of the paper's schedule
PRECISIONS = ("auto", "fp32", "bf16")


def schedule_settings(name: str | int) -> dict:
    """iterations and milestones of a named schedule: "full" (the paper's) or a fraction such as "1/8" (8k
    iterations, lr divided by 10 at 4k and 6k); or a number of iterations (a try: only `iterations` is set)."""
    if isinstance(name, int) and not isinstance(name, bool) and name >= 1:
        return {"iterations": name}
    if name not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)} or a number of iterations >= 1, got {name!r}")
    divisor = SCHEDULES[name]
    return {"iterations": PAPER_ITERATIONS // divisor, "milestones": tuple(m // divisor for m in PAPER_MILESTONES)}


def _setting(default, help: str, *, key: bool = True, cli: bool = True, check=None, valid: str = "", choices=None):
    """A TrainConfig field: its default, its --help text (with unit), whether it belongs to the run
    key, and its validity check (a predicate) with the words that describe the valid values."""
    return field(default=default, metadata={"help": help, "key": key, "cli": cli, "check": check, "valid": valid,
                                            "choices": choices})


_positive = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a whole number >= 1")
_positive_or_auto = (lambda v: v is None or _positive[0](v), "a whole number >= 1")
_positive_real = (lambda v: v > 0, "> 0")
_non_negative = (lambda v: v >= 0, ">= 0")


@dataclass
class TrainConfig:
    """Settings of one training run; the defaults are the paper's CIFAR-10 recipe (§4.2)."""

    arch: str = _setting("resnet20", "architecture: resnet<6n+2>, plain<6n+2>, preact-resnet<6n+2>, imagenet-resnet50, ...")
    shortcut: str | None = _setting(None, "shortcut option A, B or C (default: A for CIFAR ResNets, B for bottleneck nets)",
                                    choices=SHORTCUT_OPTIONS)
    data: str = _setting("cifar10", "data source: " + ", ".join(f"{name} ({source.summary})" for name, source in SOURCES.items())
                         + ", or a path (see data/README.md)", key=False)
    data_sha256: str | None = _setting(None, "SHA-256 of the decoded data set, filled in from --data when a run starts",
                                       cli=False)
    val_fraction: float = _setting(PAPER_VAL_FRACTION, "share of the training images held out for validation, in "
                                   "[0, 1); 0.1 is the paper's 45k/5k split, 0 trains on all 50k",
                                   check=lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
                                   valid="in [0, 1) (0 trains on all 50k images, 0.1 holds out the paper's 5k)")
    split_seed: int = _setting(0, "seed of the train/validation split (fixed across runs unless changed)",
                               check=_non_negative[0], valid=_non_negative[1])
    iterations: int = _setting(PAPER_ITERATIONS, "training iterations (mini-batches)", check=_positive[0], valid=_positive[1])
    milestones: tuple[int, ...] = _setting(PAPER_MILESTONES, "iterations at which the lr is divided by 10, "
                                           "comma-separated", check=lambda v: all(m >= 1 for m in v),
                                           valid="positive iterations")
    batch_size: int = _setting(128, "global mini-batch size in images (split over processes)", check=_positive[0],
                               valid=_positive[1])
    lr: float = _setting(0.1, "learning rate after warm-up", check=_positive_real[0], valid=_positive_real[1])
    momentum: float = _setting(0.9, "SGD momentum, in [0, 1)", check=lambda v: 0 <= v < 1, valid="in [0, 1)")
    weight_decay: float = _setting(1e-4, "L2 weight decay per iteration", check=_non_negative[0], valid=_non_negative[1])
    warmup: bool | None = _setting(None, "warm up at --warmup-lr until training error < --warmup-until-error "
                                   "(default: on for CIFAR nets of depth >= 110, as the paper)")
    warmup_lr: float = _setting(0.01, "learning rate during warm-up", check=_positive_real[0], valid=_positive_real[1])
    warmup_until_error: float = _setting(80.0, "warm-up ends when training error, in percent over a window, falls below this",
                                         check=lambda v: 0 < v <= 100, valid="in (0, 100]")
    warmup_window: int = _setting(100, "iterations over which the warm-up's training error is measured",
                                  check=_positive[0], valid=_positive[1])
    eval_every: int | None = _setting(None, "iterations between test evaluations (default: 160 points on the full "
                                      "schedule, 80 on shorter ones, every 50 at most for short tries)", check=_positive_or_auto[0], valid=_positive_or_auto[1])
    val_every: int | None = _setting(None, "iterations between validation evaluations, a multiple of --eval-every "
                                     "(default: every 4th evaluation)", check=_positive_or_auto[0], valid=_positive_or_auto[1])
    seed: int = _setting(0, "seed of initialisation, batch order and augmentation", check=_non_negative[0],
                         valid=_non_negative[1])
    precision: str = _setting("auto", "arithmetic: fp32, bf16 (autocast), or auto (the fastest this hardware runs "
                              "well; see fastpath.py)", choices=PRECISIONS)
    channels_last: bool | None = _setting(None, "channels-last memory layout (default: auto)", key=False)
    compile: bool | None = _setting(None, "torch.compile the model (default: auto)", key=False)
    cuda_graphs: bool | None = _setting(None, "CUDA only: replay each step's forward and backward as CUDA graphs "
                                        "(torch.compile's reduce-overhead mode; implies --compile), one launch where "
                                        "there were hundreds (default: off until a benchmark on the GPU shows it faster)",
                                        key=False)

    def __post_init__(self):
        spec = self.spec
        self.arch = spec.name
        self.shortcut = resolve_shortcut(spec, self.shortcut)
        self.data = str(self.data).rstrip("/")
        self.milestones = tuple(int(m) for m in self.milestones)
        if self.warmup is None:
            self.warmup = paper_warmup(spec)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # 0 in a plan file and 0.0 from the CLI are one experiment, with one run key
                setattr(self, f.name, value)
            _check(f.name, f.metadata, value)
        if self.val_interval % self.eval_interval:
            raise ConfigError(f"val_every must be a multiple of eval_every ({self.eval_interval}), got {self.val_every}")

    @cached_property
    def spec(self) -> ArchSpec:
        """The architecture, parsed once (models.resnet.ArchSpec: family, kind, depth, blocks per stage, ...)."""
        return parse_arch(self.arch)

    @property
    def eval_interval(self) -> int:
        """Iterations between test evaluations: eval_every, or 160 points on the full schedule, 80 on shorter
        ones, but no more often than every 50 iterations (short tries would spend their time evaluating)."""
        if self.eval_every is not None:
            return self.eval_every
        points = 160 if self.iterations >= PAPER_ITERATIONS else 80
        return max(min(50, self.iterations), self.iterations // points)  # short tries: every 50, not every few

    @property
    def val_interval(self) -> int:
        """Iterations between validation evaluations: val_every, or every 4th evaluation."""
        return self.val_every if self.val_every is not None else 4 * self.eval_interval

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    def experiment(self) -> dict:
        """The fields that identify the run (everything but the execution settings), defaults resolved."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["key"]}
        return {**values, "eval_every": self.eval_interval, "val_every": self.val_interval}

    @property
    def key(self) -> str:
        """A short hash of the experiment: equal for runs that must give the same result."""
        if self.data_sha256 is None or self.precision == "auto":
            raise ConfigError("a run key needs the data's SHA-256 and a resolved precision; resolve the config "
                              "first (data.identify, fastpath.resolve)")
        return hashlib.sha256(json.dumps(self.experiment(), sort_keys=True).encode()).hexdigest()[:8]

    def same_experiment(self, other: TrainConfig) -> bool:
        return self.experiment() == other.experiment()

    @property
    def net_name(self) -> str:
        """'ResNet-20', 'plain-56', 'ResNet-20 B': as the paper names the net, with its shortcut option
        where that is not the family's default."""
        return paper_name(self.spec.kind, self.spec.depth) + (f" {self.shortcut}" if self.shortcut != self.spec.default_shortcut else "")

    @property
    def schedule(self) -> str:
        """The schedule's name: "full" (the paper's), "1/8" and the like, or "<N> it." for others."""
        for name in SCHEDULES:
            settings = schedule_settings(name)
            if (self.iterations, self.milestones) == (settings["iterations"], settings["milestones"]):
                return name
        return f"{self.iterations} it."

    @property
    def full_schedule(self) -> bool:
        """Whether this run follows the paper's whole recipe: schedule, batch, lr, momentum, weight decay and
        warm-up rule, trained on the paper's 45k/5k split or on all 50k training images (the split fixed the
        schedule; the reported models train on all of them, as the public reimplementations do). Such a run
        is the replication, whatever device trains it."""
        paper = TrainConfig(arch=self.arch, data=self.data)
        recipe = ("iterations", "milestones", "batch_size", "lr", "momentum", "weight_decay", "warmup", "warmup_lr",
                  "warmup_until_error")
        return all(getattr(self, k) == getattr(paper, k) for k in recipe) and self.val_fraction in (0, paper.val_fraction)

    def lr_at(self, iteration: int, warming_up: bool) -> float:
        """Learning rate for `iteration` (0-based): warm-up lr, else lr divided by 10 per milestone passed."""
        if warming_up:
            return self.warmup_lr
        return self.lr * 0.1 ** sum(iteration >= m for m in self.milestones)


def check_setting(name: str, value) -> None:
    """ConfigError naming the valid values unless `value` is valid for the TrainConfig field `name` (its check and
    choices in `_setting`): what a run checks, and a notebook before it starts one."""
    _check(name, next(f for f in fields(TrainConfig) if f.name == name).metadata, value)


def _check(name: str, meta, value) -> None:
    """check_setting's test, given the field's metadata."""
    if meta["check"] is not None and not meta["check"](value):
        raise ConfigError(f"{name} must be {meta['valid']}, got {value!r}")
    if meta["choices"] is not None and value is not None and value not in meta["choices"]:
        raise ConfigError(f"unknown {name} {value!r}; valid: {', '.join(meta['choices'])}")


def paper_warmup(spec: ArchSpec) -> bool:
    """The paper warms up ResNet-110 (and deeper) at lr 0.01; we apply it to every CIFAR net of depth >= 110."""
    return spec.family == "cifar" and spec.depth >= 110


def cli_fields() -> list:
    """The TrainConfig fields a command line sets, in declaration order (dataclasses.Field objects)."""
    return [f for f in fields(TrainConfig) if f.metadata["cli"]]


