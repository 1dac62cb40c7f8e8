"""What the shortcuts buy: a trained net tested with blocks deleted (Veit, Wilber and Belongie, "Residual
Networks Behave Like Ensembles of Relatively Shallow Networks", NeurIPS 2016).

Deleting a block keeps its shortcut and drops its residual branch: a residual block then outputs
ReLU(shortcut(x)), which is x for an identity shortcut (x comes out of a ReLU) and option A's
subsampled, zero-padded x where the shape changes; a pre-activation block outputs shortcut(x). A plain
block has no shortcut: one whose input and output shapes agree is replaced by the identity, one that
changes the shape cannot be deleted (`removable` says why).

    study = lesion_study(model, batches)   # {"intact": %, "single": [...], "random": [...]}
"""

from __future__ import annotations

import copy
import hashlib
import random
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental.optimization import fuse
from tqdm import tqdm

from . import hub
from ..console import progress_stream
from ..data.pipeline import test_batches, training_mean
from ..data.sources import load_dataset
from ..errors import ConfigError
from ..models.resnet import build_model
from ..runs.results import Run, write_json
from .evaluation import evaluate
from .fastpath import BF16_BY_DEFAULT, native_bf16
from .provenance import describe_hardware, git_commit
from .runtime import pick_device


class Deleted(nn.Module):
    """`block` with its residual branch deleted: what is left of it is its shortcut (see the module's doc)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        reason = removable(block)
        if reason:
            raise ConfigError(reason)
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = self.block
        if block.shortcut is None:  # a plain block whose shape does not change
            return x
        if block.preactivation:
            projects = isinstance(block.shortcut, nn.Sequential)
            return block.shortcut(F.relu(block.bn1(x)) if projects else x)
        return F.relu(block.shortcut(x))


def blocks(model: nn.Module) -> list[str]:
    """The names of `model`'s blocks in the order data flows through them ("layers.0.0", ...)."""
    return [f"layers.{s}.{b}" for s, stage in enumerate(model.layers) for b in range(len(stage))]


def block_label(name: str) -> str:
    """'layers.1.0' -> 'stage 2, block 1': as a reader counts them."""
    _, stage, index = name.split(".")
    return f"stage {int(stage) + 1}, block {int(index) + 1}"


def removable(block: nn.Module) -> str | None:
    """None if `block` can be deleted, else why not (a plain block that changes the shape has nothing to
    fall back on)."""
    if block.shortcut is None:
        changes = block.conv1.stride != (1, 1) or block.conv1.in_channels != block.conv2.out_channels
        if changes:
            return ("a plain block that changes the shape (stride or width) cannot be deleted: without a shortcut "
                    "nothing carries its input on")
    return None


@contextmanager
def deleted(model: nn.Module, names: list[str]):
    """`model` with the blocks `names` deleted inside the `with`, intact again after it."""
    stages = model.layers
    originals = {}
    try:
        for name in names:
            _, stage, index = name.split(".")
            originals[name] = stages[int(stage)][int(index)]
            stages[int(stage)][int(index)] = Deleted(originals[name])
        yield model
    finally:
        for name, block in originals.items():
            _, stage, index = name.split(".")
            stages[int(stage)][int(index)] = block


def error_of(model: nn.Module, batches, fold: bool = True, bf16: bool = False) -> float:
    """Test error (%) of `model` over `batches` (a list of (x, labels)), BatchNorm folded into the convs
    (exact in fp32, 1.8x as fast) unless `fold` is False; `bf16`: under bf16 autocast, channels-last, as a bf16
    run is evaluated by its trainer (3.9x as fast as fp32 for ResNet-56 on one thread of an AMD Zen 4)."""
    model = model.eval()
    if fold:
        model = fuse(copy.deepcopy(model))
    if bf16:
        model = model.to(memory_format=torch.channels_last)
        batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    device = next(model.parameters()).device
    return evaluate(model, batches, torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16))[1]


def lesion_study(model: nn.Module, batches, draws: int = 5, seed: int = 0, progress=None, bf16: bool = False) -> dict:
    """The intact net's test error (%), then the error with each block deleted alone ("single": one entry
    per block, its error or, for a block that cannot be deleted, why not), then with k blocks deleted at
    random for k = 2 .. the number of removable blocks (at most 20), `draws` draws each ("random": k,
    blocks, error). `batches`: a list of (x, labels). `progress`: called with a message before each test;
    `bf16`: each test under bf16 autocast (`error_of`)."""
    say = progress or (lambda message: None)
    names = blocks(model)
    lookup = dict(model.named_modules())
    say("intact")
    study = {"intact": error_of(model, batches, bf16=bf16), "blocks": len(names), "single": [], "random": [],
             "draws": draws, "seed": seed}
    for name in names:
        reason = removable(lookup[name])
        if reason:
            study["single"].append({"block": name, "label": block_label(name), "error": None, "why": reason})
            continue
        say(f"without {block_label(name)}")
        with deleted(model, [name]):
            study["single"].append({"block": name, "label": block_label(name), "error": error_of(model, batches, bf16=bf16)})
    candidates = [name for name in names if removable(lookup[name]) is None]
    pick = random.Random(seed)
    for k in range(2, min(len(candidates), 20) + 1):
        for draw in range(draws):
            chosen = sorted(pick.sample(candidates, k), key=names.index)
            say(f"{k} blocks deleted, draw {draw + 1} of {draws}")
            with deleted(model, chosen):
                study["random"].append({"k": k, "blocks": chosen, "error": error_of(model, batches, bf16=bf16)})
    return study


LESION_FILE = "lesion.json"  # in a run's folder: the lesion study of its final weights


def study_weights(target: str, results: str = "results", draws: int = 5, record: bool = False,
                  device: str = "auto", precision: str = "auto") -> dict:
    """The lesion study of a published model (`published/<name>.pt` or its name) or of a recorded run's final
    weights (`results/<run>`, its weights.pt beside it), on the test set of the data it was trained on, with
    its own preprocessing: the study (`lesion_study`) with the net, data set and checksum, the weights' SHA-256,
    precision, hardware, torch and commit. `precision` "auto": bf16 where the device computes it natively (as
    the trainer picks it), else fp32. `record`: written to `<run>/lesion.json` beside the run."""
    device = pick_device(device)
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"unknown precision {precision!r}; valid: auto, fp32, bf16")
    bf16 = precision == "bf16" or (precision == "auto" and BF16_BY_DEFAULT and native_bf16(device))
    path = Path(target)
    if path.is_dir():
        run = Run(path)
        if not run.finished or not run.weights_file.exists():
            raise ConfigError(f"{path} is not a finished run with its weights.pt (the weights stay on the machine "
                              f"that trained it); pass a published model (published/<name>.pt) instead")
        config = run.config()
        arch, shortcut, data = config.arch, config.shortcut, config.data
        state = torch.load(run.weights_file, map_location="cpu", weights_only=True)
        weights_file, mean, shown_as = run.weights_file, None, f"{run.path.name}/weights.pt"
    else:
        name = path.stem if path.suffix == ".pt" else str(target)
        if name not in hub.cards():
            raise ConfigError(f"{target} is neither a run folder nor a published model; published: "
                              f"{', '.join(hub.cards()) or 'none yet'}")
        card = hub.cards()[name]
        arch, shortcut, data, run = card.arch, card.shortcut, card.data, Run(Path(results) / card.run)
        state, mean = card.state()
        weights_file, shown_as = card.file, f"published/{card.file.name}"
    dataset = load_dataset(data)
    if mean is None:
        mean = training_mean(dataset, config.val_fraction, config.split_seed)
    model = build_model(arch, shortcut).to(device)
    model.load_state_dict(state)
    batches = test_batches(dataset, mean, device, 1000)
    total = 1 + len(blocks(model)) + draws * max(0, min(len(blocks(model)), 20) - 1)  # at most: plain nets skip some
    with tqdm(total=total, desc=f"lesion study of {arch}", unit="test", leave=False, file=progress_stream()) as bar:
        study = lesion_study(model, batches, draws=draws, bf16=bf16,
                             progress=lambda message: (bar.set_postfix_str(message), bar.update()))
    result = {"net": arch, "shortcut": shortcut, "weights": shown_as,  # never a machine's directories
              "weights_sha256": hashlib.sha256(Path(weights_file).read_bytes()).hexdigest(),
              "data": dataset.name, "data_sha256": dataset.sha256, "test_size": len(dataset.test_labels),
              "precision": "bf16" if bf16 else "fp32", "hardware": describe_hardware(device), "torch": str(torch.__version__),
              "git_commit": git_commit(), "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **study}
    if record:
        if not run.finished:
            raise ConfigError(f"{run.path} (the run the weights come from) is not recorded here; record from the "
                              f"project root")
        write_json(run.path / LESION_FILE, result)
    return result
