"""The run directory: its file names (:mod:`cmivae.runs.files`), torch-free readers
(:mod:`cmivae.runs.readers`), the writer used by training (:mod:`cmivae.runs.directory`),
the checkpoint format (:mod:`cmivae.runs.checkpoint`) and :func:`cmivae.runs.trained.load_trained`,
which rebuilds ``(config, model, objective)`` from a run without optimizers or a trainer.

Importing this package imports no torch; ``directory``, ``checkpoint`` and ``trained`` do.
"""

from cmivae.runs import files
from cmivae.runs.readers import read_config, read_eval, read_history, read_results

__all__ = ["files", "read_config", "read_eval", "read_history", "read_results"]
