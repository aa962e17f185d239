r"""Predicted against observed rates, side by side, from vectorised runs.

* :func:`compare_rates` runs a method once on the diagonal quadratic
  :math:`\tfrac12\sum_i\lambda_i x_i^2` and reads the run coordinate by coordinate: for a method
  that acts coordinate-wise each coordinate is an independent run on :math:`\tfrac12\lambda_i
  x^2`. Each :math:`|x_i(k)|` is fitted and set next to :math:`\rho(M(\lambda_i))` and
  :math:`e^{-\sigma h}` of the continuous system.
* :func:`sweep_rates` sweeps the damping ratio (a choice of :math:`\lambda_i`) or the step (the
  members of one batched run).
* :func:`compare_spectrum` fits the whole vector on a rotated quadratic with a given spectrum,
  against the slowest mode's :math:`\max_i \rho(M(\lambda_i))`.

Coordinates seen to grow stop the single run at ``options['divergence']``; they are set aside
and the others run again, so that a divergent one does not cut the record of the converging
ones short. See "Observed rates and side-by-side comparison" on the analysis page.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._checks import _is_integer
from ._comparison import (DIVERGENCE, _batched_quadratic, _check_positive_array, _check_steps,
                          _diagonal_quadratic, _double_root_option, _fit_or_none, _growing, _row)
from .discrete import _plain_options, continuous_numeric, resolve_program, step_matrix
from .observed import observed_rate
from .table import RateTable, _plain

__all__ = ["RateTable", "observed_rate", "compare_rates", "compare_spectrum", "sweep_rates"]



# ------------------------------------------------------------------------- one run, many coordinates
def _run_diagonal(method, lams, integrator, options, steps, x0, repeated):
    """Observe every coordinate; rerun the converging ones if growing ones stopped the run."""
    from .._minimize import minimize
    n = lams.size
    fits = [None] * n
    notes = [""] * n
    status = np.zeros(n, dtype=int)
    ran = np.zeros(n, dtype=int)
    active = np.arange(n)
    while active.size:
        opts = {"divergence": DIVERGENCE, **options, "record": True, "gtol": 0.0,
                "maxiter": int(steps)}
        res = minimize(_diagonal_quadratic(lams[active]), x0[active], method=method, jac=True,
                       integrator=integrator, options=opts)
        traj = res.trajectory
        keep = traj["step"] <= res.nit
        X = np.asarray(traj["x"], dtype=float)[keep]
        grown = []
        for j, i in enumerate(active):
            err = np.abs(X[:, j])
            fits[i], notes[i] = _fit_or_none(err, traj["step"][keep], repeated[i])
            status[i], ran[i] = res.status, res.nit
            if _growing(fits[i], err):
                grown.append(i)
        if res.status not in (3, 4) or not grown or len(grown) == active.size:
            break
        active = np.setdiff1d(active, grown)
    return fits, notes, status, ran


def compare_rates(method, eigenvalues, integrator=None, options=None, steps: int = 3000,
                  x0=None, freeze=None) -> RateTable:
    r"""Predicted (discrete and continuous) against observed per-step rates.

    One :func:`dynopt.minimize` run on :math:`f = \tfrac12\sum_i\lambda_i x_i^2`
    (each coordinate an independent run of a coordinate-wise method), recorded for ``steps``
    steps with ``gtol=0``; each
    coordinate is fitted on its own.

    Parameters
    ----------
    method : str, Method or System
    eigenvalues : array_like
        :math:`\lambda_i > 0`, one coordinate each.
    integrator : str or Integrator, optional
    options : dict, optional
        Hyperparameters (``maxiter``, ``gtol`` and ``record`` are set here).
    steps : int
        Steps per run.
    x0 : array_like, optional
        Start, one entry per eigenvalue (default all ones), non-zero.
    freeze : dict, optional
        Scalar state held fixed in the prediction
        (see :func:`~dynopt.analysis.discrete.step_matrix`).

    Returns
    -------
    RateTable
        Rows with ``eigenvalue``, ``damping_ratio`` and ``regime`` (of the continuous
        system), ``predicted`` (spectral radius), ``continuous``
        (:math:`e^{-\sigma h}`), ``observed`` with ``stderr``, ``rel_error``
        (:math:`|r_{obs} - r_{pred}|/r_{pred}`), ``linear_regime``, ``oscillating``,
        ``converging``, ``predicted_stable``, ``repeated_root`` (the slowest root of the
        one-step map is double: :meth:`~dynopt.analysis.discrete.LinearStep.repeated_root`),
        ``double_root_fit`` (the observed rate comes from the fit of
        :math:`\lvert a + bk\rvert r^k`, which is used where ``repeated_root`` holds and
        wherever it fits clearly better than :math:`C r^k`), ``status`` and ``steps`` of the run,
        and ``note``.
    """
    lams = _check_positive_array(eigenvalues, "eigenvalues")
    steps = _check_steps(steps)
    options = _plain_options(dict(options or {}))
    resolve_program(method, integrator, options)  # validates before running
    x0 = np.ones_like(lams) if x0 is None else np.asarray(x0, dtype=float).reshape(-1)
    if x0.shape != lams.shape or not np.all(np.isfinite(x0)) or np.any(x0 == 0):
        raise ValueError(f"x0 must hold one finite non-zero entry per eigenvalue "
                         f"({lams.size}), got {x0!r}")
    step = step_matrix(method, integrator, options, freeze)
    predicted = np.asarray(step.spectral_radius(lams))
    zeta, sigma, hh = continuous_numeric(method, integrator, options, freeze)(lams)
    repeated = np.asarray(step.repeated_root(lams)).reshape(-1)
    fits, notes, status, ran = _run_diagonal(method, lams, integrator, options, steps, x0,
                                             repeated)
    rows = [_row(lams[i], zeta[i], sigma[i], hh[i], predicted[i], fits[i], notes[i],
                 status[i], ran[i], repeated[i]) for i in range(lams.size)]
    return RateTable(rows, step.name, {"integrator": str(integrator), "steps": steps,
                                       "options": {k: _plain(v) for k, v in options.items()}})



# ------------------------------------------------------------------------- the whole vector
def _orthogonal(n, rng):
    """A random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def compare_spectrum(method, eigenvalues, integrator=None, options=None, *, parameter=None,
                     values=None, steps: int = 3000, rotate: bool = True, seed: int = 0,
                     freeze=None) -> RateTable:
    r"""Predicted against observed rate of :math:`\|x_k - x^\star\|` on a quadratic with a
    given spectrum, optionally over a sweep of one hyperparameter, in one batched run.

    The quadratic is :math:`f(x) = \tfrac12 (x - x^\star)^\top H (x - x^\star)` with
    :math:`H = Q\,\mathrm{diag}(\lambda_1, \dots, \lambda_n)\,Q^\top`, :math:`Q` a random
    rotation (the identity with ``rotate=False``) and :math:`x^\star` a random point, both
    drawn from ``seed``; the start is :math:`x_0 = x^\star + Q\mathbf 1`, so that every
    eigen-direction is excited. A method that acts coordinate-wise and linearly commutes
    with the rotation, so each eigen-direction contracts by the spectral radius of its own
    one-step map and the whole error by the slowest of them,

    .. math::

        \|x_k - x^\star\| \sim \Big(\max_i \rho\big(M(h\lambda_i)\big)\Big)^k .

    That is the ``predicted`` column; ``continuous`` is :math:`e^{-h\min_i\sigma(\lambda_i)}`
    of the continuous system (Yang et al., NeurIPS 2018). The observed rate is fitted from
    the recorded norm by :func:`~dynopt.analysis.observed.fit_contraction`.

    Parameters
    ----------
    method : str, Method or System
    eigenvalues : array_like, shape (n,)
        The spectrum :math:`\lambda_i > 0`; its length is the dimension.
    integrator : str or Integrator, optional
    options : dict, optional
        Hyperparameters of the method (``maxiter``, ``gtol``, ``record`` and
        ``vectorized`` are set here).
    parameter : str, optional
        A hyperparameter to sweep over ``values``: one member of a batched
        :func:`dynopt.minimize` call per value, each stopping on its own (a divergent
        member does not cut the others short).
    values : array_like, optional
        The values of ``parameter``.
    steps : int
        Steps per run.
    rotate : bool
        Rotate the eigenbasis (default) or keep :math:`H` diagonal.
    seed : int
        Seed of the rotation and of :math:`x^\star`.
    freeze : dict, optional
        Scalar state held fixed in the prediction.

    Returns
    -------
    RateTable
        One row per member, with the columns of :func:`compare_rates` (``eigenvalue`` is
        the slowest mode's :math:`\lambda`, ``damping_ratio`` and ``regime`` are those of
        the continuous system at :math:`\mu = \min_i\lambda_i`), plus ``dimension``,
        ``kappa`` (:math:`L/\mu`) and, for a sweep, ``parameter`` and ``value``.
    """
    lams = _check_positive_array(eigenvalues, "eigenvalues")
    steps = _check_steps(steps)
    options = _plain_options(dict(options or {}))
    _, params, name = resolve_program(method, integrator, options)
    vals, over = _sweep_values(method, integrator, options, (params, name), parameter, values)
    if not _is_integer(seed):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    fun, x0, x_star = _rotated_quadratic(lams, rotate, seed)
    predicted = _spectrum_prediction(method, integrator, options, freeze, lams, over, vals.size)
    opts = {"divergence": DIVERGENCE, **options, "record": True, "gtol": 0.0, "maxiter": steps,
            "vectorized": True}
    if parameter is not None:
        opts[parameter] = vals
    from .._minimize import minimize
    res = minimize(fun, np.tile(x0, (vals.size, 1)), method=method, jac=True,
                   integrator=integrator, options=opts)
    rows = _spectrum_rows(res, x_star, lams, predicted, parameter, vals)
    return RateTable(rows, name, {"integrator": str(integrator), "steps": steps,
                                  "spectrum": lams.tolist(), "rotate": bool(rotate), "seed": int(seed),
                                  "options": {k: _plain(v) for k, v in options.items()}})


def _sweep_values(method, integrator, options, program, parameter, values):
    """``(vals, over)``: the checked values of the swept hyperparameter (``[nan]`` without a
    sweep) and the overrides of the prediction; ``program`` is ``(params, name)``."""
    params, name = program
    if (parameter is None) != (values is None):
        raise ValueError("give parameter= and values= together")
    if parameter is None:
        return np.array([math.nan]), {}
    if parameter not in params:
        raise ValueError(f"parameter {parameter!r} is not a hyperparameter of {name!r}; "
                         f"valid: {sorted(params)}")
    try:
        vals = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"values must be an array of numbers, got {values!r}") from None
    if vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ValueError(f"values must be a non-empty array of finite numbers, got {values!r}")
    resolve_program(method, integrator, {**options, parameter: float(vals[0])})
    return vals, {parameter: vals[:, None]}


def _rotated_quadratic(lams, rotate, seed):
    r"""``(fun, x0, x_star)``: :math:`f = \tfrac12 (x - x^\star)^\top Q\Lambda Q^\top (x - x^\star)`
    (vectorised, with its gradient), the start :math:`x^\star + Q\mathbf 1` and :math:`x^\star`."""
    n = lams.size
    rng = np.random.default_rng(seed)
    Q = _orthogonal(n, rng) if rotate else np.eye(n)
    x_star = rng.uniform(-1.0, 1.0, n)
    H = (Q * lams) @ Q.T
    H = 0.5 * (H + H.T)

    def fun(X):
        D = X - x_star
        G = D @ H
        return 0.5 * np.sum(D * G, axis=1), G

    return fun, x_star + Q @ np.ones(n), x_star


class _SpectrumPrediction(NamedTuple):
    """Per member and eigenvalue (shape ``(batch, n)``): spectral radius, repeated root, and the
    continuous damping ratio, decay rate and time step; ``slowest`` is the argmax of ``rho``."""

    rho: np.ndarray
    slowest: np.ndarray
    repeated: np.ndarray
    zeta: np.ndarray
    sigma: np.ndarray
    hh: np.ndarray


def _spectrum_prediction(method, integrator, options, freeze, lams, over, batch):
    n = lams.size
    step = step_matrix(method, integrator, options, freeze)
    rho = np.asarray(step.spectral_radius(lams[None, :], **over)).reshape(batch, n)
    repeated = np.asarray(step.repeated_root(lams[None, :], **over)).reshape(batch, n)
    zeta, sigma, hh = continuous_numeric(method, integrator, options, freeze)(lams[None, :], **over)
    zeta, sigma, hh = (np.broadcast_to(a, (batch, n)) for a in (zeta, sigma, hh))
    return _SpectrumPrediction(rho, np.argmax(rho, axis=1), repeated, zeta, sigma, hh)


def _spectrum_rows(res, x_star, lams, predicted: _SpectrumPrediction, parameter, vals):
    """One row per member of the batched run: the fit of its norm against the prediction."""
    mu = int(np.argmin(lams))
    rows = []
    for b in range(vals.size):
        slowest = predicted.slowest[b]
        repeated = predicted.repeated[b, slowest]
        try:
            fit, note = observed_rate(res, x_star, member=b,
                                      double_root=_double_root_option(repeated)), ""
        except ValueError as exc:
            fit, note = None, str(exc)
        j = int(np.argmin(predicted.sigma[b]))
        row = _row(lams[slowest], predicted.zeta[b, mu], predicted.sigma[b, j], predicted.hh[b, j],
                   predicted.rho[b].max(), fit, note, res.status[b], res.nit[b], repeated)
        row.update(dimension=lams.size, kappa=float(lams.max() / lams.min()))
        if parameter is not None:
            row.update(parameter=parameter, value=float(vals[b]))
        rows.append(row)
    return rows



# ------------------------------------------------------------------------- sweeps
def _eigenvalues_for_zetas(method, integrator, options, freeze, zetas):
    r"""Solve :math:`\zeta(\lambda) = \zeta_i` on the continuous model (smallest positive root)."""
    import sympy as sp
    from .continuous import lam
    from .discrete import continuous_model
    model, _ = continuous_model(method, integrator, options, freeze)
    if model.order != 2:
        raise ValueError(f"{model.name!r} is a first-order flow: its damping ratio is "
                         "infinite for every eigenvalue, so it cannot be swept")
    zeta_expr = model.damping_ratio()
    out = []
    for target in zetas:
        eq = sp.numer(sp.together(zeta_expr**2 - sp.Float(target) ** 2))
        roots = [complex(r_) for r_ in sp.Poly(sp.expand(eq), lam).nroots()]
        good = sorted(r_.real for r_ in roots if abs(r_.imag) <= 1e-12 * max(1, abs(r_))
                      and r_.real > 0)
        good = [r_ for r_ in good if float(zeta_expr.subs(lam, r_)) > 0]
        if not good:
            raise ValueError(f"no eigenvalue gives damping ratio {target!r} for {model.name!r} "
                             f"(zeta(lambda) = {zeta_expr})")
        out.append(good[0])
    return np.asarray(out)


def sweep_rates(method, *, zetas=None, step_sizes=None, eigenvalue: float = 1.0,
                parameter: str | None = None, integrator=None, options=None, steps: int = 3000,
                x0: float = 1.0, freeze=None) -> RateTable:
    r"""Predicted against observed rates over a sweep, as one vectorised run.

    Parameters
    ----------
    zetas : array_like, optional
        Damping ratios: each becomes the eigenvalue :math:`\lambda_i` that has
        this ratio under the method's continuous model at the given hyperparameters
        (the smallest such :math:`\lambda` when there are several), and the sweep
        is one :func:`compare_rates` run on :math:`\tfrac12\sum\lambda_i x_i^2`.
    step_sizes : array_like, optional
        Values of the time-step hyperparameter ``parameter`` (default ``'dt'``,
        or ``'lr'`` for a method without ``dt``), run as the members of one
        batched :func:`dynopt.minimize` call on :math:`\tfrac12\lambda x^2`.
    eigenvalue : float
        :math:`\lambda` of a step-size sweep.
    integrator, options, steps, freeze
        As for :func:`compare_rates`.
    x0 : float
        Starting value of every run.

    Returns
    -------
    RateTable
        As :func:`compare_rates`, plus ``target_zeta`` or ``step_size``.
    """
    if (zetas is None) == (step_sizes is None):
        raise ValueError("give exactly one of zetas= and step_sizes=")
    options = _plain_options(dict(options or {}))
    steps = _check_steps(steps)
    if zetas is not None:
        targets = _check_positive_array(zetas, "zetas")
        lams = _eigenvalues_for_zetas(method, integrator, options, freeze, targets)
        table = compare_rates(method, lams, integrator, options, steps,
                              np.full(lams.size, float(x0)), freeze)
        for row, target in zip(table.rows, targets):
            row["target_zeta"] = float(target)
        table.meta["sweep"] = "zeta"
        return table
    hs = _check_positive_array(step_sizes, "step_sizes")
    lam_ = float(_check_positive_array([eigenvalue], "eigenvalue")[0])
    program, params, name = resolve_program(method, integrator, options)
    if parameter is None:
        parameter = "dt" if "dt" in params else "lr" if "lr" in params else None
    if parameter not in params:
        raise ValueError(f"parameter {parameter!r} is not a hyperparameter of {name!r}; "
                         f"valid: {sorted(params)}")
    from .._minimize import minimize
    step = step_matrix(method, integrator, options, freeze)
    predicted = np.asarray(step.spectral_radius(np.full(hs.size, lam_), **{parameter: hs}))
    repeated = np.asarray(step.repeated_root(np.full(hs.size, lam_), **{parameter: hs}))
    zeta, sigma, hh = continuous_numeric(method, integrator, options, freeze)(
        np.full(hs.size, lam_), **{parameter: hs})
    opts = {"divergence": DIVERGENCE, **options, parameter: hs, "record": True, "gtol": 0.0,
            "maxiter": steps, "vectorized": True}
    if isinstance(x0, (bool, np.bool_)):
        raise TypeError(f"x0 must be a number, got the boolean {x0!r}")
    x0_ = float(x0)
    if not (math.isfinite(x0_) and x0_ != 0):
        raise ValueError(f"x0 must be finite and non-zero, got {x0!r}")
    res = minimize(_batched_quadratic(np.array([lam_])), np.full((hs.size, 1), x0_),
                   method=method, jac=True, integrator=integrator, options=opts)
    rows = []
    for i in range(hs.size):
        try:
            fit, note = observed_rate(res, 0.0, member=i, coordinate=0,
                                      double_root=_double_root_option(repeated[i])), ""
        except ValueError as exc:
            fit, note = None, str(exc)
        row = _row(lam_, zeta[i], sigma[i], hh[i], predicted[i], fit, note, res.status[i],
                   res.nit[i], repeated[i])
        row["step_size"] = float(hs[i])
        rows.append(row)
    return RateTable(rows, name, {"integrator": str(integrator), "steps": steps, "sweep": parameter,
                                  "options": {k: _plain(v) for k, v in options.items()}})
