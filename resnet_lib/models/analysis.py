"""Accounting and analysis of built networks: parameters, multiply-adds, layers, layer responses."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ConfigError
from .resnet import ArchSpec, build_model, parse_arch, resolve_shortcut


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, input_size: int) -> int:
    """Forward multiply-accumulates for one 3 x input_size x input_size image.

    Counted by torch.utils.flop_counter (convolutions and matrix products, 2 FLOPs per MAC),
    which is what the paper calls FLOPs. A model on the meta device costs no memory or arithmetic.
    """
    device = next(model.parameters()).device
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model.eval()(torch.zeros(1, 3, input_size, input_size, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def count_layers(model: nn.Module) -> int:
    """Weighted layers as the paper counts them: convs and fc, projection shortcuts excluded."""
    return sum(
        1
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and ".shortcut" not in name
    )


def describe(arch: str, shortcut: str | None = None) -> dict:
    """Parameters, forward MACs per image and weighted layers of `arch`, as a JSON-ready dict."""
    spec: ArchSpec = parse_arch(arch)
    return dict(_describe(spec, resolve_shortcut(spec, shortcut)))


@lru_cache(maxsize=None)
def _describe(spec: ArchSpec, option: str | None) -> dict:
    with torch.device("meta"):
        model = build_model(spec.name, option)
    return {
        "arch": spec.name,
        "family": spec.family,
        "shortcut": option,
        "input_size": spec.input_size,
        "params": count_params(model),
        "macs": count_macs(model, spec.input_size),
        "layers": count_layers(model),
    }


def response_layers(model: nn.Module) -> list[str]:
    """Names of the BN layers that directly follow a 3x3 conv, in forward order (Figure 7's layers).

    Their outputs are the paper's "responses": after BN, before the ReLU and the addition. Each
    block (and the stem) pairs `convK` with `bnK`. Pre-activation nets have no such layers (their
    BN precedes the conv): ConfigError.
    """
    if any(getattr(m, "preactivation", False) for m in model.modules()):
        raise ConfigError("layer responses (Figure 7) are defined for post-activation nets, not pre-activation ones")
    names = []
    for prefix, parent in model.named_modules():
        for child_name, child in parent.named_children():
            conv = getattr(parent, "conv" + child_name[2:], None) if child_name.startswith("bn") else None
            if isinstance(child, nn.BatchNorm2d) and isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
                names.append(f"{prefix}.{child_name}" if prefix else child_name)
    return names


@torch.no_grad()
def layer_responses(model: nn.Module, batches) -> list[float]:
    """Std of each 3x3 layer's response over `batches` (iterable of input tensors), in layer order.

    The std is over all elements (images, channels, positions) of the layer's output, computed in
    float64 from running sums. The model is put in eval mode (BN uses its running statistics).
    """
    names = response_layers(model)
    modules = dict(model.named_modules())
    sums = torch.zeros(len(names), 3, dtype=torch.float64)  # count, sum, sum of squares
    hooks = []
    for i, name in enumerate(names):
        def hook(_module, _inputs, output, i=i):
            out = output.detach().double()
            sums[i] += torch.stack([torch.tensor(out.numel(), dtype=torch.float64), out.sum().cpu(), out.square().sum().cpu()])
        hooks.append(modules[name].register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    count, total, squares = sums.unbind(1)
    var = (squares - total.square() / count) / (count - 1)
    return var.clamp_min(0).sqrt().tolist()
