#!/usr/bin/env bash
# Device check: the same small matrix on CPU and CUDA, metrics compared cell by cell, speed-up printed.
# Run whenever a GPU is at hand (never part of the tests): bash scripts/device_check.sh [extra args]
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
exec python3 scripts/device_check.py --devices cpu,cuda "$@"
