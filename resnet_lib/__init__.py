"""resnet_lib: a reference replication of "Deep Residual Learning for Image Recognition".

Models (`build_model`, `parse_arch`), accounting (`describe`, `count_params`, `count_macs`, `count_layers`,
`layer_responses`), data (`load_dataset`), the trainer's settings (`TrainConfig`; the loop is
`resnet_lib.train.train`, its module keeping the name) and recorded runs (`find_run`, `load_runs`).
`python -m resnet_lib --help` for the CLI.
"""

from .analysis import count_layers, count_macs, count_params, describe, layer_responses
from .config import TrainConfig
from .errors import ConfigError
from .models import build_model, parse_arch
from .results import find_run, load_runs
from .sources import load_dataset

__all__ = [
    "ConfigError",
    "TrainConfig",
    "build_model",
    "count_layers",
    "count_macs",
    "count_params",
    "describe",
    "find_run",
    "layer_responses",
    "load_dataset",
    "load_runs",
    "parse_arch",
]
