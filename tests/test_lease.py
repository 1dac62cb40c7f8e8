"""The GPU lease's way there and back, on CPU: real CIFAR-10 carried in parts and checked, runs trained
together, what comes back packed within the device tool's limits, and unpacked here to resume."""

import os
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from resnet_lib.config import TrainConfig
from resnet_lib.runs.checkpoint import load_checkpoint
from resnet_lib.training.train import train

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-lossless.npz"
TINY = TrainConfig(arch="resnet8", data="synthetic", iterations=12, eval_every=6, batch_size=32, val_fraction=0.05)


def _script(name: str, *args: str, cwd: Path = ROOT, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def test_a_leases_runs_come_back_within_its_limits_and_resume_here(tmp_path):
    lease = tmp_path / "lease"
    finished = train(TINY, out_dir=lease, device="cpu", progress=False)
    unfinished = [train(replace(TINY, seed=s), out_dir=lease, device="cpu", stop_at=6, progress=False) for s in (1, 2)]
    out = tmp_path / "out"
    out.mkdir()
    packed = _script("gpu_pack.py", str(lease), str(out))
    assert packed.returncode == 0, packed.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["records.tgz", "unfinished-0.tgz"]  # two small checkpoints share one archive
    assert all(p.stat().st_size < 16 << 20 for p in out.iterdir())
    here = tmp_path / "here"
    here.mkdir()
    unpacked = _script("gpu_unpack.py", str(out), cwd=here, RESNET_LIB_WORK=str(tmp_path / "work"))
    assert unpacked.returncode == 0, unpacked.stderr
    assert (here / "results" / finished.path.name / "summary.json").is_file()
    for run in unfinished:
        checkpoint = tmp_path / "work" / run.path.name / "checkpoint.pt"
        assert load_checkpoint(checkpoint)["state"]["iteration"] == 6
        resumed = train(run.config(), out_dir=tmp_path / "work", device="cpu", resume=True, progress=False)
        assert resumed.finished


@pytest.mark.skipif(not ARCHIVE.exists(), reason="the lossless CIFAR-10 archive is not beside this checkout")
def test_the_lease_script_takes_real_cifar10_in_parts_then_trains_on_it(tmp_path):
    """Three calls as the device tool makes them, each carrying one part: the first two keep their part and
    stop; the third joins them, checks the archive's SHA-256 and trains two tiny runs together (on CPU here)."""
    parts = tmp_path / "split"
    parts.mkdir()
    subprocess.run(["split", "-b", "60M", "-d", str(ARCHIVE), str(parts / "cifar10-lossless.npz.part-")], check=True)
    env = {"PARTS": str(tmp_path / "kept"), "WORK": str(tmp_path / "work"), "DEVICE": "cpu", "PYTHON": sys.executable,
           "COMPILE": "--no-compile", "RUNS": "resnet8,plain8", "CONCURRENT": "1", "TOGETHER": "2",
           "SWEEP_ARGS": "--iterations 20 --eval-every 10 --batch-size 32 --val-fraction 0",
           "RESNET_LIB_CACHE": str(tmp_path / "cache")}
    for i, part in enumerate(sorted(parts.iterdir())):
        carried, out = tmp_path / f"carried{i}", tmp_path / f"out{i}"
        carried.mkdir()
        out.mkdir()
        os.link(part, carried / part.name)
        call = subprocess.run(["bash", "scripts/gpu_lease.sh", "0123abc", "240"], cwd=ROOT, capture_output=True, text=True,
                              timeout=600, env={**os.environ, **env, "CARRIED": str(carried), "OUT": str(out)})
        assert call.returncode == 0, call.stdout[-3000:] + call.stderr[-3000:]
    assert "have 2 of 3 parts" in (tmp_path / "out1" / "lease.log").read_text()
    log = (out / "lease.log").read_text()
    assert "cifar10-lossless.npz.tmp: OK" in log and "content sha256 9048fcbac9c0" in log
    with tarfile.open(out / "records.tgz") as tar:
        names = {Path(m.name).parts[1] for m in tar.getmembers()}
    assert sorted(n.split("-")[0] for n in names) == ["plain8", "resnet8"]
    assert all("-cifar10-20it-alltrain-" in n for n in names)
