"""resnet_lib: a reference replication of "Deep Residual Learning for Image Recognition".

Models (`build_model`), accounting (`describe`), data (`load_dataset`), the trainer (`train`,
`TrainConfig`) and recorded runs (`find_run`, `load_runs`). `python -m resnet_lib --help` for the CLI.
"""

from .analysis import count_layers, count_macs, count_params, describe, layer_responses
from .errors import ConfigError
from .models import build_model, parse_arch

__all__ = [
    "ConfigError",
    "build_model",
    "count_layers",
    "count_macs",
    "count_params",
    "describe",
    "layer_responses",
    "parse_arch",
]
