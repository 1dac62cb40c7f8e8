"""What identifies a run, and how a run folder is shared: keys, locks, pieces, warm-up bound, torchrun stops."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_lib.config import TrainConfig, schedule_settings
from resnet_lib.runs.checkpoint import load_checkpoint
from resnet_lib.runs.results import Run
from resnet_lib.training import fastpath
from resnet_lib.training.train import train

TINY = TrainConfig(arch="resnet8", data="synthetic", iterations=12, eval_every=6, batch_size=32, val_fraction=0.05)


def _keyed(config: TrainConfig) -> TrainConfig:
    return replace(config, data_sha256="0" * 64, precision=config.precision if config.precision != "auto" else "fp32")


def test_the_key_holds_what_changes_a_result_and_nothing_else():
    base = _keyed(TINY)
    for execution in ({"compile": True}, {"channels_last": True}, {"data": "/elsewhere/same-data"}):
        assert replace(base, **execution).key == base.key, execution
    for experiment in ({"seed": 1}, {"precision": "bf16"}, {"weight_decay": 5e-4}, {"momentum": 0.8}, {"split_seed": 1},
                       {"val_fraction": 0.0}, {"data_sha256": "1" * 64}, {"warmup": True}, {"milestones": (6,)}):
        assert replace(base, **experiment).key != base.key, experiment
    derived = replace(base, eval_every=None, val_every=None)
    assert replace(derived, eval_every=derived.eval_interval, val_every=derived.val_interval).key == derived.key


def test_the_full_schedule_label_needs_the_whole_recipe():
    assert TrainConfig().full_schedule and TrainConfig(arch="resnet110").full_schedule
    for change in ({"weight_decay": 5e-4}, {"momentum": 0.95}, {"val_fraction": 0.2}, {"warmup": True}, {"batch_size": 64},
                   {"milestones": (32000, 50000)}, schedule_settings("1/8")):
        assert not TrainConfig(**change).full_schedule, change
    assert TrainConfig(val_fraction=0).full_schedule  # all 50k training images: the reported models' recipe
    assert TrainConfig(**schedule_settings("1/8")).schedule == "1/8"
    assert schedule_settings("1/8") == {"iterations": 8000, "milestones": (4000, 6000)}


def test_an_eager_and_a_compiled_run_of_one_experiment_share_a_folder(tmp_path):
    eager = train(replace(TINY, compile=False), out_dir=tmp_path, device="cpu", stop_at=6, progress=False)
    compiled = train(replace(TINY, compile=True), out_dir=tmp_path, device="cpu", resume=True, progress=False)
    assert compiled.path == eager.path and compiled.finished and len(list(tmp_path.iterdir())) == 1
    pieces = compiled.summary()["pieces"]
    assert [(p["start_iteration"], p["end_iteration"], p["compile"]) for p in pieces] == [(0, 6, False), (6, 12, True)]


def test_a_run_reads_its_records_once_and_sees_what_it_writes_itself(tmp_path):
    run = Run(tmp_path / "r")
    run.start(TINY)
    assert run.config() == TINY
    run.start(replace(TINY, compile=True), metrics=False)  # a resumed piece's settings
    assert run.config().compile
    run.finish({"final": {"test_error": 9.0}, "data": {"name": "synthetic"}})
    assert run.summary()["final"]["test_error"] == 9.0
    run.summary_file.write_text('{"final": {"test_error": 1.0}, "data": {"name": "synthetic"}}')  # rewritten elsewhere: a fresh Run reads it
    assert run.summary()["final"]["test_error"] == 9.0 and Run(run.path).summary()["final"]["test_error"] == 1.0


def _image_tree(root, classes=2, train=40, test=10):
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        for c in range(classes):
            (root / split / f"c{c}").mkdir(parents=True)
            for i in range(count):
                pixels = (rng.random((32, 32, 3)) * 80 + 120 * c).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / f"c{c}" / f"{i}.png")
    return root


def test_the_same_data_under_another_path_is_the_same_run(tmp_path, monkeypatch):
    monkeypatch.setattr("resnet_lib.data.sources.CACHE_DIR", tmp_path / "cache")
    first = _image_tree(tmp_path / "one")
    second = shutil.copytree(first, tmp_path / "two")
    config = replace(TINY, batch_size=16, val_fraction=0.1)
    begun = train(replace(config, data=str(first)), out_dir=tmp_path / "r", device="cpu", stop_at=6, progress=False)
    finished = train(replace(config, data=str(second)), out_dir=tmp_path / "r", device="cpu", resume=True, progress=False)
    assert finished.path == begun.path and finished.finished
    assert [p["data_path"] for p in finished.summary()["pieces"]] == [str(first), str(second)]
    assert list((tmp_path / "cache" / "datasets").glob("*.pt"))  # decoded once per tree, then read from the cache


def test_warmup_ends_at_the_first_milestone_if_the_threshold_is_never_reached(tmp_path):
    config = replace(TINY, iterations=16, eval_every=4, milestones=(10,), warmup=True, warmup_window=2,
                     warmup_until_error=0.001)
    summary = train(config, out_dir=tmp_path, device="cpu", progress=False).summary()
    assert summary["warmup_end"] == 10 and summary["warmup_ended_by"] == "first milestone"


ARGS = ["train", "--arch", "resnet8", "--data", "synthetic", "--iterations", "100000", "--eval-every", "50000",
        "--batch-size", "16", "--device", "cpu", "--no-progress", "--no-compile"]


def test_a_second_process_on_a_held_run_stops_at_once_and_a_killed_holder_does_not_block(tmp_path):
    args = [*ARGS, "--out", str(tmp_path)]
    holder = subprocess.Popen([sys.executable, "-m", "resnet_lib", *args], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not any(p.read_text().strip() for p in tmp_path.glob("*/lock")) and time.time() < deadline:
            time.sleep(0.2)
        second = subprocess.run([sys.executable, "-m", "resnet_lib", *args, "--resume"], capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"is being trained by process {holder.pid}" in second.stderr and holder.poll() is None  # the first goes on
    finally:  # a failed check must not leave the holder training
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    third = subprocess.run([sys.executable, "-m", "resnet_lib", *args, "--resume", "--stop-at", "2"], capture_output=True,
                           text=True, timeout=120)
    assert third.returncode == 0, third.stderr


def _torchrun(*args, port):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m", "resnet_lib",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_a_torchrun_job_stops_together_at_its_time_limit_and_resumes_exactly(tmp_path):
    started = time.time()
    # start-up counts toward the limit (about 2 s on a busy core): 6 s leaves iterations to agree on
    stopped = _torchrun(*ARGS, "--out", str(tmp_path / "a"), "--time-limit", "6", port=29541)
    assert stopped.returncode == 0 and "stopped early" in stopped.stdout, stopped.stderr[-2000:]
    assert time.time() - started < 120
    (checkpoint,) = (tmp_path / "a").glob("*/checkpoint.pt")  # one checkpoint, by rank 0
    at = load_checkpoint(checkpoint)["state"]["iteration"]
    assert at > 0 and at % 20 == 0  # the processes agree every 20 iterations
    resumed = _torchrun(*ARGS, "--out", str(tmp_path / "a"), "--resume", "--stop-at", str(at + 4), port=29542)
    straight = _torchrun(*ARGS, "--out", str(tmp_path / "b"), "--stop-at", str(at + 4), port=29543)
    assert resumed.returncode == 0 and straight.returncode == 0, resumed.stderr[-2000:] + straight.stderr[-2000:]
    a = load_checkpoint(checkpoint)
    (other,) = (tmp_path / "b").glob("*/checkpoint.pt")
    b = load_checkpoint(other)
    assert a["state"]["iteration"] == b["state"]["iteration"] == at + 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (root only): room for one checkpoint of resnet8, not for a second beside it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)]).returncode:
        pytest.skip("mounting a tmpfs needs root (run the tests as root to check a full disk)")
    yield mount
    subprocess.run(["umount", str(mount)])


def test_a_full_disk_ends_with_one_line_keeps_the_last_checkpoint_and_leaves_no_temporary_file(tiny_disk):
    args = ["train", "--arch", "resnet8", "--data", "synthetic", "--iterations", "40", "--eval-every", "4",
            "--batch-size", "16", "--device", "cpu", "--no-progress", "--out", str(tiny_disk)]
    done = subprocess.run([sys.executable, "-m", "resnet_lib", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    (run,) = tiny_disk.iterdir()
    assert "the disk is full" in done.stderr and str(run) in done.stderr and "previous checkpoint.pt is kept" in done.stderr
    assert not list(tiny_disk.rglob("*.tmp"))
    assert load_checkpoint(run / "checkpoint.pt")["state"]["iteration"] == 4  # the last good one, resumable


def test_missing_runs_come_with_one_sweep_command_per_group_for_a_cluster():
    from resnet_lib.runs.commands import sweep_commands

    eighth = [TrainConfig(arch=a, seed=s, data="cifar10-jpeg", **schedule_settings("1/8"))
              for a in ("plain20", "resnet20") for s in (1, 0)]
    b = TrainConfig(arch="resnet32", shortcut="B", data="cifar10-jpeg")
    assert sweep_commands(eighth + [b], executor="slurm") == [  # seeds in order, whatever order the configs came in
        "python -m resnet_lib sweep --archs plain20,resnet20 --seeds 0,1 --data cifar10-jpeg --schedule 1/8 --executor slurm --wait",
        "python -m resnet_lib sweep --archs resnet32 --seeds 0 --shortcuts B --data cifar10-jpeg --executor slurm --wait",
    ]


class _ListingExecutor:
    """A throwaway executor: trains nothing, lists each run it is given after its own option's prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    @staticmethod
    def add_options(group, positive_int):
        group.add_argument("--prefix", default="-")

    @classmethod
    def from_args(cls, args):
        return cls(args.prefix)

    def run(self, configs, out_dir, time_limit=None, on_finished=None):
        from resnet_lib.launching.launch import Outcome

        return [Outcome(config, None, False) for config in configs]

    def report(self, outcomes):
        for outcome in outcomes:
            print(f"{self.prefix} {outcome.config.arch} seed {outcome.config.seed}")
        return 3


def test_an_executor_is_one_class_and_one_registry_entry(cli, monkeypatch):
    from resnet_lib.runs.commands import EXECUTORS, ExecutorEntry, sweep_commands

    monkeypatch.setitem(EXECUTORS, "listing", ExecutorEntry(_ListingExecutor, "list the runs", "on paper",
                                                            "--executor listing"))
    code, out, _ = cli("sweep", "--archs", "resnet8,plain8", "--seeds", "0,1", "--data", "synthetic",
                       "--executor", "listing", "--prefix", ">>")
    assert (code, out.splitlines()) == (3, [">> resnet8 seed 0", ">> resnet8 seed 1", ">> plain8 seed 0", ">> plain8 seed 1"])
    assert sweep_commands([TINY], executor="listing")[0].endswith(" --executor listing")
    code, _, err = cli("sweep", "--archs", "resnet8", "--executor", "nowhere")
    assert code == 2 and "invalid choice: 'nowhere'" in err and "listing" in err


def test_a_campaign_trains_its_plan_in_order_stops_on_sigterm_and_skips_what_is_recorded(tmp_path, cli):
    plan = tmp_path / "plan.toml"
    plan.write_text('data = "synthetic"\n[[step]]\nname = "tiny"\narchs = ["resnet8", "plain8", "resnet14"]\nschedule = 12\n')
    campaign_args = ["campaign", "--plan", str(plan), "--out", str(tmp_path / "results"), "--work", str(tmp_path / "work")]
    args = [sys.executable, "-m", "resnet_lib", *campaign_args]
    code, dry, _ = cli(*campaign_args, "--dry-run")
    assert code == 0 and "3 runs to train" in dry and not (tmp_path / "results").exists(), dry

    # SIGTERM right after the first run is recorded, between two runs: the campaign stops, starting nothing more
    campaign = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    for line in campaign.stdout:
        lines.append(line)
        if line.startswith("campaign: recorded"):
            campaign.send_signal(signal.SIGTERM)
            break
    lines += campaign.stdout.readlines()
    assert campaign.wait(timeout=120) == 0, "".join(lines)
    output = "".join(lines)
    assert "campaign: stopped on SIGTERM" in output and "training resnet14" not in output, output
    assert [p.parent.name.split("-")[0] for p in (tmp_path / "results").glob("*/summary.json")] == ["resnet8"]

    done = subprocess.run(args, capture_output=True, text=True, timeout=600)  # continues: plain8 (resumed), resnet14
    assert done.returncode == 0 and done.stdout.count("campaign: recorded") == 2, done.stdout[-2000:] + done.stderr[-2000:]
    recorded = sorted(p.parent.name for p in (tmp_path / "results").glob("*/summary.json"))
    assert [r.split("-")[0] for r in recorded] == ["plain8", "resnet14", "resnet8"]
    code, again, _ = cli(*campaign_args, "--dry-run")
    assert code == 0 and again.count(": recorded") == 3 and "0 runs to train" in again, again


def test_a_campaign_finishes_begun_runs_first_and_trains_two_at_once_each_on_its_share_of_the_cores(tmp_path):
    from resnet_lib.launching.campaign import load_plan

    plan = tmp_path / "plan.toml"
    plan.write_text('data = "synthetic"\nval_fraction = 0\n[[step]]\nname = "tiny"\narchs = ["resnet8", "plain8"]\n'
                    'schedule = 30\n')  # val_fraction as campaign.toml writes it: a whole number, which the CLI reads as 0.0
    begun = fastpath.resolve(load_plan(plan)[0].configs[1], torch.device("cpu"))  # plain8, e.g. from a GPU lease
    train(begun, out_dir=tmp_path / "work", device="cpu", progress=False, stop_at=10)
    args = [sys.executable, "-m", "resnet_lib", "campaign", "--plan", str(plan), "--out", str(tmp_path / "results"),
            "--work", str(tmp_path / "work"), "--concurrent", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "the 1 begun first" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resume at 10," in done.stdout and done.stdout.count("campaign: recorded") == 2  # where its checkpoint is
    started = [line.split()[2].split("-")[0] for line in done.stdout.splitlines() if line.startswith("campaign: training")]
    assert started == ["plain8", "resnet8"]
    events = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("campaign: ")]
    assert events[events.index("training"):][:3] == ["training", "training", "recorded"]  # both started before either ended
    for summary in (tmp_path / "results").glob("*/summary.json"):  # standard JSON: no validation error is null
        strict = json.loads(summary.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in {summary}"))
        assert strict["final"]["val_error"] is None and strict["final"]["test_error"] > 0
    assert "validation error" not in done.stdout  # the run's line says only what it measured
    threads = max(1, fastpath.usable_cores() // 2)  # the cores the tests may use
    pieces = {r.config().arch: r.summary()["pieces"] for r in map(Run, (tmp_path / "results").iterdir())}
    assert [(p["start_iteration"], p["end_iteration"]) for p in pieces["plain8"]] == [(0, 10), (10, 30)]
    (resnet8_piece,) = pieces["resnet8"]  # one piece, not a resume
    for piece in (pieces["plain8"][1], resnet8_piece):
        assert piece["runs_at_once"] == 2 and f"{threads} thread{'s' * (threads != 1)};" in piece["hardware"]


def test_a_campaign_expects_each_run_to_take_its_nets_quiet_pace_here_or_the_nearest_nets_scaled_by_multiply_adds(
        tmp_path, cli, monkeypatch):
    from resnet_lib.launching.campaign import load_plan
    from resnet_lib.models.analysis import describe

    plan = tmp_path / "plan.toml"
    plan.write_text('data = "synthetic"\nval_fraction = 0\n[[step]]\nname = "tiny"\narchs = ["resnet8", "resnet14"]\n'
                    'seeds = [0, 1]\nschedule = 30\n')
    first = fastpath.resolve(load_plan(plan)[0].configs[0], torch.device("cpu"))  # resnet8, seed 0
    (piece,) = train(first, out_dir=tmp_path / "results", device="cpu", progress=False).summary()["pieces"]
    monkeypatch.setattr("resnet_lib.runs.results.QUIET_PIECE_ITERATIONS", 30)  # its one piece gives resnet8's pace
    code, dry, _ = cli("campaign", "--plan", str(plan), "--out", str(tmp_path / "results"), "--work",
                       str(tmp_path / "work"), "--dry-run")
    paces = {line.split()[0] + " seed " + line.split()[3]: float(line.split("(")[1].split()[0])
             for line in dry.splitlines() if "s/iteration" in line}
    pace = piece["train_s"] / 30
    assert code == 0 and paces["resnet8 seed 1"] == pytest.approx(pace, abs=1e-3) and "its pace here" in dry, dry
    scaled = pace * describe("resnet14")["macs"] / describe("resnet8")["macs"]
    assert paces["resnet14 seed 0"] == pytest.approx(scaled, abs=1e-3) and "resnet8's pace here, scaled" in dry


def test_a_campaign_with_no_pace_here_times_one_net_and_scales_the_others_by_multiply_adds(tmp_path, cli):
    from resnet_lib.models.analysis import describe

    plan = tmp_path / "plan.toml"
    plan.write_text('data = "synthetic"\nval_fraction = 0\n[[step]]\nname = "tiny"\narchs = ["resnet8", "resnet14", '
                    '"plain8"]\nschedule = 30\n')
    code, dry, _ = cli("campaign", "--plan", str(plan), "--out", str(tmp_path / "results"), "--work",
                       str(tmp_path / "work"), "--dry-run")
    lines = {line.split()[0]: line for line in dry.splitlines() if "s/iteration" in line}
    paces = {arch: float(line.split("(")[1].split()[0]) for arch, line in lines.items()}
    assert code == 0 and lines["resnet8"].endswith("s/iteration: eager iterations timed now)"), dry  # the first net met, alone
    for arch in ("resnet14", "plain8"):
        assert "resnet8's eager iterations timed now, scaled by multiply-adds" in lines[arch], dry
        scaled = paces["resnet8"] * describe(arch)["macs"] / describe("resnet8")["macs"]
        assert paces[arch] == pytest.approx(scaled, abs=1e-3), dry


def test_a_campaign_counts_a_run_recorded_in_the_other_precision_when_its_plan_leaves_precision_to_the_machine(
        tmp_path, cli, monkeypatch):
    """A run recorded in bf16 (on a CPU with native bf16) is not trained again in fp32 on a CPU without it, where
    the plan's "auto" precision resolves to fp32; a step that asks for fp32 itself still trains it."""
    plan = tmp_path / "plan.toml"
    plan.write_text('data = "synthetic"\nval_fraction = 0\n[[step]]\nname = "tiny"\narchs = ["resnet8"]\nschedule = 12\n'
                    '[[step]]\nname = "fp32 asked"\narchs = ["resnet8"]\nschedule = 12\nprecisions = ["fp32"]\n')
    from resnet_lib.launching.campaign import load_plan

    bf16 = replace(fastpath.resolve(load_plan(plan)[0].configs[0], torch.device("cpu")), precision="bf16")
    train(bf16, out_dir=tmp_path / "results", device="cpu", progress=False)
    monkeypatch.setattr(fastpath, "native_bf16", lambda device: False)  # as on an AMD Zen 3
    code, dry, _ = cli("campaign", "--plan", str(plan), "--out", str(tmp_path / "results"), "--work",
                       str(tmp_path / "work"), "--dry-run")
    assert code == 0 and dry.count(": recorded (bf16)") == 1, dry
    assert "1 runs to train" in dry, dry  # the fp32 step's run
