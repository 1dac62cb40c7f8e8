"""The trainer: schedule, warm-up, exact resume, interruption, divergence, checkpoints, records, torchrun."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from resnet_lib import build_model
from resnet_lib.config import TrainConfig
from resnet_lib.config import ConfigError
from resnet_lib.runs.checkpoint import CheckpointError, load_checkpoint
from resnet_lib.runs.results import find_run, load_runs
from resnet_lib.training.evaluation import FoldedModel
from resnet_lib.training.train import TrainingDiverged, train, train_group

TINY = TrainConfig(arch="resnet8", data="synthetic", iterations=12, eval_every=6, batch_size=32, val_fraction=0.05)


def test_paper_schedule_defaults():
    c = TrainConfig()
    assert (c.batch_size, c.lr, c.momentum, c.weight_decay, c.milestones, c.iterations) == (128, 0.1, 0.9, 1e-4, (32000, 48000), 64000)
    assert c.val_fraction == 0.1 and c.full_schedule
    assert [c.lr_at(i, False) for i in (0, 31999, 32000, 47999, 48000, 63999)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert c.lr_at(5, warming_up=True) == 0.01
    assert not replace(c, iterations=600).full_schedule


def test_warmup_is_on_by_default_from_depth_110():
    assert TrainConfig(arch="resnet110").warmup and TrainConfig(arch="resnet1202").warmup
    assert not TrainConfig(arch="resnet56").warmup
    assert not TrainConfig(arch="resnet110", warmup=False).warmup


def test_warmup_runs_at_lr_001_then_returns_to_01(tmp_path):
    config = replace(TINY, iterations=30, eval_every=5, warmup=True, warmup_window=5, warmup_until_error=80.0)
    run = train(config, out_dir=tmp_path, device="cpu", progress=False)
    end = run.summary()["warmup_end"]
    assert end is not None and 5 <= end < 30
    lrs = run.metrics().set_index("iteration")["lr"]
    assert (lrs[lrs.index <= end] == 0.01).all()
    assert (lrs[lrs.index > end] == 0.1).all() and len(lrs[lrs.index > end]) > 0  # back to 0.1, as the paper does


def test_resumed_run_equals_uninterrupted_run_exactly(tmp_path):
    straight = train(TINY, out_dir=tmp_path / "a", device="cpu", progress=False)
    half = train(TINY, out_dir=tmp_path / "b", device="cpu", stop_at=8, progress=False)  # mid-window: accumulators saved too
    assert not half.finished and load_checkpoint(half.checkpoint_file)["state"]["iteration"] == 8
    resumed = train(TINY, out_dir=tmp_path / "b", device="cpu", resume=True, progress=False)
    a = torch.load(straight.weights_file, weights_only=True)
    b = torch.load(resumed.weights_file, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    pa, pb = straight.metrics(), resumed.metrics()
    assert pa.drop(columns="elapsed_s").equals(pb.drop(columns="elapsed_s"))
    text = [[line.rsplit(",", 1)[0] for line in r.metrics_file.read_text().splitlines()] for r in (straight, resumed)]
    assert text[0] == text[1]  # the file itself too: a missing validation error is an empty field in both


def _same_run(a, b) -> None:
    """Two runs with equal weights, and metrics equal but for the seconds."""
    wa, wb = (torch.load(r.weights_file, weights_only=True) for r in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.metrics().drop(columns="elapsed_s").equals(b.metrics().drop(columns="elapsed_s"))
    assert a.path.name == b.path.name  # the same run key


def test_runs_trained_together_in_one_process_equal_each_trained_alone_and_resume_alone(tmp_path):
    """The many-runs path (train_group): two seeds and another net, stepped in turn. On CPU each equals its
    run trained alone bit for bit; stopped mid-way together, each resumes to the same end, here alone."""
    configs = [TINY, replace(TINY, seed=1), replace(TINY, arch="plain8", shortcut=None)]
    alone = [train(c, out_dir=tmp_path / "alone", device="cpu", progress=False) for c in configs]
    together = train_group(configs, out_dir=tmp_path / "together", device="cpu", progress=False)
    for a, b in zip(alone, together):
        _same_run(a, b)
        assert b.summary()["pieces"][0]["runs_at_once"] == 3
    stopped = train_group(configs, out_dir=tmp_path / "stopped", device="cpu", stop_at=8, progress=False)
    assert [load_checkpoint(r.checkpoint_file)["state"]["iteration"] for r in stopped] == [8, 8, 8]
    resumed = [train(c, out_dir=tmp_path / "stopped", device="cpu", resume=True, progress=False) for c in configs]
    for a, b in zip(alone, resumed):
        _same_run(a, b)


def test_a_run_writes_tensorboard_events_that_read_back_as_its_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    half = train(TINY, out_dir=tmp_path, device="cpu", stop_at=6, progress=False)
    run = train(TINY, out_dir=tmp_path, device="cpu", resume=True, progress=False)  # a second piece appends
    events = EventAccumulator(str(run.path / "tensorboard"))
    events.Reload()
    metrics = run.metrics()
    test = events.Scalars("error/test")
    assert [e.step for e in test] == metrics["iteration"].tolist() == [6, 12] and half.path == run.path
    assert [round(e.value, 4) for e in test] == [round(v, 4) for v in metrics["test_error"]]
    assert [e.step for e in events.Scalars("error/val")] == metrics.dropna(subset=["val_error"])["iteration"].tolist()


def test_unfinished_run_needs_resume_and_finished_run_is_reused(tmp_path):
    train(TINY, out_dir=tmp_path, device="cpu", stop_at=6, progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        train(TINY, out_dir=tmp_path, device="cpu", progress=False)
    run = train(TINY, out_dir=tmp_path, device="cpu", resume=True, progress=False)
    mtime = run.summary_file.stat().st_mtime
    assert train(TINY, out_dir=tmp_path, device="cpu", progress=False).summary_file.stat().st_mtime == mtime


def test_records_and_lookup(tmp_path):
    run = train(TINY, out_dir=tmp_path, device="cpu", progress=False)
    summary = run.summary()
    assert set(summary["final"]) >= {"train_error", "val_error", "test_error"}
    assert summary["data"]["name"] == "synthetic" and len(summary["data"]["sha256"]) == 64
    assert summary["params"] == 75290 and summary["seed"] == 0 and summary["full_schedule"] is False
    assert summary["environment"]["torch"] == torch.__version__ and summary["environment"]["hardware"]
    assert summary["environment"]["runs_at_once"] == 1
    assert len(summary["layer_responses"]) == 7  # stem + 2 per block x 3 blocks
    metrics = run.metrics()
    assert metrics["iteration"].tolist() == [6, 12]
    assert list(metrics.columns) == ["iteration", "lr", "train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error", "elapsed_s"]
    assert json.loads(run.config_file.read_text())["arch"] == "resnet8"
    assert find_run(TINY, tmp_path).path == run.path
    assert find_run(replace(TINY, seed=1), tmp_path) is None
    table = load_runs(tmp_path)
    assert table.loc[0, "final.test_error"] == summary["final"]["test_error"] and bool(table.loc[0, "finished"])


def test_final_weights_load_into_a_plain_model(tmp_path):
    run = train(TINY, out_dir=tmp_path, device="cpu", progress=False)
    weights = torch.load(run.weights_file, weights_only=True)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in weights)
    build_model("resnet8").load_state_dict(weights)


def test_nan_loss_stops_the_run_with_a_clear_message(tmp_path):
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train(replace(TINY, lr=1e30), out_dir=tmp_path, device="cpu", progress=False)


def test_a_run_that_diverges_in_a_group_stops_alone(tmp_path):
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train_group([replace(TINY, lr=1e30), replace(TINY, seed=3)], out_dir=tmp_path, device="cpu", progress=False)
    assert find_run(replace(TINY, seed=3), tmp_path) is not None  # its sibling finished


def test_corrupt_and_foreign_checkpoints_get_clear_errors(tmp_path):
    run = train(TINY, out_dir=tmp_path, device="cpu", stop_at=6, progress=False)
    run.checkpoint_file.write_bytes(run.checkpoint_file.read_bytes()[:1000])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        train(TINY, out_dir=tmp_path, device="cpu", resume=True, progress=False)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="not a resnet_lib training checkpoint"):
        load_checkpoint(foreign)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"arch": "resnet21"}, "not 6n"), ({"shortcut": "E"}, "unknown shortcut"), ({"iterations": 0}, ">= 1"),
    ({"precision": "fp8"}, "unknown precision"), ({"val_fraction": 1.5}, "val_fraction"),
])
def test_bad_config_values_raise_value_errors(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        replace(TINY, **kwargs)


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "resnet_lib", *args], capture_output=True, text=True, **kwargs)


@pytest.mark.parametrize("args", [
    ["--arch", "resnet20", "--data", "/no/such/data"],
    ["--arch", "resnet19", "--data", "synthetic"],
    ["--arch", "resnet20", "--data", "synthetic", "--iterations", "0"],
    ["--arch", "resnet20", "--data", "synthetic", "--device", "tpu"],
    ["--data", "synthetic"],  # no --arch, no --configs
    ["--configs", "/no/such/file.json"],
])
def test_cli_train_bad_values_exit_2_with_one_line(args, tmp_path, cli):
    code, _, stderr = cli("train", *args, "--out", str(tmp_path))
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_then_the_run_resumes(signum, tmp_path):
    args = ["train", "--arch", "resnet8", "--data", "synthetic", "--iterations", "100000", "--eval-every", "50000",
            "--batch-size", "16", "--device", "cpu", "--out", str(tmp_path), "--no-progress", "--no-compile"]
    proc = subprocess.Popen([sys.executable, "-m", "resnet_lib", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list(tmp_path.glob("*/metrics.csv")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "continue with --resume" in err
    (checkpoint,) = tmp_path.glob("*/checkpoint.pt")
    stopped_at = load_checkpoint(checkpoint)["state"]["iteration"]
    assert stopped_at > 0
    resumed = _cli(*args, "--resume", "--stop-at", str(stopped_at + 2))
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(checkpoint)["state"]["iteration"] == stopped_at + 2


def test_cli_evaluate_reports_the_recorded_test_error(tmp_path):
    run = train(TINY, out_dir=tmp_path, device="cpu", progress=False)
    done = _cli("evaluate", str(run.weights_file), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["test_error"] == pytest.approx(run.summary()["final"]["test_error"])
    assert result["data"] == "synthetic" and result["arch"] == "resnet8"


def test_torchrun_two_processes_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531", "-m", "resnet_lib",
           "train", "--arch", "resnet8", "--data", "synthetic", "--iterations", "8", "--eval-every", "4",
           "--batch-size", "32", "--device", "cpu", "--out", str(tmp_path), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (summary,) = tmp_path.glob("*/summary.json")  # one run folder, written by rank 0
    recorded = json.loads(summary.read_text())
    assert recorded["environment"]["processes"] == 2 and recorded["iterations"] == 8
    assert 0 <= recorded["final"]["test_error"] <= 100


def test_a_run_begun_on_a_gpu_and_finished_on_a_cpu_names_both_wherever_it_is_shown(tmp_path):
    from resnet_lib.report.views import provenance, run_table, short_hardware, short_title
    from resnet_lib.runs.checkpoint import atomic_save

    begun = train(TINY, out_dir=tmp_path, device="cpu", stop_at=6, progress=False)
    saved = load_checkpoint(begun.checkpoint_file)  # as a GPU lease leaves it (scripts/gpu_lease.sh)
    saved["state"]["pieces"][0].update(hardware="1x NVIDIA H200", device="cuda", git_commit="abc123")
    atomic_save(saved, begun.checkpoint_file)
    run = train(TINY, out_dir=tmp_path, device="cpu", resume=True, progress=False)
    pieces = run.summary()["pieces"]
    assert [(p["device"], p["start_iteration"], p["end_iteration"]) for p in pieces] == [("cuda", 0, 6), ("cpu", 6, 12)]
    cpu = pieces[1]["hardware"]
    assert run_table([run]).loc[0, "hardware"] == f"NVIDIA H200 + {short_hardware(cpu)}"
    assert f"hardware: {'; '.join(sorted([short_hardware(cpu), 'NVIDIA H200']))}; code: 2 commits, abc123 to " \
        in provenance([run])
    assert "CUDA+CPU" in short_title([run])
    assert load_runs(tmp_path).loc[0, "hardware"] == f"1x NVIDIA H200 + {cpu}"
    summary = run.summary()
    summary["pieces"][0]["git_commit"] = None  # trained outside a git checkout
    summary["pieces"].append({**pieces[1], "hardware": pieces[1]["hardware"].replace(" threads;", " threads (fewer);")})
    run.summary_file.write_text(json.dumps(summary))  # the same CPU once more, sharing its cores with another run
    assert "code: 2 commits, unknown to " in provenance([run])
    assert run_table([run]).loc[0, "hardware"] == f"NVIDIA H200 + {short_hardware(cpu)}"  # each machine named once


def test_run_times_give_one_row_per_machine_and_number_of_runs_sharing_it(tmp_path, monkeypatch):
    from resnet_lib.report.notebook import run_times

    train(TINY, out_dir=tmp_path, device="cpu", stop_at=4, progress=False)  # alone
    train(TINY, out_dir=tmp_path, device="cpu", resume=True, stop_at=8, progress=False, runs_at_once=2)
    run = train(TINY, out_dir=tmp_path, device="cpu", resume=True, progress=False, runs_at_once=2)
    summary = run.summary()
    for piece in summary["pieces"][1:]:  # sharing the cores: fewer threads, the same machine
        piece["hardware"] = piece["hardware"].replace(" threads;", " threads (fewer);")
    run.summary_file.write_text(json.dumps(summary))
    table = run_times(tmp_path)
    assert table[["runs at once", "iterations", "pieces"]].values.tolist() == [["1", 4, 1], ["2", 8, 2]]
    assert table["hardware"].nunique() == 1
    assert table["data"].tolist() == ["synthetic", "synthetic"]  # a run on the JPEG copy is told from its real-data twin
    assert table["vs quiet"].tolist() == ["–", "–"]  # no piece long enough to give the net's quiet pace
    monkeypatch.setattr("resnet_lib.runs.results.QUIET_PIECE_ITERATIONS", 4)
    table = run_times(tmp_path)  # the piece alone is the quiet pace; those sharing the machine are measured against it
    assert table["vs quiet"][0] == "1.00x" and table["quiet s/it"].nunique() == 1
    assert table["quiet s/it"][0] == pytest.approx(summary["pieces"][0]["train_s"] / 4)


@pytest.mark.parametrize("arch, shortcut", [("resnet8", "A"), ("resnet8", "C"), ("plain8", None),
                                            ("preact-resnet8", None), ("imagenet-resnet50", None)])
def test_folded_model_evaluates_as_the_model_does_now(arch, shortcut):
    torch.manual_seed(0)
    model = build_model(arch, shortcut, num_classes=10)
    folded = FoldedModel(model)
    size = 64 if arch.startswith("imagenet") else 32
    x = torch.randn(4, 3, size, size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):  # weights and BN statistics change after the copy is made
        model.train()
        F.cross_entropy(model(torch.randn(8, 3, size, size)), torch.randint(10, (8,))).backward()
        optimizer.step()
        optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            assert torch.allclose(folded.refreshed()(x), model(x), rtol=1e-4, atol=1e-4)
    batch_norms = [m for m in folded.refreshed().modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bool(batch_norms) == arch.startswith("preact")  # only BNs before a conv remain
