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

Negative curvature (a saddle or a concave region: the smallest Ritz value
:math:`\\lambda_{\\min} = -\\nu < 0`, which proves an eigenvalue at most that
small, since Ritz values lie inside the spectrum). On
:math:`\\tfrac12\\lambda x^2` with :math:`\\lambda = -\\nu` the one-step map has
an eigenvalue of modulus :math:`r = \\rho(M(-\\nu;\\theta)) > 1`: that mode grows
by :math:`r` per step, which is the escape from the saddle, while the modes of
positive curvature contract by :math:`\\rho(M(\\lambda;\\theta))`. The
hyperparameters then maximise the slowest per-step progress of either kind,

.. math::

    \\theta^\\star = \\arg\\min_\\theta \\max\\Big\\{
    \\max_{\\lambda \\in [\\nu,\\,L']} \\rho\\big(M(\\lambda; \\theta)\\big),\\;
    \\frac{1}{\\rho\\big(M(-\\nu; \\theta)\\big)} \\Big\\}
    \\quad\\text{subject to}\\quad \\rho\\big(M(\\lambda;\\theta)\\big) \\le 1
    \\text{ on } (0, \\nu],

that is, :math:`\\min(-\\ln\\rho, \\ln r)` maximised: the negative mode must grow
(in :math:`\\ln`) at least as fast per step as the slowest positive mode above
:math:`\\nu` shrinks. Here :math:`L' = (1+m)\\max(L, 2\\nu)`, not
:math:`(1+m)L`: the direction of escape has its own curvature at the minimum it
falls into, which the estimate at the saddle cannot see; for the quartic
double well :math:`-\\tfrac12\\nu y^2 + \\tfrac14 c y^4` it is :math:`2\\nu` (at
:math:`y^2 = \\nu/c`: :math:`-\\nu + 3\\nu`), and a step stable only up to
:math:`(1+m)L < 2\\nu` would blow up there. The positive part is taken from
:math:`\\nu` up (the positive modes slower than :math:`\\nu` are slower than the
escape and only kept stable), the same minimax as the convex case on the
spectrum folded onto :math:`|\\lambda|`. For heavy ball the solution is
explicit: with :math:`q = \\nu/L' \\le 1/2`, the optimum puts :math:`[\\nu, L']`
inside the complex-root region, where :math:`\\rho = \\sqrt\\beta =: b`, with the
step at its upper edge :math:`\\eta = (1+b)^2/L'` (the growth :math:`r` increases with
:math:`\\eta` and with :math:`\\beta`), and :math:`r = 1/b` is the larger root
of :math:`z^2 - (1 + \\beta + \\eta\\nu) z + \\beta` at :math:`z = 1/b`, i.e.
:math:`\\eta\\nu = (1-b)^2(1+b+b^2)/b`; together

.. math::

    q\\, b\\,(1+b)^2 = (1-b)^2 (1+b+b^2), \\qquad \\beta = b^2,\\quad
    \\eta = \\frac{(1+b)^2}{L'},

one root :math:`b \\in (0, 1)` (the left side increases from 0, the right
decreases to 0), with predicted progress :math:`b` per step either way
(:math:`b \\approx 0.46` at :math:`q = 1/2`, :math:`\\to 1` as :math:`q \\to 0`:
a shallow saddle in a stiff valley is slow to leave). The tests check that
:func:`tune` finds it numerically without being told. The escape damping is
smaller than the convex tune's on the same :math:`|\\lambda|` (larger
:math:`\\beta`: less friction, as for the continuous
:math:`\\ddot x + \\gamma\\dot x - \\nu x = 0`, whose growth
:math:`(\\sqrt{\\gamma^2 + 4\\nu} - \\gamma)/2` falls with :math:`\\gamma`).

:class:`Retuner` repeats the estimate and the choice every ``tune_every``
steps of a run (``dynopt.minimize(..., options={'tune': True,
'tune_every': K})``): at a saddle the run leaves with the escape values, and
once the curvature near the minimum is positive it continues with the convex
ones, its positions and velocities kept.
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
    negative_curvature : bool
        Whether ``lam_min < 0``: the values are then the escape choice (module
        notes), ``rate`` is :math:`\\max(\\max_{[\\nu, \\max(L, 2\\nu)]}\\rho, 1/r)` and
        ``interval`` is :math:`(\\nu, (1+m)\\max(L, 2\\nu))` with
        :math:`\\nu = -` ``lam_min``.
    escape_rate : float or None
        :math:`r = \\rho(M(\\lambda_{\\min}))`, the predicted per-step growth along
        the negative direction (``None`` without negative curvature).
    reason : str
        What was minimised, in words.
    solved : bool
        Whether the minimax was solved for this estimate (``False``: the values
        of the previous estimate, kept by :class:`Retuner` because the interval
        moved less than the estimate's resolution).
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
    negative_curvature: bool = False
    escape_rate: float = None
    reason: str = ""
    solved: bool = True

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
    r"""A few physically scaled starting points for the minimax search.

    A time step starts at both scales it can have: :math:`1/\sqrt{L/m}` for a
    second-order system and :math:`1/L` for a first-order flow (gradient flow under
    explicit Euler is gradient descent with ``lr = dt``), so that the search does not
    begin deep in the unstable region of either."""
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
    if "dt" in names:
        out += [{**point, "dt": frac / lam_hi} for point, frac in zip(list(out), (0.5, 0.9, 0.99))]
    return out


def minimax_hyperparameters(step, names, lam_lo, lam_hi, bounds, fixed=None, points=33,
                            escape=None):
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
    escape : float, optional
        A negative eigenvalue :math:`-\\nu`: the worst case then also takes
        :math:`1/\\rho(M(-\\nu))` (the inverse of the escape growth), and a
        :math:`\\rho > 1` on :math:`(0, \\lambda_{lo}]` is refused (see the module
        notes).

    Returns
    -------
    (dict, float)
        The values and the worst contraction over the grid.
    """
    from scipy.optimize import minimize as scipy_minimize

    fixed = dict(fixed or {})
    grid = np.geomspace(lam_lo, lam_hi, points)

    if escape is not None:
        signed = _signed_map(step)
        below = np.geomspace(lam_lo * 1e-6, lam_lo, 13)

    def worst(z):
        with np.errstate(over="ignore"):
            values = {n: _from_free(zi, bounds[n]) for n, zi in zip(names, z)}
        with np.errstate(all="ignore"):
            M = step.numeric(grid, **fixed, **values)
        if not np.all(np.isfinite(M)):
            return 10.0
        rho = float(np.abs(np.linalg.eigvals(M)).max())
        if escape is None:
            return rho
        with np.errstate(all="ignore"):
            M_neg = signed(np.array([escape]), fixed, values)
            M_low = step.numeric(below, **fixed, **values)
        if not (np.all(np.isfinite(M_neg)) and np.all(np.isfinite(M_low))):
            return 10.0
        unstable = float(np.abs(np.linalg.eigvals(M_low)).max()) - 1.0
        if unstable > 1e-12:
            return 10.0 + unstable
        growth = float(np.abs(np.linalg.eigvals(M_neg)).max())
        return max(rho, 1.0 / growth) if growth > 0 else 10.0

    best = None
    for start in _starts(names, lam_lo, lam_hi, fixed):
        z0 = np.array([_to_free(start[n], bounds[n]) for n in names])
        res = scipy_minimize(worst, z0, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000,
                                      "maxfev": 8000})
        if best is None or res.fun < best.fun:
            best = res
    if escape is not None:
        # the escape's worst case has a kink where the two terms meet, on which a simplex
        # can stall: restart from the best point until it moves no more (at most 5 times)
        for _ in range(5):
            res = scipy_minimize(worst, best.x, method="Nelder-Mead",
                                 options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000,
                                          "maxfev": 8000})
            if not res.fun < best.fun:
                break
            best = res
    values = {n: float(_from_free(zi, bounds[n])) for n, zi in zip(names, best.x)}
    return values, float(best.fun)


_SIGNED: dict = {}


def _signed_map(step):
    """``M(lambda)`` for real (also negative) ``lambda``: ``f(lams, fixed, values)`` ->
    array (len(lams), d, d).

    :meth:`LinearStep.numeric <dynopt.analysis.LinearStep.numeric>` takes the
    eigenvalues of a minimum only; the entries of the maps of :data:`TUNABLE` are
    rational functions of :math:`\\lambda` (checked here), so the same expressions
    hold for :math:`\\lambda < 0`.
    """
    import sympy as sp

    from .analysis.continuous import lam

    key = id(step)
    hit = _SIGNED.get(key)
    if hit is not None and hit[0] is step:
        return hit[1]
    if not all(e.is_rational_function(lam) for e in step.matrix):
        raise ValueError(f"tune: the one-step map of {step.name!r} is not rational in the "
                         "eigenvalue; its negative-curvature branch is not derived")
    syms = list(step.params)
    mu = sp.Symbol("signed_eigenvalue", real=True)
    d = step.matrix.shape[0]
    entries = [[sp.lambdify([mu, *syms], step.matrix[i, j].xreplace({lam: mu}), "numpy")
                for j in range(d)] for i in range(d)]

    def signed(lams, fixed, values):
        vals = [float(values.get(s_.name, fixed.get(s_.name, step.params[s_]))) for s_ in syms]
        out = np.empty(lams.shape + (d, d))
        for i in range(d):
            for j in range(d):
                out[..., i, j] = np.broadcast_to(entries[i][j](lams, *vals), lams.shape)
        return out

    if len(_SIGNED) > 64:
        _SIGNED.clear()
    _SIGNED[key] = (step, signed)
    return signed


def tune(fun, x0, jac=None, method="heavy_ball", integrator=None, budget=None, *, hessp=None,
         args=(), margin=0.05, options=None, curvature=None, seed=0, gradient=None):
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
    gradient : array_like, optional
        The gradient at ``x0`` when it is known (a run's current gradient): the
        forward differences then spend no evaluation at ``x0``.

    Returns
    -------
    TuneResult
        With ``lam_min < 0`` (negative curvature, ``lam_max > 0``) the escape
        choice of the module notes, ``negative_curvature=True`` and
        ``escape_rate``.

    Raises
    ------
    ValueError
        For a method that is not supported, a negative ``margin``, and a
        spectrum without positive curvature (``lam_max <= 0``, or
        ``lam_min == 0``): nothing then bounds the step.
    """
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
                               difference="forward", seed=seed, rtol=1e-2, g0=gradient)
    return choose(est, method, integrator, options, margin, measured=curvature is None)


def choose(est, method, integrator=None, options=None, margin=0.05, measured=True,
           previous=None, resolution=0.0):
    """:func:`tune`'s choice from a curvature estimate ``est`` (no evaluation).

    ``measured``: ``est`` holds Ritz values with residuals (widened as in
    :func:`tune`), not exact values given in advance. ``previous``: an earlier
    result of the same branch (convex or escape) whose interval's ends are both
    within ``resolution`` (relative) of this one's: its values are kept and only
    the rate is evaluated anew, without solving the minimax again
    (:class:`Retuner` passes the estimate's own resolution, 1%).
    """
    from .analysis import step_matrix

    if measured:
        # the Ritz values lie inside the spectrum: widen both ends by their residuals
        # (the low end at most by half, so that it stays positive)
        lo = max(est.lam_min - est.err_min, 0.5 * est.lam_min)
        hi = est.lam_max + est.err_max
    else:
        lo, hi = est.lam_min, est.lam_max
    negative = bool(np.isfinite(est.lam_min) and est.lam_min < 0 and np.isfinite(hi)
                    and hi > 0)
    if negative:
        # a negative Ritz value proves negative curvature; the escape branch
        lo = -float(est.lam_min)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo and (negative or lo <= hi)):
        raise ValueError(f"tune: the measured spectrum [{est.lam_min:.3g}, {hi:.3g}] is not "
                         "positive and has no positive curvature to bound the step; the point "
                         "is not near a minimum nor a saddle (tune from a point where f is "
                         "locally convex, or has some positive curvature)")
    tunable = TUNABLE[method]
    step = step_matrix(method, integrator, options)
    fixed = {s.name: float(v) for s, v in step.params.items()
             if s.name not in tunable and np.ndim(v) == 0}
    names = [n for n in tunable if n in {s.name for s in step.params}]
    if not negative:
        interval = (lo, hi * (1 + margin))
        kept = _close(previous, False, interval, resolution)
        if kept:
            values = dict(previous.options)
        else:
            values, _ = minimax_hyperparameters(step, names, interval[0], interval[1],
                                                tunable, fixed)
        grid = np.geomspace(lo, hi, 33)
        rate = float(np.max(step.spectral_radius(grid, **fixed, **values)))
        _check_stable(method, values, rate, (lo, hi))
        return TuneResult(values, est.lam_min, est.lam_max, rate, interval, est.nfev, est.njev,
                          est.nhessp, method, integrator, est, False, None,
                          "convex: minimax of rho over [lam_min, (1+margin) lam_max]"
                          + _kept_note(kept, resolution), not kept)
    nu = lo
    # the positive part from nu up, to the curvature the escape direction reaches at the
    # bottom of a quartic double well (2 nu) if that is above the measured lam_max
    reach = max(hi, 2.0 * nu)
    interval = (nu, reach * (1 + margin))
    kept = _close(previous, True, interval, resolution)
    if kept:
        values = dict(previous.options)
    else:
        values, _ = minimax_hyperparameters(step, names, interval[0], interval[1], tunable,
                                            fixed, escape=-nu)
    grid = np.geomspace(nu, reach, 33)
    contraction = float(np.max(step.spectral_radius(grid, **fixed, **values)))
    M = _signed_map(step)(np.array([-nu]), fixed, values)
    growth = float(np.abs(np.linalg.eigvals(M)).max())
    rate = max(contraction, 1.0 / growth)
    _check_stable(method, values, contraction, (nu, reach))
    return TuneResult(values, est.lam_min, est.lam_max, rate, interval, est.nfev, est.njev,
                      est.nhessp, method, integrator, est, True, growth,
                      f"negative curvature (lam_min = {est.lam_min:.6g} < 0): escape, minimax "
                      "of max(rho over [nu, (1+margin) max(lam_max, 2 nu)], 1/rho(-nu)), "
                      "nu = -lam_min" + _kept_note(kept, resolution), not kept)


def _check_stable(method, values, contraction, interval) -> None:
    """Refuse a choice under which the positive curvature does not contract: the
    minimax found no stable values (a :class:`Retuner` then keeps the ones in force)."""
    if not contraction < 1.0:
        raise ValueError(f"tune: no stable choice found for {method!r} on the measured "
                         f"curvature [{interval[0]:.6g}, {interval[1]:.6g}]: the best values "
                         f"{values} give a worst contraction of {contraction:.6g} >= 1")


def _kept_note(kept, resolution) -> str:
    return (f"; the previous values kept (the interval moved by less than {resolution:.0%}, "
            "the estimate's resolution)" if kept else "")


def _close(previous, negative, interval, resolution) -> bool:
    """Whether ``previous`` was chosen on the same branch over an interval whose ends are
    within ``resolution`` of ``interval``'s."""
    if previous is None or not resolution > 0 or previous.negative_curvature != negative:
        return False
    return all(abs(a - b) <= resolution * abs(b) for a, b in zip(interval, previous.interval))


def record_entry(step, result, nfev=None, njev=None, applied=True, hyperparameters=None,
                 reason=None) -> dict:
    """One entry of ``result.tuning['history']``: a :class:`TuneResult` at ``step``."""
    return {"step": int(step), "lambda_min": float(result.lam_min),
            "lambda_max": float(result.lam_max),
            "hyperparameters": dict(result.options if hyperparameters is None
                                    else hyperparameters),
            "predicted_rate": float(result.rate) if applied else None,
            "escape_rate": (None if result.escape_rate is None or not applied
                            else float(result.escape_rate)),
            "nfev": int(result.nfev if nfev is None else nfev),
            "njev": int(result.njev if njev is None else njev),
            "negative_curvature": bool(result.negative_curvature), "applied": bool(applied),
            "solved": bool(result.solved and applied),
            "reason": result.reason if reason is None else reason}


class Retuner:
    """``options['tune_every']``: :func:`tune` repeated every ``every`` steps of a run.

    The single-run loop of :func:`dynopt.minimize` calls it after every
    ``every`` steps (``loop['retune']``, read by :mod:`dynopt.loop`): it measures
    the extreme Hessian eigenvalues at the current position as :func:`tune`
    does (forward differences from the run's current gradient, which costs no
    evaluation in a float64 run), chooses the hyperparameters as :func:`tune`
    does (the escape branch on negative curvature), writes them into the
    run's state — positions, velocities and every other state entry are kept —
    and returns the evaluations it spent, which the loop adds to ``nfev`` and
    ``njev`` and so to what ``maxfev`` bounds. Each call appends an entry to
    :attr:`history` (see :func:`record_entry`).

    The minimax is solved again only when an end of the interval moved by more
    than ``resolution`` (1%, the resolution the Lanczos estimate stops at)
    since the last estimate that solved it, or the branch changed (convex,
    escape); otherwise those values are kept and only the predicted rate is
    evaluated anew (the entry's ``solved`` is ``False``).

    A spectrum with no positive curvature (``lam_max <= 0``: no bound on the
    step) or a Hessian-vector product that is not finite keeps the values in
    force, and the entry says so (``applied=False``). With ``maxfev`` the
    Lanczos steps are capped by the evaluations left; with none left the
    estimate is skipped.

    Parameters
    ----------
    fun, jac, args
        As for :func:`dynopt.minimize` (``jac`` a callable or ``True``).
    method, integrator
        As for :func:`tune`.
    options : dict
        The hyperparameters that are not tuned (e.g. ``mass``).
    every : int
        Steps between estimates.
    maxfev : int, optional
        The run's ``maxfev``.
    reuse_gradient : bool
        Take the run's current gradient as the one at the current point (a
        float64 run; a float32 gradient is too coarse for the differences).
    margin, seed
        As for :func:`tune`.
    """

    def __init__(self, fun, jac, args, method, integrator, options, every, maxfev=None,
                 reuse_gradient=True, margin=0.05, seed=0):
        self.fun, self.jac, self.args = fun, jac, tuple(args)
        self.method, self.integrator = method, integrator
        self.options = dict(options or {})
        self.every = int(every)
        self.maxfev = maxfev
        self.reuse_gradient = bool(reuse_gradient)
        self.margin, self.seed = margin, seed
        #: the relative change of the interval below which the values are kept
        #: (the estimate's own resolution)
        self.resolution = 1e-2
        #: the last :class:`TuneResult` whose minimax was solved
        self.last = None
        #: one entry per estimate (:func:`record_entry`)
        self.history: list = []

    def __call__(self, state, step, g, spent, to_numpy=np.asarray):
        """Measure at ``state``'s position and set its hyperparameters.

        ``g`` is the run's gradient there, ``spent`` the objective evaluations
        the run has counted so far. Returns ``(nfev, njev)`` spent here.
        """
        from .curvature import hessian_extremes

        x = np.array(to_numpy(state.x), dtype=np.float64).reshape(-1)
        n = x.size
        g0 = np.array(g, dtype=np.float64).reshape(-1) if self.reuse_gradient else None
        counts = [0, 0]
        fun, jac, args = self.fun, self.jac, self.args
        if jac is True:
            def counted_fun(y, *a):
                counts[0] += 1
                counts[1] += 1
                return fun(y, *a)
            counted_jac = True
        else:
            counted_fun = fun

            def counted_jac(y, *a):
                counts[1] += 1
                return jac(y, *a)
        budget = min(n, 100)
        if self.maxfev is not None and jac is True:  # every product is an evaluation of fun
            budget = min(budget, int(self.maxfev) - int(spent) - (g0 is None))
        current = {name: float(state.params[name]) for name in TUNABLE[self.method]
                   if name in state.params}
        if budget < 1:
            self.history.append(_kept(step, np.nan, np.nan, current, 0, 0,
                                      "skipped: the maxfev budget is spent"))
            return 0, 0
        host_g = state.g if isinstance(state.g, np.ndarray) else None
        saved_g = None if host_g is None else host_g.copy()
        try:
            est = hessian_extremes(counted_fun, x, jac=counted_jac, args=args,
                                   iterations=budget, difference="forward", seed=self.seed,
                                   rtol=1e-2, g0=g0)
        except FloatingPointError as exc:
            self.history.append(_kept(step, np.nan, np.nan, current, counts[0], counts[1],
                                      f"kept: {exc}"))
            return counts[0], counts[1]
        finally:
            if host_g is not None and not np.array_equal(host_g, saved_g, equal_nan=True):
                # the gradient function wrote into the array the run holds: put it back
                np.copyto(host_g, saved_g)
        try:
            result = choose(est, self.method, self.integrator, self.options, self.margin,
                            previous=self.last, resolution=self.resolution)
        except ValueError as exc:
            self.history.append(_kept(step, est.lam_min, est.lam_max, current, counts[0],
                                      counts[1], f"kept: {exc}"))
            return counts[0], counts[1]
        if result.solved:
            self.last = result
        for name, value in result.options.items():
            state.params[name] = float(value)
        self.history.append(record_entry(step, result, counts[0], counts[1]))
        return counts[0], counts[1]


def _kept(step, lam_min, lam_max, current, nfev, njev, reason) -> dict:
    """A history entry for an estimate that left the hyperparameters as they were."""
    return {"step": int(step), "lambda_min": float(lam_min), "lambda_max": float(lam_max),
            "hyperparameters": dict(current), "predicted_rate": None, "escape_rate": None,
            "nfev": int(nfev), "njev": int(njev),
            "negative_curvature": bool(np.isfinite(lam_min) and lam_min < 0),
            "applied": False, "solved": False, "reason": reason}
