#!/usr/bin/env bash
# Create .venv (if missing) and install the pinned torch/torchvision and this package with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# torch/torchvision pinned to the newest releases this project is tested with; the code runs on torch >= 2.4.
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
