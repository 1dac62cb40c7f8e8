"""ImageNet-style training from an ImageFolder tree (paper §3.4), through the same trainer.

root/train/<class>/* and root/val/<class>/* (or root/test/). Training: the shorter side resized to a
random length in [256, 480], a random 224x224 crop, a random horizontal flip, AlexNet-style PCA
colour (lighting) noise, per-channel mean subtraction. Validation (a held-out part of train/): the
224x224 centre crop of the image resized to 256. Test (val/): 10-crop testing, softmax averaged
over the four corners, the centre and their flips.

Batches are a function of (seed, iteration): each epoch is a seeded permutation, and each image's
augmentation is seeded by (seed, iteration, position), so a resumed run sees the same batches.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets, transforms
from torchvision.transforms import functional as TF

from .datasets import tree_folders, tree_identity

from ..errors import ConfigError
from .pipeline import augment_seed, order_seed, split_indices

MEAN = (0.485, 0.456, 0.406)  # ImageNet per-channel mean, [0, 1] units (mean subtraction only, as in the paper)
# AlexNet's PCA lighting noise on ImageNet RGB (eigenvalues, eigenvectors as columns), as in fb.resnet.torch (Facebook's Torch reimplementation).
EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


class RandomShorterSide:
    """Resize so that the shorter side is a random length in [low, high] (scale augmentation)."""

    def __init__(self, low: int = 256, high: int = 480):
        self.low, self.high = low, high

    def __call__(self, image):
        return TF.resize(image, int(torch.randint(self.low, self.high + 1, ()).item()), antialias=True)


class Lighting:
    """AlexNet-style colour augmentation: add RGB eigenvector noise with N(0, std) weights. (3, H, W) tensors."""

    def __init__(self, std: float = 0.1):
        self.std = std

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        alpha = torch.randn(3) * self.std
        return image + (EIGVEC @ (alpha * EIGVAL)).view(3, 1, 1)


NORMALIZE = transforms.Normalize(MEAN, (1.0, 1.0, 1.0))  # mean subtraction only
TRAIN_TRANSFORM = transforms.Compose([RandomShorterSide(256, 480), transforms.RandomCrop(224), transforms.RandomHorizontalFlip(),
                                      transforms.ToTensor(), Lighting(0.1), NORMALIZE])
VAL_TRANSFORM = transforms.Compose([transforms.Resize(256, antialias=True), transforms.CenterCrop(224), transforms.ToTensor(), NORMALIZE])
TEST_TRANSFORM = transforms.Compose([transforms.Resize(256, antialias=True), transforms.TenCrop(224),
                                     transforms.Lambda(lambda crops: torch.stack([NORMALIZE(TF.to_tensor(c)) for c in crops]))])


class _Seeded(Dataset):
    """Items of `folder` at `indices`; a (position, seed) key seeds the transform's randomness."""

    def __init__(self, folder: datasets.ImageFolder, indices: torch.Tensor, transform):
        self.folder, self.indices, self.transform = folder, indices.tolist(), transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key):
        position, seed = key if isinstance(key, tuple) else (key, None)
        path, label = self.folder.samples[self.indices[position]]
        if seed is not None:
            torch.manual_seed(seed)
        return self.transform(self.folder.loader(path)), label


def _batch_keys(start: int, images: int, batches_per_epoch: int, batch_size: int, seed: int, rank: int, world: int):
    """Endless batches of (position, seed) keys for process `rank` of `world`, from iteration `start` on."""
    local = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
    iteration, epoch, order = start, None, None
    while True:
        if iteration // batches_per_epoch != epoch:
            epoch = iteration // batches_per_epoch
            order = torch.randperm(images, generator=torch.Generator().manual_seed(order_seed(seed, epoch)))
        b = iteration % batches_per_epoch
        keys = [(int(p), augment_seed(seed, iteration, i))
                for i, p in enumerate(order[b * batch_size : (b + 1) * batch_size])]
        yield keys[local]
        iteration += 1


class _Iterable:
    """An iterable over a generator function (a DataLoader batch_sampler without a length)."""

    def __init__(self, make):
        self.make = make

    def __iter__(self):
        return self.make()


class ImageFolderPipeline:
    """An ImageNet-style tree streamed from disk through DataLoader workers (a `data.Pipeline`)."""

    input_size = 224
    mean = torch.tensor(MEAN).view(3, 1, 1)  # per channel, subtracted by the transforms

    def __init__(self, root: str | Path, batch_size: int, seed: int, val_fraction: float, split_seed: int,
                 device: torch.device, rank: int = 0, world: int = 1, workers: int | None = None):
        root = Path(root)
        train_dir, test_dir = tree_folders(root)
        self.root, self.device, self.rank, self.world = root, device, rank, world
        self.batch_size, self.seed = batch_size, seed
        self.workers = min(8, os.cpu_count() or 1) if workers is None else workers
        train = datasets.ImageFolder(str(train_dir))
        test = datasets.ImageFolder(str(test_dir))
        if test.classes != train.classes:
            raise ConfigError(f"{test_dir} and {train_dir} have different class folders")
        self.num_classes = len(train.classes)
        train_idx, val_idx = split_indices(len(train.samples), val_fraction, split_seed)
        if batch_size > len(train_idx) or batch_size % world:
            raise ConfigError(f"batch size {batch_size} must divide over {world} processes and not exceed {len(train_idx)} images")
        self.train_set = _Seeded(train, train_idx, TRAIN_TRANSFORM)
        self.eval_sets = {"val": _Seeded(train, val_idx, VAL_TRANSFORM),
                          "test": _Seeded(test, torch.arange(len(test.samples)), TEST_TRANSFORM)}
        self.batches_per_epoch = len(train_idx) // batch_size
        self._stream, self._next = None, None

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        if iteration != self._next:  # (re)start the stream here, e.g. after a resume
            # the sampler holds no reference to this pipeline: the stream's workers stop as soon as it is dropped
            sampler = _Iterable(partial(_batch_keys, iteration, len(self.train_set), self.batches_per_epoch,
                                        self.batch_size, self.seed, self.rank, self.world))
            self._stream = iter(DataLoader(self.train_set, batch_sampler=sampler, num_workers=self.workers))
        x, y = next(self._stream)
        self._next = iteration + 1
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def eval_batches(self, split: str, batch_size: int = 32):
        """Validation: (b, 3, 224, 224) centre crops; test: (b, 10, 3, 224, 224) ten crops. This process's shard."""
        dataset = self.eval_sets[split]
        shard = list(range(self.rank, len(dataset), self.world))
        loader = DataLoader(torch.utils.data.Subset(dataset, shard), batch_size=batch_size, num_workers=self.workers)
        for x, y in loader:
            yield x.to(self.device), y.to(self.device)

    def identity(self) -> dict:
        return tree_identity(self.root)
