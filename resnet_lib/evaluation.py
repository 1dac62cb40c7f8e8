"""Evaluation: loss and error of a model over batches, and of a saved checkpoint or weights file."""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .checkpoint import CheckpointError, load_checkpoint, load_weights
from .config import TrainConfig
from .models import build_model
from .runtime import make_autocast, make_pipeline, pick_device


@torch.no_grad()
def evaluate(model, batches, autocast=None) -> tuple[float, float]:
    """(loss in nats, error in %) of `model` in eval mode over `batches` of (x, labels), summed over processes.

    x is (B, 3, H, W), or (B, crops, 3, H, W) for multi-crop testing: softmax averaged over the crops.
    """
    was_training = model.training
    model.eval()
    sums = None  # loss, errors, count
    for x, y in batches:
        with autocast or nullcontext():
            logits = model(x.flatten(0, 1) if x.dim() == 5 else x).float()
        if x.dim() == 5:
            log_probs = logits.softmax(-1).view(x.shape[0], x.shape[1], -1).mean(1).clamp_min(1e-12).log()
        else:
            log_probs = logits.log_softmax(-1)
        batch = torch.stack([F.nll_loss(log_probs, y, reduction="sum").double(), (log_probs.argmax(1) != y).sum().double(),
                             torch.tensor(len(y), dtype=torch.float64, device=y.device)])
        sums = batch if sums is None else sums + batch
    model.train(was_training)
    if sums is None:
        sums = torch.zeros(3, dtype=torch.float64, device=next(model.parameters()).device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
    loss, errors, count = sums.tolist()
    return (loss / count, 100 * errors / count) if count else (math.nan, math.nan)


def evaluate_file(path: str | Path, data: str | None = None, device: str = "auto") -> dict:
    """Validation and test error of a checkpoint.pt, or of a weights.pt with its run's config.json beside it."""
    path = Path(path)
    try:
        config = TrainConfig.from_dict(load_checkpoint(path)["config"])
    except CheckpointError:
        config_file = path.parent / "config.json"
        if not config_file.exists():
            raise
        config = TrainConfig.from_dict(json.loads(config_file.read_text()))
    weights = load_weights(path)
    device = pick_device(device)
    config = replace(config, data=data or config.data, channels_last=False)
    pipeline = make_pipeline(config, device)
    model = build_model(config.arch, config.shortcut, num_classes=pipeline.num_classes).to(device)
    model.load_state_dict(weights)
    autocast = make_autocast(config, device)
    val_loss, val_error = evaluate(model, pipeline.eval_batches("val"), autocast)
    test_loss, test_error = evaluate(model, pipeline.eval_batches("test"), autocast)
    identity = pipeline.identity()
    return {"arch": config.arch, "shortcut": config.shortcut, "data": identity["name"], "data_sha256": identity["sha256"],
            "precision": config.precision, "val_error": val_error, "val_loss": val_loss, "test_error": test_error,
            "test_loss": test_loss}
