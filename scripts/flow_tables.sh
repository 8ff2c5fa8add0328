#!/usr/bin/env bash
# The flow issue's tables (issue 15), from a clean worktree: bash scripts/flow_tables.sh OUT [WORKERS]
# Resumable: cells with a final record in OUT are skipped. Tables:
#   python scripts/quality_table.py OUT --task images,images_flow --objective label=3   (DDPM vs flow)
#   python scripts/quality_table.py OUT --task images_flow --objective label=3           (ODE rows: "(eta=0)")
set -euo pipefail
OUT=${1:?usage: flow_tables.sh OUT [WORKERS]}
W=${2:-2}
M=(bench matrix --objectives label=3 --seeds 0-1 --n 64 --threads 1 --workers "$W" --no-progress --out "$OUT")
# 1. DDPM vs flow: the same methods and budgets on both models of the same data (oracle accuracy, FID)
"${M[@]}" --tasks images,images_flow --methods none --budgets 1x
"${M[@]}" --tasks images,images_flow --methods cfg,best-of-n,dps,smc,treeg-g --budgets 4x
# 2. ODE vs SDE on the flow model: best-of-n keeps its diversity on the ODE, resampling (smc) loses it
"${M[@]}" --tasks images_flow --methods none --budgets 1x --eta 0
"${M[@]}" --tasks images_flow --methods best-of-n,smc --budgets 4x --eta 0
