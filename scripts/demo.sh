#!/usr/bin/env bash
# The main job: beta-VAE and CMI-VAE at one gamma on statically binarized Fashion-MNIST with the
# pixelcnn-cpu preset, trained and evaluated side by side, then compared in one table.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/compare_objectives.sh pixelcnn-cpu "${DEMO_GAMMA:-0.5}" "${DEMO_OUT:-runs/demo}" \
  --set data.name=fashion-mnist
