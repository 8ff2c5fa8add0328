#!/usr/bin/env bash
# The images quality-guidance tables (issue 14), from a clean worktree: bash scripts/images_quality_tables.sh OUT
# Resumable: bench run skips cells that already have a final record in OUT. Tables:
#   python scripts/quality_table.py OUT --task images --objective quality
#   python scripts/quality_table.py OUT --task images --objective label=3
set -euo pipefail
OUT=${1:?usage: images_quality_tables.sh OUT}
R=(bench run --task images --seeds 0-2 --threads 1 --no-progress --out "$OUT")
# 1. FID at matched compute (2x): the model's own guidance against unguided sampling and best-of-n on the proxy
for m in "none" "best-of-n" "pag --set w=3" "sag --set w=1.5" "autoguidance --set w=2"; do
  "${R[@]}" --objective quality --budget 2x --n 64 --method $m
done
# 2. label=3 at 4x: CFG against classifier and reward guidance (oracle accuracy and FID)
for m in none cfg best-of-n dps tfg smc treeg-sd treeg-g; do
  "${R[@]}" --objective label=3 --budget 4x --n 64 --method "$m"
done
# 3. composition at 8x: smc, pag, and smc on a pag base
for m in "smc" "pag" "smc --base pag:3"; do
  "${R[@]}" --objective label=3 --budget 8x --n 64 --method $m
done
