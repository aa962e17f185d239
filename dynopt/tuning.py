"""Hyperparameters from the physics: the measured spectrum and the one-step map.

:func:`tune` measures the extreme Hessian eigenvalues :math:`[\\mu, L]` where
the run starts (:func:`dynopt.curvature.hessian_extremes`) and chooses the
hyperparameters :math:`\\theta` that minimise the worst predicted per-step
contraction over the spectrum,

.. math::

    \\theta^\\star = \\arg\\min_\\theta \\max_{\\lambda \\in [\\mu,\\,(1+m) L]}
    \\rho\\big(M(\\lambda; \\theta)\\big),

where :math:`M` is the method's one-step map on :math:`\\tfrac12\\lambda x^2`,
derived from its step program by :func:`dynopt.analysis.step_matrix`, and
:math:`m` (``margin``) widens the interval beyond the measured :math:`L`, so
that the step stays stable when the estimate is low or the curvature grows.
For heavy ball this minimax problem is Polyak's (Polyak 1964; the minimiser
is :math:`\\eta = 4/(\\sqrt L + \\sqrt\\mu)^2`,
:math:`\\beta = ((\\sqrt\\kappa - 1)/(\\sqrt\\kappa + 1))^2`, which the tests
check :func:`tune` finds without being told); for gradient descent it gives
:math:`\\eta = 2/(\\mu + L)`; for the other methods in :data:`TUNABLE` it is
solved numerically just the same. Nothing here is a grid over learning rates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["tune", "TuneResult", "TUNABLE", "minimax_hyperparameters"]

#: method -> the hyperparameters tune chooses, with their open intervals
#: (the others keep their values: the mass of ``damped_oscillator``, for instance)
TUNABLE = {
    "gd": {"lr": (0.0, None)},
    "heavy_ball": {"lr": (0.0, None), "momentum": (0.0, 1.0)},
    "nesterov": {"lr": (0.0, None), "momentum": (0.0, 1.0)},
    "gradient_flow": {"dt": (0.0, None)},
    "damped_oscillator": {"dt": (0.0, None), "damping": (0.0, None)},
}


@dataclass
class TuneResult:
    """What :func:`tune` chose, and the estimates behind it.

    Attributes
    ----------
    options : dict
        Hyperparameters for ``dynopt.minimize(..., options=...)``.
    lam_min, lam_max : float
        The measured extremes of the spectrum.
    rate : float
        The predicted per-step contraction :math:`\\max_\\lambda \\rho` over
        :math:`[\\mu, L]` with the chosen values.
    interval : tuple
        The interval the minimax ran over (``lam_max`` widened by the margin).
    nfev, njev, nhessp : int
        Evaluations spent on the estimate.
    curvature : CurvatureEstimate
    """

    options: dict
    lam_min: float
    lam_max: float
    rate: float
    interval: tuple
    nfev: int
    njev: int
    nhessp: int
    method: str
    integrator: object = None
    curvature: object = field(default=None, repr=False)

    def steps_to(self, reduction: float) -> float:
        """Predicted steps to shrink the error by ``reduction`` (e.g. 1e-8)."""
        return float(np.log(reduction) / np.log(self.rate))


def _to_free(value, bounds):
    lo, hi = bounds
    if hi is None:
        return np.log(value - lo)
    t = (value - lo) / (hi - lo)
    return np.log(t / (1 - t))


def _from_free(z, bounds):
    lo, hi = bounds
    if hi is None:
        return lo + np.exp(z)
    return lo + (hi - lo) / (1 + np.exp(-z))


def _starts(names, lam_lo, lam_hi, fixed):
    """A few physically scaled starting points for the minimax search."""
    out = []
    for frac in (0.5, 0.9, 0.99):
        point = {}
        for name in names:
            if name == "lr":
                point[name] = 1.0 / lam_hi
            elif name == "momentum":
                point[name] = frac
            elif name == "dt":
                point[name] = 1.0 / np.sqrt(lam_hi / fixed.get("mass", 1.0))
            elif name == "damping":
                point[name] = 2.0 * np.sqrt(lam_lo * fixed.get("mass", 1.0)) / frac
        out.append(point)
    return out


def minimax_hyperparameters(step, names, lam_lo, lam_hi, bounds, fixed=None, points=33):
    """Minimise :math:`\\max_\\lambda \\rho(M(\\lambda; \\theta))` over ``names``.

    Parameters
    ----------
    step : LinearStep
        The method's one-step map (:func:`dynopt.analysis.step_matrix`).
    names : sequence of str
        The hyperparameters to choose.
    lam_lo, lam_hi : float
        The interval of eigenvalues (``0 < lam_lo <= lam_hi``).
    bounds : dict
        name -> (low, high) open interval (``high=None``: unbounded).
    fixed : dict, optional
        Values of the other hyperparameters.
    points : int
        Eigenvalues on a geometric grid over the interval, endpoints included.

    Returns
    -------
    (dict, float)
        The values and the worst contraction over the grid.
    """
    from scipy.optimize import minimize as scipy_minimize

    fixed = dict(fixed or {})
    grid = np.geomspace(lam_lo, lam_hi, points)

    def worst(z):
        values = {n: _from_free(zi, bounds[n]) for n, zi in zip(names, z)}
        with np.errstate(all="ignore"):
            M = step.numeric(grid, **fixed, **values)
        if not np.all(np.isfinite(M)):
            return 10.0
        return float(np.abs(np.linalg.eigvals(M)).max())

    best = None
    for start in _starts(names, lam_lo, lam_hi, fixed):
        z0 = np.array([_to_free(start[n], bounds[n]) for n in names])
        res = scipy_minimize(worst, z0, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000,
                                      "maxfev": 8000})
        if best is None or res.fun < best.fun:
            best = res
    values = {n: float(_from_free(zi, bounds[n])) for n, zi in zip(names, best.x)}
    return values, float(best.fun)


def tune(fun, x0, jac=None, method="heavy_ball", integrator=None, budget=None, *, hessp=None,
         args=(), margin=0.05, options=None, curvature=None, seed=0):
    """Hyperparameters of ``method`` from the curvature at ``x0`` (see the module notes).

    Parameters
    ----------
    fun, x0, jac, args
        As for :func:`dynopt.minimize`.
    method : str
        One of :data:`TUNABLE`; any other raises ``ValueError`` ("not supported").
    integrator : str, optional
        As for :func:`dynopt.minimize` (e.g. ``'conformal_euler'`` for
        ``damped_oscillator``).
    budget : int, optional
        At most this many Hessian-vector products (default ``min(n, 100)``); the
        estimate stops earlier once both extremes are resolved to 1%.
    hessp : callable, optional
        Exact Hessian-vector products ``hessp(x, v, *args)``.
    margin : float
        The interval reaches ``(1 + margin)`` times the measured largest
        eigenvalue (default 5%).
    options : dict, optional
        Values of the hyperparameters that are not tuned (e.g. ``mass``).
    curvature : (float, float), optional
        ``(lam_min, lam_max)`` known in advance: no evaluation is spent.
    seed : int
        The Lanczos start.

    Returns
    -------
    TuneResult
    """
    from .analysis import step_matrix
    from .curvature import CurvatureEstimate, hessian_extremes

    if not isinstance(method, str) or method.lower() not in TUNABLE:
        raise ValueError(f"tune: method {method!r} is not supported; supported: "
                         f"{sorted(TUNABLE)} (methods whose one-step map is linear in the "
                         "state with hyperparameters tune can set)")
    method = method.lower()
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin >= 0:
        raise ValueError(f"tune: margin must be a non-negative number, got {margin!r}")
    x0 = np.asarray(x0, dtype=float)
    if curvature is not None:
        lo, hi = (float(c) for c in curvature)
        est = CurvatureEstimate(lo, hi, 0.0, 0.0, np.array([lo, hi]), 0)
    else:
        n = x0.shape[-1]
        if budget is None:
            budget = min(n, 100)
        est = hessian_extremes(fun, x0, jac=jac, hessp=hessp, args=args, iterations=budget,
                               difference="forward", seed=seed, rtol=1e-2)
        # the Ritz values lie inside the spectrum: widen both ends by their residuals
        # (the low end at most by half, so that it stays positive)
        lo = max(est.lam_min - est.err_min, 0.5 * est.lam_min)
        hi = est.lam_max + est.err_max
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"tune: the measured spectrum [{lo:.3g}, {hi:.3g}] is not positive; "
                         "the point is not near a minimum (tune from a point where f is "
                         "locally convex)")
    tunable = TUNABLE[method]
    step = step_matrix(method, integrator, options)
    fixed = {s.name: float(v) for s, v in step.params.items()
             if s.name not in tunable and np.ndim(v) == 0}
    names = [n for n in tunable if n in {s.name for s in step.params}]
    interval = (lo, hi * (1 + margin))
    values, _ = minimax_hyperparameters(step, names, interval[0], interval[1], tunable, fixed)
    grid = np.geomspace(lo, hi, 33)
    rate = float(np.max(step.spectral_radius(grid, **fixed, **values)))
    return TuneResult(values, est.lam_min, est.lam_max, rate, interval, est.nfev, est.njev,
                      est.nhessp, method, integrator, est)
