"""The reductions the single-member NumPy kernels call: dot products of one-row
arrays, without a temporary array (:mod:`._single_member` prints them)."""
from __future__ import annotations

__all__ = ["dot", "sum_squares", "HELPERS"]


def dot(a, b) -> float:
    r""":math:`\sum_i a_i b_i` of two arrays of one row; float64 with BLAS's dot,
    other dtypes with NumPy's pairwise sum (a single-precision dot accumulates in
    single precision)."""
    if a.dtype.char == "d" and b.dtype.char == "d":
        return float(a.ravel().dot(b.ravel()))
    return float((a * b).sum())


def sum_squares(a) -> float:
    r""":math:`\sum_i a_i^2` (see :func:`dot`)."""
    if a.dtype.char == "d":
        a = a.ravel()
        return float(a.dot(a))
    return float((a * a).sum())


#: the names the printed reductions call
HELPERS = {"_dot": dot, "_sum_squares": sum_squares}
