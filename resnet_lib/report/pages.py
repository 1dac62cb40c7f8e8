"""What each page of the report asks for by default: its notebook's parameters cell reads them from here
(papermill's -p overrides them), and the status page counts what remains against them."""

FIG6_N = [3, 5, 7, 9, 18]  # blocks per stage of Figure 6's plain and residual nets (depth 6n+2: 20 to 110)
FIG6_SEEDS = [0]
FIG7_ARCHS = ["plain20", "plain56", "resnet20", "resnet56", "resnet110"]  # Figure 7's layer responses
TABLE6_DEPTHS = [20, 32, 44, 56, 110]
TABLE6_SEEDS = [0, 1, 2, 3, 4]  # the paper gives ResNet-110's best and mean of 5 runs; the page asks 5 of each depth
PREACT_SEEDS = [0, 1]  # the identity-mappings follow-up: pre-activation ResNet-110
SHORTCUT_DEPTHS, SHORTCUT_OPTIONS, SHORTCUT_SEEDS = [20, 32, 56], ["A", "B", "C"], [0, 1]  # the shortcut options page
RESNET1202_ARCHS = ["resnet110", "resnet1202"]
LESION_MODELS = ["resnet20", "resnet56", "plain20", "plain56"]  # published models (published/<name>.pt)
CPU_TARGETS = {  # the performance page's goals: img/s of the trainer's default ResNet-20 step, batch 128, 2 cores
    "AMX BF16": ("Intel Xeon with AMX", 2000),  # by the CPU's most capable unit, as the hardware line names it
    "AVX-512 BF16": ("AMD Zen 4, AVX-512 BF16", 1200),
    "AVX2": ("AMD Zen 3, AVX2 only", 450),
}


def fig6_archs() -> list[str]:
    """Figure 6's nets: plain and residual, each depth of FIG6_N."""
    return [f"{kind}{6 * n + 2}" for kind in ("plain", "resnet") for n in FIG6_N]
