"""ImageNet-style training on a tiny generated ImageFolder: augmentation, 10-crop testing, exact resume."""

import multiprocessing
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_lib.config import ConfigError, TrainConfig
from resnet_lib.data.imagenet import TEST_TRANSFORM, TRAIN_TRANSFORM, VAL_TRANSFORM, ImageFolderPipeline
from resnet_lib.training.train import train


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-imagenet")
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2)):
        for c, name in enumerate(["n01", "n02", "n03"]):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(60 + 60 * c, 30, (72, 96, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.jpg")
    return root


def test_paper_augmentation_and_ten_crop_shapes():
    image = Image.fromarray(np.zeros((300, 400, 3), np.uint8))
    assert TRAIN_TRANSFORM(image).shape == (3, 224, 224)
    assert VAL_TRANSFORM(image).shape == (3, 224, 224)
    assert TEST_TRANSFORM(image).shape == (10, 3, 224, 224)


def test_imagenet_training_records_ten_crop_test_error_and_resumes_exactly(tree, tmp_path):
    config = TrainConfig(arch="imagenet-resnet18", data=str(tree), iterations=4, eval_every=2, batch_size=4, val_fraction=0.25)
    before = set(multiprocessing.active_children())
    straight = train(config, out_dir=tmp_path / "a", device="cpu", progress=False)
    assert set(multiprocessing.active_children()) <= before  # its data-loading workers stopped with it
    summary = straight.summary()
    assert summary["data"]["name"] == "imagefolder:" + tree.name and summary["data"]["test_size"] == 6
    assert summary["params"] == 11_515_688 - (512 * 1000 + 1000) + (512 * 3 + 3)  # ResNet-18 A, 3-way fc
    assert 0 <= summary["final"]["test_error"] <= 100 and summary["layer_responses"] is None
    assert straight.metrics()["iteration"].tolist() == [2, 4]
    train(config, out_dir=tmp_path / "b", device="cpu", stop_at=3, progress=False)
    resumed = train(config, out_dir=tmp_path / "b", device="cpu", resume=True, progress=False)
    a = torch.load(straight.weights_file, weights_only=True)
    b = torch.load(resumed.weights_file, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_val_folder_is_a_clear_error(tmp_path):
    (tmp_path / "train" / "n01").mkdir(parents=True)
    with pytest.raises(ConfigError, match="expected .*/val/<class>"):
        ImageFolderPipeline(tmp_path, 4, 0, 0.0, 0, torch.device("cpu"))
    with pytest.raises(ConfigError):
        train(replace(TrainConfig(arch="imagenet-resnet18", data=str(tmp_path))), out_dir=tmp_path / "r", device="cpu")


def test_the_source_chooses_the_pipeline_and_a_net_it_cannot_feed_is_a_clear_error(tree, tmp_path):
    from resnet_lib.data.sources import identify, streams_from_disk
    from resnet_lib.training.runtime import make_pipeline

    small = tmp_path / "small"  # a CIFAR-shaped ImageFolder tree: held in memory
    for split in ("train", "test"):
        (small / split / "a").mkdir(parents=True)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(small / split / "a" / "0.png")
    assert streams_from_disk(str(tree)) and not streams_from_disk(str(small)) and not streams_from_disk("cifar10")
    cpu = torch.device("cpu")
    pipeline = make_pipeline(TrainConfig(arch="imagenet-resnet18", data=str(tree), batch_size=4), cpu)
    assert isinstance(pipeline, ImageFolderPipeline) and pipeline.mean.shape == (3, 1, 1)
    assert identify(str(tree))[1] == pipeline.identity()["sha256"]  # the file list, without decoding the tree
    with pytest.raises(ConfigError, match="resnet20 is a CIFAR net"):
        make_pipeline(TrainConfig(arch="resnet20", data=str(tree)), cpu)
    with pytest.raises(ConfigError, match="imagenet-resnet18 takes 224x224 crops"):
        make_pipeline(TrainConfig(arch="imagenet-resnet18", data="synthetic"), cpu)
