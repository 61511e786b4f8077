#!/usr/bin/env bash
# The speech job (paper Sec. 5.2, appendix J): DSAE with beta-VAE and CMI-VAE at one gamma on the
# synthetic espeak-ng speakers (TIMIT stand-in; corpus version 2), dsae-cpu-v2 preset, trained side by side (one thread
# each), evaluated (EER(z), EER(s), VC-mCAS), compared in one table, then one voice conversion you
# can listen to: docs/voice_conversion/converted.wav (+ .png). About 10-12 minutes on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."
CMIVAE=${CMIVAE:-.venv/bin/cmivae}
OUT=${DEMO_OUT:-runs/demo-speech}
GAMMA=${DEMO_GAMMA:-0.4}
DATA_DIR=${CMIVAE_DATA:-$HOME/.cache/cmivae}
# DEMO_CORPUS=1: the clean version-1 corpus of the committed results (dsae-cpu); default 2, the corpus
# with per-utterance rate, pitch, loudness, channel and noise (dsae-cpu-v2, off the EER ceiling).
CORPUS_VERSION=${DEMO_CORPUS:-2}
if [ "$CORPUS_VERSION" = 1 ]; then
  SPEAKERS=100 PRESET=dsae-cpu CORPUS="$DATA_DIR/synthetic-speech-100"
else
  SPEAKERS=200 PRESET=dsae-cpu-v2 CORPUS="$DATA_DIR/synthetic-speech-v2-200"
fi
VC_DIR=docs/voice_conversion
mkdir -p "$OUT" "$VC_DIR"

echo "building (or finding) the synthetic speech corpus (version $CORPUS_VERSION) in $CORPUS"
$CMIVAE data make-speech --out "$CORPUS" --num-speakers "$SPEAKERS" --corpus-version "$CORPUS_VERSION" --jobs 2

bash scripts/compare_objectives.sh "$PRESET" "$GAMMA" "$OUT"

# Voice conversion between two unseen (test) speakers of different gender, with the CMI-VAE model:
# the words of a female speaker's sentence 0 in the voice of a male speaker (his sentence 3).
female=$(awk -F, '$2 == "F" && $NF == "test" {print $1; exit}' "$CORPUS/speakers.csv")
male=$(awk -F, '$2 == "M" && $NF == "test" {print $1; exit}' "$CORPUS/speakers.csv")
cp "$CORPUS/$female/s00.wav" "$VC_DIR/source.wav"
cp "$CORPUS/$male/s03.wav" "$VC_DIR/target.wav"
$CMIVAE convert "$OUT/cmi" "$VC_DIR/source.wav" "$VC_DIR/target.wav" \
  --out "$VC_DIR/converted.wav" --png "$VC_DIR/converted.png"
echo "source: $female/s00.wav, target voice: $male/s03.wav -> $VC_DIR/{source,target,converted}.wav"
