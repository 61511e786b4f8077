"""The training loop, readable top to bottom: :func:`fit` -> :func:`train_step`.

One VAE update (Sec. 3.2; appendices G.1, G.2): a forward pass of the model, then
``critic_steps`` discriminator updates on the *detached* latents with the critic's own
Adam ("(1) update D"), then the objective's loss with the critic *frozen* and a step of
the VAE's Adam ("(2) update the VAE"). No gradient crosses between the two.

Every epoch ends with the validation objective; the checkpoint with the best validation
objective is kept (``best.pt``) and the test results are reported there, as the paper
does (G.2). Training resumes exactly from ``checkpoints/last.pt``: model, critic, both
optimizers, epoch, step, data order (a permutation seeded by (seed, epoch)) and the state
of every random generator are in it.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from cmivae.budget import check_budget
from cmivae.config import ExperimentConfig
from cmivae.data.registry import load_dataset
from cmivae.infra.device import apply_backend_settings, backend_settings, batch_to_device, optimizer_options, place
from cmivae.infra.errors import TrainingError
from cmivae.infra.precision import autocast, make_grad_scaler, numerics, resolve_device, resolve_precision
from cmivae.infra.progress import ProgressLine
from cmivae.objectives import Objective
from cmivae.objectives.base import added_term_keys
from cmivae.objectives.means import objective_means as evaluate_objective
from cmivae.objectives.terms import LossTerms
from cmivae.registry import MODELS, Resolved, build, resolve
from cmivae.runs.checkpoint import load_checkpoint, load_latest
from cmivae.runs.directory import RunDirectory, run_traits
from cmivae.runs.legacy import saved_form
from cmivae.runs.tensorboard import open_event_writer
from cmivae.training import distributed
from cmivae.training.batches import BatchSource, keep_on_device
from cmivae.training.signals import Interrupted, StopRequest, stop_on_signals

PROGRESS_SECONDS = 60.0  # one progress line per minute when no bar is shown


@dataclass
class TrainState:
    """Counters saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches of the current epoch already done
    step: int = 0  # VAE updates done
    skipped: int = 0  # batches dropped for non-finite values (train.nonfinite=skip)
    best_val: float = math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    sums: dict[str, float] = field(default_factory=dict)  # running sums of the current epoch's terms
    count: int = 0  # batches in ``sums``
    train_seconds: float = 0.0


@dataclass
class Trainer:
    """Everything :func:`train_step` needs, built once by :func:`build_trainer`."""

    config: ExperimentConfig
    model: torch.nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer | None
    device: torch.device
    precision: str
    channels_last: bool
    ddp_model: torch.nn.Module | None = None  # the DistributedDataParallel wrapper when world_size > 1
    objective_config: Any = None  # the resolved objective config (critic_steps, critic_lr, ...)
    scaler: torch.amp.GradScaler | None = None  # fp16 loss scaling of the VAE's gradients (disabled otherwise)
    critic_scaler: torch.amp.GradScaler | None = None  # and of the critic's

    def __post_init__(self) -> None:
        self.scaler = self.scaler or make_grad_scaler(self.device, self.precision)
        self.critic_scaler = self.critic_scaler or make_grad_scaler(self.device, self.precision)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on the device, as float, channels_last for image models on the fast path."""
        return batch_to_device(x, self.device, self.channels_last)


def build_trainer(config: ExperimentConfig | Resolved) -> Trainer:
    """Model, objective and optimizers on the resolved device and precision."""
    resolved = config if isinstance(config, Resolved) else resolve(config)
    config = resolved.config
    device = resolve_device(config.train.device)
    precision = resolve_precision(config.train.precision, device)
    apply_backend_settings(device, backend_settings(device, precision, config.train.deterministic))
    model, objective = build(resolved)
    # channels_last per device, only where the model says it is fast (the PixelCNN's masked convolutions).
    channels_last = place(model, objective, device, precision, config.train.channels_last)
    if config.train.compile:
        model.forward = torch.compile(model.forward, mode=config.train.compile_mode)  # state_dict unchanged
    options = optimizer_options(device)  # fused Adam on CUDA
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, **options)
    critic_lr = getattr(resolved.objective, "critic_lr", None)
    critic_optimizer = (torch.optim.Adam(objective.critic.parameters(), lr=critic_lr, **options)
                        if objective.critic is not None else None)
    trainer = Trainer(config, model, objective, optimizer, critic_optimizer, device, precision, channels_last,
                      objective_config=resolved.objective)
    distributed.wrap(trainer)
    return trainer


def _check_finite(terms: LossTerms, what: str, step: int) -> str | None:
    """Name of the first non-finite term (or ``None``)."""
    if distributed.all_finite(terms.total):  # decided on all ranks together
        return None
    for name, value in terms.terms.items():
        if not torch.isfinite(value):
            return f"{what} term {name!r} is {float(value)} at step {step}"
    if torch.isfinite(terms.total):
        return f"{what} is not finite on another process at step {step}"
    return f"{what} total is {float(terms.total)} at step {step}"


def _grad_norm(parameters: list[torch.nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


def train_step(trainer: Trainer, x: torch.Tensor, step: int) -> tuple[dict[str, float], str | None]:
    """One VAE update preceded by ``critic_steps`` critic updates.

    Returns the logged terms and, if something was not finite, a message naming it; the
    parameters and buffers (batch-norm statistics) are then left as they were.
    """
    buffers = [(b, b.clone()) for m in (trainer.model, trainer.objective) for b in m.buffers()]
    with distributed.global_batch_noise(x.shape[0]):  # under torchrun: noise drawn for the global batch
        logged, problem = _train_step(trainer, x, step)
    if problem:
        for buffer, saved in buffers:
            buffer.copy_(saved)
    return logged, problem


def _train_step(trainer: Trainer, x: torch.Tensor, step: int) -> tuple[dict[str, float], str | None]:
    model = trainer.ddp_model or trainer.model
    objective = trainer.objective
    with autocast(trainer.device, trainer.precision):
        out = model(x)
    logged: dict[str, float] = {}

    # (1) update the discriminator on detached latents, the VAE untouched.
    if objective.critic is not None and trainer.critic_optimizer is not None:
        critic_params = list(objective.critic.parameters())
        for _ in range(trainer.objective_config.critic_steps):
            with autocast(trainer.device, trainer.precision):
                critic_terms = objective.critic_loss(out, x)
            problem = _check_finite(critic_terms, "critic", step)
            if problem:
                return logged, problem
            trainer.critic_optimizer.zero_grad(set_to_none=True)
            scaler = trainer.critic_scaler
            scaler.scale(critic_terms.total).backward()
            distributed.average_gradients(critic_params)
            scaler.unscale_(trainer.critic_optimizer)  # fp16: an overflow skips the step and lowers the scale
            if not scaler.is_enabled() and not torch.isfinite(_grad_norm(critic_params)):
                return logged, f"critic gradient is not finite at step {step}"
            scaler.step(trainer.critic_optimizer)
            scaler.update()
        logged.update(critic_terms.as_floats())
        logged.pop("total", None)

    # (2) update the VAE with the critic frozen.
    with autocast(trainer.device, trainer.precision):
        terms = objective.loss(out, x)
    problem = _check_finite(terms, "loss", step)
    if problem:
        return logged, problem
    trainer.optimizer.zero_grad(set_to_none=True)
    scaler = trainer.scaler
    scaler.scale(terms.total).backward()
    scaler.unscale_(trainer.optimizer)
    if not scaler.is_enabled() and not torch.isfinite(_grad_norm(list(trainer.model.parameters()))):
        return logged, f"model gradient is not finite at step {step}"
    scaler.step(trainer.optimizer)
    scaler.update()
    logged.update(terms.as_floats())
    return logged, None


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    # RNG states are CPU byte tensors; a checkpoint loaded with map_location=cuda moves them.
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _checkpoint_state(trainer: Trainer, state: TrainState) -> dict[str, Any]:
    return {
        "model": trainer.model.state_dict(),
        "objective": trainer.objective.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "critic_optimizer": trainer.critic_optimizer.state_dict() if trainer.critic_optimizer else None,
        "grad_scalers": {name: scaler.state_dict() for name, scaler in
                         (("model", trainer.scaler), ("critic", trainer.critic_scaler)) if scaler is not None},
        "train_state": {k: v for k, v in vars(state).items()},
        "rng": _rng_state(),
        "config": saved_form(trainer.config),
    }


def _restore(trainer: Trainer, checkpoint: dict[str, Any]) -> TrainState:
    trainer.model.load_state_dict(checkpoint["model"])
    trainer.objective.load_state_dict(checkpoint["objective"])
    trainer.optimizer.load_state_dict(checkpoint["optimizer"])
    if trainer.critic_optimizer is not None and checkpoint.get("critic_optimizer"):
        trainer.critic_optimizer.load_state_dict(checkpoint["critic_optimizer"])
    for name, scaler in (("model", trainer.scaler), ("critic", trainer.critic_scaler)):
        saved = checkpoint.get("grad_scalers", {}).get(name)
        if scaler is not None and scaler.is_enabled() and saved:
            scaler.load_state_dict(saved)
    _set_rng_state(checkpoint["rng"])
    return TrainState(**checkpoint["train_state"])


def done_after(config: ExperimentConfig, state: TrainState, epoch_done: bool) -> bool:
    """Whether training ends after the current (possibly partial) epoch."""
    epochs = state.epoch + (1 if epoch_done else 0)
    return (config.train.epochs is not None and epochs >= config.train.epochs) or \
        (config.train.max_steps is not None and state.step >= config.train.max_steps)


def _progress_label(config: ExperimentConfig, epoch: int, num_batches: int) -> str:
    """``epoch k/N``, or with a budget in updates ``epoch k/~N (M updates)``."""
    if config.train.epochs is not None:
        return f"epoch {epoch + 1}/{config.train.epochs}"
    assert config.train.max_steps is not None
    return f"epoch {epoch + 1}/~{-(-config.train.max_steps // num_batches)} ({config.train.max_steps} updates)"


def epoch_order(seed: int, epoch: int, num_examples: int) -> torch.Tensor:
    """The data order of one epoch: a permutation seeded by (seed, epoch), so a resumed
    run sees exactly the batches an uninterrupted one would."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_examples, generator=generator)


def fit(config: ExperimentConfig | Resolved, run_dir: str | Path, *, force: bool = False, resume: bool = False,
        progress: bool = True, data: Any = None, threads: str | int | None = "auto") -> dict[str, Any]:
    """Train one run into ``run_dir`` and return its test results (also ``results.json``).

    Holds the run directory's lock throughout (:mod:`cmivae.infra.locking`; a second process is
    refused) and stops cleanly on SIGTERM/SIGINT at the next step boundary, after writing a
    checkpoint (:mod:`cmivae.training.signals`).

    Args:
        config: the validated experiment config, or its :class:`Resolved` (then not resolved again).
        run_dir: the run directory (created; an unfinished run there is resumed).
        force: start over even if ``run_dir`` holds a finished run or another config.
        resume: require an existing checkpoint to continue from.
        progress: show a progress bar.
        data: already-loaded splits (skips :func:`load_dataset`; for tests and sweeps).
        threads: torch CPU threads by the policy of ``cmivae train --threads``
            (:func:`cmivae.infra.threads.apply_threads`): a count, or ``"auto"`` (default:
            OMP_NUM_THREADS if set, else a resumed run's own count, else the cores other
            processes leave free); ``None`` leaves torch's setting alone (a caller that chose:
            the CLI, a sweep worker).
    """
    from cmivae.infra.locking import directory_lock
    from cmivae.runs.readers import check_run_directory

    # every name and param checked before the directory is touched, and the memory it needs estimated
    resolved = config if isinstance(config, Resolved) else resolve(config)
    check_budget(resolved, MODELS[resolved.config.model.name])
    if distributed.rank() == 0:  # the rank that takes the lock: a run in progress there is said first
        from cmivae.infra.locking import refuse_if_locked

        refuse_if_locked(run_dir)
    # its refusals before it is created
    check_run_directory(run_dir, resolved.config, force=force, resume=resume)
    if threads is not None:  # the CLI's policy, so the API is not 6-17x slower under load (issue 31)
        from cmivae.infra.threads import apply_threads
        from cmivae.runs.readers import resume_threads

        apply_threads(threads, resumed=None if force else resume_threads(run_dir))
    created = not Path(run_dir).exists()
    lock = directory_lock(run_dir) if distributed.rank() == 0 else contextlib.nullcontext()
    with lock, stop_on_signals() as signals:
        try:
            return _fit(resolved, Path(run_dir), force=force, resume=resume, progress=progress, data=data,
                        signals=signals)
        except BaseException:
            if created and distributed.rank() == 0:
                _remove_unstarted(Path(run_dir))
            raise


def _remove_unstarted(run_dir: Path) -> None:
    """A run directory this process created for a run that never started (no ``config.json``:
    its data did not load, its batch did not fit) is removed, lock file and log included, so
    a failed or refused ``train`` leaves no ``--out`` behind. Called under the lock: another
    process that opens the lock file now finds the directory gone or not empty."""
    from cmivae.infra.locking import LOCK_NAME
    from cmivae.runs import files

    if (run_dir / files.CONFIG).exists():
        return
    for name in (files.LOG, LOCK_NAME):
        with contextlib.suppress(OSError):
            (run_dir / name).unlink()
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # only if nothing else is there


def _stop_if_requested(stop: StopRequest, run: RunDirectory, checkpoint: dict[str, Any] | None, step: int) -> None:
    """At a step boundary: after a SIGTERM/SIGINT, write ``checkpoint`` and stop."""
    if stop.signum is None:
        return
    stop.acknowledged = True  # at a step boundary: the stop deadline no longer applies (signals.Watchdog)
    if checkpoint is not None:
        run.save_last(checkpoint)
    message = f"stopped by {stop.name} at step {step}; checkpoint saved in {run.path}; rerun the same command to resume"
    run.log(message, echo=False)  # train.log says where the run stopped; the command line prints it once
    raise Interrupted(stop.signum, message)


def _fit(resolved: Resolved, run_dir: Path, *, force: bool, resume: bool, progress: bool, data: Any,
         signals: StopRequest) -> dict[str, Any]:
    """The driver, in named steps: prepare the directory, load the data, build the trainer, resume or
    start, train epoch by epoch (each ended by :func:`_end_epoch`), then the test results."""
    config = resolved.config
    run = RunDirectory(Path(run_dir), rank=distributed.rank())
    run.prepare(config, force=force, resume=resume)
    signals.log = lambda message: run.log(message, echo=False)  # a forced stop (signals.Watchdog) in train.log
    distributed.barrier()  # no rank reads a checkpoint before rank 0 has cleared or tidied the folder
    events = open_event_writer(config.train.tensorboard, run.path, run.is_main)
    torch.manual_seed(config.train.seed)
    splits = _load_training_data(run, config, data)
    trainer = build_trainer(resolved)
    state = _resume_or_start(run, trainer, config, resume)
    _start_run(run, resolved, trainer, state, splits)
    train_x = splits.train_x
    batch_size = config.train.batch_size
    num_batches = train_x.shape[0] // batch_size  # >= 1, checked before the run started
    shard = distributed.shard_bounds(batch_size)
    source = BatchSource(train_x, trainer.device, keep_on_device(  # the whole set on the GPU when it fits
        train_x.numel() * train_x.element_size(), trainer.device, config.train.data_on_device))
    # Without a visible bar (--no-progress, runs side by side, output to a file): a line with an ETA now and then.
    total_steps = _total_steps(config, num_batches)
    ticker = (ProgressLine(total_steps, "train", run.log, every_seconds=PROGRESS_SECONDS,
                           start_done=state.step, unit="updates") if not (progress and sys.stderr.isatty()) else None)
    last_save = time.monotonic()
    done = done_after(config, state, epoch_done=False)
    while not done:
        epoch = state.epoch
        order = epoch_order(config.train.seed, epoch, train_x.shape[0])
        # the batches this epoch runs: all, or up to the update budget if it ends mid-epoch (the bar ends at 100 %)
        epoch_batches = min(num_batches, state.batch_in_epoch + max(total_steps - state.step, 0))
        bar = tqdm(total=epoch_batches, initial=state.batch_in_epoch,
                   desc=_progress_label(config, epoch, num_batches), disable=not progress or not run.is_main,
                   leave=False, dynamic_ncols=True)
        start = time.monotonic()
        for b in range(state.batch_in_epoch, num_batches):
            _stop_if_requested(signals, run, _checkpoint_state(trainer, state) if signals.signum else None, state.step)
            idx = order[b * batch_size:(b + 1) * batch_size][shard]
            logged, problem = train_step(trainer, trainer.to_device(source.batch(idx)), state.step)
            _count_step(config, run, trainer, state, logged, problem)
            state.step += 1
            state.batch_in_epoch = b + 1
            bar.update(1)
            if ticker is not None:
                ticker.update(state.step)
            if state.step % 10 == 0 and state.count:
                shown = ("neg_elbo", "kl_z", *added_term_keys(state.sums), "critic_acc")
                bar.set_postfix({k: f"{state.sums[k] / state.count:.3g}" for k in shown if k in state.sums})
            stop = config.train.max_steps is not None and state.step >= config.train.max_steps
            state.train_seconds += time.monotonic() - start
            start = time.monotonic()
            if _checkpoint_due(config, state, last_save) and not stop and b + 1 < num_batches:
                run.save_last(_checkpoint_state(trainer, state))
                last_save = time.monotonic()
            if stop:
                break
        bar.close()
        done = _end_epoch(trainer, run, state, splits, events, epoch, epoch_done=state.batch_in_epoch >= num_batches)
        last_save = time.monotonic()

    _stop_if_requested(signals, run, None, state.step)  # the checkpoint of the last epoch is written
    distributed.barrier()  # best.pt is written by rank 0 and read by all
    results = test_results(trainer, run, splits)
    results.update({"best_epoch": state.best_epoch, "steps": state.step, "skipped_batches": state.skipped})
    run.write_results(results)
    if events is not None:
        events.close()
    distributed.barrier()
    return results


def _load_training_data(run: RunDirectory, config: ExperimentConfig, data: Any) -> Any:
    """The splits (``data`` if given); a failed load or a batch larger than the training set leaves
    no run behind, so the corrected rerun needs no --force."""
    try:
        splits = data if data is not None else load_dataset(config.data)
    except Exception:
        run.forget_unstarted()
        raise
    if splits.train_x.shape[0] < config.train.batch_size:  # before the run exists: nothing blocks the rerun
        from cmivae.infra.errors import ConfigError

        run.forget_unstarted()
        raise ConfigError(f"train.batch_size={config.train.batch_size} is larger than the training set "
                          f"({splits.train_x.shape[0]} examples); lower the batch size or use more data")
    return splits


def _resume_or_start(run: RunDirectory, trainer: Trainer, config: ExperimentConfig, resume: bool) -> TrainState:
    """The state of the newest loadable checkpoint of this config, else a fresh one (``--resume``
    without a checkpoint is an error)."""

    def restore(checkpoint: dict[str, Any], path: Path) -> TrainState:
        run.check_checkpoint_config(checkpoint, path, config)
        return _restore(trainer, checkpoint)

    latest = load_latest(run.checkpoint_paths(), map_location=trainer.device, warn=run.log, restore=restore,
                         set_aside_failed=run.is_main)
    if latest is not None:
        state, path = latest
        run.log(f"resuming from {path} at epoch {state.epoch}, step {state.step}")
        return state
    if resume:
        from cmivae.infra.errors import CheckpointError

        raise CheckpointError(f"--resume given but {run.path} has no checkpoint; drop --resume to start a new run")
    return TrainState()


def _start_run(run: RunDirectory, resolved: Resolved, trainer: Trainer, state: TrainState, splits: Any) -> None:
    """Data loaded, checkpoint accepted: the run exists now (``config.json`` with its traits and the
    corpus a speech loader read); the corpus is summed up in one log line."""
    corpus = getattr(splits, "corpus", None)
    run.start(resolved.config, state.history, resolved=resolved.to_dict(), traits=run_traits(resolved),
              corpus=corpus, skipped_files=getattr(splits, "skipped_files", []) if corpus else None,
              numerics=numerics(trainer.device, trainer.precision))
    if run.is_main and corpus:
        c = corpus
        run.log(f"corpus: {sum(c['speakers'].values()) if c['split'] != 'utterance' else c['speakers']['train']} "
                f"speakers, {sum(c['utterances'].values())} utterances, segments train/val/test "
                f"{c['segments']['train']}/{c['segments']['val']}/{c['segments']['test']} ({c['split']} split, "
                f"{c['speakers']['test']} test speakers), rates {c['native_sample_rates']} Hz -> features at "
                f"{c['feature_sample_rate']} Hz, {c['num_bins']} bins; {c['skipped_files']} files skipped, "
                f"{100 * c['dropped_frame_fraction']:.1f} % of frames dropped (last_segment={c['last_segment']})"
                + (" [few test speakers: EER unreliable]" if c["few_test_speakers"] else ""))


def _total_steps(config: ExperimentConfig, num_batches: int) -> int:
    """VAE updates of the whole run: ``train.max_steps`` when training by updates, else the epochs'
    batches capped by it."""
    if config.train.epochs is None:  # a budget in updates (train.max_steps), whatever the data size
        return int(config.train.max_steps)
    total = config.train.epochs * num_batches
    return min(total, config.train.max_steps) if config.train.max_steps else total


def _count_step(config: ExperimentConfig, run: RunDirectory, trainer: Trainer, state: TrainState,
                logged: dict[str, float], problem: str | None) -> None:
    """Add a step's terms to the epoch's sums, or handle its non-finite loss (``train.nonfinite``:
    skip the batch, counted, or stop with ``failure.json``)."""
    if not problem:
        for name, value in logged.items():
            state.sums[name] = state.sums.get(name, 0.0) + value
        state.count += 1
        return
    if config.train.nonfinite == "skip":
        state.skipped += 1
        trainer.optimizer.zero_grad(set_to_none=True)
        run.log(f"warning: skipped batch: {problem} (skips so far: {state.skipped})")
        return
    run.record_failure(problem, state.step)
    kept = (f"the last good checkpoint is kept in {run.path}" if run.has_checkpoint() else
            f"no checkpoint was written yet ({run.path})")
    raise TrainingError(f"{problem}; {kept}. Lower train.lr, or set train.nonfinite=skip to drop such batches")


def _checkpoint_due(config: ExperimentConfig, state: TrainState, last_save: float) -> bool:
    """A mid-epoch checkpoint is due (``train.checkpoint_every_steps`` / ``_minutes``)."""
    every_steps, every_minutes = config.train.checkpoint_every_steps, config.train.checkpoint_every_minutes
    return bool((every_steps and state.step % every_steps == 0) or
                (every_minutes and time.monotonic() - last_save >= 60 * every_minutes))


def _end_epoch(trainer: Trainer, run: RunDirectory, state: TrainState, splits: Any, events: Any, epoch: int,
               epoch_done: bool) -> bool:
    """Validate, record the epoch (``metrics.jsonl``, TensorBoard), keep the best weights, write the
    checkpoint and the epoch's log line (with the objective's named terms); returns whether training is done."""
    config = trainer.config
    val = evaluate_objective(trainer, splits.val_x, seed=config.train.seed + 17)
    record = {"epoch": epoch + 1, "step": state.step, "epoch_complete": epoch_done,
              "train": {k: v / max(state.count, 1) for k, v in state.sums.items()},
              "val": val, "skipped": state.skipped,
              "images_per_second": state.count * config.train.batch_size / max(state.train_seconds, 1e-9)}
    state.history.append(record)
    if events is not None:
        events.write_epoch(record)
    _fail_if_diverged(config, run, state, val)
    if val["total"] < state.best_val or (done_after(config, state, epoch_done) and not run.best_path.exists()):
        state.best_val, state.best_epoch = val["total"], epoch + 1
        run.save_best({"model": trainer.model.state_dict(), "objective": trainer.objective.state_dict(),
                       "epoch": epoch + 1, "val": val, "config": saved_form(config)})
    done = done_after(config, state, epoch_done)
    state.epoch += 1 if epoch_done else 0
    state.batch_in_epoch = 0 if epoch_done else state.batch_in_epoch
    state.sums, state.count, state.train_seconds = {}, 0, 0.0
    run.write_history(state.history)  # before the checkpoint holding it: a kill between loses no line
    run.save_last(_checkpoint_state(trainer, state))
    unit = "images" if config.data.is_image else "segments"  # what one example is, in the log
    own = "".join(f", {k} {val[k]:.3g}" for k in added_term_keys(val))  # the objective's named terms
    run.log(f"epoch {epoch + 1}: val neg_elbo {val['neg_elbo']:.2f}, kl_z {val['kl_z']:.2f}{own}, "
            f"val objective {val['total']:.2f}, {record['images_per_second']:.0f} {unit}/s")
    return done


def _fail_if_diverged(config: ExperimentConfig, run: RunDirectory, state: TrainState, val: dict[str, float]) -> None:
    """Stop with ``failure.json`` (exit 1) when validation is not finite, or when
    ``train.nonfinite=skip`` dropped more than ``train.max_skipped_fraction`` of the batches:
    a diverged run must not pass for a finished one."""
    problem = None
    bad = sorted(k for k, v in val.items() if not math.isfinite(v))
    if bad:
        problem = f"validation is not finite after epoch {state.epoch + 1} ({', '.join(bad)})"
    elif state.step and state.skipped / state.step > config.train.max_skipped_fraction:
        problem = (f"{state.skipped} of {state.step} batches were skipped for non-finite values "
                   f"(more than train.max_skipped_fraction={config.train.max_skipped_fraction})")
    if problem:
        run.record_failure(problem, state.step)
        kept = f"checkpoints before it are kept in {run.path}" if run.has_checkpoint() else \
            f"no checkpoint was written ({run.path})"
        raise TrainingError(f"{problem}; the run diverged ({kept}). Lower train.lr and rerun with --force")


def test_results(trainer: Trainer, run: RunDirectory, splits: Any) -> dict[str, float]:
    """ELBO, Recon, KL(z) (and KL(s)) on the test set at the best checkpoint, nats per
    example (not divided by the number of pixels or frames; paper K.1, K.2)."""
    best = load_checkpoint(run.best_path, map_location=trainer.device)
    trainer.model.load_state_dict(best["model"])
    trainer.objective.load_state_dict(best["objective"])
    values = evaluate_objective(trainer, splits.test_x, seed=trainer.config.train.seed + 29)
    keys = ("elbo", "neg_elbo", "recon", "kl_z", "kl_s")
    return {k: values[k] for k in keys if k in values}
