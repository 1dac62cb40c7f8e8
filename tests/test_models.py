"""Architectures and their accounting against the paper (Tables 1 and 6) and torchvision."""

import json
import subprocess
import sys

import pytest
import torch
import torchvision
from torch import nn

from resnet_lib import ConfigError, build_model, count_params, describe
from resnet_lib.models.resnet import ZeroPadShortcut

# Table 6: params of ResNet-(6n+2) as the paper rounds them.
TABLE6_PARAMS = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M", 1202: "19.4M"}
# Exact counts of our option-A nets (16-32-64 filters, 10-way fc): the numbers every
# faithful reimplementation reports, e.g. 269,722 for ResNet-20.
EXACT_CIFAR_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962, 1202: 19_421_274}
# Table 1: FLOPs (multiply-adds) at 224x224.
TABLE1_MACS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}


@pytest.mark.parametrize("depth", sorted(TABLE6_PARAMS))
def test_cifar_param_counts_match_table6(depth):
    info = describe(f"resnet{depth}")
    assert info["params"] == EXACT_CIFAR_PARAMS[depth]
    paper = TABLE6_PARAMS[depth]
    digits = len(paper.split(".")[1]) - 1  # the paper's precision
    assert f"{info['params'] / 1e6:.{digits}f}M" == paper
    assert info["layers"] == depth


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_plain_and_option_a_residual_nets_have_identical_params(depth):
    assert describe(f"plain{depth}")["params"] == describe(f"resnet{depth}", "A")["params"]
    assert describe(f"plain{depth}")["layers"] == depth


def test_shortcut_options_add_projections_where_the_paper_says():
    a, b, c = (build_model("resnet20", s) for s in "ABC")
    projections = lambda m: sum(isinstance(x, nn.Sequential) and isinstance(x[0], nn.Conv2d) for x in m.modules())  # noqa: E731
    assert projections(a) == 0
    assert projections(b) == 2  # stage 2 and stage 3 entries only
    assert projections(c) == 9  # all 3n shortcuts
    # B adds two 1x1 projections + BN: 16*32 + 2*32 and 32*64 + 2*64 parameters.
    assert count_params(b) - count_params(a) == (16 * 32 + 64) + (32 * 64 + 128)


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_imagenet_option_b_params_equal_torchvision(depth):
    ours = describe(f"imagenet-resnet{depth}", "B")["params"]
    with torch.device("meta"):
        theirs = sum(p.numel() for p in getattr(torchvision.models, f"resnet{depth}")().parameters())
    assert ours == theirs


@pytest.mark.parametrize("depth", sorted(TABLE1_MACS))
def test_imagenet_macs_within_3_percent_of_table1(depth):
    info = describe(f"imagenet-resnet{depth}")
    assert abs(info["macs"] / TABLE1_MACS[depth] - 1) < 0.03
    assert info["layers"] == depth


@pytest.mark.parametrize("depth", [18, 34])
def test_imagenet_plain_nets_match_option_a_resnets(depth):
    plain, res = describe(f"imagenet-plain{depth}"), describe(f"imagenet-resnet{depth}", "A")
    assert (plain["params"], plain["macs"], plain["layers"]) == (res["params"], res["macs"], depth)


def test_bottleneck_nets_subsample_in_the_first_1x1_as_in_the_paper():
    model = build_model("imagenet-resnet50")
    block = model.layers[1][0]
    assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)


@pytest.mark.parametrize("arch", ["resnet8", "plain14", "preact-resnet20", "resnet20"])
def test_cifar_forward_shape_and_finite(arch):
    model = build_model(arch)
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 10) and torch.isfinite(out).all()


def test_imagenet_forward_shape():
    model = build_model("imagenet-resnet18", num_classes=7)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_zero_pad_shortcut_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 16, 8, 8)
    y = ZeroPadShortcut(16, 32, 2)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0


def test_he_initialisation_and_bn_identity():
    model = build_model("resnet56")
    conv = model.layers[2][0].conv2  # 64 filters, 3x3: fan_out = 576
    assert abs(conv.weight.std().item() - (2 / 576) ** 0.5) < 0.01
    bn = model.layers[0][0].bn1
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.count_nonzero(bn.bias) == 0


@pytest.mark.parametrize(
    "arch, shortcut, fragment",
    [
        ("resnet21", None, r"not 6n\+2"),
        ("resnet2", None, r"not 6n\+2"),
        ("plain0", None, r"not 6n\+2"),
        ("resnet20", "D", "unknown shortcut option"),
        ("vgg16", None, "unknown architecture"),
        ("imagenet-resnet20", None, "not an ImageNet architecture"),
        ("imagenet-plain50", None, "not an ImageNet architecture"),
        ("plain20", "B", "has no shortcuts"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(arch, shortcut, fragment):
    with pytest.raises(ValueError, match=fragment):
        build_model(arch, shortcut)
    with pytest.raises(ConfigError, match=fragment):
        describe(arch, shortcut)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "resnet_lib", *args], capture_output=True, text=True)


def test_cli_describe_json():
    run = _cli("describe", "resnet110", "--json")
    assert run.returncode == 0
    info = json.loads(run.stdout)
    assert (info["params"], info["macs"], info["layers"]) == (1_727_962, 252_887_680, 110)
    assert all(isinstance(info[k], int) for k in ("params", "macs", "layers"))


@pytest.mark.parametrize("args", [("describe", "resnet21"), ("describe", "resnet20", "--shortcut", "D"), ("describe", "vgg16")])
def test_cli_bad_input_exits_2_with_one_line(args, cli):
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], err
