#!/usr/bin/env bash
# Issue 12's whole GPU lease as one prepared command, for the device tool's `run`:
#
#   here, once:  cp ../shared/data/cifar10-jpeg.tar.gz data/      (git-ignored; carried)
#   run:         command "bash scripts/gpu_lease.sh <commit> 540", carry ["data/cifar10-jpeg.tar.gz"], timeout_s 600
#   back here:   tar xzf <files_at>/results.tgz   (runs under results/, benchmark JSON under results/benchmarks/)
#
# In order, within BUDGET seconds (default 540): (1) smoke: the fast path on CUDA (auto settings, compile,
# fused SGD) for 200 iterations of ResNet-20 and ResNet-110 and a 2-run concurrent sweep; (2) the
# throughput benchmark (standard pipeline against every setting, concurrent 4) for ResNet-20/56/110;
# (3) the paper's full schedule for Table 6 and Figure 6, seed 0, most valuable first, concurrently,
# checkpointing before the budget ends. Every record comes back in $OUT/results.tgz (no checkpoints).
set -uo pipefail
cd "$(dirname "$0")/.."
export RESNET_LIB_COMMIT="$1" PYTHONUNBUFFERED=1 RESNET_LIB_JPEG_ARCHIVE=data/cifar10-jpeg.tar.gz
BUDGET=${2:-540}
start=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - start) )); }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

echo "== 1. smoke"
python3 -m resnet_lib train --arch resnet20 --data cifar10-jpeg --iterations 200 --compile --out /tmp/smoke --no-progress || exit 1
python3 -m resnet_lib train --arch resnet110 --data cifar10-jpeg --iterations 200 --compile --out /tmp/smoke --no-progress || exit 1
python3 -m resnet_lib sweep --archs resnet20,plain20 --data cifar10-jpeg --iterations 200 --concurrent 2 --out /tmp/smoke || exit 1

echo "== 2. benchmark ($(left) s left)"
python3 benchmarks/throughput.py --archs resnet20,resnet56,resnet110 --data cifar10-jpeg --steps 50 --warmup 15 --concurrent 4

echo "== 3. full schedule ($(left) s left)"
python3 -m resnet_lib sweep --archs resnet20,plain20,resnet56,plain56,resnet32,plain32,resnet44,plain44,resnet110,plain110 \
    --data cifar10-jpeg --concurrent 5 --compile --time-limit "$(( $(left) - 30 ))"
status=$?
tar czf "$OUT/results.tgz" --exclude='*.pt' --exclude='*.tmp' --exclude=lock --exclude=smoke results
echo "packed $(tar tzf "$OUT/results.tgz" | grep -c summary.json) finished runs into \$OUT/results.tgz ($(left) s left)"
exit $status
