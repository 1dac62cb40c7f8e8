"""Pack a GPU lease's runs for the way back (scripts/gpu_lease.sh), within what comes back from the
device machine: at most 8 files of 16 MiB, 64 MiB in all. Finished runs go into records.tgz (config,
metrics, summary, weights); unfinished ones (their checkpoints) into as few unfinished-<n>.tgz of at most
15 MiB as they fit, biggest first. A run that does not fit is named and stays on the warm machine,
where the next call continues it. `python scripts/gpu_unpack.py` takes them in here.

    python scripts/gpu_pack.py <lease results folder> <out folder>
"""
import sys
import tarfile
from pathlib import Path

import pandas as pd

MAX_FILES, FILE_LIMIT, TOTAL_LIMIT = 8, 15 << 20, 60 << 20


def _skip(member):
    return None if member.name.endswith((".tmp", "/lock")) else member


def _size(run: Path) -> int:
    return sum(f.stat().st_size for f in run.rglob("*") if f.is_file())


def pack(root: Path, out: Path) -> list[Path]:
    """Write the archives into `out`; return the unfinished runs left behind."""
    runs = sorted(p for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
    finished = [p for p in runs if (p / "summary.json").is_file()]
    with tarfile.open(out / "records.tgz", "w:gz") as tar:
        for run in finished:
            tar.add(run, arcname=f"results/{run.name}", filter=_skip)
    room = MAX_FILES - sum(1 for _ in out.iterdir())
    bins, left_behind, packed = [], [], 0
    for run in sorted((p for p in runs if p not in finished), key=_size, reverse=True):
        size = _size(run)
        fits = next((b for b in bins if sum(map(_size, b)) + size <= FILE_LIMIT), None)
        if packed + size > TOTAL_LIMIT or (fits is None and (len(bins) >= room or size > FILE_LIMIT)):
            left_behind.append(run)
            continue
        if fits is None:
            fits = []
            bins.append(fits)
        fits.append(run)
        packed += size
    for i, group in enumerate(bins):
        with tarfile.open(out / f"unfinished-{i}.tgz", "w:gz") as tar:
            for run in group:
                tar.add(run, arcname=run.name, filter=_skip)
    for run in runs:
        metrics = pd.read_csv(run / "metrics.csv") if (run / "metrics.csv").is_file() else pd.DataFrame()
        last = metrics.iloc[-1] if len(metrics) else None
        where = "no evaluation yet" if last is None else \
            f"iteration {int(last.iteration)}: test error {last.test_error:.2f}%, training error {last.train_error:.2f}%"
        state = "finished  " if run in finished else "LEFT HERE " if run in left_behind else "unfinished"
        print(f"{state} {run.name}: {where}")
    if left_behind:
        print(f"{len(left_behind)} unfinished run(s) do not fit what comes back; a next call on this warm machine "
              f"continues them")
    return left_behind


if __name__ == "__main__":
    pack(Path(sys.argv[1]), Path(sys.argv[2]))
