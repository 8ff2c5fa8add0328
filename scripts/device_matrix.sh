#!/usr/bin/env bash
# Protocol cells on a lent GPU machine in one call (never part of the tests or CI; issue 18's "run what is left
# there in one prepared call").
#   here, first:   python -m bench.source     # SOURCE.json: the commit and every tracked file's blob id
#   device call:   run(command="bash scripts/device_matrix.sh images_flow,dna,math 8 500", carry=["SOURCE.json"])
#   back here:     mkdir -p RUN && tar xzf FILES_AT/matrix.tgz -C RUN, then resume the rest on CPU:
#                  bench matrix --protocol results/protocol.yaml --tasks ... --workers 2 --threads 1 --out RUN
# The copy there has no .git: the records take their commit from SOURCE.json, checked file by file there
# (bench.source), and the call stops before any cell runs if the copy differs from that commit. The matrix runs
# for at most SECONDS, then what finished (records and per-sample files) is packed into $OUT/matrix.tgz;
# unfinished cells are absent and the CPU resume runs them (claims stay behind: another host's are respected).
# Only tasks whose packages the machine has can run there without wheels (music needs music21 and pretty_midi,
# molecules rdkit and fcd-torch: with the tree's 52 MB they do not fit the 64 MiB a call carries).
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:?tasks, comma list}; workers=${2:-8}; secs=${3:-500}; device=${DEVICE:-cuda}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} MPLBACKEND=Agg PYTHONUNBUFFERED=1
out_dir=${OUT:?OUT: the folder whose files come back}
test -f SOURCE.json || { echo "no SOURCE.json: run python -m bench.source here and carry it" >&2; exit 2; }
python3 - <<'PY'
from bench.records import git_state
sha, dirty = git_state()
print(f"source {sha} {'DIRTY' if dirty else 'clean'}")
raise SystemExit(3 if dirty or sha == "unknown" else 0)
PY
run=/tmp/device_matrix
t0=$SECONDS
set +e
timeout --signal=INT --kill-after=20 "$secs" python3 -m bench matrix --protocol results/protocol.yaml \
  --tasks "$tasks" --device "$device" --workers "$workers" --threads 1 --no-progress --out "$run" \
  > "$out_dir/matrix.log" 2> "$out_dir/matrix.err"
echo "matrix rc=$? after $((SECONDS - t0)) s"
set -e
mkdir -p "$run/records" "$run/samples"
tar czf "$out_dir/matrix.tgz" -C "$run" records samples
cat "$run"/records/*.jsonl 2>/dev/null | wc -l | xargs echo "records:"
tail -c 3000 "$out_dir/matrix.err" > "$out_dir/matrix.err.tail" && rm "$out_dir/matrix.err"
