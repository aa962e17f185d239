r"""Ill-conditioned convex quadratics, where the FANoS paper reports instability.

N. Dhiman, "FANoS: Friction-Adaptive Nosé–Hoover Symplectic Momentum for Stiff
Objectives", arXiv:2601.00889 (2026), reports FANoS unstable and of high
variance on ill-conditioned convex quadratics (reference section 2). The paper
gives no table for them; this reproduction measures the claim.

Problem
-------
For each condition number :math:`\kappa \in \{10^2, 10^4, 10^6\}` and seed
:math:`s`,

.. math::

    f(x) = \tfrac12 x^\top Q_s^\top \operatorname{diag}(\lambda) Q_s x, \qquad
    \lambda_i = \kappa^{-(n-1-i)/(n-1)} \in [1/\kappa, 1], \qquad f^* = 0,

with :math:`Q_s` Haar-random (:meth:`dynopt.problems.Quadratic.with_condition`,
generator ``numpy.random.default_rng([s, 0])``) and
:math:`x_0 \sim U(-1, 1)^n` (generator ``numpy.random.default_rng([s, 1])``).
The rotation matters: FANoS's and Adam's per-coordinate scaling is not
rotation invariant, gradient descent and the momentum methods are.

Protocol
--------
As on Rosenbrock (:mod:`dynopt.reproduce.rosenbrock`): a fixed number of
steps, the learning-rate grid of the paper extended by :math:`0.3` and
:math:`1` (the largest eigenvalue is 1, so larger steps are stable for the
linear methods), per method the rate with the lowest mean final
suboptimality :math:`f - f^*`, diverged runs counted as :math:`10^9`, mean
with a 95% bootstrap interval, standard deviation, minimum and maximum over
the seeds. One sweep point is one (:math:`\kappa`, method, seed): the rates
run as one batch (one :func:`dynopt.minimize` call with ``lr`` an array).

Analytic rates
--------------
For the methods whose step is a fixed linear map on a quadratic (``gd``,
``heavy_ball``, ``nesterov``) the per-step contraction of the error predicted
at the chosen rate is the largest spectral radius of the one-step map over
the spectrum, :math:`\rho = \max_i \rho(M(\eta\lambda_i))`
(:func:`dynopt.analysis.discrete.predicted_rates`; closed forms below when
that module is not available). Since :math:`f - f^*` is quadratic in the
error, it shrinks like :math:`\rho^{2k}`, so reducing it by :math:`10^{-6}`
takes :math:`k = \lceil 3\ln 10 / (-\ln\rho) \rceil` steps. Closed forms, with
momentum :math:`\beta`:

* gradient descent, :math:`\rho = |1 - \eta\lambda|`;
* heavy ball, the spectral radius of
  :math:`\begin{pmatrix} 1 + \beta - \eta\lambda & -\beta \\ 1 & 0 \end{pmatrix}`
  (Polyak 1964; reference section 1);
* Nesterov in PyTorch's form (:math:`v \leftarrow \beta v - \eta g`,
  :math:`x \leftarrow x + \beta v - \eta g`), the spectral radius of
  :math:`\begin{pmatrix} 1 - (1+\beta)\eta\lambda & \beta^2 \\ -\eta\lambda & \beta
  \end{pmatrix}` acting on :math:`(x, v)`.

The observed rate is :math:`(f_K / f_0)^{1/(2K)}` after :math:`K` steps (median
over seeds): an average over all modes, faster than the worst one.

Tuned rows, no grid
-------------------
For each method of :data:`METHODS` that :func:`dynopt.tuning.tune` supports
(:data:`TUNED_METHODS`: ``gd``, ``heavy_ball``, ``nesterov``) a row
``'<method> (tuned)'`` runs once per seed, without a grid: :func:`~dynopt.tuning.tune`
measures the extreme Hessian eigenvalues :math:`[\mu, L]` at :math:`x_0` (Lanczos,
Lanczos 1950, on forward differences of gradients) and chooses the rate (and the
momentum) minimising the worst predicted contraction over
:math:`[\mu, (1 + m) L]`, :math:`m = 0.05` (Polyak 1964 for heavy ball, where
the minimiser is :math:`\eta = 4/(\sqrt L + \sqrt\mu)^2`,
:math:`\beta = ((\sqrt\kappa - 1)/(\sqrt\kappa + 1))^2`; :math:`\eta = 2/(\mu + L)`
for gradient descent). The gradient budget is the grid rows': a grid run of
:math:`K` steps evaluates :math:`K + 1` gradients; a tuned run that spent
:math:`J` on the estimate takes :math:`K - J` steps, so it too evaluates
:math:`J + (K - J) + 1 = K + 1`. Its final :math:`f - f^*` is aggregated over
the seeds as the grid rows' are (the same function, interval and counting of
diverged runs), its one run playing the part of a one-rate grid; the row's
rate is the median over seeds of the tuned rate, its predicted contraction the
median of :attr:`dynopt.tuning.TuneResult.rate`, its observed rate counts the
:math:`K - J` steps of the run.
"""
from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import numpy as np

from .base import Report, Reproduction
from .rosenbrock import (DIVERGED_LOSS, DIVERGED_STATUSES, aggregate, counted_loss,
                         prebuilt, single_threaded_blas)

__all__ = ["KAPPAS", "METHODS", "TUNED_METHODS", "TUNED", "LR_GRID", "PLANS", "TARGET",
           "make_problem", "start", "run_point", "run_tuned_point", "tuned_name",
           "base_method", "sweep_task", "closed_form_rates", "predicted_rate", "steps_to_target",
           "log10_spread", "flatten",
           "run", "REPRODUCTION"]

#: condition numbers
KAPPAS = (1e2, 1e4, 1e6)
#: the methods compared, those registered at run time
METHODS = ("fanos", "heavy_ball", "gd", "nesterov", "adam", "adamw")
#: the methods of METHODS with a tuned row (those dynopt.tuning.TUNABLE supports)
TUNED_METHODS = ("gd", "heavy_ball", "nesterov")
#: suffix of a tuned row's method name, e.g. ``'heavy_ball (tuned)'``
TUNED = " (tuned)"
#: the paper's grid extended by 0.3 and 1
LR_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
#: reduction of f - f* the step counts are given for
TARGET = 1e-6
#: size -> dimension, seeds, steps, learning rates
PLANS = {
    "quick": {"dim": 10, "seeds": 2, "steps": 200, "lrs": (1e-2, 1e-1, 1.0)},
    "default": {"dim": 50, "seeds": 10, "steps": 3000, "lrs": LR_GRID},
    "full": {"dim": 100, "seeds": 20, "steps": 10000, "lrs": LR_GRID},
}
CURVE_POINTS = 100


# --------------------------------------------------------------------------- problems
def make_problem(dim: int, kappa: float, seed: int):
    """The quadratic of seed ``seed``: log-spaced spectrum in [1/kappa, 1], Haar rotation."""
    from ..problems import Quadratic
    return Quadratic.with_condition(dim, kappa, rotate=True,
                                    seed=np.random.default_rng([int(seed), 0]))


def start(dim: int, seed: int) -> np.ndarray:
    """The start of seed ``seed``: :math:`x_0 \\sim U(-1, 1)^n`."""
    return np.random.default_rng([int(seed), 1]).uniform(-1.0, 1.0, dim)


def _curve_grid(steps: int) -> np.ndarray:
    return np.unique(np.concatenate(
        [[0], np.round(np.geomspace(1, steps, CURVE_POINTS)).astype(int)]))


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
    grid = _curve_grid(steps)
    return {"final_loss": np.asarray(res.fun, dtype=float), "run_status": status, "nit": nit,
            "nfev": np.asarray(res.nfev), "f0": f0, "curve_steps": grid,
            "curve": trace[grid].T}


def tuned_name(method: str) -> str:
    """The name of ``method``'s tuned row, e.g. ``'heavy_ball (tuned)'``."""
    return f"{method}{TUNED}"


def base_method(name: str):
    """The method of a tuned row's name, ``None`` for a grid row's."""
    return name[:-len(TUNED)] if name.endswith(TUNED) else None


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
    from ..tuning import TUNABLE, tune
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
    grid = _curve_grid(steps)
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


def sweep_task(kappa, method, seed, *, dim, steps, lrs):
    """The sweep's task (module level, so a process pool can carry it).

    A tuned row's point (``method`` ending in :data:`TUNED`) runs
    :func:`run_tuned_point` and ignores ``lrs``.
    """
    base = base_method(method)
    if base is not None:
        return run_tuned_point(kappa, base, seed, dim=dim, steps=steps)
    return run_point(kappa, method, seed, dim=dim, steps=steps, lrs=lrs)


def flatten(sweep_records, lrs) -> list:
    """One record per run (kappa, method, rate, seed) from the sweep's records.

    A tuned row's record (method ending in :data:`TUNED`) gives one run at its
    tuned rate (``lr``), with ``run_steps``, ``tune_njev`` (the gradients spent
    on the estimate, counted in ``nfev``/``njev``), ``tuned_rate`` (the
    predicted contraction) and ``momentum`` when tuned; a failed one gives one
    record with ``lr`` ``None``.
    """
    out = []
    for rec in sweep_records:
        point = {k: rec[k] for k in ("kappa", "method", "seed")}
        tuned = base_method(rec["method"]) is not None
        if rec["status"] != "ok":
            for lr in ((None,) if tuned else lrs):
                out.append({**point, "lr": lr, "status": rec["status"], "final_loss": None,
                            "run_status": None, "diverged": None, "counted_loss": None,
                            "f0": None, "nit": None, "nfev": None, "error": rec.get("error")})
            continue
        for j, lr in enumerate(rec["lrs"] if tuned else lrs):
            st = rec["run_status"][j]
            one = {**point, "lr": lr, "status": "ok", "final_loss": rec["final_loss"][j],
                   "run_status": st, "diverged": int(st) in DIVERGED_STATUSES,
                   "counted_loss": counted_loss(rec["final_loss"][j], st), "f0": rec["f0"],
                   "nit": rec["nit"][j], "nfev": rec["nfev"][j], "error": None}
            if tuned:
                info = rec["tuning"]
                one.update({"njev": rec["njev"][j], "run_steps": rec["run_steps"],
                            "tune_njev": info["njev"], "tuned_rate": info["rate"],
                            "lam_min": info["lam_min"], "lam_max": info["lam_max"],
                            "interval": info.get("interval")})
                if "momentum" in info["options"]:
                    one["momentum"] = info["options"]["momentum"]
            out.append(one)
    return out


# --------------------------------------------------------------------------- analytic rates
def closed_form_rates(method: str, lr: float, eigenvalues, momentum: float = 0.9) -> np.ndarray:
    r"""Spectral radius of the one-step map at each eigenvalue (closed forms).

    ``method`` in ``'gd'``, ``'heavy_ball'``, ``'nesterov'`` (see the module
    docstring); ``momentum`` is :math:`\beta`.
    """
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    a = lr * lam
    if method == "gd":
        return np.abs(1.0 - a)
    if method == "heavy_ball":
        mats = [[[1.0 + momentum - ai, -momentum], [1.0, 0.0]] for ai in a]
    elif method == "nesterov":
        mats = [[[1.0 - (1.0 + momentum) * ai, momentum**2], [-ai, momentum]] for ai in a]
    else:
        raise ValueError(f"no closed-form rate for method {method!r}; "
                         "valid: 'gd', 'heavy_ball', 'nesterov'")
    return np.abs(np.linalg.eigvals(np.array(mats))).max(axis=1)


def predicted_rate(method: str, lr: float, eigenvalues) -> tuple:
    """Worst per-step contraction over ``eigenvalues`` at rate ``lr`` and its source.

    Returns ``(rate, source)``; ``rate`` is ``None`` for a method whose step
    is not a fixed linear map (Adam's bias correction, FANoS's thermostat).
    ``source`` says where it came from: ``'dynopt.analysis'`` (the one-step
    map derived from the method's own step program) or ``'closed form'`` (when
    :mod:`dynopt.analysis.discrete` is not available).
    """
    step = _linear_step(method)
    if step is _UNAVAILABLE:
        if method in ("gd", "heavy_ball", "nesterov"):
            import dynopt
            momentum = float(dynopt.METHODS[method].hyperparameters().get("momentum", 0.0))
            return float(closed_form_rates(method, lr, eigenvalues, momentum).max()), "closed form"
        return None, "closed form"
    if step is None:
        return None, "dynopt.analysis"
    rates = step.spectral_radius(np.asarray(eigenvalues, dtype=float), lr=float(lr))
    return float(np.max(rates)), "dynopt.analysis"


_UNAVAILABLE = object()


@functools.lru_cache(maxsize=None)
def _linear_step(method: str):
    """The one-step map of ``method`` (derived once), ``None`` if not linear."""
    try:
        from ..analysis.discrete import NonlinearStepError, step_matrix
    except ImportError:
        return _UNAVAILABLE
    try:
        return step_matrix(method)
    except NonlinearStepError:
        return None


def steps_to_target(rate, target: float = TARGET):
    r"""Steps for :math:`f - f^*` to shrink by ``target`` at error contraction ``rate``.

    :math:`\lceil \ln(\mathrm{target}) / (2\ln\rho) \rceil`; ``None`` when
    ``rate`` is ``None`` or not below 1.
    """
    if rate is None or not rate < 1.0:
        return None
    if rate <= 0.0:
        return 1
    return int(math.ceil(math.log(target) / (2.0 * math.log(rate))))


# --------------------------------------------------------------------------- the run
COLUMNS = ["kappa", "method", "best_lr", "mean", "ci95", "std", "sd_log10", "min", "max",
           "diverged", "div_grid", "1-rate", "steps_1e-6", "1-obs_rate"]


def log10_spread(values):
    r"""Standard deviation of :math:`\log_{10}(f - f^*)` over seeds (``None`` below two
    positive values): the spread in decades, which the mean of values ranging over
    many orders of magnitude hides."""
    logs = [math.log10(v) for v in values if v is not None and v > 0]
    return float(np.std(logs, ddof=1)) if len(logs) >= 2 else None


def run(config) -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report` (figures planned)."""
    import dynopt
    from .base import sweep
    t0 = time.perf_counter()
    plan = dict(PLANS[config.size])
    seeds = config.seeds if config.seeds is not None else plan["seeds"]
    lrs = tuple(plan["lrs"])
    from ..tuning import TUNABLE
    methods = [m for m in METHODS if m in dynopt.METHODS]
    tuned = [tuned_name(m) for m in methods if m in TUNED_METHODS and m in TUNABLE]
    points = ({"kappa": k, "method": m, "seed": s}    # drawn as the sweep goes
              for k in KAPPAS for m in methods + tuned for s in range(seeds))
    task = functools.partial(sweep_task, dim=plan["dim"], steps=plan["steps"], lrs=lrs)
    result = sweep(config, task, points)
    records = flatten(result.records, lrs)
    # a tuned row's runs (one per seed, each at its own tuned rate) form one candidate
    rows = aggregate([dict(r, lr=TUNED) if base_method(r["method"]) else r for r in records],
                     group_by=("kappa", "method"), over="lr")
    for row in rows:
        if base_method(row["method"]) is not None:
            _tuned_row(row, records)
    curves = _curves(result.records, rows, lrs)
    sources = set()
    for row in rows:
        rate = None
        if base_method(row["method"]) is not None:
            rate = row["tuned_rate"]
            if rate is not None:
                sources.add("dynopt.tuning.tune")
        elif row["best_lr"] is not None:
            lam = make_problem(plan["dim"], row["kappa"], 0).eigenvalues
            rate, source = predicted_rate(row["method"], row["best_lr"], lam)
            sources.add(source)
        row["rate"] = rate
        row["1-rate"] = None if rate is None else 1.0 - rate
        row["steps_1e-6"] = steps_to_target(rate)
        row["obs_rate"] = _observed_rate(records, row, plan["steps"])
        row["1-obs_rate"] = None if row["obs_rate"] is None else 1.0 - row["obs_rate"]
        row["div_grid"] = f"{row['diverged_all']}/{row['runs_all']}"
        row["sd_log10"] = log10_spread(row["values"])
    report = Report(
        name="quadratic",
        title=(f"Ill-conditioned quadratics, n = {plan['dim']}, {plan['steps']} steps, best "
               f"learning rate per method: final f - f* (FANoS paper's instability claim)"),
        columns=COLUMNS, rows=rows, records=records, complete=result.complete,
        notes=_notes(rows, records, plan, seeds, sources),
        meta={"size": config.size, "dim": plan["dim"], "seeds": seeds, "steps": plan["steps"],
              "lrs": list(lrs), "kappas": list(KAPPAS), "methods": methods,
              "tuned_methods": tuned, "gradient_budget": plan["steps"] + 1,
              "diverged_loss": DIVERGED_LOSS, "rate_source": sorted(sources), "curves": curves})
    report.plan_figure(config.out / "quadratic_curves.png",
                       functools.partial(_plot, curves, steps=plan["steps"]))
    report.meta["wall_time_s"] = round(time.perf_counter() - t0, 2)
    return report


def _tuned_row(row, records):
    """A tuned row's rate (median tuned lr over seeds), predicted rate and tuning cost."""
    mine = [r for r in records if r["status"] == "ok" and r["kappa"] == row["kappa"]
            and r["method"] == row["method"]]

    def median(key):
        vals = [r[key] for r in mine if r.get(key) is not None]
        return float(np.median(vals)) if vals else None

    row["best_lr"] = median("lr")
    row["tuned_lrs"] = [r["lr"] for r in mine]
    row["tuned_momentum"] = median("momentum")
    row["tuned_rate"] = median("tuned_rate")
    row["tune_njev"] = median("tune_njev")
    row["njev"] = median("njev")


def _observed_rate(records, row, steps):
    """Median over seeds of (f_K/f_0)^(1/(2K)) at the row's rate (finished, finite runs).

    ``K`` is ``steps``, or for a tuned row the steps its runs took (``run_steps``).
    """
    tuned = base_method(row["method"]) is not None
    vals = [(r["final_loss"] / r["f0"]) ** (1.0 / (2 * (r["run_steps"] if tuned else steps)))
            for r in records
            if r["status"] == "ok" and r["kappa"] == row["kappa"]
            and r["method"] == row["method"] and (tuned or r["lr"] == row["best_lr"])
            and not r["diverged"] and r["final_loss"] is not None
            and math.isfinite(r["final_loss"]) and r["final_loss"] >= 0 and r["f0"] > 0]
    return float(np.median(vals)) if vals else None


def _curves(sweep_records, rows, lrs) -> dict:
    """``{kappa: {method: {lr, steps, median, min, max}}}`` at each row's best rate."""
    out = {}
    for row in rows:
        if row["best_lr"] is None:
            continue
        j = 0 if base_method(row["method"]) is not None else lrs.index(row["best_lr"])
        per_seed = [rec["curve"][j] for rec in sweep_records
                    if rec["status"] == "ok" and rec["kappa"] == row["kappa"]
                    and rec["method"] == row["method"]]
        steps = next(rec["curve_steps"] for rec in sweep_records if rec["status"] == "ok")
        arr = np.array(per_seed)
        out.setdefault(repr(row["kappa"]), {})[row["method"]] = {
            "lr": row["best_lr"], "steps": list(steps), "median": np.median(arr, 0).tolist(),
            "min": arr.min(0).tolist(), "max": arr.max(0).tolist()}
    return out


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _notes(rows, records, plan, seeds, sources) -> list:
    n, K = plan["dim"], plan["steps"]
    f0 = [r["f0"] for r in records if r["status"] == "ok" and r["f0"] is not None]
    notes = [
        f"Problem: f(x) = x^T Q^T diag(lambda) Q x / 2, n = {n}, eigenvalues log-spaced in "
        f"[1/kappa, 1], Q Haar-random per seed, x0 ~ U(-1, 1)^n per seed, f* = 0"
        + (f" (f0 from {min(f0):.3g} to {max(f0):.3g})" if f0 else "") + f"; {seeds} seeds.",
        f"Protocol: {K} steps; rates {list(plan['lrs'])}; per (kappa, method) the rate with "
        f"the lowest mean final f - f*; diverged runs (status 3/4) count as {DIVERGED_LOSS:.0e}; "
        f"'ci95' a 95% bootstrap interval of the mean, 'std' the spread over seeds; "
        f"'diverged' at the best rate, 'div_grid' over the whole grid. Other hyperparameters "
        f"at their defaults (momentum 0.9, Adam betas (0.9, 0.999), AdamW weight decay 1e-2, "
        f"FANoS as in the paper).",
        "rate: worst per-step contraction of the error over the spectrum at the best rate "
        "(shown as 1-rate), from " + (" and ".join(sorted(sources)) or "n/a")
        + " (empty: the step is not a fixed linear map); steps_1e-6 = ceil(3 ln 10 / -ln rate), "
        "the steps for f - f* to shrink by 1e-6 at that rate; obs_rate = (f_K/f_0)^(1/(2K)), "
        "median over seeds (shown as 1-obs_rate), an average over all modes.",
    ]
    by = {(r["kappa"], r["method"]): r for r in rows}
    for kappa in KAPPAS:
        parts = []
        for method in METHODS:
            row = by.get((kappa, method))
            if row is None or row["mean"] is None:
                continue
            parts.append(f"{method} {_fmt(row['mean'])} (spread {_fmt(row['sd_log10'])} "
                         f"decades, diverged {row['div_grid']} over the grid)")
        if parts:
            notes.append(f"kappa = {kappa:.0e}: " + "; ".join(parts) + ".")
    notes.extend(_tuned_notes(rows, by, K))
    spread = []
    for kappa in KAPPAS:
        sds = {m: by[(kappa, m)]["sd_log10"] for m in METHODS
               if (kappa, m) in by and by[(kappa, m)]["sd_log10"] is not None}
        if sds:
            top = max(sds, key=sds.get)
            spread.append(f"kappa {kappa:.0e}: {top} ({sds[top]:.2g} decades)")
    if spread:
        notes.append("Largest spread over seeds at the best rate (sd of log10(f - f*)): "
                     + "; ".join(spread) + ".")
    counts = {}
    for rec in records:
        if rec["status"] == "ok" and rec["diverged"]:
            key = (rec["method"], TUNED if base_method(rec["method"]) else rec["lr"])
            counts.setdefault(key, set()).add((rec["kappa"], rec["seed"]))
    if counts:
        notes.append("Diverged runs by method and rate (over every kappa and seed): "
                     + "; ".join(f"{m}: {len(s)}/{len(KAPPAS) * seeds}" if lr == TUNED else
                                 f"{m} at lr {lr:g}: {len(s)}/{len(KAPPAS) * seeds}"
                                 for (m, lr), s in sorted(counts.items(), key=str)) + ".")
    else:
        notes.append("No run diverged at any rate of the grid"
                     + (" nor in a tuned run." if any(base_method(r["method"]) for r in rows)
                        else "."))
    for rec in records:
        if rec["status"] == "failed" and (rec["lr"] == plan["lrs"][0]
                                          or base_method(rec["method"]) is not None):
            notes.append(f"FAILED: {rec['method']} at kappa {rec['kappa']:.0e}, seed "
                         f"{rec['seed']}: {rec['error']}")
    return notes


def _tuned_notes(rows, by, steps) -> list:
    """The tuned rows: their protocol, and each against its method's best grid row."""
    tuned = [r for r in rows if base_method(r["method"]) is not None]
    if not tuned:
        return []
    spent = sorted({r["tune_njev"] for r in tuned if r["tune_njev"] is not None})
    notes = [
        "Tuned rows ('<method> (tuned)'): no grid; per seed dynopt.tuning.tune measures the "
        "extreme Hessian eigenvalues at x0 (Lanczos on forward differences of gradients) and "
        "chooses lr (and momentum) minimising the worst predicted contraction over "
        "[lam_min, 1.05 lam_max]; the run then takes the budget's remaining steps. Same "
        f"gradient budget as the grid rows ({steps + 1} gradients per run): the gradients "
        f"spent on tuning (median per row: {', '.join(f'{v:g}' for v in spent) or 'n/a'}) "
        f"come out of the {steps} steps. best_lr is the median tuned lr over seeds, rate the "
        "median of tune's predicted contraction, div_grid the diverged tuned runs over seeds; "
        "aggregated like the grid rows (mean, bootstrap interval, diverged runs as 1e9). tune "
        "minimises the asymptotic rate, not f after the budget: with momentum near 1 the modes "
        "grow for about 1/(1 - sqrt(momentum)) steps before they contract."]
    for kappa in KAPPAS:
        parts = []
        for row in tuned:
            if row["kappa"] != kappa or row["mean"] is None:
                continue
            grid = by.get((kappa, base_method(row["method"])))
            mom = ("" if row["tuned_momentum"] is None
                   else f", momentum {row['tuned_momentum']:.4g}")
            text = f"{row['method']} {_fmt(row['mean'])} (lr {row['best_lr']:.4g}{mom})"
            if grid is not None and grid["mean"] is not None and grid["mean"] > 0:
                text += (f" against {_fmt(grid['mean'])} at the grid's best lr "
                         f"{grid['best_lr']:g} (ratio {row['mean'] / grid['mean']:.3g})")
            parts.append(text)
        if parts:
            notes.append(f"Tuned, kappa = {kappa:.0e}: " + "; ".join(parts) + ".")
    return notes


def _plot(curves, path, steps) -> Path:
    """Median f - f* against the step at each method's best rate, one panel per kappa.

    The band spans the best and the worst seed.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    kappas = list(curves) or [repr(k) for k in KAPPAS]
    fig = Figure(figsize=(5.2 * len(kappas), 4.6))
    cmap = colormaps["tab10"]
    methods = list(dict.fromkeys(m for c in curves.values() for m in c))
    for j, kappa in enumerate(kappas):
        ax = fig.add_subplot(1, len(kappas), j + 1)
        for i, method in enumerate(methods):
            c = curves.get(kappa, {}).get(method)
            if c is None:
                continue
            x = np.maximum(np.asarray(c["steps"]), 0.5)     # step 0 drawn at 0.5 on the log axis
            ax.plot(x, c["median"], color=cmap(i % 10), lw=1.4,
                    ls="--" if base_method(method) else "-",
                    label=f"{method} (lr {c['lr']:.3g})")
            ax.fill_between(x, c["min"], c["max"], color=cmap(i % 10), alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(0.5, steps)
        ax.set_xlabel("step (tuned rows: gradients spent, tuning first)")
        ax.set_ylabel("f - f*  (median; band: min-max over seeds)")
        ax.set_title(f"kappa = {float(kappa):.0e}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


REPRODUCTION = Reproduction(
    "quadratic", "Ill-conditioned convex quadratics (FANoS paper's instability claim)", run)
