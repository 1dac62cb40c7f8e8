"""Data sets held in memory, and the decoders of the formats they come in.

A data set (`ImageDataset`) is four tensors: uint8 images (N, 3, H, W) and int64 labels (N,) for train and
test, named, described and identified by the SHA-256 of its decoded pixels and labels, whatever file it was
read from. Here: what CIFAR-10 and its JPEG copy are (their content hashes), the readers of the official
cifar-10-batches-py and of ImageFolder trees, ImageNet-style trees' identities, and generated data for tests.
Where each named data set is found, and the decode cache, are in sources.py.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# CIFAR-10 itself: the SHA-256 of its pixels and labels (train images, train labels, test images, test
# labels; uint8 (N, 3, 32, 32) and int64 (N,), raw bytes), equal for the official cifar-10-batches-py and
# the lossless archive beside the project, which `--data cifar10` reads where data/ has no official copy.
CIFAR10_SHA256 = "9048fcbac9c08a64d57a7c5a5a66750a974ad4eab380914df129f7e223d823df"
JPEG_ARCHIVE_SHA256 = "a07f90aeac4ed02999d1f6802dc4f16af1ee3822a1ba00906ce79e326004e4a6"
JPEG_SHA256 = "eec90e10bd2f5438e70e4e8599dc5b7672ffbabf978fde50cd6de1e7ed6d6bf0"  # of its decoded pixels and labels
# Data sets known by the SHA-256 of their decoded pixels and labels -> (name, description), so that a
# result says which data it was trained on whatever file or path it was read from.
KNOWN_DATASETS = {
    CIFAR10_SHA256: ("cifar10", "CIFAR-10 (Krizhevsky, 2009), the official pixels and labels"),
    JPEG_SHA256: (
        "cifar10-jpeg",
        f"CIFAR-10, lossy JPEG copy (quality 75, 4:2:0 chroma; archive cifar10-jpeg.tar.gz, sha256 "
        f"{JPEG_ARCHIVE_SHA256}); not the official arrays",
    ),
}
SYNTHETIC_SIZES = (5000, 1000)  # train, test


@dataclass
class ImageDataset:
    """An image classification data set held in memory.

    train_images, test_images: uint8 (N, 3, H, W); train_labels, test_labels: int64 (N,).
    origin: the name of the file or folder it was read from, never a machine's directories (provenance only:
    the SHA-256 identifies the data).
    """

    name: str
    description: str
    classes: list[str]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    origin: str = ""

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the pixels and labels (train then test), independent of the file format."""
        digest = hashlib.sha256()
        for t in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            digest.update(t.contiguous().numpy().tobytes())
        return digest.hexdigest()

    def identity(self) -> dict:
        return {"name": self.name, "description": self.description, "sha256": self.sha256,
                "train_size": len(self.train_labels), "test_size": len(self.test_labels), "origin": self.origin}


def read_cifar_pickles(folder: Path) -> ImageDataset:
    """The official python version of CIFAR-10: five training batches and a test batch of 10,000."""
    def read(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        file = folder / name
        if not file.exists():
            raise ConfigError(f"incomplete CIFAR-10 at {folder}: {name} is missing; download it again (--download)")
        with open(file, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        images = np.asarray(batch["data"], dtype=np.uint8)
        if images.shape != (10000, 3072) or len(batch["labels"]) != 10000:
            raise ConfigError(f"{file} holds {images.shape} images, not CIFAR-10's (10000, 3072); download it again")
        return torch.from_numpy(images.reshape(-1, 3, 32, 32).copy()), torch.tensor(batch["labels"], dtype=torch.int64)

    train = [read(f"data_batch_{i}") for i in range(1, 6)]
    test_images, test_labels = read("test_batch")
    dataset = ImageDataset(
        "cifar10", KNOWN_DATASETS[CIFAR10_SHA256][1], list(CIFAR10_CLASSES),
        torch.cat([x for x, _ in train]), torch.cat([y for _, y in train]), test_images, test_labels, origin=folder.name,
    )
    if dataset.sha256 != CIFAR10_SHA256:  # the official layout, other content: never labelled as CIFAR-10
        dataset.name = f"batches:{folder.name}"
        dataset.description = f"CIFAR-10-format batches at {folder}, not the official CIFAR-10 content"
    return dataset


def read_image_folder(root: Path) -> ImageDataset:
    """An ImageFolder tree root/{train,test}/<class>/*.{jpg,png}, decoded into uint8 tensors."""
    from PIL import Image

    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    if not classes:
        raise ConfigError(f"{root}/train has no class folders; expected {root}/train/<class>/<image>")

    def read_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        files, labels = [], []
        for label, name in enumerate(classes):
            found = sorted(p for p in (root / split / name).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            files += found
            labels += [label] * len(found)
        if not files:
            raise ConfigError(f"no images under {root / split}; expected {root / split}/<class>/<image>.jpg")
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            arrays = list(pool.map(lambda p: np.asarray(Image.open(p).convert("RGB")), files))
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ConfigError(f"images under {root / split} differ in size ({sorted(shapes)[:3]}...); expected one size")
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(labels, dtype=torch.int64)

    train_images, train_labels = read_split("train")
    test_images, test_labels = read_split("test")
    dataset = ImageDataset(f"imagefolder:{root.name}", f"ImageFolder tree at {root}", classes,
                           train_images, train_labels, test_images, test_labels)
    dataset.name, dataset.description = KNOWN_DATASETS.get(dataset.sha256, (dataset.name, dataset.description))
    return dataset


@lru_cache(maxsize=4)
def synthetic_dataset(sizes: tuple[int, int] = SYNTHETIC_SIZES, seed: int = 0) -> ImageDataset:
    """A generated CIFAR-shaped data set: 10 classes, each a smooth random colour pattern, seen through
    random shifts, brightness and noise. Learnable in a few hundred iterations; identical everywhere."""
    g = torch.Generator().manual_seed(seed)
    templates = F.interpolate(torch.rand(10, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear", align_corners=False)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % 10
        labels = labels[torch.randperm(n, generator=g)]
        shifts = torch.randint(-3, 4, (n, 2), generator=g)
        rows = (torch.arange(32) - shifts[:, :1]) % 32  # (n, 32): a cyclic shift of each image
        cols = (torch.arange(32) - shifts[:, 1:]) % 32
        x = templates[labels[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        x = x * (0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)) + 0.25 * torch.randn(x.shape, generator=g)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), labels

    train_images, train_labels = make(sizes[0])
    test_images, test_labels = make(sizes[1])
    return ImageDataset("synthetic", f"synthetic CIFAR-shaped data ({sizes[0]} train, {sizes[1]} test images, seed {seed})",
                        [f"class{i}" for i in range(10)], train_images, train_labels, test_images, test_labels)


def tree_folders(root: Path) -> tuple[Path, Path]:
    """(train folder, test folder) of an ImageNet-style tree: root/train and root/val (else root/test),
    or ConfigError saying what is expected."""
    test = root / "val" if (root / "val").is_dir() else root / "test"
    if not (root / "train").is_dir() or not test.is_dir():
        raise ConfigError(f"no ImageNet-style tree at {root}: expected {root}/train/<class>/ and {root}/val/<class>/")
    return root / "train", test


def tree_identity(root: Path) -> dict:
    """The record of an ImageNet-style tree: its name, and a SHA-256 of its file list (relative paths, sizes,
    labels, in torchvision's ImageFolder order): hashing every image of ImageNet is too slow."""
    from torchvision.datasets import ImageFolder

    train, test = (ImageFolder(str(folder)).samples for folder in tree_folders(root))
    digest = hashlib.sha256()
    for path, label in train + test:
        digest.update(f"{Path(path).relative_to(root)}\t{os.path.getsize(path)}\t{label}\n".encode())
    return {"name": f"imagefolder:{root.name}", "description": f"ImageNet-style ImageFolder tree at {root}",
            "sha256": digest.hexdigest(), "sha256_of": "file list (paths, sizes, labels)",
            "train_size": len(train), "test_size": len(test)}
