"""Checkpoints: atomic writes, safe loads (`weights_only=True`), clear errors for corrupt or foreign files."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import torch

FORMAT = "resnet_lib.checkpoint/1"


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, truncated, corrupt, or not written by resnet_lib."""


class RecordWriteError(Exception):
    """A checkpoint or record that could not be written (a full disk, most often); nothing half-written is left."""


def atomic_save(obj, path: str | Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves a broken file, and a
    failed write (RecordWriteError) leaves the previous file as it was and no temporary file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as error:  # torch reports a full disk as RuntimeError ("unexpected pos ...")
        tmp.unlink(missing_ok=True)
        raise write_error(path, error) from None
    os.replace(tmp, path)


def write_error(path: Path, error: Exception) -> RecordWriteError:
    """One line: which file in which folder could not be written, why, and what was kept."""
    free = shutil.disk_usage(path.parent).free
    full = getattr(error, "errno", None) == errno.ENOSPC or free < 1 << 20
    why = f"the disk is full ({free // 1024} KiB free)" if full else f"{type(error).__name__}: {error}"
    kept = f"the previous {path.name} is kept" if path.exists() else f"no earlier {path.name} was there"
    return RecordWriteError(f"could not write {path.name} in {path.parent}: {why}; {kept}. Free space and rerun "
                            f"with --resume")


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a training checkpoint written by the trainer (`train._save_checkpoint`), or raise CheckpointError saying why."""
    state = _load(path, map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a resnet_lib training checkpoint (no '{FORMAT}' marker); "
            f"pass the checkpoint.pt of a run folder, or weights.pt with its config.json beside it"
        )
    return state


def load_weights(path: str | Path, map_location="cpu") -> dict:
    """Load model weights: a plain state_dict (weights.pt) or the model of a training checkpoint."""
    state = _load(path, map_location)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        return state["model"]
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in state.items()}
    raise CheckpointError(f"{path} holds neither a state_dict nor a resnet_lib checkpoint")


def _load(path: str | Path, map_location):
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated zip, pickle with foreign classes, garbage bytes
        raise CheckpointError(
            f"{path} is corrupt or not a resnet_lib checkpoint (a safe weights_only load failed with "
            f"{type(error).__name__}); if it is a run's checkpoint.pt, delete it and rerun to start over"
        ) from None
