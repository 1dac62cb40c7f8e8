#!/usr/bin/env bash
# Bring a GPU lease's files (scripts/gpu_lease.sh) into this checkout: finished runs into results/
# (config, metrics, summary are committed; weights.pt stays local), unfinished runs into the campaign's
# work folder (RESNET_LIB_WORK, default ~/.cache/resnet_lib/runs), where `python -m resnet_lib campaign`
# or `train --resume` continues them: the same run, one more piece.
#   bash scripts/gpu_unpack.sh <folder with records.tgz and unfinished-*.tgz>
set -euo pipefail
cd "$(dirname "$0")/.."
from=$1
work=${RESNET_LIB_WORK:-$HOME/.cache/resnet_lib/runs}
mkdir -p "$work"
[ -f "$from/records.tgz" ] && tar xzvf "$from/records.tgz" | grep summary.json || true
for f in "$from"/unfinished-*.tgz; do
    [ -f "$f" ] || continue
    name=$(tar tzf "$f" | head -1 | cut -d/ -f1)
    if [ -e "$work/$name/lock" ] && fuser "$work/$name/lock" >/dev/null 2>&1; then
        echo "$work/$name is being trained; not replaced" >&2; continue
    fi
    rm -rf "${work:?}/$name" && tar xzf "$f" -C "$work" && echo "unfinished: $work/$name"
done
