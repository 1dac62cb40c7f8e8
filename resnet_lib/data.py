"""CIFAR-shaped data sets in memory, and the paper's pre-processing on whole batches (paper §4.2).

A data set is four tensors: uint8 images (N, 3, 32, 32) and int64 labels (N,) for train and test,
named, described and identified by the SHA-256 of its decoded pixels and labels. The trainer keeps
the images as uint8 on the training device and augments whole batches there:

- per-pixel mean subtraction (mean image of the training split, pixel values scaled to [0, 1]),
- 4 pixels of zero padding on each side (zero = the mean pixel, after subtraction), a random 32x32
  crop and a random horizontal flip; test images are used as they are.

Batch order and augmentation are pure functions of (seed, iteration) (`order_seed`, `augment_seed`),
so a resumed run sees exactly the batches an uninterrupted one would.

A data source is read through a `Pipeline`, chosen by the source: data sets of small images
(CIFAR-10, its JPEG copy, synthetic data, a cifar-10-batches-py folder or a CIFAR-shaped ImageFolder
tree) are held in memory by `CifarPipeline`; an ImageNet-style tree of large images
(`streams_from_disk`) is streamed from disk by `imagenet.ImageFolderPipeline`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError

DATA_DIR = Path(os.environ.get("RESNET_LIB_DATA", "data"))
CACHE_DIR = Path(os.environ.get("RESNET_LIB_CACHE", Path.home() / ".cache" / "resnet_lib"))  # decoded data sets
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the project (its README)
# CIFAR-10 itself: the SHA-256 of its pixels and labels (train images, train labels, test images, test
# labels; uint8 (N, 3, 32, 32) and int64 (N,), raw bytes), equal for the official cifar-10-batches-py and
# the lossless archive beside the project, which `--data cifar10` reads where data/ has no official copy.
CIFAR10_SHA256 = "9048fcbac9c08a64d57a7c5a5a66750a974ad4eab380914df129f7e223d823df"
LOSSLESS_ARCHIVE = Path(os.environ.get("RESNET_LIB_LOSSLESS_ARCHIVE", SHARED_DATA / "cifar10-lossless.npz"))
LOSSLESS_ARCHIVE_SHA256 = "e9451d4bff5097b86cbdad82b688ff962f3336655236dfca577f1ef766775f38"
# The JPEG copy of CIFAR-10 beside the project: data source "cifar10-jpeg", extracted from its archive
# into data/cifar10-jpeg when first needed.
JPEG_ARCHIVE = Path(os.environ.get("RESNET_LIB_JPEG_ARCHIVE", SHARED_DATA / "cifar10-jpeg.tar.gz"))
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
IN_MEMORY_MAX_SIDE = 64  # px: an ImageFolder tree of larger images is streamed from disk, not held in memory


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


def real_cifar10_here() -> bool:
    """Whether real CIFAR-10 is on this machine: the official arrays in data/ or the lossless archive."""
    return (DATA_DIR / "cifar-10-batches-py").exists() or LOSSLESS_ARCHIVE.is_file()


def default_source() -> str:
    """The CIFAR-10 a notebook means by "auto": the real one where it is here, else the JPEG copy."""
    return "cifar10" if real_cifar10_here() else "cifar10-jpeg"


def locate(source: str, download: bool = False) -> Path | None:
    """The folder or file holding `source` ("cifar10", "cifar10-jpeg" or a path); None for "synthetic".

    "cifar10" is data/cifar-10-batches-py where it is there, else the lossless archive beside the
    project (a .npz file). The JPEG copy is extracted from its archive on first use. Raises
    ConfigError saying where it looked and how to get the data set. With `download`, a missing
    official CIFAR-10 is fetched through torchvision (needs internet).
    """
    source = str(source)
    if source == "synthetic":
        return None
    if source == "cifar10-jpeg":
        return _extract_jpeg_copy()
    if source == "cifar10":
        folder = DATA_DIR / "cifar-10-batches-py"
        if not folder.exists():
            if LOSSLESS_ARCHIVE.is_file():
                return LOSSLESS_ARCHIVE
            if not download:
                raise ConfigError(
                    f"CIFAR-10 not found: neither {folder}/ nor {LOSSLESS_ARCHIVE} exists; pass --download (needs "
                    f"internet) to fetch it into {DATA_DIR}/, put cifar10-lossless.npz at {LOSSLESS_ARCHIVE} (or set "
                    f"RESNET_LIB_LOSSLESS_ARCHIVE to its path), or use --data cifar10-jpeg (the JPEG copy) or a path to a "
                    f"cifar-10-batches-py folder or an ImageFolder tree (see data/README.md)"
                )
            import torchvision

            torchvision.datasets.CIFAR10(str(DATA_DIR), train=True, download=True)
        return folder
    path = Path(source)
    if path.suffix == ".npz" and path.is_file():
        return path  # the lossless CIFAR-10 archive, found elsewhere
    if path.name.endswith((".tar.gz", ".tgz")):
        raise ConfigError(f"{path} is an archive; extract it first: tar xzf {path} -C {DATA_DIR}/ (see data/README.md)")
    if (path / "data_batch_1").exists() or ((path / "train").is_dir() and (path / "test").is_dir()):
        return path
    raise ConfigError(
        f"no data set at {path}{'' if path.exists() else ' (not found)'}: expected 'synthetic', 'cifar10', "
        f"'cifar10-jpeg', a cifar-10-batches-py folder (data_batch_1..5, test_batch) or an ImageFolder tree "
        f"with train/ and test/ (see data/README.md)"
    )


def streams_from_disk(source: str) -> bool:
    """Whether `source` is an ImageNet-style tree (train/<class>/ of images larger than IN_MEMORY_MAX_SIDE
    px), which is streamed from disk, rather than a data set of small images held in memory."""
    path = Path(str(source))
    if str(source) in ("synthetic", "cifar10", "cifar10-jpeg") or not (path / "train").is_dir():
        return False
    first = next((f for d in sorted((path / "train").iterdir()) if d.is_dir() for f in sorted(d.iterdir())
                  if f.suffix.lower() in (".jpg", ".jpeg", ".png")), None)
    if first is None:
        return False
    from PIL import Image

    with Image.open(first) as image:  # reads the header only
        return max(image.size) > IN_MEMORY_MAX_SIDE


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


def _extract_jpeg_copy() -> Path:
    """data/cifar10-jpeg, extracted from the shared archive (checked against its SHA-256) if not there yet."""
    folder = DATA_DIR / "cifar10-jpeg"
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        return folder
    if not JPEG_ARCHIVE.is_file():
        raise ConfigError(f"the JPEG copy of CIFAR-10 is neither at {folder} nor at {JPEG_ARCHIVE}; put "
                          f"cifar10-jpeg.tar.gz there (or set RESNET_LIB_JPEG_ARCHIVE), or use --data cifar10 "
                          f"--download (see data/README.md)")
    digest = hashlib.sha256(JPEG_ARCHIVE.read_bytes()).hexdigest()
    if digest != JPEG_ARCHIVE_SHA256:
        raise ConfigError(f"{JPEG_ARCHIVE} has sha256 {digest[:12]}…, not the JPEG copy's {JPEG_ARCHIVE_SHA256[:12]}…; "
                          f"copy the archive again")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(JPEG_ARCHIVE) as archive:
        archive.extractall(DATA_DIR, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return folder


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_lossless_archive(path: Path) -> ImageDataset:
    """CIFAR-10 from the lossless archive (shared/data/README.md): checked against the archive's SHA-256
    and the content hash of CIFAR-10, then decoded once into a cache file (written atomically: a failure
    leaves nothing behind) named by the archive's path, size and modification time."""
    stat = path.stat()
    tag = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    origin = f"{path.name} (sha256 {LOSSLESS_ARCHIVE_SHA256})"
    cache = CACHE_DIR / "datasets" / f"cifar10-lossless-{tag}.pt"
    dataset = _read_cache(cache)
    if dataset is not None and dataset.sha256 == CIFAR10_SHA256:
        dataset.origin = origin
        return dataset
    digest = _sha256_of_file(path)
    if digest != LOSSLESS_ARCHIVE_SHA256:
        raise ConfigError(f"{path} has sha256 {digest[:12]}…, not the lossless CIFAR-10 archive's "
                          f"{LOSSLESS_ARCHIVE_SHA256[:12]}… (damaged or another file); copy cifar10-lossless.npz "
                          f"there again, or put the official cifar-10-batches-py in {DATA_DIR}/")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in ("train_images", "train_labels", "test_images", "test_labels")}
    except (OSError, ValueError, KeyError) as error:
        raise ConfigError(f"{path} cannot be read as CIFAR-10 arrays ({error}); copy it again") from None
    dataset = ImageDataset("cifar10", KNOWN_DATASETS[CIFAR10_SHA256][1], list(CIFAR10_CLASSES),
                           *(torch.from_numpy(np.ascontiguousarray(arrays[k])) for k in arrays), origin=origin)
    if dataset.sha256 != CIFAR10_SHA256:
        raise ConfigError(f"{path} holds data whose content hash {dataset.sha256[:12]}… is not CIFAR-10's "
                          f"{CIFAR10_SHA256[:12]}…; copy cifar10-lossless.npz there again")
    _write_cache(cache, dataset)
    return dataset


def _read_cache(cache: Path) -> ImageDataset | None:
    """A decoded data set from the cache, or None where there is none (or a partial or foreign file)."""
    if not cache.is_file():
        return None
    try:
        return ImageDataset(**torch.load(cache, weights_only=True))
    except Exception:
        return None


def _write_cache(cache: Path, dataset: ImageDataset) -> None:
    """Save `dataset` to `cache` atomically (a temporary file renamed into place, removed on failure)."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        torch.save({f: getattr(dataset, f) for f in ("name", "description", "classes", "train_images", "train_labels",
                                                       "test_images", "test_labels")}, tmp)
        os.replace(tmp, cache)
    finally:
        tmp.unlink(missing_ok=True)


def identify(source: str) -> tuple[str, str]:
    """(name, SHA-256 of decoded pixels and labels) of `source`, without decoding it where it is known:
    the identities of CIFAR-10 (whichever file holds it: loading it checks the hash) and of the JPEG copy
    are fixed; a tree streamed from disk is identified by its file list (`tree_identity`); other sources
    are loaded (from the decode cache when there)."""
    if str(source) == "cifar10":
        return "cifar10", CIFAR10_SHA256
    if str(source) == "cifar10-jpeg":
        return KNOWN_DATASETS[JPEG_SHA256][0], JPEG_SHA256
    if streams_from_disk(source):
        identity = tree_identity(Path(source))
        return identity["name"], identity["sha256"]
    dataset = load_dataset(source)
    return dataset.name, dataset.sha256


def identify_each(sources) -> dict[str, tuple[str, str]]:
    """{source: (name, SHA-256)} for the distinct `sources`, each identified once (`identify`)."""
    return {source: identify(source) for source in dict.fromkeys(sources)}


def load_dataset(source: str, download: bool = False) -> ImageDataset:
    """Load `source`: "cifar10", "cifar10-jpeg", "synthetic", or a path (cifar-10-batches-py folder or
    ImageFolder tree). A missing or incomplete data set raises ConfigError saying where it looked and
    how to get it. An ImageFolder tree is decoded once and cached under CACHE_DIR.
    """
    folder = locate(source, download)
    if folder is None:
        return synthetic_dataset()
    if folder.suffix == ".npz":
        return _load_lossless_archive(folder)
    if source == "cifar10" or (folder / "data_batch_1").exists():
        dataset = _load_cifar_pickles(folder)
        if source == "cifar10" and dataset.sha256 != CIFAR10_SHA256:
            raise ConfigError(f"{folder} holds data whose content hash {dataset.sha256[:12]}… is not CIFAR-10's "
                              f"{CIFAR10_SHA256[:12]}…; delete the folder and download it again (--download), or "
                              f"pass its path as --data to train on it as another data set")
        return dataset
    dataset = _cached(folder)
    if source == "cifar10-jpeg" and dataset.sha256 != JPEG_SHA256:
        raise ConfigError(f"{folder} does not hold the JPEG copy of CIFAR-10 (its pixels hash to "
                          f"{dataset.sha256[:12]}…); delete the folder and it is extracted again")
    return dataset


def _cached(root: Path) -> ImageDataset:
    """`_load_image_folder(root)` through a cache file named by the tree's path, file names, sizes and times."""
    listing = hashlib.sha256(str(root.resolve()).encode())
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        listing.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    cache = CACHE_DIR / "datasets" / f"{listing.hexdigest()[:16]}.pt"
    dataset = _read_cache(cache)
    if dataset is None:
        dataset = _load_image_folder(root)
        _write_cache(cache, dataset)
    dataset.origin = root.name
    return dataset


def _load_cifar_pickles(folder: Path) -> ImageDataset:
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


def _load_image_folder(root: Path) -> ImageDataset:
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


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random train/validation split of range(n): (train indices, validation indices), sorted.

    val_fraction 0.1 of CIFAR-10's 50,000 training images gives the paper's 45k/5k split.
    """
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}; 0.1 is the paper's 45k/5k split")
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
