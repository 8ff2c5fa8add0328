#!/usr/bin/env bash
# The images inverse-problem tables (issue 16), from a clean worktree: bash scripts/images_inverse_tables.sh OUT [WORKERS]
# Resumable: cells with a final record in OUT are skipped. Every method at 4x on sr=4 and inpaint=box; the
# gradient methods and best-of-n again at 8x (n = 16 per seed, 25 steps, seeds 0-2; about 55 CPU-minutes).
# Merge with `python scripts/merge_records.py OUT`, then `bench report`.
set -euo pipefail
OUT=${1:?usage: images_inverse_tables.sh OUT [WORKERS]}
W=${2:-2}
M=(bench matrix --tasks images --objectives sr=4,inpaint=box --n 16 --steps 25 --seeds 0-2 --threads 1
   --workers "$W" --no-progress --out "$OUT")
"${M[@]}" --methods all --budgets 4x
"${M[@]}" --methods best-of-n,dps,freedom,lgd,mpgd,tfg,ugd --budgets 8x
