"""What a model can do, declared on its class (``capabilities: ClassVar[frozenset[str]]``).

Evaluation derives its metric set from these names and the data set's labels, never from the data
modality alone; preflight refuses a requested metric whose capability the model lacks before any
work. Each name promises a method of the model:

- :data:`SAMPLE`: ``model.sampler`` names a :data:`cmivae.sampling.samplers.SAMPLERS` entry that draws
  x ~ p(x | z) (PixelCNN-VAE's autoregressive sampler; needed by mCAS and sample grids).
- :data:`LOCAL_SEQUENCE`: s is a stochastic sequence ``(B, T, D_s)`` with a posterior and a learned
  prior (DSAE); needed by EER(s) and the judge's tests.
- :data:`DECODE`: ``decode(z (B, D), s (B, *s_shape)) -> (B, *input_shape)``, the mean of p(x | z, s)
  on the model's input scale (swaps, voice conversion, the judge's generated sequences).
- :data:`PRIOR_S`: ``sample_prior_s(batch_size, device) -> (B, *s_shape)``, a draw of s_{1:T} from
  the learned prior p(s_t | s_<t) (the judge's "keep z, resample the dynamics" test).
"""

from __future__ import annotations

SAMPLE = "sample"
LOCAL_SEQUENCE = "local_sequence"
DECODE = "decode"
PRIOR_S = "prior_s"

CAPABILITIES = (SAMPLE, LOCAL_SEQUENCE, DECODE, PRIOR_S)
