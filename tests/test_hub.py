"""Published weights through torch.hub, offline: entry points, clear errors, publish-then-load, cards that hold."""

import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_lib.config import ConfigError, TrainConfig, schedule_settings
from resnet_lib.data.sources import locate
from resnet_lib.models.resnet import parse_arch
from resnet_lib.training import hub
from resnet_lib.training.evaluation import evaluate
from resnet_lib.training.runtime import make_pipeline
from resnet_lib.training.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = TrainConfig(arch="resnet8", data="synthetic", iterations=40, eval_every=20, batch_size=32, val_fraction=0.05)


def test_entry_points_load_offline_from_a_checkout_and_list_from_the_hub_cache(tmp_path):
    model = torch.hub.load(str(ROOT), "resnet56", source="local")
    assert sum(p.numel() for p in model.parameters()) == 853_018 and model.training  # untrained, any depth
    assert sum(p.numel() for p in torch.hub.load(str(ROOT), "cifar_net", source="local", depth=26).parameters()) > 0
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "owner_resnet_lib_main").symlink_to(ROOT)  # where torch.hub keeps a downloaded repository
    code = ("import torch; print(' '.join(torch.hub.list('owner/resnet_lib:main', skip_validation=True, "
            "trust_repo=True, verbose=False)))")
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TORCH_HOME": str(tmp_path)}).stdout.split()
    assert {"resnet20", "resnet1202", "plain56", "preact_resnet110", "imagenet_resnet50", "cifar_net"} <= set(listed)
    assert not any(name.startswith("_") or name == "entry_points" for name in listed)


def test_pretrained_weights_that_are_not_published_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "PUBLISHED_DIR", tmp_path)
    with pytest.raises(ConfigError, match="no trained weights are published for resnet32; published: none yet"):
        torch.hub.load(str(ROOT), "resnet32", source="local", pretrained=True)


def test_a_published_run_loads_in_one_line_and_its_card_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "PUBLISHED_DIR", tmp_path / "published")
    run = train(TINY, out_dir=tmp_path / "results", device="cpu", progress=False)
    card = hub.publish(run.path)
    assert card.file.stat().st_size < hub.MAX_FILE_BYTES and card.run == run.path.name and card.params == 75290
    assert abs(card.test_error - run.summary()["final"]["test_error"]) <= 0.5  # fp16 weights, same predictions nearly
    assert card.name == "resnet8-synthetic-40it"  # a model not trained on real CIFAR-10 names its data, a short run its length
    assert hub.cards()[card.name] == card and json.loads((tmp_path / "published" / f"{card.name}.json").read_text())["seed"] == 0

    model = hub.load("resnet8", pretrained=True)  # what the resnet20, ... entry points do for their architectures
    assert not model.training
    pipeline = make_pipeline(run.config(), torch.device("cpu"))
    images = pipeline.dataset.test_images[:16]
    with torch.no_grad():
        ours = model(hub.preprocess("resnet8")(images))  # uint8 or [0, 1] images in, as users have them
        reference = model(next(pipeline.eval_batches("test"))[0][:16])
    assert torch.allclose(ours, reference, atol=1e-4)

    # the same net published again as if trained on real CIFAR-10: that becomes the default, the other is named
    real = json.loads((tmp_path / "published" / f"{card.name}.json").read_text()) | {"name": "resnet8", "data": "cifar10"}
    (tmp_path / "published" / "resnet8.json").write_text(json.dumps(real))
    (tmp_path / "published" / "resnet8.pt").write_bytes(card.file.read_bytes())
    assert hub.card_for("resnet8").name == "resnet8" and hub.card_for("resnet8", card.name) == card
    assert not hub.load("resnet8", weights=card.name).training
    with pytest.raises(ConfigError, match=f"weights 'resnet8-jpeg' of resnet8 are not published; published: {card.name} "):
        hub.load("resnet8", weights="resnet8-jpeg")


def test_the_default_published_weights_are_those_trained_on_real_cifar10():
    published = hub.cards().values()
    for arch in {c.arch for c in published if c.data == "cifar10"}:
        assert hub.card_for(arch).data == "cifar10"
    assert any(c.data == "cifar10" for c in published)  # the replication's weights are published


def _cheapest_of_each_kind() -> list:
    """The published model with the fewest multiply-adds of each (kind, shortcut, data): those whose card's
    test error the tests measure again (a ResNet-20 takes 7 s on 2 cores, a ResNet-110 about five times as
    long). A deeper one of the same kind runs the same blocks, and its file is held to its card's checksum."""
    cheapest = {}
    for card in sorted(hub.cards().values(), key=lambda c: (c.macs, c.name)):
        cheapest.setdefault((parse_arch(card.arch).kind, card.shortcut, card.data), card)
    return list(cheapest.values())


@functools.lru_cache
def _pipeline(data: str, val_fraction: float):
    """The pipeline of a published model's data and split (its mean image), or None where that data is absent."""
    try:
        locate(data)
    except ConfigError:
        return None
    return make_pipeline(TrainConfig(data=data, val_fraction=val_fraction), torch.device("cpu"))


@pytest.mark.parametrize("card", list(hub.cards().values()), ids=lambda c: c.name)
def test_each_published_file_is_the_one_its_card_names_from_the_run_it_names(card):
    assert hashlib.sha256(card.file.read_bytes()).hexdigest() == card.file_sha256
    run = ROOT / "results" / card.run
    summary, trained = (json.loads((run / f).read_text()) for f in ("summary.json", "config.json"))
    assert (card.arch, card.shortcut, card.seed, card.data, card.data_sha256) == (
        trained["arch"], trained["shortcut"], trained["seed"], summary["data"]["name"], trained["data_sha256"])
    assert card.recorded_test_error == round(summary["final"]["test_error"], 2) and card.params == summary["params"]
    model = hub.load(card.arch, weights=card.name)  # loads strictly into its architecture
    assert sum(p.numel() for p in model.parameters()) == card.params and not model.training
    pipeline = _pipeline(card.data, trained["val_fraction"])
    if pipeline is not None:  # the data it was trained on, and the mean image its preprocessing subtracts
        assert pipeline.identity()["sha256"] == card.data_sha256
        assert torch.equal(hub.preprocess(card.arch, card.name).mean, pipeline.mean)


@pytest.mark.parametrize("card", _cheapest_of_each_kind(), ids=lambda c: c.name)
def test_a_published_model_of_each_kind_reproduces_its_cards_test_error_through_the_hub(card):
    trained = json.loads((ROOT / "results" / card.run / "config.json").read_text())
    pipeline = _pipeline(card.data, trained["val_fraction"])
    if pipeline is None:
        pytest.skip(f"{card.data} is not on this machine")
    model = hub.load(card.arch, weights=card.name)
    assert round(evaluate(model, pipeline.eval_batches("test"))[1], 2) == card.test_error


def test_a_published_model_tested_on_other_images_is_recorded_beside_its_run(tmp_path, monkeypatch, cli):
    """`evaluate published/<name>.pt --data D --record`: the model through its own preprocessing on D's test
    images (on its own data, exactly its card's error), written beside its run under D's name."""
    monkeypatch.setattr(hub, "PUBLISHED_DIR", tmp_path / "published")
    monkeypatch.chdir(tmp_path)
    run = train(TINY, out_dir=tmp_path / "results", device="cpu", progress=False)
    card = hub.publish(run.path)
    code, out, err = cli("evaluate", str(card.file), "--data", "synthetic", "--record", "--device", "cpu")
    assert code == 0, err
    result = json.loads(out)
    assert result["test_error"] == card.test_error and result["weights_sha256"] == card.file_sha256
    recorded = json.loads((run.path / hub.TESTED_ELSEWHERE).read_text())
    assert recorded == {"synthetic": result} and recorded["synthetic"]["test_size"] == 1000
    code, _, err = cli("evaluate", str(card.file))
    assert code == 2 and "is a published model: its card holds its test error on its own data; pass --data" in err
    code, _, err = cli("evaluate", str(run.weights_file), "--record")
    assert code == 2 and "--record is for a published model" in err


def test_a_run_is_published_under_its_architecture_and_what_sets_it_apart_from_the_reported_models():
    assert hub.published_name(TrainConfig(arch="resnet20", val_fraction=0.0), "cifar10") == "resnet20"
    assert hub.published_name(TrainConfig(arch="plain56", seed=2, val_fraction=0.0), "cifar10") == "plain56-seed2"
    assert hub.published_name(TrainConfig(arch="resnet20", val_fraction=0.1), "cifar10") == "resnet20-val0.1"
    assert hub.published_name(TrainConfig(arch="resnet56", val_fraction=0.1), "cifar10-jpeg") == "resnet56-jpeg"
    assert hub.published_name(TrainConfig(arch="plain20", val_fraction=0.0, **schedule_settings("1/8")), "cifar10") == "plain20-1-8"
