"""Sweeps on a real one-node Slurm cluster (scripts/slurm_local.sh): job arrays, requeue and time-limit
signals that resume exactly, a two-process run, and clear errors. Needs root and Debian's slurm-wlm and
munge (scripts/test.sh installs them as root); elsewhere these tests skip, saying so."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["sweep", "--archs", "resnet8,plain8", "--data", "synthetic", "--iterations", "400", "--eval-every", "20",
         "--batch-size", "32", "--executor", "slurm", "--cpus-per-run", "1", "--time", "10"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("slurmctld") or not shutil.which("munged"):
        pytest.skip("a one-node Slurm needs root and Debian's slurm-wlm and munge (apt-get install slurm-wlm munge)")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(ROOT / "scripts/slurm_local.sh"), "start", str(state)], capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")
    yield state
    ours = (state / "munged-started").exists()
    subprocess.run(["bash", str(ROOT / "scripts/slurm_local.sh"), "stop", str(state)])
    os.environ.pop("SLURM_CONF", None)
    if ours:  # the test command leaves no daemon behind
        assert subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode != 0, "munged still runs"


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "resnet_lib", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def _records(out: Path) -> dict:
    runs = {}
    for folder in sorted(out.glob("*-seed0-*")):
        metrics = pd.read_csv(folder / "metrics.csv").drop(columns="elapsed_s")
        runs[folder.name] = (metrics, torch.load(folder / "weights.pt", weights_only=True))
    return runs


def _job_of(out: Path, arch: str) -> str:
    for log in out.glob("slurm/*/*_submitted.pkl"):
        if f"'arch': '{arch}'" in str(pd.read_pickle(log).args[0]).replace('"', "'"):
            return log.parent.name
    raise AssertionError(f"no job for {arch}")


def test_a_sweep_runs_as_a_job_array_and_interrupted_jobs_resume_exactly(slurm, tmp_path):
    plain = _cli(*SWEEP, "--out", str(tmp_path / "a"), "--wait")
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "submitted resnet8 seed 0: job" in plain.stdout and "squeue -j" in plain.stdout
    again = _cli(*SWEEP, "--out", str(tmp_path / "a"))
    assert again.stdout.count("recorded, not submitted") == 2  # nothing trains twice

    out = tmp_path / "b"
    sweep = subprocess.Popen([sys.executable, "-m", "resnet_lib", *SWEEP, "--out", str(out), "--wait"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not all(len((f / "metrics.csv").read_text().splitlines()) > 3
                                              for f in out.glob("*-seed0-*") if (f / "metrics.csv").exists()) \
            or len(list(out.glob("*-seed0-*"))) < 2:
        time.sleep(0.5)
    subprocess.run(["scontrol", "requeue", _job_of(out, "resnet8")], check=True)  # Slurm ends it with SIGTERM
    subprocess.run(["scancel", "--signal=USR2", _job_of(out, "plain8")], check=True)  # the time-limit warning
    while sweep.poll() is None:  # requeued jobs wait for a begin time minutes away: start them now
        pending = subprocess.run(["squeue", "-h", "-r", "-t", "PD", "-o", "%i"], capture_output=True, text=True).stdout.split()
        for job in pending:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True)
        time.sleep(2)
    stdout, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, stderr[-3000:]
    pieces = {f.name: len(pd.read_json(f / "summary.json", typ="series")["pieces"]) for f in out.glob("*-seed0-*")}
    assert all(n >= 2 for n in pieces.values()), pieces  # each was interrupted and resumed
    a, b = _records(tmp_path / "a"), _records(out)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name][0].equals(b[name][0]), name
        assert all(torch.equal(a[name][1][k], b[name][1][k]) for k in a[name][1]), name


def test_a_run_on_two_processes_through_slurm(slurm, tmp_path):
    done = _cli("sweep", "--archs", "resnet8", "--data", "synthetic", "--iterations", "8", "--eval-every", "4",
                "--batch-size", "32", "--executor", "slurm", "--cpus-per-run", "2", "--tasks-per-run", "2",
                "--out", str(tmp_path), "--wait")
    assert done.returncode == 0, done.stderr[-3000:]
    (summary,) = tmp_path.glob("*/summary.json")
    assert pd.read_json(summary, typ="series")["environment"]["processes"] == 2


@pytest.mark.parametrize("extra, message", [(["--partition", "nosuch"], "sbatch refused the jobs"),
                                            (["--data", "/no/such/data"], "not found")])
def test_bad_submissions_end_in_one_line(slurm, tmp_path, extra, message):
    args = [*SWEEP, *extra, "--out", str(tmp_path)]  # a later --data replaces the first
    done = _cli(*args)  # a process of its own: sbatch writes to its file descriptor 2, which the CLI captures
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr


def test_without_slurm_the_sweep_says_so(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, stderr = cli(*SWEEP, "--out", str(tmp_path))
    assert code == 2 and "no Slurm on this machine" in stderr and len(stderr.strip().splitlines()) == 1, stderr
