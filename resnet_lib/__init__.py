"""resnet_lib: a reference replication of "Deep Residual Learning for Image Recognition".

Models (`build_model`, `parse_arch`), accounting (`describe`, `count_params`, `count_macs`, `count_layers`,
`layer_responses`), data (`load_dataset`), the trainer's settings (`TrainConfig`; the loop is
`resnet_lib.training.train.train`) and recorded runs (`find_run`, `load_runs`). The package is a folder per
layer (models, data, runs, training, launching, report; README, Layout). `python -m resnet_lib --help` for
the CLI.
"""

from .config import TrainConfig
from .data.sources import load_dataset
from .errors import ConfigError
from .models.analysis import count_layers, count_macs, count_params, describe, layer_responses
from .models.resnet import build_model, parse_arch
from .runs.results import find_run, load_runs

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
