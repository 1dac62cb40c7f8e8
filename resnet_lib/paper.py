"""Numbers published in the paper (and in other reimplementations), for showing beside ours.

Sources: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), Tables 1, 3 and 6;
He et al., "Identity Mappings in Deep Residual Networks" (ECCV 2016), Table 2 (CIFAR-10 test error
of ResNet-110 variants); akamaster/pytorch_resnet_cifar10 and gcr's Torch reimplementation as
collected in the project's shared REFERENCE.md. Errors are in percent.
"""

# Table 6: CIFAR-10 test error of ResNet-(6n+2) with option A, and the parameter counts as printed.
TABLE6 = {  # depth -> (n, params as printed, test error %)
    20: (3, "0.27M", 8.75),
    32: (5, "0.46M", 7.51),
    44: (7, "0.66M", 7.17),
    56: (9, "0.85M", 6.97),
    110: (18, "1.7M", 6.43),  # best of 5 runs
    1202: (200, "19.4M", 7.93),
}
TABLE6_RESNET110_MEAN_STD = (6.61, 0.16)  # over 5 runs: "6.43 (6.61±0.16)"


def reference_error(depth: int) -> float:
    """The paper's Table 6 test error (%) of ResNet-`depth` that ours are compared with, on every page and card:
    the mean of its five runs for ResNet-110 (6.61; 6.43 is their best), its one run at the other depths."""
    return TABLE6_RESNET110_MEAN_STD[0] if depth == 110 else TABLE6[depth][2]


def reference_runs(depth: int) -> int:
    """How many runs `reference_error(depth)` is the mean of."""
    return 5 if depth == 110 else 1

# Other reimplementations (test error %). akamaster: 200 epochs, no validation split, best test epoch.
OTHER_REIMPLEMENTATIONS = {
    "akamaster (PyTorch)": {20: 8.27, 32: 7.37, 44: 6.90, 56: 6.61, 110: 6.32, 1202: 6.18},
    "gcr (Torch)": {20: 8.29, 32: 7.63, 44: 7.14, 56: 6.94, 110: 6.73},
}

REIMPLEMENTATION_HOW = {  # where each is, and how its numbers were made
    "akamaster (PyTorch)": ("https://github.com/akamaster/pytorch_resnet_cifar10",
                            "200 epochs on all 50k training images, the best test-set epoch"),
    "gcr (Torch)": ("https://github.com/gcr/torch-residual-networks", "200 epochs, lr /10 at 80 and 160, one run each"),
}

# Table 1: ImageNet architectures, multiply-adds ("FLOPs") at 224x224.
TABLE1_FLOPS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}

# Table 3: ImageNet top-1 error (%), 10-crop testing, by shortcut option; Table 2: center crop.
TABLE3_TOP1 = {"plain-34": 28.54, "ResNet-34 A": 25.03, "ResNet-34 B": 24.52, "ResNet-34 C": 24.19,
               "ResNet-50": 22.85, "ResNet-101": 21.75, "ResNet-152": 21.43}

# Identity Mappings, Table 2: ResNet-110 on CIFAR-10, test error (%), by residual unit design.
IDENTITY_MAPPINGS_RESNET110 = {"original": 6.61, "BN after addition": 8.17, "ReLU before addition": 7.84,
                               "ReLU-only pre-activation": 6.71, "full pre-activation": 6.37}

