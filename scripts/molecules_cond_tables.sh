#!/usr/bin/env bash
# D-CFG on molecules (issue 14), from a clean worktree: bash scripts/molecules_cond_tables.sh OUT [WORKERS]
# The `molecules_cond` twin (the ring-count conditional denoiser; every method samples its null label) on rings=3:
# classifier-free guidance on the label against the reward methods at the same compute, and composed with them.
# Resumable: cells with a final record in OUT are skipped. Table:
#   python scripts/quality_table.py OUT --task molecules_cond --objective rings=3
set -euo pipefail
OUT=${1:?usage: molecules_cond_tables.sh OUT [WORKERS]}
W=${2:-2}
M=(bench matrix --tasks molecules_cond --objectives rings=3 --n 32 --seeds 0-2 --threads 1 --workers "$W"
   --no-progress --out "$OUT")
R=(bench run --task molecules_cond --objective rings=3 --n 32 --seeds 0-2 --threads 1 --no-progress --out "$OUT")
"${M[@]}" --methods none --budgets 1x
# 4x and 16x: cfg at its default scale (3) is 2 forwards per step, so best-of-k fills the rest of the budget
"${M[@]}" --methods cfg,best-of-n,smc,svdd,treeg-sd,treeg-g,code --budgets 4x,16x
for w in 1 1.5 2 6; do "${R[@]}" --method cfg --budget 4x --set w=$w; done  # a scale sweep; w = 1: conditional, unguided
# composition at 16x (at 4x the doubled forwards leave smc one particle and svdd one child: no search left)
"${M[@]}" --methods smc,svdd --budgets 16x --base cfg:3
