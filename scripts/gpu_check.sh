#!/usr/bin/env bash
# The prepared device check of issue 14, one command on a machine with an NVIDIA GPU and a
# recent PyTorch already installed (no internet needed):
#
#   scripts/gpu_check.sh                 # everything, under 12 minutes; results in $OUT (or ./gpu-check-out)
#   scripts/gpu_check.sh --dry-run       # the plumbing on a CPU: CUDA tests skip, 3 steps of pixelcnn-cpu
#
# Phases (each with its own time limit, all inside --budget seconds, default 720):
#   env       nvidia-smi, torch/CUDA/cuDNN versions                      -> env.txt
#   install   pip install --no-deps -e . ; every required package present -> install.txt, missing-packages.txt
#   data      the binarized Fashion-MNIST from the pack that travels with the repo
#             (gpu-data/fashion-mnist.binarized.npz, made by `cmivae data pack`; or $CMIVAE_PACK),
#             imported into a scratch data dir (`cmivae data import`)   -> data.txt
#   tests     pytest -m cuda tests/cuda                                  -> cuda-tests.txt, cuda-tests.xml
#   bench     python -m benchmarks --device cuda (ceilings, pixelcnn, steps, dsae, sampling) -> bench.json, bench.txt
#   train     pixelcnn-paper on Fashion-MNIST, beta-VAE and CMI-VAE at gamma 0.5, side by side on the GPU,
#             as many steps as fit in the time left (cap from the measured step rate) -> runs/*/
#   evaluate  cmivae evaluate of both runs, side by side (each time an upper bound of one alone) -> runs/*/eval.json
#   sprites   scripts/gpu_check_sprites.sh: the Sprites benchmark built, the 64x64 judge trained, the video DSAE
#             step timed, dsae-sprites-paper trained for what fits and evaluated with the judge ($SPRITES_SECONDS,
#             default 200)                                              -> sprites/
#   summary   everything above in one file                               -> summary.md
# Without a GPU the normal mode stops at once with an error (exit 2); use --dry-run there.
# With the session device tool, carry the git-ignored data pack: run(command=..., carry=["gpu-data"]).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

DRY_RUN=0
INSTALL=1
BUDGET=720
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1; INSTALL=0; BUDGET=1500 ;;
    --no-install) INSTALL=0 ;;
    --budget) BUDGET=$2; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1; use --dry-run, --no-install, --budget SECONDS" >&2; exit 2 ;;
  esac
  shift
done

PY=${PYTHON:-python3}
OUT=${OUT:-$REPO/gpu-check-out}
export PYTHONPATH="$REPO/src:$REPO${PYTHONPATH:+:$PYTHONPATH}"  # this tree, whether or not pip could install it
export PYTHONUNBUFFERED=1
START=$(date +%s)
DEADLINE=$((START + BUDGET))
left() { echo $((DEADLINE - $(date +%s))); }

# phase NAME LIMIT_SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.txt, record exit and seconds.
phase() {
  local name=$1 limit=$2; shift 2
  local began=$(date +%s) rc
  if [ "$limit" -le 0 ]; then
    echo "[$name] skipped: no time left in the budget" | tee -a "$OUT/$name.txt"
    printf '%s\t%s\t%s\n' "$name" "skipped" 0 >>"$OUT/phases.tsv"
    return 124
  fi
  echo "[$name] running (limit ${limit}s, $(left)s left in the budget)"
  timeout --signal=INT --kill-after=15 "$limit" "$@" >>"$OUT/$name.txt" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" $(($(date +%s) - began)) >>"$OUT/phases.tsv"
  echo "[$name] exit $rc after $(($(date +%s) - began))s"
  return $rc
}
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# --------------------------------------------------------------------------- GPU present?
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "error: $PY cannot import torch; install a CUDA build of PyTorch first (or set PYTHON=/path/to/python)" >&2
  exit 2
fi
if [ "$DRY_RUN" = 0 ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "error: no CUDA GPU is visible to PyTorch (torch.cuda.is_available() is False: CPU-only torch build," \
       "no driver, or CUDA_VISIBLE_DEVICES hides it); run on a GPU machine, or use --dry-run to check the" \
       "plumbing on a CPU" >&2
  exit 2
fi
DEVICE=cuda
[ "$DRY_RUN" = 1 ] && DEVICE=cpu
mkdir -p "$OUT"
: >"$OUT/phases.tsv"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
export CMIVAE_DATA="$WORK/data"
echo "gpu_check: device $DEVICE, budget ${BUDGET}s, results in $OUT, scratch in $WORK"

# --------------------------------------------------------------------------- env
phase env 60 bash -c "date -u; uname -a; (nvidia-smi || echo 'nvidia-smi: not available'); \
  \"$PY\" -c 'import torch, sys; print(\"python\", sys.version.split()[0]); print(\"torch\", torch.__version__, \
\"cuda\", torch.version.cuda, \"cudnn\", torch.backends.cudnn.version()); \
[print(\"gpu\", i, torch.cuda.get_device_name(i), torch.cuda.get_device_capability(i)) \
 for i in range(torch.cuda.device_count())]'"

# --------------------------------------------------------------------------- install, packages
if [ "$INSTALL" = 1 ]; then
  phase install 120 "$PY" -m pip install --no-deps --no-build-isolation -e "$REPO" \
    || echo "pip install failed (see install.txt); continuing with PYTHONPATH=$REPO/src"
fi
"$PY" - >"$OUT/missing-packages.txt" 2>&1 <<'EOF'
import importlib
required = {"numpy": "numpy", "sklearn": "scikit-learn", "scipy": "scipy", "tqdm": "tqdm",
            "matplotlib": "matplotlib", "yaml": "PyYAML"}
optional = {"pytest": "pytest (the cuda tests)", "soundfile": "soundfile (speech only)"}
missing = []
for module, package in {**required, **optional}.items():
    try:
        importlib.import_module(module)
    except ImportError:
        missing.append(package)
print("missing:", ", ".join(missing) if missing else "none")
raise SystemExit(1 if any(p in missing for p in required.values()) else 0)
EOF
if [ $? -ne 0 ]; then
  cat "$OUT/missing-packages.txt" >&2
  echo "error: required packages are missing (above); install them (pip install --no-deps NAME from a wheel)" >&2
  exit 2
fi
cat "$OUT/missing-packages.txt"

# --------------------------------------------------------------------------- data
PACK=${CMIVAE_PACK:-$REPO/gpu-data/fashion-mnist.binarized.npz}
if [ -f "$PACK" ]; then
  phase data 60 "$PY" -m cmivae data import "$PACK"
elif [ -d /usr/share/datasets/fashion-mnist ]; then
  phase data 120 "$PY" -m cmivae data fetch fashion-mnist --no-download
else
  echo "error: no Fashion-MNIST: $PACK is missing (make it with \`cmivae data pack fashion-mnist --out $PACK\`" \
       "and carry gpu-data/ along) and Debian's dataset-fashion-mnist is not installed" >&2
  exit 2
fi
[ $? -eq 0 ] || { echo "error: the data phase failed; see $OUT/data.txt" >&2; exit 2; }

# --------------------------------------------------------------------------- cuda tests
if ! "$PY" -c "import pytest" 2>/dev/null; then
  echo "pytest is not installed: the cuda tests are skipped" | tee "$OUT/cuda-tests.txt"
else phase cuda-tests "$(min 100 $(($(left) - 400)))" "$PY" -m pytest tests/cuda -m cuda -q -rs -p no:cacheprovider \
  --junitxml="$OUT/cuda-tests.xml"
fi

# --------------------------------------------------------------------------- benchmarks
if [ "$DRY_RUN" = 1 ]; then
  phase bench 300 "$PY" -m benchmarks --device cpu --quick --only ceilings --only sampling --threads 1 \
    --json "$OUT/bench.json"
else
  phase bench "$(min 120 $(($(left) - 290)))" "$PY" -m benchmarks --device cuda --only ceilings --only pixelcnn \
    --only steps --only dsae --only sampling --json "$OUT/bench.json"
fi

# --------------------------------------------------------------------------- training (beta and CMI side by side)
RESERVE=90  # the two evaluations (side by side) and the summary
TRAIN_SECONDS=$(min 300 $(($(left) - RESERVE)))
STEP_SECONDS=$((TRAIN_SECONDS - 45))  # start-up, a validation pass per epoch, the final test pass
COMMON=(--set data.name=fashion-mnist --set objective.gamma=0.5 --no-progress)
CAP=$("$PY" -m benchmarks.gpu_check steps --bench "$OUT/bench.json" --seconds "$STEP_SECONDS" --runs 2)
EVAL_METRICS=()
GUARD=$((TRAIN_SECONDS + 20))
PRESET=pixelcnn-paper
if [ "$DRY_RUN" = 1 ]; then  # the CPU: 3 steps of the small preset on a subset; no Î(z; s) critic
  echo "dry run: the cap from the benchmark would be $CAP steps; using 3 of pixelcnn-cpu" | tee "$OUT/train.txt"
  CAP=3
  PRESET=pixelcnn-cpu
  GUARD=$(min 600 $(($(left) - 120)))
  COMMON+=(--set data.num_train=1500 --set data.num_test=500 --set train.device=cpu)
  EVAL_METRICS=(--metrics elbo aolr aosvm mcas mcas_svm baseline)
  export OMP_NUM_THREADS=1
fi
echo "training: ${TRAIN_SECONDS}s for two concurrent runs, train.max_steps=$CAP each" | tee -a "$OUT/train.txt"
pids=()
if [ "$STEP_SECONDS" -gt 10 ]; then
  for objective in beta cmi; do
    mkdir -p "$WORK/runs"
    ( phase "train-$objective" "$GUARD" "$PY" -m cmivae train "$PRESET" "${COMMON[@]}" \
        --set objective.name=$objective --set train.max_steps="$CAP" --out "$WORK/runs/$objective" ) &
    pids+=($!)
  done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid"; done
else
  echo "training skipped: only $(left)s left" | tee -a "$OUT/train.txt"
fi

# --------------------------------------------------------------------------- evaluate (both side by side)
# Side by side to fit the budget: each eval_seconds is an upper bound of one evaluation alone.
EVAL_LIMIT=$(min 120 $(($(left) - 10)))
[ "$DRY_RUN" = 1 ] && EVAL_LIMIT=$(min 400 $(($(left) - 10)))
pids=()
for objective in cmi beta; do
  run="$WORK/runs/$objective"
  if [ -f "$run/best.pt" ]; then
    ( phase "evaluate-$objective" "$EVAL_LIMIT" "$PY" -m cmivae evaluate "$run" ${EVAL_METRICS[@]+"${EVAL_METRICS[@]}"}
      cp "$OUT/evaluate-$objective.txt" "$run/evaluate.log" 2>/dev/null ) &
    pids+=($!)
  else
    echo "evaluate-$objective: no best.pt (training did not finish an epoch or the final pass)" | tee -a "$OUT/train.txt"
  fi
done
for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid"; done

# --------------------------------------------------------------------------- sprites (issue 29)
SPRITES_SECONDS=${SPRITES_SECONDS:-200}
SPRITES_FLAGS=()
[ "$DRY_RUN" = 1 ] && SPRITES_FLAGS=(--dry-run)
phase sprites "$(min $((SPRITES_SECONDS + 30)) $(left))" bash "$REPO/scripts/gpu_check_sprites.sh" \
  "$(min "$SPRITES_SECONDS" $(($(left) - 20)))" "$OUT" ${SPRITES_FLAGS[@]+"${SPRITES_FLAGS[@]}"}

# --------------------------------------------------------------------------- results (small files only)
for objective in beta cmi; do
  run="$WORK/runs/$objective"
  [ -d "$run" ] || continue
  mkdir -p "$OUT/runs/$objective"
  for f in config.json metrics.jsonl results.json eval.json train.log samples.png evaluate.log failure.json; do
    [ -f "$run/$f" ] && cp "$run/$f" "$OUT/runs/$objective/"
  done
done
SUMMARY_FLAGS=()
[ "$DRY_RUN" = 1 ] && SUMMARY_FLAGS=(--dry-run)
"$PY" -m benchmarks.gpu_check summary "$OUT" ${SUMMARY_FLAGS[@]+"${SUMMARY_FLAGS[@]}"} >/dev/null
echo "total $(($(date +%s) - START))s; summary: $OUT/summary.md"
cat "$OUT/summary.md"
rm -rf "$WORK"
