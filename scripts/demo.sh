#!/usr/bin/env bash
# The main job: beta-VAE and CMI-VAE at one gamma on binarized Fashion-MNIST, CPU preset,
# trained side by side (one thread each), evaluated, then compared in one table.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_OUT:-runs/demo}
GAMMA=${DEMO_GAMMA:-0.5}
mkdir -p "$OUT"
echo "training beta-VAE and CMI-VAE (gamma=$GAMMA) on Fashion-MNIST with the pixelcnn-cpu preset -> $OUT"
for objective in beta cmi; do
  OMP_NUM_THREADS=1 .venv/bin/cmivae train pixelcnn-cpu --out "$OUT/$objective" \
    --set objective.name=$objective --set objective.gamma=$GAMMA --no-progress \
    > "$OUT/$objective.log" 2>&1 &
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
if [ $status -ne 0 ]; then
  echo "a training run failed; its log:" >&2; tail -n 5 "$OUT"/*.log >&2; exit 1
fi
if .venv/bin/cmivae evaluate --help >/dev/null 2>&1; then
  for objective in beta cmi; do
    .venv/bin/cmivae evaluate "$OUT/$objective" --quiet
  done
fi
.venv/bin/cmivae compare "$OUT/beta" "$OUT/cmi" --labels "beta-VAE g=$GAMMA" "CMI-VAE g=$GAMMA"
