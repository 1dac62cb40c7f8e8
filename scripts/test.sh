#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run everything that checks the project:
#   1. pytest: unit tests, then every notebook under nbval (stored outputs of checked cells must match);
#   2. the report: built from results/ (scripts/report.sh), then every page opened in headless
#      Chromium (scripts/check_book.py: pages load, figures display, math renders; screenshots saved).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Slurm tests need a one-node cluster (scripts/slurm_local.sh): Debian's slurm-wlm and munge, as root.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v slurmctld >/dev/null; then
    echo "installing Debian's slurm-wlm and munge for the Slurm tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
.venv/bin/python -m pytest "$@"

bash scripts/report.sh
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's chromium and chromium-driver for the browser check"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "the browser check needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)" >&2
        exit 1
    fi
fi
.venv/bin/python scripts/check_book.py
