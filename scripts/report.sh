#!/usr/bin/env bash
# Set up (scripts/setup.sh), execute every notebook on the recorded runs in results/ (training
# nothing), and build the Jupyter Book. Open book/_build/html/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RESNET_LIB_REPORT_ONLY=1
mkdir -p book/notebooks
for notebook in notebooks/*.ipynb; do  # executed copies; the sources stay as committed
    echo "executing $notebook"
    .venv/bin/papermill --no-progress-bar --log-level WARNING "$notebook" "book/notebooks/$(basename "$notebook")"
done
rm -rf book/_build
.venv/bin/jupyter-book build book -W -n --keep-going
echo
echo "report built: $(pwd)/book/_build/html/index.html"
