"""Writing a run directory (the files are listed in :mod:`cmivae.runs.files`).

``config.json`` (hashed config, resolved model/objective configs, code version, and for
speech the corpus actually loaded), ``metrics.jsonl`` (one line per epoch), ``results.json``
(test results at the best checkpoint; its presence marks a finished run), ``best.pt``,
``checkpoints/last.pt`` and ``checkpoints/previous.pt`` (the fallback if the last is
damaged), ``failure.json`` (why a run stopped), ``train.log``. ``config.json`` is written
only once training really starts (:meth:`RunDirectory.start`), so a run that fails before
(bad data, batch too large) leaves nothing that refuses the corrected rerun
(:meth:`RunDirectory.forget_unstarted` removes the rest). Only rank 0 writes; the caller of
:meth:`RunDirectory.prepare` (:func:`cmivae.training.loop.fit`) holds a barrier after it, so
no other rank reads a checkpoint before rank 0 has cleared (``--force``) or tidied the folder.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cmivae import __version__
from cmivae.config import ExperimentConfig
from cmivae.infra import json_files
from cmivae.infra.atomic import _write_error, atomic_write_json, atomic_write_text, remove_stale_temporaries
from cmivae.infra.errors import ConfigError
from cmivae.models.contract import declared_capabilities
from cmivae.registry import MODELS, OBJECTIVES, Resolved
from cmivae.runs import files
from cmivae.runs.checkpoint import save_checkpoint, save_rotating
from cmivae.runs.files import RUN_FILES
from cmivae.runs.legacy import saved_form
from cmivae.runs.readers import check_run_directory, config_differences, finished_results


def objective_traits(name: str) -> dict[str, Any]:
    """What objective ``name``'s class declares for reports (:data:`cmivae.runs.files.OBJECTIVE_TRAIT_KEYS`:
    its label, whether it is on the beta-VAE reference curve, whether it uses gamma, its report rank,
    plot colour and marker; the ClassVars of :class:`cmivae.objectives.base.Objective`)."""
    objective = OBJECTIVES[name]
    return {files.OBJECTIVE_LABEL: objective.label or name,
            files.REFERENCE_CURVE: bool(objective.reference_curve), files.USES_GAMMA: bool(objective.uses_gamma),
            files.REPORT_RANK: int(objective.report_rank), files.PLOT_COLOR: str(objective.plot_color),
            files.PLOT_MARKER: str(objective.plot_marker)}


def run_traits(resolved: Resolved) -> dict[str, Any]:
    """What a run's classes declare (``config.json["traits"]``, :data:`cmivae.runs.files.TRAIT_KEYS`):
    read by torch-free sweeps and reports instead of a table of names."""
    model = MODELS[resolved.config.model.name]
    return {files.CAPABILITIES: sorted(declared_capabilities(model)),
            files.MODEL_LABEL: getattr(model, "label", "") or resolved.config.model.name,
            files.MATCHED_METRICS: [list(m) for m in getattr(model, "matched_metrics", ())],
            **objective_traits(resolved.config.objective.name)}


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def runtime_metadata() -> dict[str, Any]:
    """What config.json records beside the (hashed) config: results differ with the torch
    version and thread count, so both are written down (not part of the run id)."""
    import torch

    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}


class RunDirectory:
    """Reads and writes one run's files; refuses to mix two configs in one directory."""

    def __init__(self, path: Path, rank: int = 0) -> None:
        self.path = Path(path)
        self.is_main = rank == 0

    @property
    def best_path(self) -> Path:
        return self.path / files.BEST

    @property
    def results_path(self) -> Path:
        return self.path / files.RESULTS

    def checkpoint_paths(self) -> list[Path]:
        """Newest first."""
        return [self.path / files.CHECKPOINTS / files.LAST, self.path / files.CHECKPOINTS / files.PREVIOUS]

    def finished_results(self, config: ExperimentConfig) -> dict[str, Any] | None:
        """``results.json`` if this directory holds a finished run of exactly ``config``, else ``None``."""
        return finished_results(self.path, config)

    def prepare(self, config: ExperimentConfig, *, force: bool, resume: bool) -> None:
        """Create the directory or check it holds this config; ``force`` clears it.

        Writes no ``config.json`` (:meth:`start` does, once the data loaded). Also deletes the
        temporaries of writes a kill interrupted (``.last.pt.*.tmp``, as large as a checkpoint
        each). All ranks must call it, then meet at a barrier.
        """
        check_run_directory(self.path, config, force=force, resume=resume)
        if force and self.is_main and self.path.exists():
            for name in RUN_FILES:
                (self.path / name).unlink(missing_ok=True)
            shutil.rmtree(self.path / files.CHECKPOINTS, ignore_errors=True)
        if self.is_main:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise _write_error(self.path, err) from err
            stale = remove_stale_temporaries(self.path) + remove_stale_temporaries(self.path / files.CHECKPOINTS)
            if stale:
                self.log(f"removed {len(stale)} unfinished temporary file(s) of an interrupted write: "
                         f"{', '.join(p.name for p in stale)}")

    def start(self, config: ExperimentConfig, history: list[dict[str, Any]], *,
              resolved: dict[str, Any] | None = None, corpus: dict[str, Any] | None = None,
              skipped_files: list[tuple[str, str]] | None = None, numerics: dict[str, Any] | None = None,
              traits: dict[str, Any] | None = None) -> None:
        """Training really starts: write ``config.json`` (if new) and rebuild
        ``metrics.jsonl`` from the checkpointed ``history`` (a kill between a checkpoint and
        the history write loses no line).

        ``resolved`` (the model and objective configs with every default,
        :meth:`cmivae.registry.Resolved.to_dict`) and ``corpus`` (what a speech loader actually
        loaded) are saved beside the hashed config, outside the run id, and so are ``traits`` (what
        the run's classes declare: :func:`run_traits`); ``skipped_files``
        (path, reason) go to ``skipped_files.txt``. ``numerics``
        (:func:`cmivae.infra.precision.numerics`: the precision the run computes at, device, CPU ISA) is
        saved with a new run; a run that resumes at another precision (``train.precision: auto`` on
        another machine kind) says so in ``train.log`` and adds the new record to
        ``numerics_resumed``: its result is then not what an uninterrupted run would give.
        """
        if not self.is_main:
            return
        config_path = self.path / files.CONFIG
        saved = json_files.read_json(config_path) if config_path.exists() else None
        if saved is None:
            saved = {"config": saved_form(config), **({"resolved": resolved} if resolved else {}),
                     **({files.TRAITS: traits} if traits else {}),
                     "code_version": code_version(), "python": sys.version.split()[0], "created": time.time(),
                     **runtime_metadata(), **({"corpus": corpus} if corpus else {}),
                     **({"numerics": numerics} if numerics else {})}
            atomic_write_json(config_path, saved)
        else:
            update: dict[str, Any] = {}
            if corpus and saved.get("corpus") != corpus:  # a resumed run that predates the corpus record
                update["corpus"] = corpus
            records = [saved.get("numerics"), *saved.get("numerics_resumed", [])]
            before = records[-1]  # what the last segment computed at
            if numerics and isinstance(before, dict) and before.get("precision") != numerics["precision"]:
                where = f"{before.get('device')}, {before.get('cpu_capability')}"
                self.log(f"warning: this run trained at precision {before.get('precision')} (on {where}) and "
                         f"resumes at {numerics['precision']} here ({numerics['device']}, "
                         f"{numerics['cpu_capability']}): its result will differ from an uninterrupted run's. To "
                         f"keep {before.get('precision')}, resume it on that machine kind ({where}), or start it "
                         f"over here with --force")
                update["numerics_resumed"] = [*records[1:], numerics]
            if update:
                atomic_write_json(config_path, {**saved, **update})
        if skipped_files:
            atomic_write_text(self.path / files.SKIPPED_FILES, "".join(f"{p}\t{r}\n" for p, r in skipped_files))
        if history:
            self.write_history(history)

    def forget_unstarted(self) -> None:
        """Remove what :meth:`prepare` left in a run that never started (its data did not
        load): the log lines and, when nothing else is there, the directory itself."""
        if not self.is_main or (self.path / files.CONFIG).exists():
            return
        (self.path / files.LOG).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.rmdir()  # only if nothing else is there

    def has_checkpoint(self) -> bool:
        return any(p.exists() for p in self.checkpoint_paths())

    def check_checkpoint_config(self, checkpoint: dict[str, Any], path: Path, config: ExperimentConfig) -> None:
        """Refuse to resume from a checkpoint written by another config (one line)."""
        saved = checkpoint.get("config")
        if not isinstance(saved, dict):
            raise ValueError("it holds no config")
        diffs = config_differences(saved, config)
        if diffs:
            raise ConfigError(f"checkpoint {path} was written by a different config ({'; '.join(diffs[:5])}); "
                              f"use another --out, or --force to discard that run")

    def save_last(self, state: dict[str, Any]) -> None:
        """Write ``checkpoints/last.pt``, keeping the one before as ``previous.pt`` if it
        verifies (:func:`~cmivae.runs.checkpoint.save_rotating`)."""
        if not self.is_main:
            return
        last, previous = self.checkpoint_paths()
        save_rotating(last, previous, state, warn=self.log)

    def save_best(self, state: dict[str, Any]) -> None:
        if self.is_main:
            save_checkpoint(self.best_path, state)

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl`` from the checkpointed history (so a resumed run has
        exactly one line per finished epoch)."""
        if self.is_main:
            atomic_write_text(self.path / files.METRICS, "".join(json_files.dumps(r) + "\n" for r in history))

    def write_results(self, results: dict[str, Any]) -> None:
        """Write ``results.json`` (the run is finished) and drop a stale ``failure.json``."""
        if self.is_main:
            atomic_write_json(self.results_path, results)
            (self.path / files.FAILURE).unlink(missing_ok=True)

    def record_failure(self, message: str, step: int) -> None:
        if self.is_main:
            atomic_write_json(self.path / files.FAILURE, {"error": message, "step": step, "time": time.time()})

    def log(self, message: str, *, echo: bool = True) -> None:
        """Append to ``train.log`` and, with ``echo``, print to stderr (rank 0 only)."""
        if not self.is_main:
            return
        from tqdm.auto import tqdm

        if echo:
            tqdm.write(message, file=sys.stderr)
        log_path = self.path / files.LOG
        try:
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        except OSError as err:
            raise _write_error(log_path, err) from err
