"""Run-time helpers imported by the generated Numba modules.

The compiled kernels take C-contiguous arrays only: per-coordinate state of
shape ``(batch, n)`` in the run's dtype, scalar state as ``(batch,)`` views
of the ``(batch, 1)`` arrays of the state dictionary (so that the kernels
update them in place), and hyperparameters and the built-in scalars ``f``,
``k``, ``N`` as float64 ``(batch,)`` arrays. Normalising here, before the call,
keeps one compiled signature per dtype whatever the caller passes (Python
numbers or ``(batch, 1)`` arrays).

``fmax``, ``fmin`` and ``sign`` follow NumPy's ``maximum``, ``minimum`` and
``sign``: a NaN operand gives NaN.
"""
from __future__ import annotations

import math

import numba
import numba.extending
import numpy as np

from . import _noise, _scalar_math

__all__ = ["state_vector", "state_scalar", "const_scalar", "param", "flat_batch", "fmax",
           "fmin", "sign",
           "block_sum", "block_max", "block_min", "gauss", "CHUNK", "BLOCK", "LANES"]

#: coordinates per chunk of a fused reduction (partial sums are combined in
#: chunk order, so results do not depend on the number of threads)
CHUNK = 16384

#: coordinates per block of a fused reduction: the pass computes a block's terms
#: into a buffer (a loop the compiler can vectorise) and :func:`block_sum` adds
#: them; a multiple of :data:`LANES` that divides :data:`CHUNK`
BLOCK = 512

#: independent partial sums in :func:`block_sum`
LANES = 8


def _float_dtype(a) -> np.dtype:
    dt = np.asarray(a).dtype
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


def state_vector(S, name, dtype, shape=None, create=False):
    """``S[name]`` as a writeable C-contiguous 2-D array of ``dtype``.

    A conforming array is returned as is (kernels update it in place);
    otherwise a converted copy replaces ``S[name]``. With ``create``, a
    missing entry (a value the kernel only writes) is allocated.
    """
    if create and name not in S:
        S[name] = np.empty(shape, dtype=dtype)
    a = S[name]
    if dtype is None:
        dtype = _float_dtype(a)
    if (isinstance(a, np.ndarray) and a.ndim == 2 and a.dtype == dtype
            and a.flags.c_contiguous and a.flags.writeable
            and (shape is None or a.shape == shape)):
        return a
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"state entry {name!r} must have shape (batch, n), got {arr.shape}")
    if shape is not None and arr.shape != shape:
        try:
            arr = np.broadcast_to(arr, shape)
        except ValueError:
            raise ValueError(f"state entry {name!r} has shape {arr.shape}, expected {shape}") from None
    arr = np.array(arr, dtype=dtype, order="C")
    S[name] = arr
    return arr


def state_scalar(S, name, batch, dtype, create=False):
    """A ``(batch,)`` view of ``S[name]`` (made a C-contiguous ``(batch, 1)`` array).

    With ``create``, a missing entry (a value the kernel only writes) is allocated.
    """
    if create and name not in S:
        S[name] = np.zeros((batch, 1), dtype=dtype)
    a = S[name]
    if not (isinstance(a, np.ndarray) and a.shape == (batch, 1) and a.dtype == dtype
            and a.flags.c_contiguous and a.flags.writeable):
        arr = np.asarray(a, dtype=dtype)
        try:
            arr = np.broadcast_to(arr.reshape(-1, 1) if arr.ndim else arr, (batch, 1))
        except ValueError:
            raise ValueError(f"scalar state {name!r} has shape {np.shape(a)}, expected "
                             f"({batch}, 1)") from None
        a = np.array(arr, dtype=dtype, order="C")
        S[name] = a
    return a.reshape(batch)


def const_scalar(value, batch, what):
    """A read-only scalar (``f``, ``k``, ``N`` or a hyperparameter) as float64 ``(batch,)``."""
    a = np.asarray(value, dtype=np.float64)
    if a.size == batch:
        return np.ascontiguousarray(a.reshape(batch))
    if a.size == 1:
        return np.full(batch, a.reshape(-1)[0])
    raise ValueError(f"{what} must be a number or an array of shape ({batch}, 1), "
                     f"got shape {a.shape}")


def param(P, name, batch):
    """Hyperparameter ``P[name]`` as a float64 ``(batch,)`` array.

    A plain number's array is made once per value and batch size and then reused
    (the kernels only read their hyperparameters): a batch of 10 000 members
    spent 3 us per hyperparameter and step filling a new one."""
    try:
        value = P[name]
    except KeyError:
        raise KeyError(f"missing hyperparameter {name!r}") from None
    kind = type(value)
    if kind is float or kind is int:
        key = (float(value).hex(), batch)  # hex: -0.0 and 0.0 stay apart
        arr = _FILLED.get(key)
        if arr is None:
            if len(_FILLED) >= 256:
                _FILLED.clear()
            arr = _FILLED[key] = np.full(batch, float(value))
        return arr
    return const_scalar(value, batch, f"hyperparameter {name!r}")


#: (number as float.hex, batch) -> the filled float64 array of :func:`param`
_FILLED: dict = {}


def flat_batch(P, names, step) -> bool:
    """Whether the members of a batch share the scalars of a flat kernel (see
    ``_numba_source.emit_flat_kernel``): every hyperparameter in ``names`` a single
    number, and every member at the same step (``step``, the state's ``k``, or
    ``None`` when the kernel does not read it)."""
    for name in names:
        value = P[name]
        if type(value) not in (float, int) and np.size(value) != 1:
            return False
    return step is None or _all_equal(np.asarray(step).reshape(-1))


@numba.njit(cache=True)
def _all_equal(a):
    first = a[0]
    for i in range(1, a.shape[0]):
        if a[i] != first:
            return False
    return True


#: NumPy's NaN-propagating extrema and sign (:mod:`._scalar_math`), compiled
fmax = numba.njit(cache=True)(_scalar_math.fmax)
fmin = numba.njit(cache=True)(_scalar_math.fmin)
sign = numba.njit(cache=True)(_scalar_math.sign)


@numba.njit(cache=True)
def block_sum(buf, m, acc):
    """``acc`` plus the sum of ``buf[:m]``.

    The terms go to :data:`LANES` partial sums (term ``q`` to sum ``q % LANES``,
    the last ``m % LANES`` terms to a tail sum), combined pairwise at the end, so
    that the additions do not wait for one another (a single running sum is
    bound by the latency of one addition per term). The order is fixed by
    ``m``: the result does not depend on the machine or the number of threads.
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    q = 0
    while q + 8 <= m:
        s0 += buf[q]
        s1 += buf[q + 1]
        s2 += buf[q + 2]
        s3 += buf[q + 3]
        s4 += buf[q + 4]
        s5 += buf[q + 5]
        s6 += buf[q + 6]
        s7 += buf[q + 7]
        q += 8
    tail = 0.0
    while q < m:
        tail += buf[q]
        q += 1
    return acc + ((((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))) + tail)


@numba.njit(cache=True)
def block_max(buf, m, acc):
    """``fmax`` of ``acc`` and ``buf[:m]``, in order (NaN propagates)."""
    for q in range(m):
        acc = fmax(acc, buf[q])
    return acc


@numba.njit(cache=True)
def block_min(buf, m, acc):
    """``fmin`` of ``acc`` and ``buf[:m]``, in order (NaN propagates)."""
    for q in range(m):
        acc = fmin(acc, buf[q])
    return acc


_GOLDEN = np.uint64(_noise.GOLDEN)
_MIX1 = np.uint64(_noise.MIX1)
_MIX2 = np.uint64(_noise.MIX2)


@numba.njit(cache=True, inline="always")
def _mix(z):
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _round_like(value, like):
    """``value`` in the precision of ``like``: a float32 kernel's draws are rounded to
    float32, as the NumPy and CUDA kernels round theirs."""
    return np.float32(value) if isinstance(like, np.float32) else value


@numba.extending.overload(_round_like, inline="always")
def _round_like_compiled(value, like):
    if isinstance(like, numba.types.Float) and like.bitwidth == 32:
        return lambda value, like: np.float32(value)
    return lambda value, like: value


@numba.njit(cache=True, inline="always")
def gauss(key, step, stream, idx):
    """The standard normal draw of `dynopt.backends._noise` for one coordinate, in the
    precision of ``key`` (the kernel's dtype)."""
    base = _mix(_mix(_mix(np.uint64(key)) ^ np.uint64(step)) ^ np.uint64(stream))
    i2 = np.uint64(idx) * np.uint64(2)
    w1 = _mix(base ^ i2)
    w2 = _mix(base ^ (i2 + np.uint64(1)))
    u1 = np.float64((w1 >> np.uint64(11)) + np.uint64(1)) * 1.1102230246251565e-16
    u2 = np.float64(w2 >> np.uint64(11)) * 1.1102230246251565e-16
    return _round_like(math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2), key)
