"""``cmivae evaluate RUN_DIR``: the one adapter from a trained model to the pure metrics.

It loads the best checkpoint (:func:`cmivae.runs.trained.open_trained`: no optimizer, no
trainer), turns the model into arrays (encoder means, latent pairs,
generated samples) and calls the metric functions, writing ``RUN_DIR/eval.json``:

Which metrics a run gets is decided by what it offers (:class:`cmivae.metric_names.Offers`:
its model's declared capabilities and its data set's labels) against the one table of what
each metric needs (:data:`cmivae.metric_names.METRIC_NEEDS`), never by the data modality:

- every model: ``elbo``, ``recon``, ``kl_z`` (and ``kl_s`` for DSAE) on the test set in
  nats per example (Eqs. 2-3, not divided by pixels or frames), and ``mi_zs``, the
  estimated I(z; s) of appendix A (Eqs. 15-16): a fresh critic trained on (z, s) pairs of
  training data against shuffled pairs, evaluated on test data. z and s are posterior
  samples, s = h of the injection layer for the PixelCNN-VAE (appendix B); beside it
  ``mi_zs_bound``, the nats up to which the same estimator recovered a known I(z; s) at the
  same settings (:mod:`cmivae.metrics.mi_calibration`). ``mi_zs_n9000`` (and ``_bound``): the
  same from 9,000 training pairs.
- data with class labels (Sec. 5.3, appendix K.2): ``aolr`` / ``aosvm`` (probes from the mean of
  q(z|x) of 1000 training images, 100 per class, to labels; accuracy on the whole test
  set), and for a model with a sampler ``mcas`` / ``mcas_svm`` (100 real training images, 10 per class, each decoded 10
  times from the mean of q(z|x) with cached PixelCNN sampling; a classifier trained on the
  1000 samples, tested on the real test set) and ``baseline`` (the same classifier trained
  on the 100 real images); ``samples.png`` shows one real image per class and 10 samples.
  Each probe runs under the protocol its name gives (``aolr`` raw, ``aolr_std``
  standardized, ``aolr_c100`` weaker L2, ``aosvm_cv`` C and width by cross-validation,
  ``aoknn_white_cv``, ``s_aolr_cv`` on the pooled s, ``aolr_cv_all`` on every training label:
  :mod:`cmivae.metric_names`), recorded per metric in ``eval.json["probe_protocols"]`` with
  the values cross-validation chose.
- video models on Sprites (the field's judge protocol): :mod:`cmivae.metrics.video_eval`;
  ``eval.json["judge"]`` records the judge that scored them (its SHA-256 and real-test accuracies).
- data with speaker labels (Sec. 5.2, appendix J): ``eer_z``; ``eer_s`` for a model with a local
  sequence s; ``vc_mcas`` for a model that decodes.

A metric named in the request that the run cannot support is refused before any work (one
line naming the missing capability or label); a default one is skipped with one line saying why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmivae.infra.atomic import WriteError, atomic_write_json
from cmivae.infra.errors import ConfigError, DataError
from cmivae.infra.precision import autocast
from cmivae.metric_names import (
    Offers,
    check_requested,
    mi_train_pairs,
    probe_protocol,
    skipped_defaults,
    supported_request,
    video_group,
)
from cmivae.models.capabilities import LOCAL_SEQUENCE
from cmivae.models.contract import declared_capabilities
from cmivae.objectives.means import objective_means
from cmivae.runs import files
from cmivae.runs.readers import read_results
from cmivae.runs.trained import TrainedModel, open_trained

MI_TRAIN_PAIRS = 2000  # (z, s) pairs of training data for the Î(z; s) critic; s of the PixelCNN is 64x28x28
MI_TEST_PAIRS = 1000
# Critic steps of the Î(z; s) estimator. Fewer than its default (1500): one estimate on PixelCNN
# feature maps costs ~0.1 s per step on 2 CPU cores. Compare Î only across runs evaluated alike.
MI_STEPS = 500
LIKELIHOOD_KEYS = ("elbo", "recon", "kl_z", "kl_s")  # what the metric name "elbo" stands for
SPEECH_KEYS = ("eer_z", "eer_s", "vc_mcas")  # computed together by metrics.speech_eval.evaluate_speech


@torch.no_grad()
def z_means(trainer: TrainedModel, x: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Mean of q(z | x) for every example, ``(N, D)`` float32."""
    chunks = []
    for start in range(0, x.shape[0], batch_size):
        batch = trainer.to_device(x[start:start + batch_size])
        with autocast(trainer.device, trainer.precision):
            z = trainer.model.encode_z(batch)  # (B, D)
        chunks.append(z.float().cpu())
    return torch.cat(chunks).numpy()


@torch.no_grad()
def latent_pairs(trainer: TrainedModel, x: torch.Tensor, batch_size: int = 250) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples (z, s) of q(z, s) (appendix E) for every example: ``(N, D)`` and ``(N, *s_shape)``,
    on the trainer's device (the Î(z; s) critic is trained there)."""
    zs, ss = [], []
    for start in range(0, x.shape[0], batch_size):
        batch = trainer.to_device(x[start:start + batch_size])
        with autocast(trainer.device, trainer.precision):
            out = trainer.model(batch)
        zs.append(out.z.float())
        ss.append(out.s.float().contiguous())
    return torch.cat(zs), torch.cat(ss)


@torch.no_grad()
def s_pooled_means(trainer: TrainedModel, x: torch.Tensor, batch_size: int = 250) -> np.ndarray:
    """s of every example (``encode(x).s``, deterministic given x) averaged over space or time,
    ``(N, C)`` float32: the features of the s probes (:func:`cmivae.metrics.latent_probe.pooled_means`)."""
    from cmivae.metrics.latent_probe import pooled_means

    chunks = []
    for start in range(0, x.shape[0], batch_size):
        batch = trainer.to_device(x[start:start + batch_size])
        with autocast(trainer.device, trainer.precision):
            s = trainer.model.encode(batch).s  # (B, C, H, W) or (B, T, D_s)
        chunks.append(pooled_means(s.float().cpu().numpy()))  # -> (B, C) or (B, D_s)
    return np.concatenate(chunks).astype(np.float32)


def _subset(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(n, k), replace=False))


def mutual_information_zs(trainer: TrainedModel, splits: Any, seed: int, num_steps: int | None = None,
                          log: Callable[[str], None] | None = None, train_pairs: int = MI_TRAIN_PAIRS) -> float:
    """Î(z; s) (appendix A): critic trained on ``train_pairs`` training pairs (all of them if
    fewer), evaluated on :data:`MI_TEST_PAIRS` test pairs; progress lines with an ETA through ``log``."""
    from cmivae.infra.progress import ProgressLine
    from cmivae.metrics.mutual_information import estimate_mutual_information

    num_steps = MI_STEPS if num_steps is None else num_steps
    progress = ProgressLine(num_steps, "I(z;s) critic", log, unit="steps") if log else None

    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[trainer.device] if trainer.device.type == "cuda" else []):
        torch.manual_seed(seed)  # seeds the CPU and every GPU: the same pairs for the same seed
        z_tr, s_tr = latent_pairs(trainer, splits.train_x[_subset(splits.train_x.shape[0], train_pairs, rng)])
        z_te, s_te = latent_pairs(trainer, splits.test_x[_subset(splits.test_x.shape[0], MI_TEST_PAIRS, rng)])
    if log:
        log(f"estimating I(z;s): a critic of {num_steps} steps on {z_tr.shape[0]} training pairs, "
            f"{z_te.shape[0]} test pairs")
    return float(estimate_mutual_information(z_tr, s_tr, z_test=z_te, s_test=s_te, seed=seed, num_steps=num_steps,
                                             device=trainer.device, on_step=progress.update if progress else None))


def mi_zs_bound(trainer: TrainedModel, splits: Any, num_steps: int | None = None,
                train_pairs: int = MI_TRAIN_PAIRS) -> float | None:
    """Nats up to which :func:`mutual_information_zs` of this run can be trusted: the calibrated
    bound (:func:`cmivae.metrics.mi_calibration.bound_for`) for its s shape, pair counts and
    critic steps; ``None`` where nothing was calibrated alike."""
    from cmivae.metrics.mi_calibration import bound_for

    _, s_shape = trainer.model.latent_shapes(trainer.model.config)
    return bound_for(len(s_shape), min(splits.train_x.shape[0], train_pairs), MI_STEPS if num_steps is None
                     else num_steps, min(splits.test_x.shape[0], MI_TEST_PAIRS))


def image_metrics(trainer: TrainedModel, splits: Any, wanted: set[str], seed: int, run_dir: Path,
                  log: Callable[[str], None],
                  record: Callable[[dict[str, float], dict[str, dict[str, Any]]], None] | None = None
                  ) -> dict[str, float]:
    """AoLR, AoSVM, mCAS, mCAS(SVM) and the baseline score (Sec. 5.3, appendix K.2), and the
    kNN and s probes, each under the probe protocol its name gives
    (:func:`cmivae.metric_names.probe_protocol`) and handed to ``record`` (with what
    cross-validation chose) as soon as it is computed."""
    record = record or (lambda values, details: None)
    from cmivae.metrics.latent_probe import balanced_subset, cross_validated_probe, probe_accuracy

    results: dict[str, float] = {}
    protocols = {name: p for name in sorted(wanted) if (p := probe_protocol(name)) is not None}

    def fit(name: str, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> None:
        p = protocols[name]
        details: dict[str, dict[str, Any]] = {}
        if p.cross_validated:
            result = cross_validated_probe(train_x, train_y, test_x, test_y, classifier=p.classifier,  # type: ignore[arg-type]
                                           seed=seed, scaling=p.scaling)  # type: ignore[arg-type]
            results[name], details[name] = result.accuracy, result.record()
        else:
            results[name] = probe_accuracy(train_x, train_y, test_x, test_y, classifier=p.classifier,  # type: ignore[arg-type]
                                           seed=seed, C=p.C or 1.0, scaling=p.scaling)  # type: ignore[arg-type]
        record({name: results[name]}, details)

    def of(features: str, labels: str | None = None) -> list[str]:
        return [name for name, p in protocols.items() if p.features == features and labels in (None, p.labels)]

    train_y, test_y = splits.train_y.numpy(), splits.test_y.numpy()
    # The 1000 labelled training images (100 per class) of the z and s probes: the same draw as ever.
    idx = balanced_subset(train_y, 100, np.random.default_rng(seed)) if of("z_mean", "1k") or of("s_pooled", "1k") \
        else None
    for features, encode in (("z_mean", z_means), ("s_pooled", s_pooled_means)):
        if not of(features):
            continue
        test_features = encode(trainer, splits.test_x)
        for labels, rows in (("1k", idx), ("all", np.arange(train_y.shape[0]))):
            if of(features, labels):
                train_features = encode(trainer, splits.train_x[rows])
                for name in of(features, labels):
                    fit(name, train_features, train_y[rows], test_features, test_y)
        log(", ".join(f"{name} {results[name]:.4f}" for name in of(features)))
    if of("generated") or of("real"):
        from cmivae.sampling import decode_samples, save_sample_grid

        if wanted & {"mcas", "mcas_svm"}:
            log("sampling 1000 images (10 from each of 100 real training images) for mCAS")
        idx = balanced_subset(train_y, 10, np.random.default_rng(seed + 1))
        real = splits.train_x[idx].float()  # (100, C, H, W)
        labels = train_y[idx]
        test_x = splits.test_x.float().flatten(1).numpy()  # (N, C*H*W)
        if of("generated"):
            start = time.monotonic()
            with torch.no_grad():
                samples = decode_samples(trainer.model, real, num_samples=10, seed=seed).cpu()  # (100, 10, C, H, W)
            log(f"sampled {samples.shape[0] * samples.shape[1]} images in {time.monotonic() - start:.1f}s; "
                f"training the mCAS classifiers")
            generated = samples.flatten(2).flatten(0, 1).numpy()  # (100, 10, C, H, W) -> (1000, C*H*W)
            generated_y = np.repeat(labels, samples.shape[1])  # (1000,)
            for name in of("generated"):
                fit(name, generated, generated_y, test_x, test_y)
            first = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]  # one real image per class
            save_sample_grid(run_dir / files.SAMPLES, real[first], samples[first],
                             title=f"{trainer.config.objective.name} gamma={trainer.config.objective.gamma}")
        for name in of("real"):
            fit(name, real.flatten(1).numpy(), labels, test_x, test_y)
    return results


def speech_metrics(trainer: TrainedModel, splits: Any, wanted: set[str], seed: int) -> dict[str, float]:
    """EER(z), EER(s) and VC-mCAS (Sec. 5.2, appendix J)."""
    from cmivae.metrics.speech_eval import evaluate_speech

    values = evaluate_speech(trainer.model, splits, seed=seed, device=trainer.device, convert="vc_mcas" in wanted)
    return {k: float(v) for k, v in values.items() if k in wanted or k not in SPEECH_KEYS}


def read_eval_json(path: Path) -> dict[str, Any]:
    """The metrics an earlier evaluation wrote (``{}`` if none), checked before any work.

    Raises:
        DataError: the file is unreadable, not JSON, or not an object of numbers.
    """
    if not path.exists():
        return {}
    fix = "move it away (or delete it) and rerun to evaluate from scratch"
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path} is damaged ({type(err).__name__}: {str(err)[:120]}); {fix}") from err
    records = ("probe_protocols", "judge")  # the only keys that hold an object, not a number
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, (int, float)) or k in records)
            for k, v in value.items()) or not all(isinstance(value.get(k, {}), dict) for k in records):
        raise DataError(f"{path} is not an object of metric names and numbers; {fix}")
    return value


def evaluate_run(run_dir: str | Path, metrics: list[str] | None = None, *, seed: int = 0,
                 quiet: bool = False, data: Any = None) -> dict[str, float]:
    """Evaluate a run's best checkpoint and write ``RUN_DIR/eval.json`` (merged with what
    is already there, so metrics can be added one at a time).

    The old ``eval.json`` is read and checked first, then every requested metric is checked
    to be computable for this run (:mod:`cmivae.metrics.preflight`), all before any metric is
    computed; each metric is written to ``eval.json`` (atomically) as soon as it is computed,
    so a failure late in the evaluation keeps the earlier ones.

    Args:
        run_dir: a finished (or at least checkpointed) run directory.
        metrics: which metrics (default ``all``: every paper metric the run supports, the others
            skipped with a line saying why); ``elbo`` stands for elbo/recon/kl_z/kl_s.
        seed: seeds every random choice of the evaluation.
        quiet: no progress lines.
        data: already-loaded splits (tests).
    """
    from cmivae.data.registry import load_dataset
    from cmivae.metrics.preflight import check_probe_metrics

    run_dir = Path(run_dir)
    log = (lambda message: None) if quiet else (lambda message: print(f"[evaluate] {message}", flush=True))
    eval_path = run_dir / files.EVAL
    previous = read_eval_json(eval_path) if (run_dir / files.CONFIG).exists() else {}  # damaged: before any work
    trainer = open_trained(run_dir)
    config = trainer.config
    offers = Offers.of(declared_capabilities(trainer.model), config.data.name)
    try:
        check_requested(metrics, offers)
    except ConfigError as err:
        raise ConfigError(f"{err} (this run: model {config.model.name}, data set {config.data.name})") from None
    for why in skipped_defaults(metrics, offers).values():
        print(f"[evaluate] skipped: {why}", flush=True)
    wanted_list = supported_request(metrics, offers)
    wanted = set(wanted_list)
    splits = data if data is not None else load_dataset(config.data)
    check_probe_metrics(wanted_list, splits, config.data.num_train)
    video_wanted = {group for name in wanted if (group := video_group(name))}  # any key computes its group
    if video_wanted:
        from cmivae.metrics.video_eval import check_capabilities, run_judge, video_metrics

        check_capabilities(trainer.model, video_wanted)
        judge = run_judge(trainer, splits)  # missing, damaged or mismatched: refused before any work
    start = time.monotonic()
    results: dict[str, float] = {}

    def record(values: dict[str, Any], details: dict[str, dict[str, Any]] | None = None) -> None:
        results.update(values)
        previous.update(values)
        protocols = {name: {**p.to_dict(), **(details or {}).get(name, {})}
                     for name in values if (p := probe_protocol(name)) is not None}
        if protocols:
            previous["probe_protocols"] = {**previous.get("probe_protocols", {}), **protocols}
        previous["eval_seconds"] = time.monotonic() - start
        try:
            atomic_write_json(eval_path, previous)
        except WriteError as err:  # a full disk: the metrics written before stay in eval.json; show the new ones
            unsaved = ", ".join(f"{k}={v:.6g}" for k, v in values.items() if isinstance(v, float)) or "none"
            message = (f"{err.strerror}; computed but not saved: {unsaved}; {eval_path} keeps the metrics written "
                       f"before (`cmivae evaluate --missing` computes the rest)")
            raise WriteError(err.errno, message) from err

    if "elbo" in wanted:
        log("test ELBO")
        values = objective_means(trainer, splits.test_x, seed=seed + 29)
        has_kl_s = LOCAL_SEQUENCE in offers.capabilities  # s with a posterior and a learned prior: a KL(s) term
        record({k: values[k] for k in LIKELIHOOD_KEYS if k in values and (k != "kl_s" or has_kl_s)})
        log(f"test elbo {results['elbo']:.2f}, recon {results['recon']:.2f}, kl_z {results['kl_z']:.2f}")
    for name in sorted(n for n in wanted if mi_train_pairs(n, MI_TRAIN_PAIRS) is not None):
        pairs = mi_train_pairs(name, MI_TRAIN_PAIRS)
        assert pairs is not None
        bound = mi_zs_bound(trainer, splits, train_pairs=pairs)
        record({name: mutual_information_zs(trainer, splits, seed, log=log, train_pairs=pairs),
                **({f"{name}_bound": bound} if bound is not None else {})})
        log(f"{name} {results[name]:.3f} nats" + (f" (calibrated: trusted up to {bound:g} nats)"
                                                  if bound is not None else ""))
        if results[name] < -0.05:  # I(z; s) >= 0: a negative estimate is the estimator's error, not a value
            import warnings

            warnings.warn(f"the estimated I(z; s) is negative ({results[name]:.2f} nats): the critic of the "
                          f"estimate (app. A) does not transfer to these test examples (e.g. unseen speakers); read "
                          f"it as 'about 0, with an error of that size', not as a difference between methods",
                          RuntimeWarning, stacklevel=2)
    if any(probe_protocol(name) is not None for name in wanted):
        image_metrics(trainer, splits, wanted, seed, run_dir, log, record)
    if wanted & set(SPEECH_KEYS):
        log("speaker verification (EER) and voice conversion (VC-mCAS)")
        record(speech_metrics(trainer, splits, wanted, seed))
    if video_wanted:
        video_metrics(trainer, splits, video_wanted, seed, run_dir, log, record, judge)
    record({})
    if config.train.tensorboard:
        write_evaluation_events(run_dir, previous)
    return previous


def write_evaluation_events(run_dir: Path, metrics: dict[str, Any]) -> None:
    """``eval.json``'s metrics and ``samples.png`` into the run's TensorBoard events, at its last step."""
    from cmivae.runs.tensorboard import EventWriter

    step = int((read_results(run_dir) or {}).get("steps", 0))
    writer = EventWriter(run_dir)
    writer.write_evaluation(metrics, step, run_dir / files.SAMPLES)
    writer.close()
