"""The CUDA tests' process settings, made at collection, before any CUDA work starts."""

import os

from cmivae.infra.device import CUBLAS_DETERMINISTIC_WORKSPACE

# cuBLAS reads its workspace configuration once, when it first starts: for the deterministic
# kill/resume test it must be set before any test multiplies a matrix on the GPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC_WORKSPACE)
