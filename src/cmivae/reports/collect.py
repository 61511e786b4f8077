"""Read run directories into flat rows: the only input of tables and plots.

Reports are built from files only (``config.json``, ``results.json``, ``eval.json``,
``samples.png``, ``sweep_error.json``), never by importing models, so a report can be made
on any machine that has the run directories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmivae.runs import files
from cmivae.runs.readers import read_json_or_none

METHOD_LABELS = {"elbo": "VAE (ELBO)", "beta": "β-VAE", "mi": "MI-VAE", "cmi": "CMI-VAE"}
METHOD_ORDER = ("elbo", "beta", "mi", "cmi")
MODEL_LABELS = {"pixelcnn_vae": "PixelCNN-VAE", "dsae": "DSAE"}


@dataclass
class RunRow:
    """One run directory, flattened.

    Attributes:
        run_id: the directory name (the config hash in a sweep).
        path: the run directory.
        dataset: ``data.name``.
        model: ``model.name``.
        method: ``objective.name`` (``elbo``, ``beta``, ``mi``, ``cmi``).
        gamma: ``objective.gamma`` (0 for ``elbo``, which ignores it).
        seed: ``train.seed``.
        metrics: ``results.json`` merged with ``eval.json`` (eval wins on shared keys);
            ``neg_elbo`` is added as ``-elbo`` when missing.
        finished: ``results.json`` exists.
        evaluated: ``eval.json`` exists.
        error: the message of ``sweep_error.json`` if the last sweep attempt failed.
        samples: ``samples.png`` if present.
        config: the resolved config.
    """

    run_id: str
    path: Path
    dataset: str
    model: str
    method: str
    gamma: float
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)
    finished: bool = False
    evaluated: bool = False
    error: str | None = None
    samples: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)


_read_json = read_json_or_none


def read_run(path: str | Path) -> RunRow | None:
    """One run directory as a row (``None`` if it has no readable ``config.json``)."""
    path = Path(path)
    saved = _read_json(path / files.CONFIG)
    if saved is None or not isinstance(saved.get("config"), dict):
        return None
    config = saved["config"]
    objective = config.get("objective", {})
    method = str(objective.get("name", "?"))
    metrics: dict[str, float] = {}
    results = _read_json(path / files.RESULTS)
    evaluation = _read_json(path / files.EVAL)
    for values in (results, evaluation):
        for key, value in (values or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[key] = float(value)
    if "elbo" in metrics and "neg_elbo" not in metrics:
        metrics["neg_elbo"] = -metrics["elbo"]
    error = _read_json(path / files.SWEEP_ERROR)
    return RunRow(
        run_id=path.name, path=path, dataset=str(config.get("data", {}).get("name", "?")),
        model=str(config.get("model", {}).get("name", "?")), method=method,
        gamma=0.0 if method == "elbo" else float(objective.get("gamma", 0.0)),
        seed=int(config.get("train", {}).get("seed", 0)), metrics=metrics, finished=results is not None,
        evaluated=evaluation is not None, error=str(error.get("error")) if error else None,
        samples=path / files.SAMPLES if (path / files.SAMPLES).exists() else None, config=config)


def find_run_dirs(root: str | Path) -> list[Path]:
    """Run directories under ``root``: ``root`` itself, ``root/runs/*`` of a sweep, or any
    directory below holding a ``config.json``."""
    root = Path(root)
    if (root / files.CONFIG).exists():
        return [root]
    return sorted(p.parent for p in root.rglob(files.CONFIG))


def collect_runs(roots: str | Path | list[str | Path]) -> list[RunRow]:
    """Every run under the given sweep or run directories, sorted by
    (dataset, model, method, gamma, seed); a run reached twice is listed once."""
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    rows: dict[Path, RunRow] = {}
    for root in roots:
        for path in find_run_dirs(root):
            row = read_run(path)
            if row is not None:
                rows.setdefault(path.resolve(), row)
    return sorted(rows.values(), key=lambda r: (r.dataset, r.model, _method_rank(r.method), r.gamma, r.seed,
                                                r.run_id))


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def method_label(method: str) -> str:
    """Display name of an objective (``cmi`` -> ``CMI-VAE``)."""
    return METHOD_LABELS.get(method, method)
