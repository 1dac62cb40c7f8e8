"""Bring a GPU lease's files (scripts/gpu_lease.sh) into this checkout: finished runs into results/
(config, metrics, summary are committed; weights.pt stays local), unfinished runs into the campaign's
work folder (RESNET_LIB_WORK, default ~/.cache/resnet_lib/runs), where `python -m resnet_lib campaign`
or `train --resume` continues them: the same run, one more piece. A run folder held by a live process
is left alone.

    python scripts/gpu_unpack.py <folder with records.tgz and unfinished-*.tgz>
"""
import shutil
import sys
import tarfile
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from resnet_lib.launching.campaign import WORK_DIR  # noqa: E402
from resnet_lib.runs.results import RESULTS_DIR, Run, RunBusy  # noqa: E402


def unpack(archive: Path, into: Path) -> list[Path]:
    """Extract `archive` (run folders, optionally under results/) into `into`, one run folder at a time."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        names = sorted({Path(m.name).parts[1 if m.name.startswith("results/") else 0] for m in members})
        unpacked = []
        for name in names:
            target = Path(into) / name
            try:
                with Run(target).lock() if target.exists() else nullcontext():
                    shutil.rmtree(target, ignore_errors=True)
                    prefix = f"results/{name}/" if members[0].name.startswith("results/") else f"{name}/"
                    for member in (m for m in members if m.name.startswith(prefix) and m.isfile()):
                        member.name = f"{name}/{member.name[len(prefix):]}"
                        tar.extract(member, into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
                    (target / "lock").unlink(missing_ok=True)
                unpacked.append(target)
            except RunBusy as busy:
                print(f"not replaced: {busy}", file=sys.stderr)
        return unpacked


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    if (folder / "records.tgz").is_file():
        for run in unpack(folder / "records.tgz", RESULTS_DIR):
            print(f"finished: {run}")
    for archive in sorted(folder.glob("unfinished-*.tgz")):
        for run in unpack(archive, WORK_DIR):
            print(f"unfinished: {run}")
