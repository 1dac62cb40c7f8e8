"""Evaluation: loss and error of a model over batches, and of a saved checkpoint or weights file."""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental.optimization import fuse
from torch.nn.utils.fusion import fuse_conv_bn_weights

from ..config import TrainConfig
from ..models.resnet import build_model
from ..runs.checkpoint import CheckpointError, load_checkpoint, load_weights
from ..runs.results import Run
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


class FoldedModel:
    """An inference copy of `model` with each BatchNorm folded into the convolution before it: the
    eval-mode arithmetic of conv + BN in one conv (equal in fp32; in bf16 within the rounding that
    compiling already changes). It evaluates 1.8x as fast as the model itself (ResNet-20 and -56,
    bf16, compiled, 2-core Xeon: `benchmarks/evaluation.py`). Build it once (and compile it once),
    then call `refreshed()` before each evaluation: it copies `model`'s current weights and
    statistics in, in place."""

    def __init__(self, model: nn.Module, compile: bool = False):
        traced = torch.fx.symbolic_trace(model)
        modules = dict(traced.named_modules())
        # the pairs torch.fx's fuse() folds: a conv whose only user is a BatchNorm
        self.pairs = [(node.args[0].target, node.target) for node in traced.graph.nodes
                      if node.op == "call_module" and isinstance(modules[node.target], nn.BatchNorm2d)
                      and node.args[0].op == "call_module" and isinstance(modules[node.args[0].target], nn.Conv2d)
                      and len(node.args[0].users) == 1]
        self.source, self.folded = model, fuse(copy.deepcopy(model).eval(), inplace=True)
        self.module = torch.compile(self.folded) if compile else self.folded

    @torch.no_grad()
    def refreshed(self) -> nn.Module:
        """The module to evaluate, holding `model`'s weights as they are now."""
        source, folded = dict(self.source.named_modules()), dict(self.folded.named_modules())
        state = self.source.state_dict()
        for name, tensor in self.folded.state_dict().items():  # the layers not folded (fc, lone BNs)
            if not any(name.startswith(conv + ".") for conv, _ in self.pairs):
                tensor.copy_(state[name])
        for conv, bn in self.pairs:
            c, b = source[conv], source[bn]
            weight, bias = fuse_conv_bn_weights(c.weight, c.bias, b.running_mean, b.running_var, b.eps, b.weight, b.bias)
            folded[conv].weight.copy_(weight)
            folded[conv].bias.copy_(bias)
        return self.module


def evaluate_file(path: str | Path, data: str | None = None, device: str = "auto") -> dict:
    """Validation and test error of a checkpoint.pt, or of a weights.pt with its run's config.json beside it,
    evaluated as the trainer evaluates (BatchNorm folded, the run's precision): a run's recorded errors come
    back exactly in fp32, within bf16's rounding (layout, compilation) in bf16."""
    path = Path(path)
    try:
        config = TrainConfig.from_dict(load_checkpoint(path)["config"])
    except CheckpointError:
        run = Run(path.parent)
        if not run.config_file.exists():
            raise
        config = run.config()
    weights = load_weights(path)
    device = pick_device(device)
    config = replace(config, data=data or config.data, channels_last=False)
    pipeline = make_pipeline(config, device)
    model = build_model(config.spec, config.shortcut, num_classes=pipeline.num_classes).to(device)
    model.load_state_dict(weights)
    model = FoldedModel(model).refreshed()
    autocast = make_autocast(config, device)
    val_loss, val_error = evaluate(model, pipeline.eval_batches("val"), autocast)
    test_loss, test_error = evaluate(model, pipeline.eval_batches("test"), autocast)
    identity = pipeline.identity()
    return {"arch": config.arch, "shortcut": config.shortcut, "data": identity["name"], "data_sha256": identity["sha256"],
            "precision": config.precision, "val_error": val_error, "val_loss": val_loss, "test_error": test_error,
            "test_loss": test_loss}
