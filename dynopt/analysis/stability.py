r"""Stability of a linear method: where the spectral radius of its one-step map is below 1.

:func:`stability_conditions` gives Jury's conditions (a real :math:`2\times2` map is stable
exactly when :math:`|D| < 1` and :math:`|T| < 1 + D`, :math:`T = \operatorname{tr}M`,
:math:`D = \det M`; a :math:`1\times1` map when :math:`|M| < 1`) and, where SymPy solves them,
the stable set of :math:`\lambda`; :func:`stability_interval` finds the stable intervals
numerically for any linear method.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import sympy as sp

from .continuous import as_sympy_number, lam
from .onestep import step_matrix

__all__ = ["stability_conditions", "stability_interval"]


def stability_conditions(method, integrator=None, options=None, freeze=None, numeric=True):
    r"""Jury's conditions for :math:`\rho(M) < 1` and, if SymPy solves them, the stable set.

    Returns
    -------
    (list, sympy.Set or None)
        The conditions (symbolic in :math:`\lambda` and, with ``numeric=False``,
        in the hyperparameters), and the set of :math:`\lambda > 0` satisfying
        all of them (with the hyperparameters' values), or ``None``.
    """
    step = step_matrix(method, integrator, options, freeze)
    conds = step.stability_conditions()
    rep = {sym: sp.nsimplify(as_sympy_number(val, f"the run's value of {sym.name}"))
           for sym, val in step.params.items() if np.ndim(val) == 0}
    num = [sp.simplify(c_.xreplace(rep)) for c_ in conds]
    region = sp.Interval.open(0, sp.oo)
    try:
        for cond in num:
            if cond is sp.true:
                continue
            if cond is sp.false:
                region = sp.EmptySet
                break
            region = region.intersect(
                sp.solve_univariate_inequality(cond, lam, relational=False,
                                               domain=sp.Interval.open(0, sp.oo)))
    except (NotImplementedError, TypeError, ValueError):
        region = None
    return (num if numeric else conds), region


def stability_interval(method, integrator=None, options=None, freeze=None, lam_max=None,
                       samples: int = 4000, scaled: bool = False, marginal: bool = False,
                       tol: float = 1e-9) -> list:
    r"""Intervals of :math:`\lambda > 0` on which :math:`\rho(M) < 1`, found numerically.

    :math:`\rho` is sampled on a logarithmic grid of ``samples`` points up to
    ``lam_max`` (default: :math:`10^4` over the step's scale) and each crossing of
    the threshold is refined by bisection (Brent).

    An undamped step (velocity Verlet or symplectic Euler with no friction) has
    :math:`\rho = 1` exactly on its whole stable range: it neither grows nor
    contracts. Round-off puts such points a hair on either side of 1, so the
    threshold has a margin ``tol``: by default an interval is where
    :math:`\rho < 1 - \text{tol}` (contraction; an undamped step has none), and with
    ``marginal=True`` where :math:`\rho \le 1 + \text{tol}` (bounded: contraction or
    neutral oscillation).

    With ``scaled=True`` the intervals are given in :math:`h\lambda` instead, :math:`h`
    being the value of the step hyperparameter (``dt``, else ``lr``, else 1): the
    stability region of the integrator in its natural variable (heavy ball:
    :math:`0 < \eta\lambda < 2(1 + \alpha)`; gradient descent: :math:`0 < \eta\lambda < 2`).

    Returns
    -------
    list of (float, float)
        ``(low, high)`` pairs; ``high`` is ``inf`` when still stable at ``lam_max``.
    """
    from scipy.optimize import brentq
    step = step_matrix(method, integrator, options, freeze)
    scale = 1.0
    for name_ in ("dt", "lr"):
        for sym, val in step.params.items():
            if sym.name == name_ and np.ndim(val) == 0:
                scale = float(val) ** (2 if name_ == "dt" else 1)
    if lam_max is not None and (isinstance(lam_max, (bool, np.bool_))
                                or not isinstance(lam_max, numbers.Real)):
        raise TypeError(f"lam_max must be a real number, got lam_max = {lam_max!r}")
    top = float(lam_max) if lam_max is not None else 1e4 / scale
    if not (top > 0 and math.isfinite(top)):
        raise ValueError(f"lam_max must be positive and finite, got {lam_max!r}")
    if isinstance(tol, (bool, np.bool_)) or not (isinstance(tol, numbers.Real) and 0 <= tol < 1):
        raise ValueError(f"tol must be a number in [0, 1), got tol = {tol!r}")
    if isinstance(samples, (bool, np.bool_)) or not isinstance(samples, numbers.Integral) \
            or samples < 2:
        raise ValueError(f"samples must be an integer >= 2, got samples = {samples!r}")
    samples, tol = int(samples), float(tol)
    threshold = 1.0 + tol if marginal else 1.0 - tol
    grid = np.geomspace(top * 1e-12, top, samples)
    margin = step.spectral_radius(grid) - threshold

    def excess(val):
        return step.spectral_radius(val) - threshold

    stable = margin <= 0 if marginal else margin < 0
    out = []
    i = 0
    while i < grid.size:
        if not stable[i]:
            i += 1
            continue
        j = i
        while j + 1 < grid.size and stable[j + 1]:
            j += 1
        lo = 0.0 if i == 0 else brentq(excess, grid[i - 1], grid[i], xtol=1e-14 * grid[i])
        hi = math.inf if j == grid.size - 1 else brentq(excess, grid[j], grid[j + 1],
                                                         xtol=1e-14 * grid[j + 1])
        out.append((float(lo), float(hi)))
        i = j + 1
    if scaled:
        hval = next((float(val) for name_ in ("dt", "lr") for sym, val in step.params.items()
                     if sym.name == name_ and np.ndim(val) == 0), 1.0)
        out = [(lo * hval, hi * hval) for lo, hi in out]
    return out
