#!/usr/bin/env bash
# Run a resnet_lib command on a lent GPU machine and pack the run records for the trip back.
#
# Here, once:   cp ../shared/data/cifar10-jpeg.tar.gz data/        (git-ignored; carried to the device)
# On the device (the device tool's run, carry ["data/cifar10-jpeg.tar.gz"]):
#   bash scripts/device_job.sh "$(git rev-parse HEAD)" python3 -m resnet_lib sweep --archs resnet20 ... --time-limit 500
#   (write the commit here, in the command: the checkout on the device has no .git)
# Back here:    tar xzf <files_at>/results.tgz                       (adds the runs under results/)
#
# Checkpoints (*.pt) stay on the device, where a later command of the same session resumes them.
set -uo pipefail
cd "$(dirname "$0")/.."
export RESNET_LIB_COMMIT="$1" RESNET_LIB_JPEG_ARCHIVE=data/cifar10-jpeg.tar.gz  # --data cifar10-jpeg reads the carried archive
shift
PYTHONUNBUFFERED=1 "$@"
status=$?
tar czf "${OUT:?the device sets OUT}/results.tgz" --exclude='*.pt' --exclude='*.tmp' --exclude=lock --exclude=smoke results
echo "packed $(tar tzf "$OUT/results.tgz" | grep -c summary.json) finished runs into \$OUT/results.tgz"
exit $status
