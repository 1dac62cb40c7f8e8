"""Published trained weights, loadable in one line, each with a model card.

    model = torch.hub.load("<repository or local checkout>", "resnet20", source="local", pretrained=True)
    logits = model(preprocess("resnet20")(images))     # images: float in [0, 1], (B, 3, 32, 32) or (3, 32, 32)

A published model is two files under published/: `<name>.pt`, a small fp16 state_dict with the mean
image its net was trained with (loaded back to fp32), and `<name>.json`, its card: the run it comes
from, architecture, parameters, multiply-adds, schedule, data set and SHA-256, precision, device,
seed, and the test error measured from the published file itself, beside the recorded run's and the
paper's. `python -m resnet_lib publish results/<run>` makes both from a finished run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import SCHEDULES
from ..data.sources import SOURCES
from ..errors import ConfigError
from ..models.resnet import PAPER_ARCHS, build_model, parse_arch

PUBLISHED_DIR = Path(os.environ.get("RESNET_LIB_PUBLISHED", Path(__file__).resolve().parents[2] / "published"))
MAX_FILE_BYTES = 5 * 2**20


@dataclass(frozen=True)
class ModelCard:
    """What a published model is and how well it does. Errors in percent, on the data set named."""

    name: str
    arch: str
    shortcut: str | None
    run: str  # the run folder it comes from, under results/
    params: int
    macs: int
    schedule: str
    full_schedule: bool
    data: str
    data_sha256: str
    precision: str
    hardware: str
    seed: int
    test_error: float  # measured from the published fp16 file
    recorded_test_error: float  # the run's own final test error
    paper_test_error: float | None
    file_sha256: str

    @property
    def file(self) -> Path:
        return PUBLISHED_DIR / f"{self.name}.pt"

    def state(self) -> tuple[dict, torch.Tensor]:
        """(fp32 state_dict, mean image (3, H, W) in [0, 1] units) from the published file."""
        saved = torch.load(self.file, map_location="cpu", weights_only=True)
        return {k: v.float() if v.is_floating_point() else v for k, v in saved["state_dict"].items()}, saved["mean"]

    def preprocess(self) -> Preprocess:
        return Preprocess(self.state()[1])


class Preprocess(nn.Module):
    """The project's input convention: images as floats in [0, 1], (B, 3, H, W) or (3, H, W), minus the
    training set's per-pixel mean image. PIL images and uint8 tensors are converted first."""

    def __init__(self, mean: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())

    def forward(self, images) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):  # a PIL image
            import numpy as np

            images = torch.from_numpy(np.asarray(images.convert("RGB"))).permute(2, 0, 1)
        if images.dtype == torch.uint8:
            images = images.float() / 255
        return images - self.mean


def cards() -> dict[str, ModelCard]:
    """Every published model's card, by name (like torchvision's weight enums)."""
    return {p.stem: ModelCard(**json.loads(p.read_text())) for p in sorted(PUBLISHED_DIR.glob("*.json"))}


def card_for(arch: str, weights: str | None = None) -> ModelCard:
    """The published card of `arch`: the one named `weights` (a key of `cards()`, e.g. "resnet20-jpeg"), or by
    default real CIFAR-10's model before a copy's, then the full schedule's first; else ConfigError naming
    what is published."""
    spec = parse_arch(arch)
    found = sorted((c for c in cards().values() if c.arch == spec.name and weights in (None, c.name)),
                   key=lambda c: (c.data != "cifar10", not c.full_schedule, c.name))
    if not found:
        published = ", ".join(f"{c.name} ({c.arch}, {c.data}, {c.schedule})" for c in cards().values()) or "none yet"
        asked = f"weights {weights!r} of {spec.name} are not published" if weights else \
            f"no trained weights are published for {spec.name}"
        raise ConfigError(f"{asked}; published: {published}. Train it "
                          f"(python -m resnet_lib train --arch {spec.name} --data ...) and publish the run "
                          f"(python -m resnet_lib publish results/<run>), or pass pretrained=False")
    return found[0]


def load(arch: str, pretrained: bool = False, shortcut: str | None = None, weights: str | None = None) -> nn.Module:
    """`arch` built (any depth 6n+2, shortcut A/B/C), or with published weights in eval mode: the default
    ones (`card_for`) with pretrained=True, those named `weights` (e.g. "resnet20-jpeg") when given."""
    if not pretrained and weights is None:
        return build_model(arch, shortcut)
    card = card_for(arch, weights)
    model = build_model(card.arch, card.shortcut)
    model.load_state_dict(card.state()[0])
    return model.eval()


def preprocess(arch: str, weights: str | None = None) -> Preprocess:
    """The input transform of `arch`'s published model (the default one, or that named `weights`): [0, 1]
    images in, mean-subtracted images out."""
    return card_for(arch, weights).preprocess()


def entry_points() -> dict:
    """One torch.hub entry point per architecture of the paper (resnet20, plain56, preact_resnet110,
    imagenet_resnet50, ...), and `cifar_net` for any other depth."""
    def make(arch: str):
        def entry(pretrained: bool = False, shortcut: str | None = None, weights: str | None = None) -> nn.Module:
            return load(arch, pretrained, shortcut, weights)
        entry.__doc__ = (f"{arch} of He et al. (2015). pretrained=True: the published weights in eval mode, those "
                         f"trained on real CIFAR-10 where published; weights='<name>' picks others (resnet_lib.training.hub."
                         f"cards() lists them; inputs through resnet_lib.training.hub.preprocess('{arch}', weights)).")
        entry.__name__ = arch.replace("-", "_")
        return entry

    def cifar_net(depth: int, kind: str = "resnet", shortcut: str | None = None) -> nn.Module:
        """A CIFAR net of any depth 6n+2, untrained: kind "resnet", "plain" or "preact-resnet"."""
        return build_model(f"{kind}{depth}", shortcut)

    return {**{arch.replace("-", "_"): make(arch) for arch in PAPER_ARCHS}, "cifar_net": cifar_net}


def published_name(config, data_name: str) -> str:
    """The name a run is published under: its architecture, then what sets it apart from the reported models
    (real CIFAR-10, the full schedule, all 50k images, seed 0): 'resnet20', 'resnet20-jpeg', 'plain56-seed2',
    'resnet20-val0.1', 'plain20-1-8' (1/8 of the schedule), 'resnet8-synthetic-40it' (40 iterations)."""
    suffix = SOURCES[data_name].published_suffix if data_name in SOURCES else None
    name = config.arch + (f"-{data_name}" if suffix is None else suffix)
    if config.seed:
        name += f"-seed{config.seed}"
    if data_name == "cifar10" and config.val_fraction:
        name += f"-val{config.val_fraction:g}"
    if not config.full_schedule:  # a fraction of the paper's schedule, or a number of iterations
        name += "-" + (config.schedule.replace("/", "-") if config.schedule in SCHEDULES else f"{config.iterations}it")
    return name


def publish(run_folder: str | Path, name: str | None = None, out: str | Path | None = None, device: str = "auto") -> ModelCard:
    """Publish a finished run: its weights as fp16 with its mean image, and a card whose test error is
    measured from the published file itself (the run's data must be present)."""
    from .. import paper
    from ..runs.results import Run, pieces_of
    from .evaluation import evaluate
    from .runtime import make_pipeline, pick_device

    run = Run(run_folder)
    if not run.finished:
        raise ConfigError(f"{run.path} is not a finished run (no summary.json); only finished runs are published")
    if not run.weights_file.exists():
        raise ConfigError(f"{run.weights_file} is missing: the run's weights stay on the machine that trained it")
    config, summary = run.config(), run.summary()
    name = name or published_name(config, summary["data"]["name"])
    out = Path(out) if out else PUBLISHED_DIR
    device = pick_device(device)
    pipeline = make_pipeline(config, device)
    if pipeline.identity()["sha256"] != config.data_sha256:
        raise ConfigError(f"the data at {config.data} is not the data {run.path.name} was trained on")
    weights = torch.load(run.weights_file, map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    out.mkdir(parents=True, exist_ok=True)
    file = out / f"{name}.pt"
    torch.save({"state_dict": half, "mean": pipeline.mean.cpu()}, file)
    if file.stat().st_size > MAX_FILE_BYTES:
        file.unlink()
        raise ConfigError(f"{name}: the fp16 weights take over {MAX_FILE_BYTES >> 20} MB; too large to publish in git")
    model = build_model(config.spec, config.shortcut).to(device)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    _, test_error = evaluate(model, pipeline.eval_batches("test"))
    spec = config.spec
    card = ModelCard(
        name=name, arch=config.arch, shortcut=config.shortcut, run=run.path.name, params=summary["params"],
        macs=summary["macs"], schedule=config.schedule, full_schedule=summary["full_schedule"],
        data=summary["data"]["name"], data_sha256=config.data_sha256, precision=config.precision,
        hardware=" + ".join(pieces_of(summary, "hardware")), seed=config.seed, test_error=round(test_error, 2),
        recorded_test_error=round(summary["final"]["test_error"], 2),
        paper_test_error=paper.reference_error(spec.depth) if spec.kind == "resnet" and spec.depth in paper.TABLE6 else None,
        file_sha256=hashlib.sha256(file.read_bytes()).hexdigest())
    (out / f"{name}.json").write_text(json.dumps(asdict(card), indent=2) + "\n")
    return card


TESTED_ELSEWHERE = "tested_elsewhere.json"  # in a published model's run folder: its tests on other data sets' images


def test_elsewhere(name: str, source: str, results: str | Path = "results", record: bool = False,
                   device: str = "auto") -> dict:
    """The published model `name` tested on the test images of `source` (e.g. "cifar10-jpeg" for a model
    trained on real CIFAR-10), through the model's own preprocessing (its training set's mean image), as a
    user of the weights would: test error (%) and loss (nats), with the data set's identity, the file's
    SHA-256 and where it was measured. `record`: also written, under the data set's name, into
    `results/<run>/tested_elsewhere.json` beside the run the model comes from."""
    from ..data.pipeline import test_batches
    from ..data.sources import load_dataset
    from ..runs.results import Run, write_json
    from .evaluation import evaluate
    from .provenance import describe_hardware, git_commit
    from .runtime import pick_device

    if name not in cards():
        raise ConfigError(f"no published model {name!r}; published: {', '.join(cards()) or 'none yet'}")
    card, device = cards()[name], pick_device(device)
    dataset = load_dataset(source)
    state, mean = card.state()
    model = build_model(card.arch, card.shortcut).to(device)
    model.load_state_dict(state)
    loss, error = evaluate(model, test_batches(dataset, mean, device, 500))
    result = {"model": name, "weights_sha256": card.file_sha256, "data": dataset.name, "data_sha256": dataset.sha256,
              "test_size": len(dataset.test_labels), "test_error": round(error, 2), "test_loss": loss,
              "preprocessing": f"the model's own: the mean image of its training set ({card.data})",
              "hardware": describe_hardware(device), "torch": str(torch.__version__), "git_commit": git_commit(),
              "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if record:
        run = Run(Path(results) / card.run)
        if not run.finished:
            raise ConfigError(f"{run.path} (the run {name} comes from) is not in {results}; record from the project root")
        file = run.path / TESTED_ELSEWHERE
        recorded = json.loads(file.read_text()) if file.exists() else {}
        write_json(file, {**recorded, dataset.name: result})
    return result

