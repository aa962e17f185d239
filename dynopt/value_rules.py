"""The rules a hyperparameter's value follows, in one place and without SymPy.

A symbol's assumptions give the rules (``positive``, ``nonnegative``,
``integer``) and a method may add a range (:attr:`dynopt.methods.Method.bounds`).
:func:`dynopt.methods.check_value` raises on the first rule a value breaks;
a warm start (:mod:`dynopt.warm`) asks the same question of the plain numbers it
takes, before it imports anything else.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["value_problem", "interval"]


def value_problem(value, *, positive=False, nonnegative=False, integer=False, bounds=None):
    """``(exception class, what is wrong)`` for the first rule ``value`` breaks, or ``None``.

    ``value`` is a number or an array (every element is checked); booleans and
    anything but real numbers are not numbers here (``lr=True`` is a mistake).
    ``bounds`` is ``(lo, hi)``, either end ``None`` for no limit.
    """
    plain = type(value) in (float, int)  # the common case, without arrays
    if plain:
        x, every = value, bool
        finite = math.isfinite(value)
    else:
        x, every = np.asarray(value), np.all
        if x.dtype.kind not in "iuf":
            return TypeError, "must be a number"
        finite = bool(np.all(np.isfinite(x)))
    if not finite:
        return ValueError, "must be finite"
    if positive and not every(x > 0):
        return ValueError, "must be positive"
    if nonnegative and not every(x >= 0):
        return ValueError, "must be non-negative"
    if bounds:
        lo, hi = bounds
        if (lo is not None and not every(x >= lo)) or (hi is not None and not every(x <= hi)):
            return ValueError, f"must lie in {interval(lo, hi)}"
    if integer and not every(x == (round(x) if plain else np.round(x))):
        return ValueError, "must be an integer"
    return None


def interval(lo, hi) -> str:
    """``[lo, hi]``, or ``[lo, c)`` when ``hi`` is the float just below a whole number ``c``."""
    if hi is not None:
        up = float(np.nextafter(hi, np.inf))
        if up != hi and up == round(up) and hi != round(hi):
            return f"[{lo}, {up:g})"
    return f"[{lo}, {hi}]"
