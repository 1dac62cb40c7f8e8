#!/usr/bin/env bash
# Execute every notebook in place on the recorded runs (training nothing), so that the stored outputs
# that nbval compares (cells marked NBVAL_CHECK_OUTPUT) match results/ after runs are added.
set -euo pipefail
cd "$(dirname "$0")/.."
export RESNET_LIB_REPORT_ONLY=1
for notebook in notebooks/*.ipynb; do
    echo "executing $notebook"
    .venv/bin/papermill --no-progress-bar --log-level WARNING "$notebook" "$notebook"
done
