r"""One quadratics sweep point: a method on one seed's quadratic, on a grid or tuned."""
from __future__ import annotations

import numpy as np

from ..base import DIVERGED_STATUSES, prebuilt, single_threaded_blas
from ..best_rate import DIVERGED_LOSS
from .protocol import curve_grid, make_problem, start

__all__ = ["run_point", "run_tuned_point"]


def run_point(kappa, method, seed, *, dim, steps, lrs) -> dict:
    """One method on one seed's quadratic, every rate of ``lrs`` in one batched run.

    Returns
    -------
    dict
        Per rate: ``final_loss`` (:math:`f - f^*` at the last iterate, or
        for a diverged run the best value seen), ``run_status``, ``nit``,
        ``nfev``; ``f0``; ``curve`` (per rate, :math:`f - f^*` at the steps
        ``curve_steps``, diverged runs at :data:`DIVERGED_LOSS` from the step
        they stopped).
    """
    import dynopt
    problem = make_problem(dim, kappa, seed)
    x0 = start(dim, seed)
    X0 = np.repeat(x0[None, :], len(lrs), axis=0)
    f0 = float(problem.fun(x0))
    losses = [np.full(len(lrs), f0)]

    def keep(intermediate_result):
        losses.append(np.array(intermediate_result.fun, dtype=float))

    with single_threaded_blas():
        res = dynopt.minimize(problem.fun_and_grad, X0, jac=True, method=prebuilt(method),
                              callback=keep,
                              options={"lr": np.asarray(lrs, dtype=float), "maxiter": steps,
                                       "gtol": 0.0, "vectorized": True, "seed": 0})
    status = np.asarray(res.status)
    nit = np.asarray(res.nit)
    trace = np.array(losses)
    if len(trace) < steps + 1:
        trace = np.vstack([trace, np.repeat(trace[-1:], steps + 1 - len(trace), axis=0)])
    for i in np.flatnonzero(np.isin(status, DIVERGED_STATUSES)):
        trace[int(nit[i]):, i] = DIVERGED_LOSS
    trace[~np.isfinite(trace)] = DIVERGED_LOSS
    grid = curve_grid(steps)
    return {"final_loss": np.asarray(res.fun, dtype=float), "run_status": status, "nit": nit,
            "nfev": np.asarray(res.nfev), "f0": f0, "curve_steps": grid,
            "curve": trace[grid].T}


def run_tuned_point(kappa, method, seed, *, dim, steps) -> dict:
    r"""``method`` tuned at :math:`x_0` by :func:`dynopt.tuning.tune`, then run, on one seed.

    The gradients spent on the estimate come out of the budget: with
    :math:`J` of them the run takes ``steps - J`` steps, so the gradients
    evaluated in all (estimate and run) are ``steps + 1``, a grid run's.

    Returns
    -------
    dict
        As :func:`run_point` for a grid of one rate, the tuned one (``lrs``),
        with ``nfev``/``njev`` counting the estimate's evaluations too;
        ``run_steps`` (:math:`K - J`); ``tuning`` (the tuned ``options``,
        predicted ``rate``, measured ``lam_min``/``lam_max``, the estimate's
        ``nfev``/``njev``, and the ``interval`` the minimax ran over, whose upper end is
        the measured largest eigenvalue plus its residual, widened by 5%); ``curve`` on
        the budget's axis: at index
        :math:`i`, :math:`f - f^*` once :math:`i + 1` gradients are spent
        (:math:`f_0` while the estimate runs), like a grid run's step :math:`i`.
    """
    import dynopt
    from ...tuning import TUNABLE, tune
    if method not in TUNABLE:
        raise ValueError(f"run_tuned_point: method {method!r} cannot be tuned; "
                         f"valid: {sorted(TUNABLE)}")
    problem = make_problem(dim, kappa, seed)
    x0 = start(dim, seed)
    f0 = float(problem.fun(x0))
    losses = [f0]

    def keep(intermediate_result):
        losses.append(float(intermediate_result.fun))

    with single_threaded_blas():
        tuned = tune(problem.fun_and_grad, x0, jac=True, method=method)
        run_steps = steps - tuned.njev
        if run_steps < 1:
            raise ValueError(f"run_tuned_point: tuning spent {tuned.njev} gradients, the "
                             f"budget of steps={steps} leaves no step")
        res = dynopt.minimize(problem.fun_and_grad, x0, jac=True, method=prebuilt(method),
                              callback=keep,
                              options={**tuned.options, "maxiter": run_steps, "gtol": 0.0,
                                       "seed": 0})
    status = int(res.status)
    nit = int(res.nit)
    run_trace = np.array(losses, dtype=float)
    if len(run_trace) < run_steps + 1:
        run_trace = np.concatenate(
            [run_trace, np.repeat(run_trace[-1:], run_steps + 1 - len(run_trace))])
    if status in DIVERGED_STATUSES:
        run_trace[nit:] = DIVERGED_LOSS
    run_trace[~np.isfinite(run_trace)] = DIVERGED_LOSS
    trace = np.concatenate([np.full(tuned.njev, f0), run_trace])    # steps + 1 entries
    grid = curve_grid(steps)
    return {"final_loss": np.array([float(res.fun)]), "run_status": np.array([status]),
            "nit": np.array([nit]), "nfev": np.array([int(res.nfev) + tuned.nfev]),
            "njev": np.array([int(res.njev) + tuned.njev]), "f0": f0, "curve_steps": grid,
            "curve": trace[grid][None, :], "lrs": [float(tuned.options["lr"])],
            "run_steps": run_steps,
            "tuning": {"options": {k: float(v) for k, v in tuned.options.items()},
                       "rate": float(tuned.rate), "lam_min": float(tuned.lam_min),
                       "lam_max": float(tuned.lam_max),
                       "interval": [float(v) for v in tuned.interval], "nfev": int(tuned.nfev),
                       "njev": int(tuned.njev)}}
