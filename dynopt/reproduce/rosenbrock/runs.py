"""One Rosenbrock sweep point: a method at one rate from every start of a section."""
from __future__ import annotations

import numpy as np

from ..base import DIVERGED_STATUSES, prebuilt, single_threaded_blas
from ..best_rate import DIVERGED_LOSS
from .protocol import (ADAMW_CLIP, CURVE_POINTS, DTMAX_RATIO, LBFGS, clipped_rosenbrock,
                       start_points, step_parameter, tied_parameters, tuned_spec)

__all__ = ["run_point", "run_tuned_point", "x0_estimate_cost"]


def _curve_grid(evaluations: int) -> np.ndarray:
    """Log-spaced evaluation counts in ``[1, evaluations]``."""
    return np.unique(np.round(np.geomspace(1, evaluations, CURVE_POINTS)).astype(int))


def run_point(starts: str, method: str, lr, *, seeds: int, evaluations: int,
              dtmax_ratio=DTMAX_RATIO) -> dict:
    """Run one method at one learning rate from every start of a section.

    Parameters
    ----------
    starts : {'paper', 'fresh'}
        Which starts (see :func:`start_points`).
    method : str
        A registered method, ``'adamw+clip'`` or ``'scipy L-BFGS-B'``.
    lr : float or None
        Value of the swept hyperparameter (``None`` for L-BFGS-B).
    seeds : int
        Number of starts.
    evaluations : int
        Gradient evaluations per run, the one at :math:`x_0` included.
    dtmax_ratio : float or None
        ``dtmax = dtmax_ratio * dt`` for a method with a ``dtmax`` (FIRE; see
        :func:`tied_parameters`); ``None`` keeps the method's default.

    Returns
    -------
    dict
        Per start: ``final_loss`` (what the run returned; for a diverged run
        the best value it saw), ``run_status``, ``nit``, ``nfev``; and
        ``curve``, the median over the starts of the loss after each of the
        evaluation counts ``curve_evaluations`` (diverged runs at
        :data:`DIVERGED_LOSS` from the step they stopped).
    """
    X0 = start_points(starts, seeds)
    with single_threaded_blas():
        if tuned_spec(method) is not None:
            return _run_tuned(method, X0, evaluations)
        if method == LBFGS:
            return _run_lbfgs(X0, evaluations)
        return _run_dynopt(method, lr, X0, evaluations, dtmax_ratio)


def _run_dynopt(method, lr, X0, evaluations, dtmax_ratio=DTMAX_RATIO):
    import dynopt
    from ...problems import rosenbrock_fun_and_grad
    fun = clipped_rosenbrock if method == ADAMW_CLIP else rosenbrock_fun_and_grad
    name = "adamw" if method == ADAMW_CLIP else method
    key = step_parameter(name)
    if key is None:
        raise ValueError(f"method {method!r} has neither 'lr' nor 'dt' to sweep")
    losses = [np.asarray(rosenbrock_fun_and_grad(X0)[0], dtype=float)]

    def keep(intermediate_result):
        losses.append(np.array(intermediate_result.fun, dtype=float))

    res = dynopt.minimize(fun, X0, jac=True, method=prebuilt(name), callback=keep,
                          options={key: float(lr), **tied_parameters(name, lr, dtmax_ratio),
                                   "maxiter": evaluations - 1, "gtol": 0.0,
                                   "vectorized": True, "seed": 0})
    status = np.asarray(res.status)
    nit = np.asarray(res.nit)
    trace = np.array(losses)                      # (steps + 1, seeds)
    if len(trace) < evaluations:                  # every run stopped early: hold the last values
        trace = np.vstack([trace, np.repeat(trace[-1:], evaluations - len(trace), axis=0)])
    for i in np.flatnonzero(np.isin(status, DIVERGED_STATUSES)):
        trace[int(nit[i]):, i] = DIVERGED_LOSS
    trace[~np.isfinite(trace)] = DIVERGED_LOSS
    grid = _curve_grid(evaluations)
    return {"final_loss": np.asarray(res.fun, dtype=float), "run_status": status, "nit": nit,
            "nfev": np.asarray(res.nfev), "curve_evaluations": grid,
            "curve": np.median(trace[grid - 1], axis=1)}


def run_tuned_point(starts: str, method: str, *, seeds: int, evaluations: int) -> dict:
    r"""A tuned row (see :func:`~.protocol.tuned_name`) from every start of a section: no grid.

    Each start is one ``dynopt.minimize(..., options={'tune': True})`` run (with
    ``'tune_every'`` for a retuned row): the hyperparameters come from the
    spectrum measured at :math:`x_0` (and again every ``tune_every`` steps) by
    :func:`dynopt.tuning.tune`. Every evaluation of those estimates comes out of
    the budget: with :math:`J` spent on the estimate at :math:`x_0`, the run gets
    ``maxfev`` :math:`= E - J` (the retunes are counted against ``maxfev`` by the
    run itself), so estimates and steps together use at most :math:`E`.

    Returns
    -------
    dict
        As :func:`run_point`, with ``nfev`` the evaluations of the whole run
        (estimates included, counted by a wrapper of the objective and checked
        against the result's ``nfev``), and per start ``tune_nfev`` (the
        evaluations of every estimate), ``estimates`` (how many),
        ``x0_options`` (the values chosen at :math:`x_0`), ``final_options``
        (the values in force at the end) and ``x0_negative`` (negative
        curvature measured at :math:`x_0`: the escape choice).
    """
    if tuned_spec(method) is None:
        raise ValueError(f"run_tuned_point: {method!r} is not a tuned row's name")
    X0 = start_points(starts, seeds)
    with single_threaded_blas():
        return _run_tuned(method, X0, evaluations)


def x0_estimate_cost(fun, x0) -> int:
    """Evaluations :func:`dynopt.tuning.tune` spends on its estimate at ``x0`` (``jac=True``).

    The same Lanczos run ``tune`` makes (:func:`dynopt.curvature.hessian_extremes`
    with its defaults: ``min(n, 100)`` iterations, forward differences, seed 0,
    1% resolution), without the minimax; the caller checks the count against
    the run's own record of it.
    """
    from ...curvature import hessian_extremes
    x0 = np.asarray(x0, dtype=float)
    est = hessian_extremes(fun, x0, jac=True, iterations=min(x0.shape[-1], 100),
                           difference="forward", seed=0, rtol=1e-2)
    return int(est.nfev)


def _run_tuned(row, X0, evaluations):
    import dynopt
    from ...problems import rosenbrock_fun_and_grad
    method, every = tuned_spec(row)
    grid = _curve_grid(evaluations)
    keys = ("final_loss", "run_status", "nit", "nfev", "tune_nfev", "estimates", "x0_options",
            "final_options", "x0_negative")
    out = {k: [] for k in keys}
    curves = []
    for x0 in X0:
        spent = x0_estimate_cost(rosenbrock_fun_and_grad, x0)
        if spent >= evaluations - 1:
            raise ValueError(f"{row}: the estimate at x0 spent {spent} of {evaluations} "
                             "evaluations, the budget leaves no step")
        count = [0]

        def fun(x):
            count[0] += 1
            return rosenbrock_fun_and_grad(x)

        trace = [(0, float(rosenbrock_fun_and_grad(x0)[0]))]

        def keep(intermediate_result):
            trace.append((count[0], float(intermediate_result.fun)))

        options = {"tune": True, "maxiter": evaluations, "maxfev": evaluations - spent,
                   "gtol": 0.0, "seed": 0}
        if every is not None:
            options["tune_every"] = every
        res = dynopt.minimize(fun, x0, jac=True, method=method, callback=keep, options=options)
        history = res.tuning["history"]
        if history[0]["nfev"] != spent or int(res.nfev) != count[0]:
            raise RuntimeError(f"{row}: evaluations do not add up: the estimate at x0 spent "
                               f"{history[0]['nfev']} (expected {spent}), the run reports "
                               f"nfev {int(res.nfev)}, its objective was called {count[0]} "
                               "times")
        status = int(res.status)
        out["final_loss"].append(float(res.fun))
        out["run_status"].append(status if np.isfinite(res.fun) else 3)
        out["nit"].append(int(res.nit))
        out["nfev"].append(count[0])
        out["tune_nfev"].append(int(sum(e["nfev"] for e in history)))
        out["estimates"].append(len(history))
        out["x0_options"].append({k: float(v) for k, v in history[0]["hyperparameters"].items()})
        out["final_options"].append({k: float(v) for k, v in res.tuning["options"].items()})
        out["x0_negative"].append(bool(history[0]["negative_curvature"]))
        at = np.array([t[0] for t in trace])
        values = np.array([t[1] for t in trace])
        curve = values[np.searchsorted(at, grid, side="right") - 1]
        if status in DIVERGED_STATUSES:
            curve[grid >= at[-1]] = DIVERGED_LOSS
        curve[~np.isfinite(curve)] = DIVERGED_LOSS
        curves.append(curve)
    out["curve_evaluations"] = grid
    out["curve"] = np.median(np.array(curves), axis=0)
    return out


def _run_lbfgs(X0, evaluations):
    import scipy.optimize as so
    from ...problems import rosenbrock_fun_and_grad
    grid = _curve_grid(evaluations)
    finals, statuses, nits, nfevs, curves = [], [], [], [], []
    for x0 in X0:
        count = [0]
        trace = [(1, float(rosenbrock_fun_and_grad(x0)[0]))]

        def fun(x):
            count[0] += 1
            return rosenbrock_fun_and_grad(x)

        def keep(intermediate_result):
            trace.append((count[0], float(intermediate_result.fun)))

        res = so.minimize(fun, x0, jac=True, method="L-BFGS-B", callback=keep,
                          options={"maxfun": evaluations, "maxiter": evaluations})
        finite = bool(np.isfinite(res.fun))
        finals.append(float(res.fun))
        statuses.append(int(res.status) if finite else 3)
        nits.append(int(res.nit))
        nfevs.append(int(res.nfev))
        at, values = np.array([t[0] for t in trace]), np.array([t[1] for t in trace])
        curve = values[np.searchsorted(at, grid, side="right") - 1]
        curve[~np.isfinite(curve)] = DIVERGED_LOSS
        curves.append(curve)
    return {"final_loss": finals, "run_status": statuses, "nit": nits, "nfev": nfevs,
            "curve_evaluations": grid, "curve": np.median(np.array(curves), axis=0)}
