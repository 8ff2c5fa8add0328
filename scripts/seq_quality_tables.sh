#!/usr/bin/env bash
# Quality guidance on the sequence tasks (issue 14), from a clean worktree: bash scripts/seq_quality_tables.sh OUT
# The `quality` objective of music (main metric OA against held-out excerpts) and molecules (validity, with FCD,
# uniqueness, novelty and NLL beside it): PAG on the transformer's middle block against unguided sampling and
# best-of-n on the objective's proxy at matched compute (2x: PAG is two forwards per step). Neither task ships a
# weak model or a label for `quality`, so autoguidance and cfg record `incompatible` there. Resumable. Tables:
#   python scripts/quality_table.py OUT --task music --objective quality
#   python scripts/quality_table.py OUT --task molecules --objective quality
set -euo pipefail
OUT=${1:?usage: seq_quality_tables.sh OUT}
TASKS=${TASKS:-music molecules}  # TASKS=music: only music (after new music weights)
for task in $TASKS; do
  n=$([ "$task" = music ] && echo 64 || echo 128)
  R=(bench run --task "$task" --objective quality --seeds 0-2 --n "$n" --threads 1 --no-progress --out "$OUT")
  "${R[@]}" --method none --budget 1x
  for m in "none" "best-of-n" "pag --set w=1.5" "pag --set w=3"; do
    "${R[@]}" --budget 2x --method $m
  done
done
