"""Timing benchmarks of ``cmivae``, separate from the tests: ``python -m benchmarks``.

- :mod:`benchmarks.suites`: the benchmarks (machine ceilings, PixelCNN-VAE and DSAE
  training steps, PixelCNN sampling, ``cmivae evaluate``), each a plain function.
- :mod:`benchmarks.reference`: the plain fp32 PixelCNN decoder the fast path is compared to.
- :mod:`benchmarks.flops`: the useful-FLOP count of a training step.
- :mod:`benchmarks.video_profile`: where the video DSAE's training step spends its CPU time (issue 29).
- :mod:`benchmarks.budget_peak`: :mod:`cmivae.budget`'s memory estimate beside a real step's peak.
- :mod:`benchmarks.timing`: interleaved timing (the machine is shared: ratios, not absolutes).
- :mod:`benchmarks.report`: the table and the BENCHMARKS.md block.
"""
