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

__all__ = ["KAPPAS", "METHODS", "LR_GRID", "PLANS", "TARGET", "make_problem", "start",
           "run_point", "sweep_task", "closed_form_rates", "predicted_rate", "steps_to_target",
           "log10_spread", "flatten",
           "run", "REPRODUCTION"]

#: condition numbers
KAPPAS = (1e2, 1e4, 1e6)
#: the methods compared, those registered at run time
METHODS = ("fanos", "heavy_ball", "gd", "nesterov", "adam", "adamw")
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


def sweep_task(kappa, method, seed, *, dim, steps, lrs):
    """The sweep's task (module level, so a process pool can carry it)."""
    return run_point(kappa, method, seed, dim=dim, steps=steps, lrs=lrs)


def flatten(sweep_records, lrs) -> list:
    """One record per run (kappa, method, rate, seed) from the sweep's records."""
    out = []
    for rec in sweep_records:
        point = {k: rec[k] for k in ("kappa", "method", "seed")}
        if rec["status"] != "ok":
            for lr in lrs:
                out.append({**point, "lr": lr, "status": rec["status"], "final_loss": None,
                            "run_status": None, "diverged": None, "counted_loss": None,
                            "f0": None, "nit": None, "nfev": None, "error": rec.get("error")})
            continue
        for j, lr in enumerate(lrs):
            st = rec["run_status"][j]
            out.append({**point, "lr": lr, "status": "ok", "final_loss": rec["final_loss"][j],
                        "run_status": st, "diverged": int(st) in DIVERGED_STATUSES,
                        "counted_loss": counted_loss(rec["final_loss"][j], st), "f0": rec["f0"],
                        "nit": rec["nit"][j], "nfev": rec["nfev"][j], "error": None})
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
    methods = [m for m in METHODS if m in dynopt.METHODS]
    points = ({"kappa": k, "method": m, "seed": s}    # drawn as the sweep goes
              for k in KAPPAS for m in methods for s in range(seeds))
    task = functools.partial(sweep_task, dim=plan["dim"], steps=plan["steps"], lrs=lrs)
    result = sweep(config, task, points)
    records = flatten(result.records, lrs)
    rows = aggregate(records, group_by=("kappa", "method"), over="lr")
    curves = _curves(result.records, rows, lrs)
    sources = set()
    for row in rows:
        rate = None
        if row["best_lr"] is not None:
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
              "diverged_loss": DIVERGED_LOSS, "rate_source": sorted(sources), "curves": curves})
    report.plan_figure(config.out / "quadratic_curves.png",
                       functools.partial(_plot, curves, steps=plan["steps"]))
    report.meta["wall_time_s"] = round(time.perf_counter() - t0, 2)
    return report


def _observed_rate(records, row, steps):
    """Median over seeds of (f_K/f_0)^(1/(2K)) at the row's rate (finished, finite runs)."""
    vals = [(r["final_loss"] / r["f0"]) ** (1.0 / (2 * steps)) for r in records
            if r["status"] == "ok" and r["kappa"] == row["kappa"]
            and r["method"] == row["method"] and r["lr"] == row["best_lr"]
            and not r["diverged"] and r["final_loss"] is not None
            and math.isfinite(r["final_loss"]) and r["final_loss"] >= 0 and r["f0"] > 0]
    return float(np.median(vals)) if vals else None


def _curves(sweep_records, rows, lrs) -> dict:
    """``{kappa: {method: {lr, steps, median, min, max}}}`` at each row's best rate."""
    out = {}
    for row in rows:
        if row["best_lr"] is None:
            continue
        j = lrs.index(row["best_lr"])
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
            key = (rec["method"], rec["lr"])
            counts.setdefault(key, set()).add((rec["kappa"], rec["seed"]))
    if counts:
        notes.append("Diverged runs by method and rate (over every kappa and seed): "
                     + "; ".join(f"{m} at lr {lr:g}: {len(s)}/{len(KAPPAS) * seeds}"
                                 for (m, lr), s in sorted(counts.items(), key=str)) + ".")
    else:
        notes.append("No run diverged at any rate of the grid.")
    for rec in records:
        if rec["status"] == "failed" and rec["lr"] == plan["lrs"][0]:
            notes.append(f"FAILED: {rec['method']} at kappa {rec['kappa']:.0e}, seed "
                         f"{rec['seed']}: {rec['error']}")
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
                    label=f"{method} (lr {c['lr']:g})")
            ax.fill_between(x, c["min"], c["max"], color=cmap(i % 10), alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(0.5, steps)
        ax.set_xlabel("step")
        ax.set_ylabel("f - f*  (median; band: min-max over seeds)")
        ax.set_title(f"kappa = {float(kappa):.0e}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


REPRODUCTION = Reproduction(
    "quadratic", "Ill-conditioned convex quadratics (FANoS paper's instability claim)", run)
