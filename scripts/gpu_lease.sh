#!/usr/bin/env bash
# One GPU lease call as one prepared command, for the device tool's `run` (its README: 64 MiB carried a call,
# 10 minutes a command, 15 minutes a lease). Real CIFAR-10 is larger than one call carries, so it travels in parts:
#
#   here, once:  split -b 60M -d ../shared/data/cifar10-lossless.npz data/cifar10-lossless.npz.part-   (git-ignored)
#   call 1:      command "bash scripts/gpu_lease.sh <commit> 0",   carry ["data/cifar10-lossless.npz.part-00"]
#   call 2:      the same,                                       carry ["data/cifar10-lossless.npz.part-01"]
#   call 3:      command "BENCH=1 bash scripts/gpu_lease.sh <commit> 420", carry ["data/cifar10-lossless.npz.part-02"]
#   back here:   python scripts/gpu_unpack.py <files_at>
#
# Each call keeps the parts it was carried outside the checkout (/root/lease-data: it lives as long as the
# warm machine). Once all are there they are joined and checked against the archive's SHA-256 (the data
# layer checks the content hash too), and within BUDGET seconds the call trains RUNS on real CIFAR-10, the
# paper's full schedule on all 50k training images (the campaign's plan, seed 0), CONCURRENT processes
# with TOGETHER runs each (the many-runs path: train_group, a CUDA stream per run), checkpoints every
# unfinished run before the budget ends, and packs into $OUT: records.tgz (finished runs: config,
# metrics, summary, weights) and one unfinished-<n>.tgz per unfinished run (its record so far and its
# checkpoint), which resumes here on CPU (the campaign) or in a later lease: the same run, one more piece.
# BENCH=1 first measures the choices (benchmarks/throughput.py: one run, K processes, runs together)
# for ResNet-20, -56 and -110 and writes the record to $OUT, to set CONCURRENT and TOGETHER by.
set -uo pipefail
cd "$(dirname "$0")/.."
export RESNET_LIB_COMMIT="$1" PYTHONUNBUFFERED=1
BUDGET=${2:-540}
SWEEP_ARGS=${SWEEP_ARGS:---schedule full --val-fraction 0}   # add --cuda-graphs where the benchmark shows them faster
CONCURRENT=${CONCURRENT:-5}
TOGETHER=${TOGETHER:-2}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
# the campaign plan's seed-0 nets on all 50k images, in its order; the archive's SHA-256 as the data layer knows it
RUNS=${RUNS:-$("$PYTHON" -c "from resnet_lib.launching.campaign import load_plan; print(','.join(dict.fromkeys(c.arch for s in load_plan() for c in s.configs if c.seed == 0 and c.val_fraction == 0)))")}
ARCHIVE_SHA256=$("$PYTHON" -c "from resnet_lib.data.sources import LOSSLESS_ARCHIVE_SHA256; print(LOSSLESS_ARCHIVE_SHA256)")
CARRIED=${CARRIED:-data}          # where this call's carried part lies in the checkout
WORK=${WORK:-/root/gpu-lease}     # outside the checkout: survives between calls on a warm machine
PARTS=${PARTS:-/root/lease-data}
ARCHIVE_PARTS=3                   # 169.5 MB in parts of 60 MB
start=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - start) )); }
exec > >(tee -a "$OUT/lease.log") 2>&1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU: $DEVICE"
"$PYTHON" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)"

echo "== data"
mkdir -p "$PARTS"
cp -v "$CARRIED"/cifar10-lossless.npz.part-* "$PARTS"/ 2>/dev/null
if [ ! -f "$PARTS/cifar10-lossless.npz" ]; then
    count=$(ls "$PARTS"/cifar10-lossless.npz.part-* 2>/dev/null | wc -l)
    if [ "$count" -lt "$ARCHIVE_PARTS" ]; then
        echo "have $count of $ARCHIVE_PARTS parts of the real CIFAR-10 archive; carry the next in the next call"
        exit 0
    fi
    cat "$PARTS"/cifar10-lossless.npz.part-* > "$PARTS/cifar10-lossless.npz.tmp"
    echo "$ARCHIVE_SHA256  $PARTS/cifar10-lossless.npz.tmp" | sha256sum -c - || { rm -f "$PARTS/cifar10-lossless.npz.tmp"; exit 1; }
    mv "$PARTS/cifar10-lossless.npz.tmp" "$PARTS/cifar10-lossless.npz"
fi
export RESNET_LIB_LOSSLESS_ARCHIVE="$PARTS/cifar10-lossless.npz"
"$PYTHON" -c "from resnet_lib.data.sources import load_dataset; d = load_dataset('cifar10'); print('CIFAR-10:', len(d.train_labels), '+', len(d.test_labels), 'images, content sha256', d.sha256[:12])" || exit 1

if [ "${BENCH:-0}" = 1 ]; then
    echo "== benchmark ($(left) s left)"
    timeout "$(( $(left) / 2 ))" "$PYTHON" benchmarks/throughput.py --device cuda --data cifar10 --archs resnet20,resnet56,resnet110 \
        --steps 60 --warmup 25 --concurrent 4 --together 3 --settings bf16+CL+compile,bf16+CL+graphs --out "$OUT"
fi

echo "== train $RUNS ($SWEEP_ARGS; $CONCURRENT processes x $TOGETHER runs), $(left) s left"
compile=${COMPILE:---compile}
while [ "$(left)" -gt 90 ]; do
    "$PYTHON" -m resnet_lib sweep --archs "$RUNS" --data cifar10 $compile $SWEEP_ARGS --concurrent "$CONCURRENT" \
        --together "$TOGETHER" --device "$DEVICE" --out "$WORK/results" --time-limit "$(( $(left) - 45 ))" && break
    [ "$compile" = --no-compile ] && break
    echo "== the sweep failed with compile; again without it ($(left) s left)"
    compile=--no-compile
done

echo "== pack ($(left) s left)"
"$PYTHON" scripts/gpu_pack.py "$WORK/results" "$OUT"
ls -la "$OUT"
