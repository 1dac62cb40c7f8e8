"""The lesion study on tiny nets: a deleted block is the net built without it, deleting nothing is the intact
net, a plain block that changes the shape is refused, and a recorded study says what it measured."""

import json

import pytest
import torch

from resnet_lib.config import TrainConfig
from resnet_lib.errors import ConfigError
from resnet_lib.models.resnet import BasicBlock, ResNet, build_model
from resnet_lib.training.lesion import LESION_FILE, Deleted, blocks, deleted, error_of, lesion_study
from resnet_lib.training.train import train


def _without(model, stage: int, index: int, kind: str) -> ResNet:
    """`model` (a CIFAR net with 2 blocks per stage) built without block `index` of `stage`, its other weights copied."""
    layers = [2, 2, 2]
    layers[stage] -= 1
    smaller = ResNet(BasicBlock, tuple(layers), (16, 32, 64), "cifar", "A" if kind == "resnet" else None, 10)
    state = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "layers" and int(parts[1]) == stage:
            if int(parts[2]) == index:
                continue
            parts[2] = str(int(parts[2]) - (int(parts[2]) > index))
        state[".".join(parts)] = value
    smaller.load_state_dict(state)
    return smaller.eval()


@pytest.mark.parametrize("kind", ["resnet", "plain"])
def test_a_deleted_block_gives_the_output_of_the_net_built_without_it(kind):
    torch.manual_seed(0)
    model = build_model(f"{kind}14").eval()
    for m in model.modules():  # BN statistics away from the identity, so that a wrong deletion shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(4, 3, 32, 32)
    intact = model(x)
    for stage, index in [(0, 1), (1, 1), (2, 1)] + ([(0, 0)] if kind == "resnet" else []):
        with torch.no_grad(), deleted(model, [f"layers.{stage}.{index}"]):
            assert torch.allclose(model(x), _without(model, stage, index, kind)(x), atol=1e-5)
    assert torch.equal(model(x), intact)  # intact again after the `with`


def test_a_plain_block_that_changes_the_shape_is_refused_and_the_study_says_why():
    model = build_model("plain14").eval()
    with pytest.raises(ConfigError, match="a plain block that changes the shape .* cannot be deleted"):
        Deleted(model.layers[1][0])
    batches = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    study = lesion_study(model, batches, draws=2)
    assert study["intact"] == error_of(model, batches)  # deleting nothing is the intact net
    refused = [s["block"] for s in study["single"] if s["error"] is None]
    assert refused == ["layers.1.0", "layers.2.0"] and all("cannot be deleted" in s["why"] for s in study["single"]
                                                            if s["error"] is None)
    assert [r["k"] for r in study["random"]] == [2, 2, 3, 3, 4, 4]  # 4 removable blocks: k from 2 to 4, 2 draws each
    assert all(set(r["blocks"]) <= set(blocks(model)) - set(refused) for r in study["random"])


def test_the_lesion_command_records_its_study_beside_the_run(tmp_path, cli):
    run = train(TrainConfig(arch="resnet8", data="synthetic", iterations=20, eval_every=10, batch_size=32,
                            val_fraction=0.0), out_dir=tmp_path, device="cpu", progress=False)
    code, out, err = cli("lesion", str(run.path), "--draws", "1", "--record", "--device", "cpu")
    assert code == 0, err
    recorded = json.loads((run.path / LESION_FILE).read_text())
    assert recorded == json.loads(out.splitlines()[1])
    assert recorded["net"] == "resnet8" and recorded["data"] == "synthetic" and recorded["test_size"] == 1000
    assert abs(recorded["intact"] - run.summary()["final"]["test_error"]) < 0.5  # fp32 here, the run's own precision there
    assert [s["label"] for s in recorded["single"]] == ["stage 1, block 1", "stage 2, block 1", "stage 3, block 1"]
    assert [r["k"] for r in recorded["random"]] == [2, 3]
    code, _, err = cli("lesion", str(tmp_path / "nothing-here"))
    assert code == 2 and "is neither a run folder nor a published model" in err


def test_the_claims_say_whether_a_study_shows_what_veit_et_al_find():
    from resnet_lib.report.claims import lesion_claims

    def study(intact, rises, random=()):
        single = [{"block": f"layers.{i // 3}.{i % 3}", "error": None if r is None else intact + r} for i, r in enumerate(rises)]
        return {"intact": intact, "blocks": len(rises), "single": single, "draws": 2,
                "random": [{"k": k, "error": e} for k, e in random]}

    resnet = study(7.0, [0.1, 0.3, 0.2, 5.0, 0.4, 0.2, 6.0, 0.3, 0.1], [(2, 8.0), (2, 9.0), (3, 10.0), (3, 12.0)])
    steep = study(7.0, [0.1, 0.3, 0.2, 5.0, 0.4, 0.2, 6.0, 0.3, 0.1], [(2, 60.0), (2, 70.0), (3, 62.0), (3, 64.0),
                                                                         (4, 80.0), (4, 82.0)])
    plain = study(9.0, [70.0, 80.0, 75.0, None, 81.0, 60.0, None, 72.0, 80.0])
    lines = lesion_claims({"ResNet-20": resnet, "plain-20": plain})
    assert lines[0] == ("- *ResNet-20* (intact 7.00%): deleting one block that keeps the resolution raises the error by a "
                        "median of 0.20 points (at most 0.40, over 7 blocks); deleting one that changes it, by 5.00 and "
                        "6.00 points: as Veit et al. find (their net was a 110-layer ResNet of 54 blocks; this one has 9).")
    assert lines[1].endswith("goes from 8.50% at 2 blocks to 11.00% at 3, rising at every step: a gradual rise, as Veit "
                             "et al. find.")
    assert lines[2] == ("- *plain-20* (intact 9.00%): deleting one block of the 7 that can be deleted gives a median test "
                        "error of 84.00% (from 69.00% to 90.00%; chance is 90%): it collapses, as Veit et al. find of "
                        "plain nets.")
    assert lesion_claims({"ResNet-20": steep})[1].endswith(
        "rising but for 1 dip within the draws' spread: 78% of the whole rise already at 2 blocks: not the gradual rise "
        "Veit et al. find.")
    flat = study(7.0, [3.0] * 9)
    assert "not what Veit et al. find" in lesion_claims({"ResNet-20": flat})[0]


def test_a_net_not_yet_published_is_stood_in_for_by_its_shorter_real_data_run_labelled_so(tmp_path, monkeypatch):
    from dataclasses import asdict

    from resnet_lib.data.datasets import CIFAR10_SHA256, JPEG_SHA256
    from resnet_lib.report import notebook as nb
    from resnet_lib.training import hub

    monkeypatch.setattr(hub, "PUBLISHED_DIR", tmp_path / "published")
    (tmp_path / "published").mkdir()
    for name, schedule, sha in [("plain20-1-8", "1/8", CIFAR10_SHA256), ("plain20-1-2", "1/2", CIFAR10_SHA256),
                                ("plain20-jpeg", "full", JPEG_SHA256)]:
        card = hub.ModelCard(name, "plain20", None, f"run-{name}", 1, 1, schedule, schedule == "full",
                             "cifar10" if sha == CIFAR10_SHA256 else "cifar10-jpeg", sha, "bf16", "cpu", 0, 15.0, 15.0,
                             None, "0" * 64)
        (tmp_path / "published" / f"{name}.json").write_text(json.dumps(asdict(card)))
        (tmp_path / "results" / card.run).mkdir(parents=True)
        (tmp_path / "results" / card.run / LESION_FILE).write_text(json.dumps({"net": "plain20", "from": name}))
    req = nb.request("cifar10", "full", "cpu", str(tmp_path / "results"), train_missing=False)
    studies, missing = nb.lesion_studies(req, ["plain20", "plain56"], draws=5)
    assert {label: s["from"] for label, s in studies.items()} == {"plain-20 (cifar10, 1/2 schedule)": "plain20-1-2"}
    assert missing == ["# plain20: not published yet (its weights were not kept); train it again and publish it "
                       "(plain20-1-2, 1/2 of the schedule, stands in)",
                       "# plain56: not published yet (its weights were not kept); train it again and publish it"]
