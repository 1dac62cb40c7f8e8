"""The paper's pre-processing on whole batches (paper §4.2), and the pipelines that serve a run its batches.

The trainer keeps the images as uint8 on the training device and augments whole batches there:

- per-pixel mean subtraction (mean image of the training split, pixel values scaled to [0, 1]),
- 4 pixels of zero padding on each side (zero = the mean pixel, after subtraction), a random 32x32
  crop and a random horizontal flip; test images are used as they are.

Batch order and augmentation are pure functions of (seed, iteration) (`order_seed`, `augment_seed`),
so a resumed run sees exactly the batches an uninterrupted one would.

A data source is read through a `Pipeline`, chosen by the source: data sets of small images
(CIFAR-10, its JPEG copy, synthetic data, a cifar-10-batches-py folder or a CIFAR-shaped ImageFolder
tree) are held in memory by `CifarPipeline`; an ImageNet-style tree of large images
(`sources.streams_from_disk`) is streamed from disk by `imagenet.ImageFolderPipeline`.
"""

from __future__ import annotations

from typing import Iterator, Protocol

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .datasets import ImageDataset


def order_seed(seed: int, epoch: int) -> int:
    """The seed of `epoch`'s batch order (a permutation of the training images) for run seed `seed`."""
    return seed * 1_000_003 + epoch


def augment_seed(seed: int, iteration: int, position: int | None = None) -> int:
    """The seed of `iteration`'s augmentation for run seed `seed`: of the whole batch, or of the image at
    `position` in it (a streamed pipeline augments image by image, in data-loading workers)."""
    return (seed + 1) * 7_919_000_077 + (iteration if position is None else iteration * 100_003 + position)


class Pipeline(Protocol):
    """What the trainer, the evaluator and the publisher read of a data source, whichever pipeline serves it.

    input_size: side of the (square) images the net sees, px; num_classes; mean: float32 in [0, 1] units,
    subtracted from every input: (3, H, W) per pixel (CIFAR) or (3, 1, 1) per channel (ImageNet).
    """

    input_size: int
    num_classes: int
    mean: torch.Tensor

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented training batch of `iteration`: (float32 (b, 3, H, W), int64 (b,)) on the device."""

    def eval_batches(self, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Evaluation batches of "val" or "test", this process's shard, on the device."""

    def identity(self) -> dict:
        """name, description, sha256 (and what it is of), train_size, test_size: the data's record."""


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random train/validation split of range(n): (train indices, validation indices), sorted.

    val_fraction in [0, 1) (a TrainConfig checks it): 0.1 of CIFAR-10's 50,000 training images gives the paper's
    45k/5k split.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(n * val_fraction)
    return order[n_val:].sort().values, order[:n_val].sort().values


def mean_image(images: torch.Tensor) -> torch.Tensor:
    """Per-pixel mean (3, H, W) of uint8 images (N, 3, H, W), in [0, 1] units, float32."""
    total = torch.zeros(images.shape[1:], dtype=torch.float64, device=images.device)
    for chunk in images.split(10000):
        total += chunk.double().sum(0)
    return (total / len(images) / 255).float()


def normalize(images: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 in [0, 1] minus the mean image."""
    return images.float().div_(255).sub_(mean)


def training_mean(dataset: ImageDataset, val_fraction: float, split_seed: int) -> torch.Tensor:
    """The mean image (3, H, W) a run on `dataset` subtracts: that of its training split, float32 in [0, 1] units."""
    train_idx, _ = split_indices(len(dataset.train_labels), val_fraction, split_seed)
    return mean_image(dataset.train_images[train_idx])


def test_batches(dataset: ImageDataset, mean: torch.Tensor, device: torch.device, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`dataset`'s test images in batches of `size`, normalised by `mean` (the model's own: its training split's
    mean image), with their labels, on `device`: how a user of trained weights tests them."""
    mean = mean.to(device)
    return [(normalize(x.to(device), mean), y.to(device))
            for x, y in zip(dataset.test_images.split(size), dataset.test_labels.split(size))]


def augment(images: torch.Tensor, mean: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """The paper's augmentation of a whole batch, on the batch's device, with no per-image Python.

    images uint8 (B, 3, H, W); offsets int64 (B, 2) in [0, 2*pad], the crop's top-left corner in the
    padded image; flips bool (B,). Returns float32 (B, 3, H, W), mean-subtracted, zero-padded,
    cropped and flipped. One gather does crop and flip (a flip reverses the column indices).
    """
    b, _, h, w = images.shape
    x = F.pad(normalize(images, mean), (pad, pad, pad, pad))
    rows = offsets[:, :1] + torch.arange(h, device=images.device)  # (B, H)
    cols = offsets[:, 1:] + torch.arange(w, device=images.device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return x[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)


class TrainBatches:
    """Augmented training batches drawn from uint8 images resident on their device.

    Each epoch is a permutation seeded by (seed, epoch); the last incomplete batch of an epoch is
    dropped. The augmentation of iteration i is seeded by (seed, i). With `world` > 1 processes,
    every process draws the same global batch and keeps its `rank`-th slice.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, batch_size: int,
                 seed: int, rank: int = 0, world: int = 1):
        if batch_size > len(labels):
            raise ConfigError(f"batch size {batch_size} exceeds the {len(labels)} training images")
        if batch_size % world:
            raise ConfigError(f"global batch size {batch_size} does not split over {world} processes")
        self.images, self.labels, self.mean = images, labels, mean
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self.batches_per_epoch = len(labels) // batch_size
        self._epoch, self._order = -1, None
        self._generator = torch.Generator(device=images.device)

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (images float32 (b, 3, H, W), labels int64 (b,)) of `iteration`, b = batch_size / world."""
        epoch, position = divmod(iteration, self.batches_per_epoch)
        if epoch != self._epoch:
            self._generator.manual_seed(order_seed(self.seed, epoch))
            self._order = torch.randperm(len(self.labels), generator=self._generator, device=self.images.device)
            self._epoch = epoch
        index = self._order[position * self.batch_size : (position + 1) * self.batch_size]
        self._generator.manual_seed(augment_seed(self.seed, iteration))
        offsets = torch.randint(0, 9, (self.batch_size, 2), generator=self._generator, device=self.images.device)
        flips = torch.rand(self.batch_size, generator=self._generator, device=self.images.device) < 0.5
        local = slice(self.rank * self.batch_size // self.world, (self.rank + 1) * self.batch_size // self.world)
        index, offsets, flips = index[local], offsets[local], flips[local]
        return augment(self.images[index], self.mean, offsets, flips), self.labels[index]


class CifarPipeline:
    """The paper's CIFAR-10 pipeline on `device` (a `Pipeline`): the seeded train/validation split, the
    mean image of the training split, uint8 images resident on the device, augmented training batches by
    iteration, and evaluation batches sharded over processes (channels-last if asked)."""

    input_size = 32

    def __init__(self, dataset: ImageDataset, batch_size: int, seed: int, val_fraction: float, split_seed: int,
                 device: torch.device, rank: int = 0, world: int = 1, channels_last: bool = False):
        self.dataset, self.rank, self.world = dataset, rank, world
        self.num_classes = len(dataset.classes)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.eval_batch_size = 1000 if torch.device(device).type == "cuda" else 250  # 250: fastest on 2 CPU cores
        train_idx, val_idx = split_indices(len(dataset.train_labels), val_fraction, split_seed)
        images, labels = dataset.train_images.to(device), dataset.train_labels.to(device)
        train_x, train_y = images[train_idx.to(device)], labels[train_idx.to(device)]
        self.mean = mean_image(train_x)
        self.splits = {"val": (images[val_idx.to(device)], labels[val_idx.to(device)]),
                       "test": (dataset.test_images.to(device), dataset.test_labels.to(device))}
        self.train = TrainBatches(train_x, train_y, self.mean, batch_size, seed, rank, world)

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.train.batch(iteration)
        return x.contiguous(memory_format=self.memory_format), y

    def eval_batches(self, split: str):
        """(normalised images (b, 3, 32, 32), labels) of `split` ("val" or "test"), this process's shard."""
        x, y = self.splits[split]
        size = self.eval_batch_size
        for xb, yb in zip(x[self.rank :: self.world].split(size), y[self.rank :: self.world].split(size)):
            yield normalize(xb, self.mean).contiguous(memory_format=self.memory_format), yb

    def identity(self) -> dict:
        return self.dataset.identity()
