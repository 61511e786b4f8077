"""cmivae: global representations with sequential VAEs (CMI-VAE and its baselines).

Paper: "Information theoretic regularization for learning global features by sequential
VAE" (``shared/paper.md``). Public entry points: the ``cmivae`` command line
(:mod:`cmivae.cli`), :func:`cmivae.training.fit`, the registries ``MODELS``,
``OBJECTIVES`` and ``DATASETS``, and the metric functions in :mod:`cmivae.metrics`.
"""

__version__ = "0.1.0"
