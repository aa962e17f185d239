"""Extrema and sign of two (one) scalars as NumPy's ``maximum``, ``minimum`` and
``sign`` compute them: a NaN operand gives NaN.

Plain Python, so that the single-member NumPy kernels call them as they are; the
Numba kernels call the same functions compiled (:mod:`._numba_support`).
"""
import math

__all__ = ["fmax", "fmin", "sign"]


def fmax(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


def fmin(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


def sign(a):
    if a > 0:
        return 1.0
    if a < 0:
        return -1.0
    if a == 0:
        return 0.0
    return math.nan
