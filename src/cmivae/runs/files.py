"""The names of the files in a run directory: spelled here and nowhere else.

::

    RUN_DIR/config.json              {"config": hashed config, "resolved": model/objective configs,
                                      "traits": what the run's classes declare (TRAIT_KEYS),
                                      "code_version", "python", "created"}
    RUN_DIR/metrics.jsonl            one line per finished epoch
    RUN_DIR/results.json             test results at the best checkpoint; marks a finished run
    RUN_DIR/eval.json                ``cmivae evaluate``'s metrics (merged across calls)
    RUN_DIR/best.pt                  weights of the best validation epoch
    RUN_DIR/checkpoints/last.pt      the newest resumable checkpoint
    RUN_DIR/checkpoints/previous.pt  the one before (fallback if last.pt is damaged)
    RUN_DIR/failure.json             why training stopped
    RUN_DIR/train.log                progress lines
    RUN_DIR/samples.png              evaluate's sample grid (``cmivae sample`` writes samples-<seed>.png)
    RUN_DIR/swaps.png                evaluate's swap grid of a video run (z of one sequence, s of others)
    RUN_DIR/skipped_files.txt        speech files a loader left out (path, tab, reason)
    RUN_DIR/tensorboard/             TensorBoard event files (``train.tensorboard=true``)
    RUN_DIR/.cmivae.lock             flock held by the one process writing the run (cmivae.infra.locking)
    RUN_DIR/sweep_error.json         why the last sweep attempt failed
    SWEEP_DIR/sweep.json             a sweep's index
    SWEEP_DIR/runs/<run_id>/         a sweep's run directories
"""

from __future__ import annotations

CONFIG = "config.json"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
EVAL = "eval.json"
BEST = "best.pt"
CHECKPOINTS = "checkpoints"
LAST = "last.pt"
PREVIOUS = "previous.pt"
FAILURE = "failure.json"
LOG = "train.log"
SAMPLES = "samples.png"
SWAP_GRID = "swaps.png"
SWEEP_ERROR = "sweep_error.json"
SKIPPED_FILES = "skipped_files.txt"
EVENTS = "tensorboard"
SWEEP_INDEX = "sweep.json"
SWEEP_RUNS = "runs"

# Files of one training run (``--force`` removes them, with the checkpoints folder).
RUN_FILES = (CONFIG, METRICS, RESULTS, BEST, FAILURE, LOG, EVAL)

# config.json["traits"]: what the run's model and objective classes declare, written at train time so
# torch-free readers (sweep state, reports) need no registry; runs/legacy.py supplies them for runs
# that predate the record.
TRAITS = "traits"
CAPABILITIES = "capabilities"  # the model's capabilities (cmivae.models.capabilities)
MODEL_LABEL = "model_label"  # the model class's display label
OBJECTIVE_LABEL = "objective_label"  # the objective class's display label
MATCHED_METRICS = "matched_metrics"  # the model's metrics of the same-KL comparison (reports.matched)
# how reports place the objective (its class's ClassVars, cmivae.objectives.base.Objective):
REFERENCE_CURVE = "reference_curve"  # on the beta-VAE rate curve the same-KL comparison reads against
USES_GAMMA = "uses_gamma"  # false: gamma is ignored (the ELBO), its runs are placed at gamma 0
REPORT_RANK = "report_rank"  # its place in report order (lower first, ties by name)
PLOT_COLOR = "plot_color"  # its colour in figures ("": a spare one)
PLOT_MARKER = "plot_marker"  # its marker in figures ("": "o")
OBJECTIVE_TRAIT_KEYS = (OBJECTIVE_LABEL, REFERENCE_CURVE, USES_GAMMA, REPORT_RANK, PLOT_COLOR, PLOT_MARKER)
TRAIT_KEYS = (CAPABILITIES, MODEL_LABEL, MATCHED_METRICS, *OBJECTIVE_TRAIT_KEYS)  # the model's, then the objective's
