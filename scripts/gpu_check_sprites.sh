#!/usr/bin/env bash
# The Sprites part of the prepared device check (issue 29), called by scripts/gpu_check.sh as its last phase,
# or alone:
#
#   scripts/gpu_check_sprites.sh SECONDS OUT_DIR          # on a GPU: dsae-sprites-paper (64x64) and the 64 judge
#   scripts/gpu_check_sprites.sh SECONDS OUT_DIR --dry-run  # the plumbing on a CPU: 32x32 preset, 1-epoch judge, 3 steps
#
# Steps, each bounded by what is left of SECONDS: build the benchmark from the packaged sheets (`cmivae data
# make-sprites` into $CMIVAE_DATA, a scratch folder when gpu_check.sh calls it); train the judge (`cmivae judge
# train sprites`, on the GPU); time the video DSAE training step (`python -m benchmarks --only video-dsae`); train the
# preset for as many steps as fit (train.max_steps) and evaluate it with the judge's headline test. Small result
# files land in OUT_DIR/sprites/.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_GIVEN=${1:?usage: gpu_check_sprites.sh SECONDS OUT_DIR [--dry-run]}
OUT=${2:?usage: gpu_check_sprites.sh SECONDS OUT_DIR [--dry-run]}/sprites
DRY_RUN=0
[ "${3:-}" = "--dry-run" ] && DRY_RUN=1
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export CMIVAE_DATA=${CMIVAE_DATA:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-sprites.XXXXXX")}
END=$(($(date +%s) + SECONDS_GIVEN))
left() { echo $((END - $(date +%s))); }
step() {  # step NAME LIMIT COMMAND...: bounded, logged to $OUT/NAME.txt, exit code and seconds to $OUT/steps.tsv
  local name=$1 limit=$2 began=$(date +%s) rc; shift 2
  if [ "$limit" -le 5 ]; then echo "[sprites-$name] skipped: no time left" | tee -a "$OUT/$name.txt"; return 124; fi
  timeout --signal=INT --kill-after=15 "$limit" "$@" >>"$OUT/$name.txt" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" $(($(date +%s) - began)) | tee -a "$OUT/steps.tsv"
  return $rc
}

if [ "$DRY_RUN" = 1 ]; then
  SIZE=32; PRESET=dsae-sprites-cpu; DEVICE=cpu; JUDGE_EPOCHS=1; STEPS=3
  EXTRA=(--set data.num_train=270 --set data.num_test=180 --set train.device=cpu)
  export OMP_NUM_THREADS=1
else
  SIZE=64; PRESET=dsae-sprites-paper; DEVICE=cuda; JUDGE_EPOCHS=4; STEPS=300
  EXTRA=(--set train.device=cuda)
fi

step data "$(left)" "$PY" -m cmivae data make-sprites || { echo "sprites: make-sprites failed ($OUT/data.txt)"; exit 1; }
step judge "$(($(left) * 2 / 5))" "$PY" -m cmivae judge train sprites --size "$SIZE" --epochs "$JUDGE_EPOCHS" \
  --device "$DEVICE" || echo "sprites: the judge did not finish ($OUT/judge.txt)"
if [ "$DRY_RUN" = 1 ]; then
  step bench "$(($(left) / 3))" "$PY" -m benchmarks --device cpu --quick --only video-dsae --threads 1
else
  step bench "$(($(left) / 4))" "$PY" -m benchmarks --device cuda --only video-dsae
fi
step train "$(($(left) * 2 / 3))" "$PY" -m cmivae train "$PRESET" "${EXTRA[@]}" --set objective.name=cmi \
  --set objective.gamma=0.9 --set train.max_steps="$STEPS" --no-progress --out "$CMIVAE_DATA/run-sprites"
if [ -f "$CMIVAE_DATA/run-sprites/best.pt" ]; then
  step evaluate "$(left)" "$PY" -m cmivae evaluate "$CMIVAE_DATA/run-sprites" --metrics elbo judge_action_acc
fi
for f in config.json results.json eval.json train.log; do
  [ -f "$CMIVAE_DATA/run-sprites/$f" ] && cp "$CMIVAE_DATA/run-sprites/$f" "$OUT/"
done
echo "sprites: steps in $OUT/steps.tsv"
cat "$OUT/steps.tsv"
