"""Paper-exact plain and residual networks (He et al., 2015): everything about an architecture.

An architecture name (``resnet56``, ``imagenet-plain34``; ARCH_FORMS) is parsed once into an
`ArchSpec` (family, kind, depth, blocks per stage, default shortcut, input size), which
`build_model` builds and the rest of the package reads.

Two families share one `ResNet` class, one `_make_layer` and one weight initialisation:

- CIFAR-10 (paper §4.2): 3x3 conv with 16 filters, three stages of n blocks of two 3x3 convs on
  32x32, 16x16 and 8x8 maps with 16, 32 and 64 filters, global average pool, 10-way fc.
  6n+2 weighted layers. Names: ``resnet20``, ``plain56``, ``preact-resnet110``.
- ImageNet (Table 1): 7x7/64 stride-2 conv, 3x3 max pool, four stages of basic blocks (18, 34)
  or bottleneck blocks (50, 101, 152), average pool, 1000-way fc. Names: ``imagenet-resnet50``,
  ``imagenet-plain34``.

Shortcut options (paper §3.3, Table 3), where a block's input and output shapes differ:
``A`` takes every second pixel and zero-pads the new channels (no parameters), ``B`` projects with a
1x1 conv + BN (identity elsewhere), ``C`` projects on every shortcut. Plain nets have no shortcuts.

Stride placement follows the paper: the first conv of a stage's first block subsamples. In the
bottleneck block that is the first 1x1 conv ("ResNet v1"), not the 3x3 as in torchvision's v1.5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

SHORTCUT_OPTIONS = ("A", "B", "C")
IMAGENET_LAYERS = {  # depth -> (block kind, blocks per stage), Table 1
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_PLAIN_DEPTHS = (18, 34)
ARCH_FORMS = (
    "resnet<6n+2> (e.g. resnet20, resnet110, resnet1202), plain<6n+2> (e.g. plain56), "
    "preact-resnet<6n+2> (e.g. preact-resnet110), imagenet-resnet{18,34,50,101,152}, "
    "imagenet-plain{18,34}"
)


# Every architecture the paper trains or tabulates, CIFAR first (hub entry points, `describe` with no name)
PAPER_ARCHS = ([f"resnet{d}" for d in (20, 32, 44, 56, 110, 1202)] + [f"plain{d}" for d in (20, 32, 44, 56, 110)]
               + ["preact-resnet110"] + [f"imagenet-resnet{d}" for d in (18, 34, 50, 101, 152)]
               + [f"imagenet-plain{d}" for d in (18, 34)])


@dataclass(frozen=True)
class ArchSpec:
    """A parsed architecture name.

    family: "cifar" or "imagenet"; kind: "resnet", "plain" or "preact-resnet";
    depth: weighted layers as the paper counts them; n: blocks per stage (CIFAR only).
    """

    name: str
    family: str
    kind: str
    depth: int
    n: int | None = None

    @property
    def residual(self) -> bool:
        return self.kind != "plain"

    @property
    def bottleneck(self) -> bool:
        """Whether its blocks are bottlenecks (ImageNet ResNet-50/101/152)."""
        return self.family == "imagenet" and IMAGENET_LAYERS[self.depth][0] == "bottleneck"

    @property
    def layers(self) -> tuple[int, ...]:
        """Blocks per stage: (n, n, n) on CIFAR, Table 1's four stages on ImageNet."""
        return (self.n,) * 3 if self.family == "cifar" else IMAGENET_LAYERS[self.depth][1]

    @property
    def default_shortcut(self) -> str | None:
        if not self.residual:
            return None
        return "B" if self.bottleneck else "A"  # the paper's ResNet-50/101/152 project where dimensions increase

    @property
    def input_size(self) -> int:
        return 32 if self.family == "cifar" else 224

    @property
    def num_classes(self) -> int:
        return 10 if self.family == "cifar" else 1000


def parse_arch(name: str) -> ArchSpec:
    """Parse an architecture name such as ``resnet56`` or ``imagenet-plain34``.

    Raises ConfigError naming the valid forms for anything else.
    """
    match = re.fullmatch(r"(imagenet-)?(resnet|plain|preact-resnet)(\d+)", str(name).strip().lower())
    if match is None:
        raise ConfigError(f"unknown architecture {name!r}; valid forms: {ARCH_FORMS}")
    imagenet, kind, depth = bool(match.group(1)), match.group(2), int(match.group(3))
    canonical = f"{'imagenet-' if imagenet else ''}{kind}{depth}"
    if imagenet:
        valid = IMAGENET_PLAIN_DEPTHS if kind == "plain" else tuple(IMAGENET_LAYERS)
        if kind == "preact-resnet" or depth not in valid:
            raise ConfigError(
                f"{canonical!r} is not an ImageNet architecture of the paper; "
                f"valid: imagenet-resnet{{18,34,50,101,152}}, imagenet-plain{{18,34}}"
            )
        return ArchSpec(canonical, "imagenet", kind, depth)
    if depth < 8 or (depth - 2) % 6 != 0:
        raise ConfigError(
            f"depth {depth} of {canonical!r} is not 6n+2 with n >= 1; CIFAR nets have depth "
            f"6n+2 = 8, 14, 20, 26, 32, ..., 110, ..., 1202 (e.g. {kind}20, {kind}110)"
        )
    return ArchSpec(canonical, "cifar", kind, depth, n=(depth - 2) // 6)


KIND_NAMES = {"resnet": "ResNet", "plain": "plain", "preact-resnet": "pre-act ResNet"}  # as the papers write them


def paper_name(kind: str, depth: int) -> str:
    """'ResNet-20', 'plain-56': a net as the paper names it (kind as in ArchSpec)."""
    return f"{KIND_NAMES[kind]}-{depth}"


def parse_shortcut(shortcut) -> str:
    """A shortcut option as its upper-case letter ("a" -> "A"), or ConfigError naming the valid ones."""
    option = str(shortcut).strip().upper()
    if option not in SHORTCUT_OPTIONS:
        raise ConfigError(f"unknown shortcut option {shortcut!r}; valid options: {', '.join(SHORTCUT_OPTIONS)}")
    return option


def resolve_shortcut(spec: ArchSpec, shortcut: str | None) -> str | None:
    """The shortcut option for `spec`: `shortcut` validated, or the family default if None."""
    if shortcut is None:
        return spec.default_shortcut
    option = parse_shortcut(shortcut)
    if not spec.residual:
        raise ConfigError(f"{spec.name} is a plain net and has no shortcuts; leave the shortcut option unset")
    return option


class ZeroPadShortcut(nn.Module):
    """Option A: identity, subsampled by `stride` and zero-padded from `in_planes` to `out_planes`."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, out_planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra > 0:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return x


def make_shortcut(option: str | None, in_planes: int, out_planes: int, stride: int) -> nn.Module | None:
    """The shortcut of one block: None (plain net), identity, zero-padding (A) or projection (B, C)."""
    if option is None:
        return None
    shape_changes = stride != 1 or in_planes != out_planes
    if option == "C" or (option == "B" and shape_changes):
        return nn.Sequential(
            nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
        )
    if option == "A" and shape_changes:
        return ZeroPadShortcut(in_planes, out_planes, stride)
    return nn.Identity()


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs, each followed by BN; ReLU after the first and after the addition (Fig. 2)."""

    expansion = 1
    preactivation = False

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str | None):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = make_shortcut(shortcut, in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce, strided as in the paper), 3x3, 1x1 (expand x4), each followed by BN (Fig. 5)."""

    expansion = 4
    preactivation = False

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str | None):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = make_shortcut(shortcut, in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class PreActBlock(nn.Module):
    """Full pre-activation unit (He et al., 2016, Fig. 4e): BN-ReLU-conv twice, identity after the add.

    A projection shortcut (B, C) reads the pre-activated input, as in the authors' code; the
    zero-padding shortcut (A) reads the raw input.
    """

    expansion = 1
    preactivation = True

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str | None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = make_shortcut(shortcut, in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        projects = isinstance(self.shortcut, nn.Sequential)
        return out + self.shortcut(pre if projects else x)


class ResNet(nn.Module):
    """A stem, stages of `block` built by `_make_layer`, global average pool and a linear classifier.

    Input (B, 3, H, W) float, mean-subtracted; output (B, num_classes) logits.
    stem "cifar": 3x3 conv to widths[0]; stem "imagenet": 7x7/2 conv to 64 and a 3x3/2 max pool.
    """

    def __init__(
        self,
        block: type[nn.Module],
        layers: tuple[int, ...],
        widths: tuple[int, ...],
        stem: str,
        shortcut: str | None,
        num_classes: int,
    ):
        super().__init__()
        self.shortcut_option = shortcut
        self.in_planes = widths[0] if stem == "cifar" else 64
        if stem == "cifar":
            self.conv1 = conv3x3(3, self.in_planes)
        else:
            self.conv1 = nn.Conv2d(3, self.in_planes, 7, stride=2, padding=3, bias=False)
        # A pre-activation net leaves the stem's BN-ReLU to its first block and adds one at the end.
        self.bn1 = nn.Identity() if block.preactivation else nn.BatchNorm2d(self.in_planes)
        self.relu = nn.Identity() if block.preactivation else nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        stages = [self._make_layer(block, w, n, 1 if i == 0 else 2) for i, (w, n) in enumerate(zip(widths, layers))]
        self.layers = nn.Sequential(*stages)
        final = widths[-1] * block.expansion
        self.final_bn = nn.Sequential(nn.BatchNorm2d(final), nn.ReLU(inplace=True)) if block.preactivation else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(final, num_classes)
        self._init_weights()

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            layers.append(block(self.in_planes, planes, stride if i == 0 else 1, self.shortcut_option))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        """He normal init (fan_out, as fb.resnet.torch, Facebook's Torch reimplementation) for convs; BN to identity; fc default."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.final_bn(self.layers(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_model(arch: str | ArchSpec, shortcut: str | None = None, num_classes: int | None = None) -> ResNet:
    """Build the network `arch` (a name, see ARCH_FORMS, or its parsed ArchSpec) with shortcut option A, B or C.

    shortcut=None takes the paper's default: A for CIFAR and basic-block ImageNet nets, B for
    bottleneck nets, none for plain nets. Raises ConfigError (a ValueError) for bad names.
    """
    spec = arch if isinstance(arch, ArchSpec) else parse_arch(arch)
    option = resolve_shortcut(spec, shortcut)
    block = PreActBlock if spec.kind == "preact-resnet" else Bottleneck if spec.bottleneck else BasicBlock
    widths = (16, 32, 64) if spec.family == "cifar" else (64, 128, 256, 512)
    return ResNet(block, spec.layers, widths, spec.family, option, spec.num_classes if num_classes is None else num_classes)
