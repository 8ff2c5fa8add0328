#!/usr/bin/env bash
# Every music comparison the report shows, from a clean worktree (after new music weights: issue 11 item 5):
# the note_density matrix (every method, 1x/4x/16x, seeds 0-2, n = 16, 50 steps, two one-thread workers) and the
# quality rows of scripts/seq_quality_tables.sh. Resumable (finished cells are skipped). Usage:
#   bash scripts/music_tables.sh OUT
set -euo pipefail
OUT=${1:?usage: music_tables.sh OUT}
bench matrix --tasks music --methods all --objectives note_density --budgets 1x,4x,16x --seeds 0-2 --n 16 \
  --steps 50 --workers 2 --threads 1 --no-progress --out "$OUT"
TASKS=music bash "$(dirname "$0")/seq_quality_tables.sh" "$OUT"
