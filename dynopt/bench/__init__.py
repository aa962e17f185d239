"""The benchmark, ``dynopt bench`` / ``python -m dynopt.bench``.

:mod:`.kernels` measures the step kernels against a streaming bound;
:mod:`.engine` measures what users run, the whole :func:`dynopt.minimize`
call, against what they would write or use instead (:mod:`.handwritten`
NumPy loops, PyTorch, JAX); :mod:`.timing` interleaves the contenders so that
one noisy sample cannot decide a ratio.
"""
from .kernels import (METHODS, check_targets, compile_times, main, step_bytes, step_time,
                      streaming_bound, torch_adam_time, whole_run)

__all__ = ["main", "streaming_bound", "step_time", "step_bytes", "whole_run", "compile_times",
           "torch_adam_time", "check_targets", "METHODS"]
