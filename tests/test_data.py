"""Data sources, the 45k/5k split, the paper's pre-processing and augmentation, batch order."""

import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from resnet_lib.config import ConfigError
from resnet_lib.data import sources as data_module
from resnet_lib.data.datasets import CIFAR10_CLASSES, CIFAR10_SHA256, synthetic_dataset
from resnet_lib.data.pipeline import TrainBatches, augment, mean_image, normalize, split_indices
from resnet_lib.data.sources import default_source, load_dataset

SHARED_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"
LOSSLESS_ARCHIVE = SHARED_ARCHIVE.with_name("cifar10-lossless.npz")


def test_paper_split_is_45k_5k_disjoint_and_fixed_by_its_seed():
    train, val = split_indices(50000, 0.1, seed=0)
    assert (len(train), len(val)) == (45000, 5000)
    assert len(set(train.tolist()) | set(val.tolist())) == 50000
    again_train, again_val = split_indices(50000, 0.1, seed=0)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)
    assert not torch.equal(val, split_indices(50000, 0.1, seed=1)[1])
    assert len(split_indices(50000, 0.0, seed=0)[1]) == 0  # train on all 50k


def test_mean_image_is_the_per_pixel_mean_in_unit_range():
    images = torch.randint(0, 256, (100, 3, 8, 8), dtype=torch.uint8)
    expected = images.numpy().astype(np.float64).mean(0) / 255
    assert np.allclose(mean_image(images).numpy(), expected, atol=1e-6)


def _reference_augment(image, mean, offset, flip):
    """One image, the obvious way: normalise, zero-pad 4, crop 32x32 at offset, flip."""
    x = F.pad(image.float() / 255 - mean, (4, 4, 4, 4))
    x = x[:, offset[0] : offset[0] + 32, offset[1] : offset[1] + 32]
    return x.flip(2) if flip else x


def test_batched_augmentation_equals_per_image_reference():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=g)
    mean = mean_image(images)
    offsets = torch.randint(0, 9, (16, 2), generator=g)
    flips = torch.rand(16, generator=g) < 0.5
    out = augment(images, mean, offsets, flips)
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.float32
    for i in range(16):
        assert torch.equal(out[i], _reference_augment(images[i], mean, offsets[i].tolist(), bool(flips[i])))


def test_centre_crop_without_flip_is_the_normalised_image_and_padding_is_the_mean():
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    mean = mean_image(images)
    centre = augment(images, mean, torch.full((2, 2), 4), torch.zeros(2, dtype=torch.bool))
    assert torch.equal(centre, normalize(images, mean))
    corner = augment(images, mean, torch.zeros(2, 2, dtype=torch.int64), torch.zeros(2, dtype=torch.bool))
    assert torch.count_nonzero(corner[:, :, :4, :]) == 0  # padded rows: zero after mean subtraction


def test_batches_are_a_function_of_seed_and_iteration_and_cover_each_epoch_once():
    data = synthetic_dataset((640, 10))
    mean = mean_image(data.train_images)
    a = TrainBatches(data.train_images, data.train_labels, mean, 64, seed=3)
    b = TrainBatches(data.train_images, data.train_labels, mean, 64, seed=3)
    for it in (7, 0, 12, 7):  # any order: no hidden state
        xa, ya = a.batch(it)
        xb, yb = b.batch(it)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a.batch(1)[0], a.batch(2)[0])
    # Each image is constant, its index written in channels 0 and 1; the centre pixel survives any crop.
    ids = torch.arange(640)
    images = torch.stack([ids // 256, ids % 256, torch.zeros(640, dtype=torch.int64)], 1)[:, :, None, None]
    images = images.expand(640, 3, 32, 32).to(torch.uint8).contiguous()
    zero_mean = torch.zeros(3, 32, 32)
    batches = TrainBatches(images, ids, zero_mean, 64, seed=3)
    seen = []
    for it in range(10):  # one epoch
        x, y = batches.batch(it)
        decoded = (x[:, 0, 16, 16] * 255).round().long() * 256 + (x[:, 1, 16, 16] * 255).round().long()
        assert torch.equal(decoded, y)
        seen += y.tolist()
    assert sorted(seen) == list(range(640))
    other_seed = TrainBatches(data.train_images, data.train_labels, mean, 64, seed=4)
    assert not torch.equal(other_seed.batch(0)[1], a.batch(0)[1])


def test_distributed_ranks_split_the_global_batch():
    data = synthetic_dataset((256, 10))
    mean = mean_image(data.train_images)
    whole = TrainBatches(data.train_images, data.train_labels, mean, 64, seed=0).batch(5)
    parts = [TrainBatches(data.train_images, data.train_labels, mean, 64, seed=0, rank=r, world=2).batch(5) for r in (0, 1)]
    assert torch.equal(torch.cat([p[0] for p in parts]), whole[0])
    assert torch.equal(torch.cat([p[1] for p in parts]), whole[1])


def test_synthetic_data_is_identical_every_time():
    a, b = synthetic_dataset(), synthetic_dataset()
    assert a.sha256 == b.sha256 and a.train_images.shape == (5000, 3, 32, 32) and a.test_images.shape == (1000, 3, 32, 32)
    assert a.train_labels.bincount().tolist() == [500] * 10


def _write_cifar_batch(path, n=10000, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, n).tolist()}, f)


def test_official_cifar10_pickles_load_with_shapes_checked(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        _write_cifar_batch(folder / name, seed=i)
    data = load_dataset(str(folder))
    assert data.name == "batches:cifar-10-batches-py"  # the official layout, not the official content
    assert data.train_images.shape == (50000, 3, 32, 32) and data.test_images.shape == (10000, 3, 32, 32)
    _write_cifar_batch(folder / "test_batch", n=10)
    with pytest.raises(ConfigError, match="not CIFAR-10's"):
        load_dataset(str(folder))
    (folder / "data_batch_3").unlink()
    with pytest.raises(ConfigError, match="data_batch_3 is missing"):
        load_dataset(str(folder))


def test_image_folder_tree_loads_in_class_order(tmp_path):
    for split in ("train", "test"):
        for label, name in enumerate(["cat", "airplane"]):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((32, 32, 3), 40 * label + i, np.uint8)).save(tmp_path / split / name / f"{i}.png")
    data = load_dataset(str(tmp_path))
    assert data.classes == ["airplane", "cat"]
    assert data.train_images.shape == (6, 3, 32, 32) and data.train_labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.train_images[0, 0, 0, 0] == 40  # "cat" was label 1 when written, airplane sorts first
    assert data.name == "imagefolder:" + tmp_path.name and len(data.sha256) == 64


@pytest.mark.parametrize("source, fragment", [
    ("cifar10", "pass --download"),
    ("/no/such/folder", "no data set at"),
    ("archive.tar.gz", "extract it first"),
])
def test_missing_data_sets_say_where_they_looked_and_how_to_get_them(source, fragment, tmp_path, monkeypatch):
    monkeypatch.setattr("resnet_lib.data.sources.DATA_DIR", tmp_path)
    monkeypatch.setattr("resnet_lib.data.sources.LOSSLESS_ARCHIVE", tmp_path / "cifar10-lossless.npz")
    with pytest.raises(ConfigError, match=fragment):
        load_dataset(source)


@pytest.mark.skipif(not SHARED_ARCHIVE.exists(), reason="the shared JPEG copy of CIFAR-10 is not beside this checkout")
def test_jpeg_copy_of_cifar10_is_recognised_and_labelled(tmp_path):
    subprocess.run(["tar", "xzf", str(SHARED_ARCHIVE), "-C", str(tmp_path)], check=True)
    data = load_dataset(str(tmp_path / "cifar10-jpeg"))
    assert data.name == "cifar10-jpeg" and "lossy JPEG copy" in data.description
    assert data.train_images.shape == (50000, 3, 32, 32) and data.test_images.shape == (10000, 3, 32, 32)
    assert data.train_labels.bincount().tolist() == [5000] * 10


def _write_npz(path, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(path, train_images=rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8), train_labels=np.arange(20) % 10,
             test_images=rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8), test_labels=np.arange(10),
             classes=np.array(CIFAR10_CLASSES))


@pytest.mark.parametrize("archive_sha256, fragment", [
    ("e9451d4bff5097b86cbdad82b688ff962f3336655236dfca577f1ef766775f38", "not the lossless CIFAR-10 archive's"),
    (None, "is not CIFAR-10's"),  # the archive's own checksum passes (made to), its content is not CIFAR-10
])
def test_a_damaged_or_foreign_lossless_archive_ends_in_one_line_and_leaves_nothing(
        archive_sha256, fragment, tmp_path, monkeypatch, cli):
    archive = tmp_path / "cifar10-lossless.npz"
    _write_npz(archive)
    monkeypatch.setattr("resnet_lib.data.sources.DATA_DIR", tmp_path / "data")
    monkeypatch.setattr("resnet_lib.data.sources.CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr("resnet_lib.data.sources.LOSSLESS_ARCHIVE", archive)
    monkeypatch.setattr("resnet_lib.data.sources.LOSSLESS_ARCHIVE_SHA256",
                        archive_sha256 or data_module._sha256_of_file(archive))
    assert default_source() == "cifar10"  # the archive is there: "auto" means real CIFAR-10
    code, out, err = cli("train", "--arch", "resnet8", "--data", "cifar10", "--iterations", "1", "--out", str(tmp_path / "r"))
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.*"))  # nothing half-written
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_official_layout_with_other_content_is_not_taken_for_cifar10(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        _write_cifar_batch(folder / name, seed=i)
    monkeypatch.setattr("resnet_lib.data.sources.DATA_DIR", tmp_path)
    with pytest.raises(ConfigError, match="is not CIFAR-10's"):
        load_dataset("cifar10")


@pytest.mark.skipif(not LOSSLESS_ARCHIVE.exists(), reason="the lossless CIFAR-10 archive is not beside this checkout")
def test_official_batches_written_from_the_lossless_archive_load_to_the_same_data(tmp_path, monkeypatch):
    archive = load_dataset(str(LOSSLESS_ARCHIVE))
    assert archive.name == "cifar10" and archive.sha256 == CIFAR10_SHA256 and "cifar10-lossless.npz" in archive.origin
    assert archive.train_labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # the official order (its README)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    images = torch.cat([archive.train_images, archive.test_images]).reshape(6, 10000, 3072).numpy()
    labels = torch.cat([archive.train_labels, archive.test_labels]).reshape(6, 10000).tolist()
    for name, x, y in zip(names, images, labels):  # the official pickle layout: rows of 3072 values, R then G then B
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": y, "data": x, "filenames": []}, f)
    monkeypatch.setattr("resnet_lib.data.sources.DATA_DIR", tmp_path)
    official = load_dataset("cifar10")  # data/cifar-10-batches-py comes before the archive
    assert official.origin == folder.name and official.sha256 == CIFAR10_SHA256
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(official, field), getattr(archive, field))
    assert official.identity() | {"origin": ""} == archive.identity() | {"origin": ""}


def test_no_committed_record_holds_a_machines_directories():
    """A record names its data file and checksum (and weights relative to the project), never where they lay."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = [f"{p.relative_to(root)}: {m}" for p in [*root.glob("results/**/*.json"), *root.glob("published/*.json")]
             for m in re.findall(r'"(/(?:work|root|home|tmp|Users|mnt|scratch)/[^"]*)"', p.read_text())]
    assert not found, found


def test_a_named_data_source_is_one_function_and_one_registry_entry(tmp_path, monkeypatch, cli):
    from resnet_lib.config import TrainConfig
    from resnet_lib.data.datasets import ImageDataset
    from resnet_lib.data.sources import SOURCES, NamedSource, identify
    from resnet_lib.runs.results import Run
    from resnet_lib.training.hub import published_name

    def load_tiny(where):
        small = synthetic_dataset((256, 64), seed=3)
        return ImageDataset("tiny", "a tiny generated set", small.classes, small.train_images, small.train_labels,
                            small.test_images, small.test_labels)

    monkeypatch.setitem(SOURCES, "tiny", NamedSource(lambda download: None, load_tiny, "a tiny generated set"))
    assert identify("tiny") == ("tiny", load_tiny(None).sha256)
    code, out, err = cli("train", "--arch", "resnet8", "--data", "tiny", "--iterations", "4", "--eval-every", "2",
                         "--batch-size", "32", "--val-fraction", "0", "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    run = Run(out.split(":")[0])
    assert run.summary()["data"]["name"] == "tiny" and run.summary()["data"]["sha256"] == load_tiny(None).sha256
    assert published_name(TrainConfig(arch="resnet20", data="tiny"), "tiny") == "resnet20-tiny"
