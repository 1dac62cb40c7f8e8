"""Where data sets are found, by name or path, loaded (through a decode cache) and identified.

`--data` takes a named source (SOURCES: "cifar10", the real CIFAR-10 from the official
cifar-10-batches-py in data/ or else the lossless archive beside the project; "cifar10-jpeg", its lossy
JPEG copy; "synthetic", generated data for tests) or a path (a cifar-10-batches-py folder, an ImageFolder
tree, the lossless archive). Adding a named source is one loading function and one entry in SOURCES.
A missing or damaged data set raises ConfigError saying where it looked and how to get it.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import ConfigError
from .datasets import (CIFAR10_CLASSES, CIFAR10_SHA256, JPEG_ARCHIVE_SHA256, JPEG_SHA256, KNOWN_DATASETS, ImageDataset,
                       read_cifar_pickles, read_image_folder, synthetic_dataset, tree_identity)

DATA_DIR = Path(os.environ.get("RESNET_LIB_DATA", "data"))
CACHE_DIR = Path(os.environ.get("RESNET_LIB_CACHE", Path.home() / ".cache" / "resnet_lib"))  # decoded data sets
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # beside the project (its README)
LOSSLESS_ARCHIVE = Path(os.environ.get("RESNET_LIB_LOSSLESS_ARCHIVE", SHARED_DATA / "cifar10-lossless.npz"))
LOSSLESS_ARCHIVE_SHA256 = "e9451d4bff5097b86cbdad82b688ff962f3336655236dfca577f1ef766775f38"
# The JPEG copy of CIFAR-10 beside the project: data source "cifar10-jpeg", extracted from its archive
# into data/cifar10-jpeg when first needed.
JPEG_ARCHIVE = Path(os.environ.get("RESNET_LIB_JPEG_ARCHIVE", SHARED_DATA / "cifar10-jpeg.tar.gz"))
IN_MEMORY_MAX_SIDE = 64  # px: an ImageFolder tree of larger images is streamed from disk, not held in memory


@dataclass(frozen=True)
class NamedSource:
    """A data set known by name (`--data NAME`). `locate(download)`: where it is on this machine (None where it is
    generated), or ConfigError saying how to get it (`download`: fetch it if it can be); `load(where)`: the data
    set read from there, checked; `summary`: what it is, for --data's help; `sha256`: of its decoded pixels and
    labels where fixed (then it is identified without decoding); `published_suffix`: what a published model's
    name adds (None: "-<name>"); `recorded`: whether runs on it belong in results/ (else results/smoke/)."""

    locate: Callable[[bool], Path | None]
    load: Callable[[Path | None], ImageDataset]
    summary: str
    sha256: str | None = None
    published_suffix: str | None = None
    recorded: bool = True


def _locate_cifar10(download: bool) -> Path:
    """data/cifar-10-batches-py where it is there, else the lossless archive beside the project (a .npz file);
    with `download`, a missing official CIFAR-10 is fetched through torchvision (needs internet)."""
    folder = DATA_DIR / "cifar-10-batches-py"
    if folder.exists():
        return folder
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


def _load_cifar10(where: Path) -> ImageDataset:
    """CIFAR-10 from the lossless archive or the official batches, checked against its content hash."""
    if where.suffix == ".npz":
        return _load_lossless_archive(where)
    dataset = read_cifar_pickles(where)
    if dataset.sha256 != CIFAR10_SHA256:
        raise ConfigError(f"{where} holds data whose content hash {dataset.sha256[:12]}… is not CIFAR-10's "
                          f"{CIFAR10_SHA256[:12]}…; delete the folder and download it again (--download), or "
                          f"pass its path as --data to train on it as another data set")
    return dataset


def _load_jpeg_copy(where: Path) -> ImageDataset:
    """The JPEG copy from its extracted tree (through the decode cache), checked against its content hash."""
    dataset = _cached(where)
    if dataset.sha256 != JPEG_SHA256:
        raise ConfigError(f"{where} does not hold the JPEG copy of CIFAR-10 (its pixels hash to "
                          f"{dataset.sha256[:12]}…); delete the folder and it is extracted again")
    return dataset


SOURCES: dict[str, NamedSource] = {  # --data NAME -> its source
    "cifar10": NamedSource(_locate_cifar10, _load_cifar10, "real CIFAR-10: data/cifar-10-batches-py, else the lossless "
                           "archive beside the project", CIFAR10_SHA256, published_suffix=""),
    "cifar10-jpeg": NamedSource(lambda download: _extract_jpeg_copy(), _load_jpeg_copy, "the lossy JPEG copy",
                                JPEG_SHA256, published_suffix="-jpeg"),
    "synthetic": NamedSource(lambda download: None, lambda where: synthetic_dataset(), "generated data, for tests",
                             recorded=False),
}


def recorded(source: str) -> bool:
    """Whether runs on `source` belong in the record (results/): all but generated test data."""
    named = SOURCES.get(str(source))
    return named is None or named.recorded


def real_cifar10_here() -> bool:
    """Whether real CIFAR-10 is on this machine: the official arrays in data/ or the lossless archive."""
    return (DATA_DIR / "cifar-10-batches-py").exists() or LOSSLESS_ARCHIVE.is_file()


def default_source() -> str:
    """The CIFAR-10 a notebook means by "auto": the real one where it is here, else the JPEG copy."""
    return "cifar10" if real_cifar10_here() else "cifar10-jpeg"


def locate(source: str, download: bool = False) -> Path | None:
    """Where `source` (a name in SOURCES or a path) is on this machine; None for generated data. Raises
    ConfigError saying where it looked and how to get the data set."""
    source = str(source)
    if source in SOURCES:
        return SOURCES[source].locate(download)
    path = Path(source)
    if path.suffix == ".npz" and path.is_file():
        return path  # the lossless CIFAR-10 archive, found elsewhere
    if path.name.endswith((".tar.gz", ".tgz")):
        raise ConfigError(f"{path} is an archive; extract it first: tar xzf {path} -C {DATA_DIR}/ (see data/README.md)")
    if (path / "data_batch_1").exists() or ((path / "train").is_dir() and (path / "test").is_dir()):
        return path
    raise ConfigError(
        f"no data set at {path}{'' if path.exists() else ' (not found)'}: expected {', '.join(map(repr, SOURCES))}, a "
        f"cifar-10-batches-py folder (data_batch_1..5, test_batch) or an ImageFolder tree with train/ and test/ "
        f"(see data/README.md)"
    )


def streams_from_disk(source: str) -> bool:
    """Whether `source` is an ImageNet-style tree (train/<class>/ of images larger than IN_MEMORY_MAX_SIDE
    px), which is streamed from disk, rather than a data set of small images held in memory."""
    path = Path(str(source))
    if str(source) in SOURCES or not (path / "train").is_dir():
        return False
    first = next((f for d in sorted((path / "train").iterdir()) if d.is_dir() for f in sorted(d.iterdir())
                  if f.suffix.lower() in (".jpg", ".jpeg", ".png")), None)
    if first is None:
        return False
    from PIL import Image

    with Image.open(first) as image:  # reads the header only
        return max(image.size) > IN_MEMORY_MAX_SIDE


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


def identify(source: str, loaded: dict[str, ImageDataset] | None = None) -> tuple[str, str]:
    """(name, SHA-256 of decoded pixels and labels) of `source`, without decoding it where it is known: a named
    source of fixed content (CIFAR-10, whichever file holds it: loading it checks the hash; the JPEG copy) by
    its hash; a tree streamed from disk by its file list (`tree_identity`); other sources are loaded (from the
    decode cache when there), into `loaded` (data sets by source) when given, where a pipeline finds them."""
    named = SOURCES.get(str(source))
    if named is not None and named.sha256:
        return str(source), named.sha256
    if streams_from_disk(source):
        identity = tree_identity(Path(source))
        return identity["name"], identity["sha256"]
    loaded = {} if loaded is None else loaded
    if source not in loaded:
        loaded[source] = load_dataset(source)
    return loaded[source].name, loaded[source].sha256


def identify_each(sources, loaded: dict[str, ImageDataset] | None = None) -> dict[str, tuple[str, str]]:
    """{source: (name, SHA-256)} for the distinct `sources`, each identified once (`identify`)."""
    return {source: identify(source, loaded) for source in dict.fromkeys(sources)}


def load_dataset(source: str, download: bool = False) -> ImageDataset:
    """Load `source`: a name in SOURCES, or a path (cifar-10-batches-py folder, ImageFolder tree, the lossless
    archive). A missing or incomplete data set raises ConfigError saying where it looked and how to get it. An
    ImageFolder tree is decoded once and cached under CACHE_DIR."""
    folder = locate(source, download)
    if str(source) in SOURCES:
        return SOURCES[str(source)].load(folder)
    if folder.suffix == ".npz":
        return _load_lossless_archive(folder)
    if (folder / "data_batch_1").exists():
        return read_cifar_pickles(folder)
    return _cached(folder)


def _cached(root: Path) -> ImageDataset:
    """`read_image_folder(root)` through a cache file named by the tree's path, file names, sizes and times."""
    listing = hashlib.sha256(str(root.resolve()).encode())
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        listing.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    cache = CACHE_DIR / "datasets" / f"{listing.hexdigest()[:16]}.pt"
    dataset = _read_cache(cache)
    if dataset is None:
        dataset = read_image_folder(root)
        _write_cache(cache, dataset)
    dataset.origin = root.name
    return dataset
