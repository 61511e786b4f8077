"""cmivae: global representations with sequential VAEs (CMI-VAE and its baselines).

Paper: "Information theoretic regularization for learning global features by sequential
VAE" (``shared/paper.md``). Public entry points: the ``cmivae`` command line
(:mod:`cmivae.cli`, its ``COMMANDS``), :func:`cmivae.training.fit`, the registries of
:mod:`cmivae.registry` (``MODELS``, ``OBJECTIVES``, ``DATASETS``, ``SAMPLERS``, ``METRICS``),
:func:`cmivae.runs.trained.load_trained`, and the metric functions in :mod:`cmivae.metrics`.
"""

__version__ = "0.1.0"
