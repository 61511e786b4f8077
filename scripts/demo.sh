#!/usr/bin/env bash
# The main job: beta-VAE and CMI-VAE at one gamma on statically binarized Fashion-MNIST with the
# pixelcnn-cpu preset, trained and evaluated side by side, then compared in one table.
set -euo pipefail
cd "$(dirname "$0")/.."
# DEMO_GAMMA, DEMO_OUT and DEMO_SET (extra overrides, e.g. DEMO_SET="--set train.epochs=2") pass
# through make: `make demo DEMO_OUT=runs/demo2 DEMO_SET="--set train.seed=1"`.
# shellcheck disable=SC2086  # DEMO_SET is split into its --set words on purpose
exec bash scripts/compare_objectives.sh pixelcnn-cpu "${DEMO_GAMMA:-0.5}" "${DEMO_OUT:-runs/demo}" \
  --set data.name=fashion-mnist ${DEMO_SET:-}
