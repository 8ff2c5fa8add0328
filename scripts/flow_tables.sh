#!/usr/bin/env bash
# The flow issue's tables (issue 15), from a clean worktree: bash scripts/flow_tables.sh OUT [WORKERS] [PART...]
# Resumable: cells with a final record in OUT are skipped. Parts (default: 1 2 3):
#   1  DDPM vs flow: none at 1x, cfg / best-of-n / dps / smc at 4x on images and images_flow (label=3, seeds 0-1)
#   2  ODE vs SDE on the flow model: none, best-of-n, smc with --eta 0 (the SDE rows are part 1's)
#   3  the rest of the catalogue's continuous searches at 4x (tfg, treeg-sd, treeg-g) and a third seed
# Tables:
#   python scripts/quality_table.py OUT --task images,images_flow --objective label=3   (DDPM vs flow)
#   python scripts/quality_table.py OUT --task images_flow --objective label=3           (ODE rows: "(eta=0)")
set -euo pipefail
OUT=${1:?usage: flow_tables.sh OUT [WORKERS] [PART...]}
W=${2:-2}
shift $(( $# > 1 ? 2 : 1 ))
PARTS=${*:-1 2 3}
M=(bench matrix --objectives label=3 --n 64 --threads 1 --workers "$W" --no-progress --out "$OUT")
for part in $PARTS; do
  case $part in
    1) "${M[@]}" --seeds 0-1 --tasks images,images_flow --methods none --budgets 1x
       "${M[@]}" --seeds 0-1 --tasks images,images_flow --methods cfg,best-of-n,dps,smc --budgets 4x ;;
    2) "${M[@]}" --seeds 0-1 --tasks images_flow --methods none --budgets 1x --eta 0
       "${M[@]}" --seeds 0-1 --tasks images_flow --methods best-of-n,smc --budgets 4x --eta 0 ;;
    3) "${M[@]}" --seeds 0-1 --tasks images,images_flow --methods tfg,treeg-sd,treeg-g --budgets 4x
       "${M[@]}" --seeds 2 --tasks images,images_flow --methods none --budgets 1x
       "${M[@]}" --seeds 2 --tasks images,images_flow --methods cfg,best-of-n,dps,smc,tfg,treeg-sd,treeg-g \
         --budgets 4x ;;
    *) echo "unknown part $part (1, 2, 3)" >&2; exit 2 ;;
  esac
done
