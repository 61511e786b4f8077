#!/usr/bin/env bash
# Train beta-VAE and CMI-VAE at one gamma side by side (one thread each on a 2-core machine),
# evaluate both (also side by side), then print their results in one table.
# Usage: scripts/compare_objectives.sh PRESET GAMMA OUT_DIR [--set key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
CMIVAE=${CMIVAE:-.venv/bin/cmivae}
PRESET=$1 GAMMA=$2 OUT=$3
shift 3
mkdir -p "$OUT"

run_pair() {  # run_pair STEP COMMAND...: the command once per objective, in parallel; stop if one fails
  local step=$1; shift
  local status=0 pids=()
  for objective in beta cmi; do
    OMP_NUM_THREADS=1 "$@" "$objective" > "$OUT/$objective.$step.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  if [ $status -ne 0 ]; then
    echo "$step failed; the end of its logs:" >&2; tail -n 5 "$OUT"/*."$step".log >&2; exit 1
  fi
}
train() { $CMIVAE train "$PRESET" --out "$OUT/$1" --set objective.name="$1" --set objective.gamma="$GAMMA" \
            --no-progress "${EXTRA[@]}"; }
evaluate() { $CMIVAE evaluate "$OUT/$1" --quiet; }
EXTRA=("$@")

start=$SECONDS
echo "training beta-VAE and CMI-VAE (gamma=$GAMMA, preset $PRESET) -> $OUT"
run_pair train train
echo "trained in $((SECONDS - start)) s; evaluating"
start=$SECONDS
run_pair evaluate evaluate
echo "evaluated in $((SECONDS - start)) s"
$CMIVAE compare "$OUT/beta" "$OUT/cmi" --labels "beta-VAE g=$GAMMA" "CMI-VAE g=$GAMMA"
