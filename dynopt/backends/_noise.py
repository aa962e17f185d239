"""Counter-based standard normal draws, the same on every backend.

A draw is a pure function of four integers: the member's key (the scalar
state ``noise_key``, below :data:`KEY_RANGE`), the step index, the stream of
the Noise stage and the coordinate index. Each is folded into a 64-bit word
by the SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable
pseudorandom number generators", OOPSLA 2014), a bijection of 64-bit words;
two words per coordinate give two uniforms and the Box–Muller transform a
standard normal (Box & Muller, Ann. Math. Stat. 29, 1958):

.. math::

    u_1 = (\\lfloor w_1 / 2^{11} \\rfloor + 1)\\,2^{-53} \\in (0, 1], \\quad
    u_2 = \\lfloor w_2 / 2^{11} \\rfloor\\,2^{-53}, \\quad
    \\xi = \\sqrt{-2 \\ln u_1}\\,\\cos(2\\pi u_2).

NumPy evaluates it on arrays (:func:`standard_normal`), the Numba kernels per
coordinate (``dynopt.backends._numba_support.gauss``), the CUDA kernels in
the device function of :data:`CUDA_SOURCE`; all three do the same integer
arithmetic and the same double-precision transform.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KEY_RANGE", "member_keys", "standard_normal", "CUDA_SOURCE", "GOLDEN", "MIX1",
           "MIX2"]

#: keys are integers in [0, KEY_RANGE): exact in the float32 and float64 state
KEY_RANGE = 2**24

GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB

_G, _M1, _M2 = np.uint64(GOLDEN), np.uint64(MIX1), np.uint64(MIX2)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO = np.uint64(2)
_ONE = np.uint64(1)
_ULP = 2.0**-53


def member_keys(rng: np.random.Generator, batch: int) -> np.ndarray:
    """Keys of ``batch`` members, ``(batch, 1)`` floats: one draw from the run's
    generator, then consecutive integers (distinct keys give independent draws)."""
    base = int(rng.integers(KEY_RANGE))
    return ((base + np.arange(batch, dtype=np.int64)) % KEY_RANGE).astype(np.float64)[:, None]


def _mix(z):
    z = z + _G
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def standard_normal(key, step, stream, n: int, dtype=np.float64):
    """Draws of shape ``(batch, n)`` for keys and steps of shape ``(batch, 1)``
    (or numbers: then ``(1, n)``), as floats of ``dtype``."""
    with np.errstate(over="ignore"):
        key = np.asarray(key, dtype=np.float64).reshape(-1, 1).astype(np.uint64)
        step = np.asarray(step, dtype=np.float64).reshape(-1, 1).astype(np.uint64)
        base = _mix(_mix(_mix(key) ^ step) ^ np.uint64(int(stream)))
        idx = np.arange(int(n), dtype=np.uint64)[None, :] * _TWO
        w1 = _mix(base ^ idx)
        w2 = _mix(base ^ (idx + _ONE))
    u1 = ((w1 >> _S11) + _ONE).astype(np.float64) * _ULP
    u2 = (w2 >> _S11).astype(np.float64) * _ULP
    out = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out.astype(dtype, copy=False)


#: the device functions of the CUDA kernels (printed before them); the transform is
#: in double precision for float32 kernels too (``dyn_gaussf`` rounds its result),
#: so that every backend draws the same numbers
CUDA_SOURCE = f"""\
__device__ __forceinline__ unsigned long long dyn_mix(unsigned long long z) {{
    z += 0x{GOLDEN:X}ULL;
    z = (z ^ (z >> 30)) * 0x{MIX1:X}ULL;
    z = (z ^ (z >> 27)) * 0x{MIX2:X}ULL;
    return z ^ (z >> 31);
}}
__device__ __forceinline__ double dyn_gauss(double key, double step, unsigned long long stream,
                                            unsigned long long idx) {{
    unsigned long long base = dyn_mix(dyn_mix(dyn_mix((unsigned long long) key)
                                              ^ (unsigned long long) step) ^ stream);
    unsigned long long w1 = dyn_mix(base ^ (2ULL * idx));
    unsigned long long w2 = dyn_mix(base ^ (2ULL * idx + 1ULL));
    double u1 = (double) ((w1 >> 11) + 1ULL) * {_ULP!r};
    double u2 = (double) (w2 >> 11) * {_ULP!r};
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}}
__device__ __forceinline__ float dyn_gaussf(float key, float step, unsigned long long stream,
                                            unsigned long long idx) {{
    return (float) dyn_gauss((double) key, (double) step, stream, idx);
}}
"""
