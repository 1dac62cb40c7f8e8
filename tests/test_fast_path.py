"""The GPU fast path's switches, the concurrent-run scheduler and the benchmark script, on CPU."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

from resnet_lib.config import TrainConfig
from resnet_lib.launching.launch import LocalExecutor
from resnet_lib.report.views import benchmark_table, cpu_kind_of, cpu_target_table, evaluation_benchmark_table
from resnet_lib.runs.results import Run
from resnet_lib.training import fastpath
from resnet_lib.training.runtime import ResolvedRun, resolve_run
from resnet_lib.training.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = TrainConfig(arch="resnet8", data="synthetic", iterations=8, eval_every=4, batch_size=32, val_fraction=0.05)


def test_bf16_channels_last_path_trains_and_is_recorded_as_such(tmp_path):
    fast = replace(TINY, precision="bf16", channels_last=True)
    run = train(fast, out_dir=tmp_path, device="cpu", progress=False)
    assert run.config().precision == "bf16" and run.config().channels_last
    metrics = run.metrics()
    assert metrics["train_loss"].notna().all() and metrics["test_error"].between(0, 100).all()
    fp32 = train(replace(TINY, precision="fp32"), out_dir=tmp_path, device="cpu", progress=False)
    assert run.path != fp32.path and fp32.config().precision == "fp32"  # another experiment


def sweep(configs, concurrent, out_dir, device, together=1, time_limit=None):
    """(run, finished) of each config, trained by the executor the CLI's sweep uses."""
    outcomes = LocalExecutor(concurrent, together, device).run(configs, out_dir, time_limit)
    return [(o.run, o.finished) for o in outcomes]


def test_sweep_trains_each_config_into_its_own_resumable_run(tmp_path):
    configs = [replace(TINY, seed=0), replace(TINY, arch="plain8", shortcut=None, seed=0), replace(TINY, seed=1)]
    done = sweep(configs, concurrent=2, out_dir=tmp_path, device="cpu")
    assert [finished for _, finished in done] == [True, True, True]
    assert [(run.config().arch, run.config().seed) for run, _ in done] == [(c.arch, c.seed) for c in configs]
    assert [run.summary()["environment"]["runs_at_once"] for run, _ in done] == [2, 2, 2]  # its speed was shared
    launched_with = Path(fastpath.allocator_env({}).get("LD_PRELOAD", "glibc")).name  # tcmalloc where the machine has it
    assert {run.summary()["environment"]["allocator"] for run, _ in done} == {launched_with}
    assert "LD_PRELOAD" not in fastpath.allocator_env({"RESNET_LIB_ALLOCATOR": "system"})  # the way out
    again = sweep(configs, concurrent=2, out_dir=tmp_path, device="cpu")  # all recorded: nothing retrained
    assert [run.summary_file.stat().st_mtime for run, _ in again] == [run.summary_file.stat().st_mtime for run, _ in done]


def test_a_sweep_of_runs_trained_together_records_each_as_its_own_run(tmp_path):
    configs = [replace(TINY, seed=0), replace(TINY, arch="plain8", shortcut=None, seed=0), replace(TINY, seed=1)]
    (alone, _), = sweep(configs[2:], concurrent=2, out_dir=tmp_path / "alone", device="cpu")  # the same threads per run
    done = sweep(configs, concurrent=2, together=2, out_dir=tmp_path / "together", device="cpu")  # [2 runs], [1 run]
    assert [(run.config().arch, run.config().seed, finished) for run, finished in done] == \
        [(c.arch, c.seed, True) for c in configs]
    assert [run.summary()["environment"]["runs_at_once"] for run, _ in done] == [3, 3, 3]
    assert done[2][0].metrics().drop(columns="elapsed_s").equals(alone.metrics().drop(columns="elapsed_s"))


def test_a_run_resolved_by_a_parent_trains_in_the_child_as_resolved_and_changed_data_is_refused(tmp_path, cli):
    resolved = resolve_run(replace(TINY, precision="auto"), tmp_path / "elsewhere", torch.device("cpu"))
    assert ResolvedRun.from_dict(json.loads(json.dumps(resolved.to_dict()))) == resolved
    listed = tmp_path / "runs.json"
    listed.write_text(json.dumps([resolved.to_dict()]))
    code, out, err = cli("train", "--configs", str(listed), "--device", "cpu", "--no-progress")
    assert code == 0 and resolved.folder.finished and str(resolved.folder.path) in out  # its folder, not results/smoke
    assert resolved.folder.config() == resolved.config  # its precision and layout as the parent decided them
    changed = replace(resolved, config=replace(resolved.config, data_sha256="0" * 64), folder=Run(tmp_path / "other"))
    listed.write_text(json.dumps([changed.to_dict()]))
    code, out, err = cli("train", "--configs", str(listed), "--device", "cpu", "--no-progress")
    assert code == 2 and "is not the data" in err and len(err.strip().splitlines()) == 1


def test_sweep_past_its_deadline_leaves_runs_for_the_next_call(tmp_path):
    done = sweep([replace(TINY, seed=5)], concurrent=1, out_dir=tmp_path, device="cpu", time_limit=0)
    assert done == [(None, False)] and not any(tmp_path.iterdir())


def test_benchmark_script_runs_with_tiny_settings(tmp_path):
    cmd = [sys.executable, "benchmarks/throughput.py", "--device", "cpu", "--archs", "resnet8", "--steps", "2",
           "--warmup", "1", "--workers", "0", "--concurrent", "0", "--together", "2", "--data", "synthetic",
           "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (record,) = tmp_path.glob("throughput-*.json")
    data = json.loads(record.read_text())
    row = data["archs"]["resnet8"]
    assert row["standard_img_s"] > 0 and row["fast_img_s"] > 0
    assert row["speedup"] == row["fast_img_s"] / row["standard_img_s"]
    assert row["together_runs"] == 2 and row["together_img_s"] > 0
    assert data["hardware"]["torch"] and data["data"]["name"] == "synthetic"
    assert "resnet8" in done.stdout and "recorded in" in done.stdout
    table = benchmark_table(tmp_path)  # what the book's performance chapter shows
    assert list(table["arch"].unique()) == ["resnet8"] and table.loc[0, "setting"] == "standard pipeline"
    (default,) = table[table["setting"].str.endswith("(default)")].itertuples()
    assert default.setting == f"{row['picked']} (default)" and default[5] == row["speedup"]  # "vs standard"


def test_the_cpu_targets_are_judged_by_the_best_default_measured_on_each_kind(tmp_path):
    def record(name: str, units: str, img_s: float) -> None:
        hardware = {"hardware": f"1x CPU (2 cores, 2 threads; {units})", "started": "2026-12-07T00:00:00Z"}
        (tmp_path / f"throughput-cpu-{name}.json").write_text(json.dumps(
            {"hardware": hardware, "archs": {"resnet20": {"fast_img_s": img_s}}}))

    record("1", "AVX-512, AVX-512 BF16", 1000.0)
    record("2", "AVX-512, AVX-512 BF16", 1080.0)  # the better of two records on one kind counts
    record("3", "AVX-512, AVX-512 BF16, AMX BF16", 2100.0)  # AMX, not Zen 4's AVX-512 BF16
    table = cpu_target_table(tmp_path, {"AMX BF16": ("AMX", 2000), "AVX-512 BF16": ("Zen 4", 1200), "AVX2": ("Zen 3", 450)})
    assert table.set_index("CPU")["verdict"].to_dict() == {"AMX": "met", "Zen 4": "missed by 10%", "Zen 3": "not measured yet"}


def test_evaluation_benchmark_script_runs_and_the_book_reads_its_record(tmp_path):
    cmd = [sys.executable, "benchmarks/evaluation.py", "--device", "cpu", "--archs", "resnet8", "--repeats", "1",
           "--images", "500", "--eager", "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (record,) = tmp_path.glob("evaluation-*.json")
    row = json.loads(record.read_text())["archs"]["resnet8"]
    assert row["img_s"]["model"] > 0 and row["speedup"] == row["img_s"]["folded"] / row["img_s"]["model"]
    assert not row["compile"] and "1/8:" in done.stdout and "recorded in" in done.stdout
    table = evaluation_benchmark_table(tmp_path)  # what the book's performance chapter shows
    assert table["arch"].tolist() == ["resnet8"] and table.loc[0, "folded / model"] == f"{row['speedup']:.2f}x"


def test_auto_settings_follow_the_hardware_and_bf16_without_native_support_says_so(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(fastpath, "cpu_flags", lambda: frozenset({"avx2"}))  # an AVX2-only CPU (Zen 3)
    slow = fastpath.resolve(TrainConfig(data="synthetic"), cpu)
    assert (slow.precision, slow.channels_last, slow.compile) == ("fp32", True, False)  # compiling was slower there
    warning = fastpath.slow_precision_warning(replace(slow, precision="bf16"), cpu)
    assert "no native bf16" in warning and "13x slower" in warning and "--precision fp32" in warning
    assert "AVX2" in fastpath.cpu_capability()
    monkeypatch.setattr(fastpath, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16", "amx_bf16"}))
    assert fastpath.slow_precision_warning(replace(slow, precision="bf16"), cpu) is None
    assert fastpath.resolve(TrainConfig(data="synthetic"), cpu).compile
    assert not fastpath.resolve(TrainConfig(data="synthetic", iterations=200), cpu).compile  # too short to repay it
    native = fastpath.resolve(TrainConfig(data="synthetic"), cpu).precision
    assert native == ("bf16" if fastpath.BF16_BY_DEFAULT else "fp32")  # bf16 by default only after the numerics check


def test_the_default_compiles_on_a_cpu_kind_only_where_its_benchmark_records_found_compiling_faster():
    checked = set()
    for path in sorted((ROOT / "results" / "benchmarks").glob("throughput-cpu-*.json")):
        record = json.loads(path.read_text())
        kind = cpu_kind_of(record["hardware"]["hardware"])
        precision = "bf16" if "BF16" in kind else "fp32"  # the kind's default precision
        for arch, row in record["archs"].items():
            eager, compiled = (row["settings"].get(f"{precision}+CL{c}") for c in ("", "+compile"))
            if eager and compiled:
                assert fastpath.COMPILE_PAYS_ON[kind] == (compiled["img_s"] > eager["img_s"]), (path.name, arch)
                checked.add(kind)
    assert {"AMX BF16", "AVX-512 BF16"} <= checked  # the Intel Xeon's and the Zen 4's records


def test_a_time_limit_counts_from_the_start_of_the_call_not_of_the_loop(tmp_path, monkeypatch):
    """A sweep hands each run the time left before its deadline; start-up (data, model) must count
    against it, or every run overshoots the deadline by its start-up time."""
    import time

    from resnet_lib.training import train as train_module

    make_pipeline = train_module.make_pipeline

    def slow_pipeline(*args, **kwargs):  # a start-up longer than the whole time limit
        time.sleep(1.5)
        return make_pipeline(*args, **kwargs)

    monkeypatch.setattr(train_module, "make_pipeline", slow_pipeline)
    run = train(replace(TINY, iterations=400), out_dir=tmp_path, device="cpu", progress=False, time_limit=1.0)
    assert not run.finished and torch.load(run.checkpoint_file, weights_only=False)["state"]["iteration"] == 0


def test_a_sweep_limited_to_one_core_gives_its_run_one_thread(tmp_path):
    """taskset, a container's cpuset or Slurm's binding may allow fewer cores than the machine has: a run
    given a thread per machine core there trained ResNet-8 10x slower (OpenMP's threads waiting on each other)."""
    sweep = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "resnet_lib", "sweep", "--archs", "resnet8",
                            "--data", "synthetic", "--iterations", "4", "--eval-every", "4", "--batch-size", "16",
                            "--no-compile", "--device", "cpu", "--concurrent", "1", "--out", str(tmp_path)],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    (run,) = map(Run, tmp_path.iterdir())
    assert "1 thread;" in run.summary()["environment"]["hardware"], run.summary()["environment"]["hardware"]
