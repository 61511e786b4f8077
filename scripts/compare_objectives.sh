#!/usr/bin/env bash
# Train beta-VAE and CMI-VAE at one gamma side by side (one thread each on a 2-core machine),
# evaluate both (also side by side), then print their results in one table.
# Usage: scripts/compare_objectives.sh PRESET GAMMA OUT_DIR [--set key=value ...]
# Safe to rerun: finished runs of the same config are reused (cmivae train --reuse-finished),
# interrupted ones resumed, and only metrics missing from eval.json are computed (--missing).
set -euo pipefail
cd "$(dirname "$0")/.."
CMIVAE=${CMIVAE:-.venv/bin/cmivae}
PRESET=$1 GAMMA=$2 OUT=$3
shift 3
mkdir -p "$OUT"
PROGRESS_EVERY=${PROGRESS_EVERY:-60}  # seconds between progress lines of the two runs

run_pair() {  # run_pair STEP COMMAND...: the command once per objective, in parallel; stop if one fails
  local step=$1; shift
  local status=0 pids=() last=$SECONDS
  for objective in beta cmi; do
    OMP_NUM_THREADS=1 "$@" "$objective" > "$OUT/$objective.$step.log" 2>&1 &
    pids+=($!)
  done
  # The two runs' bars are off (they share the terminal): show each log's latest line now and then.
  while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
    sleep 2
    if (( SECONDS - last >= PROGRESS_EVERY )); then
      last=$SECONDS
      for objective in beta cmi; do
        line=$( (grep -v '^[[:space:]]*$' "$OUT/$objective.$step.log" 2>/dev/null || true) | tail -n 1 | cut -c1-150)
        if [ -n "$line" ]; then echo "  $objective: $line"; fi
      done
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  if [ $status -ne 0 ]; then
    echo "$step failed; the end of its logs:" >&2; tail -n 5 "$OUT"/*."$step".log >&2; exit 1
  fi
}
train() { $CMIVAE train "$PRESET" --out "$OUT/$1" --set objective.name="$1" --set objective.gamma="$GAMMA" \
            --no-progress --reuse-finished "${EXTRA[@]}"; }
evaluate() { $CMIVAE evaluate "$OUT/$1" --missing; }
EXTRA=("$@")

start=$SECONDS
echo "training beta-VAE and CMI-VAE (gamma=$GAMMA, preset $PRESET) -> $OUT (logs: $OUT/*.train.log)"
run_pair train train
echo "trained in $((SECONDS - start)) s; evaluating (logs: $OUT/*.evaluate.log)"
start=$SECONDS
run_pair evaluate evaluate
echo "evaluated in $((SECONDS - start)) s"
$CMIVAE compare "$OUT/beta" "$OUT/cmi" --labels "beta-VAE g=$GAMMA" "CMI-VAE g=$GAMMA"
