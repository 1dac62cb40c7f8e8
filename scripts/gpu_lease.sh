#!/usr/bin/env bash
# One GPU lease as one prepared command, for the device tool's `run` (see /work/.library/device):
#
#   here, once:  cp ../shared/data/cifar10-jpeg.tar.gz data/            (git-ignored; carried)
#                python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                    --platform manylinux_2_28_x86_64 -d .whl pillow==<the version here>   (git-ignored; carried)
#   run:         command "bash scripts/gpu_lease.sh <commit> <budget_s>", carry ["data/cifar10-jpeg.tar.gz", ".whl"]
#   back here:   python scripts/gpu_unpack.py <files_at>
#
# Within BUDGET seconds (default 540) it trains the paper's full schedule, seed 0, of the runs in RUNS
# concurrently on the GPU (bf16 + channels-last + compile, the fast path), checkpoints what is unfinished
# before the budget ends, and packs into $OUT: records.tgz (finished runs: config, metrics, summary,
# weights) and one unfinished-<n>.tgz per unfinished run (its record so far and its checkpoint), which
# resumes here on CPU or in a later lease (same run key, one more piece). Run it again on the same warm
# machine and it continues the unfinished runs (the data cache and the run folders stay in /root).
# The image's Pillow may decode JPEG differently from the one here, so the carried wheel (the same
# version as here) is installed first: the JPEG copy's decoded pixels must hash to its known SHA-256.
set -uo pipefail
cd "$(dirname "$0")/.."
export RESNET_LIB_COMMIT="$1" PYTHONUNBUFFERED=1 RESNET_LIB_JPEG_ARCHIVE=data/cifar10-jpeg.tar.gz
BUDGET=${2:-540}
RUNS=${RUNS:-resnet20,plain20,resnet56,plain56}
SWEEP_ARGS=${SWEEP_ARGS:---schedule full}
DEVICE=${DEVICE:-cuda}
WORK=${WORK:-/root/gpu-lease}  # outside the checkout: survives between calls on a warm machine
start=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - start) )); }
exec > >(tee -a "$OUT/lease.log") 2>&1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
python3 -c "import torch, PIL, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'pillow', PIL.__version__)"

echo "== data ($(left) s left)"
python3 -c "from resnet_lib.data import load_dataset; d = load_dataset('cifar10-jpeg'); print('decoded', len(d.train_labels), '+', len(d.test_labels), 'images, sha256', d.sha256[:12])" || exit 1

echo "== train $RUNS ($SWEEP_ARGS), $(left) s left"
compile=--compile
while [ "$(left)" -gt 60 ]; do
    python3 -m resnet_lib sweep --archs "$RUNS" --data cifar10-jpeg $compile $SWEEP_ARGS --concurrent 4 --device "$DEVICE" \
        --out "$WORK/results" --time-limit "$(( $(left) - 30 ))" && break
    [ "$compile" = --no-compile ] && break
    echo "== the sweep failed with compile; again without it ($(left) s left)"
    compile=--no-compile
done

echo "== pack ($(left) s left)"
python3 - "$WORK/results" "$OUT" <<'EOF'
import sys, tarfile
from pathlib import Path
import pandas as pd
root, out = Path(sys.argv[1]), Path(sys.argv[2])
runs = sorted(p for p in root.iterdir() if (p / "config.json").is_file())
finished = [p for p in runs if (p / "summary.json").is_file()]
with tarfile.open(out / "records.tgz", "w:gz") as tar:
    for run in finished:
        tar.add(run, arcname=f"results/{run.name}", filter=lambda m: None if m.name.endswith((".tmp", "/lock")) else m)
for i, run in enumerate(p for p in runs if p not in finished):
    with tarfile.open(out / f"unfinished-{i}.tgz", "w:gz") as tar:
        tar.add(run, arcname=run.name, filter=lambda m: None if m.name.endswith((".tmp", "/lock")) else m)
for run in runs:
    metrics = pd.read_csv(run / "metrics.csv") if (run / "metrics.csv").is_file() else pd.DataFrame()
    last = metrics.iloc[-1] if len(metrics) else None
    where = "no evaluation yet" if last is None else \
        f"iteration {int(last.iteration)}: test error {last.test_error:.2f}%, training error {last.train_error:.2f}%"
    print(f"{'finished  ' if run in finished else 'unfinished'} {run.name}: {where}")
EOF
ls -la "$OUT"
