r"""The FANoS paper's headline table: Rosenbrock-100D under a fixed gradient budget.

N. Dhiman, "FANoS: Friction-Adaptive Nosé–Hoover Symplectic Momentum for Stiff
Objectives", arXiv:2601.00889 (2026); the protocol and the table are restated
in section 2 of the reference notes.

Protocol
--------
* Objective: the chained Rosenbrock function in :math:`n = 100` dimensions
  (:mod:`dynopt.problems.rosenbrock`), minimum :math:`f(\mathbf 1) = 0`.
* Starts: :math:`x_0 \sim U(-2, 2)^{100}`. By default the paper's own ten
  starts (``data/rosenbrock100_paper_starts.npy``: PyTorch's float32 uniform
  draws after ``torch.manual_seed(s)``, :math:`s = 0..9`, stored as float64);
  the ``'fresh'`` section draws new starts from NumPy generators
  ``numpy.random.default_rng(s).uniform(-2, 2, 100)``, :math:`s = 0, 1, \dots`.
* Budget: :math:`E = 3000` gradient evaluations, i.e. the evaluation at
  :math:`x_0` and :math:`E - 1 = 2999` updates. The figure is the loss at the
  last iterate, :math:`f(x_{2999})`, which is what the paper calls the loss at
  the start of the 3000th step (``maxiter = E - 1``, ``gtol = 0``).
* Learning rates :math:`\eta \in \{10^{-4}, 10^{-3}, 3\cdot10^{-3}, 10^{-2},
  3\cdot10^{-2}, 10^{-1}\}`; per method the rate with the lowest mean final
  loss over the starts is reported. A diverged run (status 3, NaN/Inf, or 4,
  divergence) counts as :math:`10^9`.
* Mean with a 95% percentile-bootstrap interval (:func:`dynopt.stats.summarize`),
  minimum and maximum over the starts.

Methods
-------
Every method in :data:`dynopt.METHODS` at run time. The swept hyperparameter
is ``lr`` where the method has one, otherwise its time step ``dt`` (the
physical-unit systems, FIRE's initial step). A method with a largest time step
``dtmax`` (FIRE) has it tied to the swept one, :math:`\Delta t_{\max} =
10\,\Delta t` (:data:`DTMAX_RATIO`): ASE's defaults, ``dt = 0.1`` and
``dtmax = 1.0``, have that ratio, and ``fire2`` bounds its step the same way
(``tmax = 10`` time steps, after Guénolé et al., Comput. Mater. Sci. 175,
109584, 2020). ASE's absolute ``dtmax = 1.0`` is an atomistic scale: on this
problem FIRE's step grows towards it and every rate of the grid ends near
:math:`f \approx 13`, while with the bound tied to the step FIRE reaches
:math:`f \approx 10^{-26}` (rounding) at :math:`\Delta t = 3\cdot10^{-3}`.
All others keep their
defaults (``heavy_ball``'s momentum 0.9 is the paper's "SGD + momentum 0.9",
``adamw``'s weight decay :math:`10^{-2}` is PyTorch's default, ``fanos``'s
``grad_clip = 1`` is the paper's). Two rows are added:

* ``adamw+clip``: AdamW after PyTorch's ``clip_grad_norm_(max_norm=1)``.
  ``adamw`` has no clipping option, so the clip is applied to the gradient the
  objective hands to it, :math:`g \leftarrow g\,\min\big(1, c/(\lVert g\rVert_2
  + 10^{-6})\big)` (the rule of ``torch.nn.utils.clip_grad_norm_``); the
  decoupled weight decay does not pass through the gradient, so this is
  exactly clipped AdamW.
* ``scipy L-BFGS-B``: :func:`scipy.optimize.minimize` with ``maxfun = maxiter
  = E`` and SciPy's default tolerances (it stops earlier when they are met).

Runs go through :func:`dynopt.sweep.run_sweep`, one point per
(starts, method, learning rate); the starts of a point run as one batched
:func:`dynopt.minimize` call, so the records depend neither on the executor
nor on the number of workers.
"""
from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import numpy as np

from .base import Report, Reproduction

__all__ = [
    "DIM", "EVALUATIONS", "LR_GRID", "DIVERGED_LOSS", "PAPER", "PLANS", "ADAMW_CLIP", "LBFGS",
    "DTMAX_RATIO", "paper_starts", "fresh_starts", "start_points", "step_parameter",
    "tied_parameters", "prebuilt",
    "method_names", "clipped_rosenbrock", "run_point", "sweep_task", "single_threaded_blas",
    "flatten", "counted_loss", "aggregate", "best_curves", "executor_args", "run",
    "REPRODUCTION",
]

#: dimension of the problem
DIM = 100
#: gradient evaluations per run (the evaluation at x0 included)
EVALUATIONS = 3000
#: the paper's learning-rate grid
LR_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
#: what a diverged run counts as
DIVERGED_LOSS = 1e9
#: dynopt status codes of a diverged run: NaN/Inf met, diverged
DIVERGED_STATUSES = (3, 4)
#: the gradient-norm bound of the clipped AdamW row
CLIP_NORM = 1.0
#: a method's largest time step ``dtmax`` (FIRE) is this multiple of the swept ``dt``
DTMAX_RATIO = 10.0
ADAMW_CLIP = "adamw+clip"
LBFGS = "scipy L-BFGS-B"
#: the paper's figures (mean final loss), keyed by the row they compare with
PAPER = {"fanos": 1.74e-2, "adamw": 48.50, "heavy_ball": 90.76, ADAMW_CLIP: 1.87e-3,
         LBFGS: 4.4e-10}
#: the paper's name of each of those rows
PAPER_NAMES = {"fanos": "FANoS (RMS mass)", "adamw": "AdamW",
               "heavy_ball": "SGD + momentum 0.9", ADAMW_CLIP: "AdamW + grad-norm clip 1.0",
               LBFGS: "L-BFGS"}
#: size -> seeds per section, evaluations, learning rates, sections
PLANS = {
    "quick": {"seeds": 2, "evaluations": 300, "lrs": (1e-3, 1e-2, 1e-1),
              "sections": ("paper", "fresh")},
    "default": {"seeds": 10, "evaluations": EVALUATIONS, "lrs": LR_GRID, "sections": ("paper",)},
    "full": {"seeds": 10, "evaluations": EVALUATIONS, "lrs": LR_GRID,
             "sections": ("paper", "fresh")},
}
#: points of the stored convergence curves (log-spaced evaluation counts)
CURVE_POINTS = 100

_DATA = Path(__file__).resolve().parent / "data"


# --------------------------------------------------------------------------- starts
def paper_starts() -> np.ndarray:
    """The paper's ten starting points, shape ``(10, 100)``, entries in :math:`[-2, 2)`.

    The float32 uniform(-2, 2) vectors PyTorch's generator gives after
    ``torch.manual_seed(s)``, :math:`s = 0..9`, as the paper's runner drew them
    (reference section 2), stored as float64.
    """
    return np.load(_DATA / "rosenbrock100_paper_starts.npy")


def fresh_starts(count: int, dim: int = DIM) -> np.ndarray:
    """``count`` new starts, row s: ``numpy.random.default_rng(s).uniform(-2, 2, dim)``."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    return np.stack([np.random.default_rng(s).uniform(-2.0, 2.0, dim) for s in range(int(count))])


def start_points(starts: str, seeds: int) -> np.ndarray:
    """The first ``seeds`` starts of a section, ``starts`` in ``'paper'``, ``'fresh'``."""
    if starts == "paper":
        table = paper_starts()
        if not 1 <= seeds <= len(table):
            raise ValueError(f"seeds must lie in [1, {len(table)}] for the paper's starts, "
                             f"got {seeds!r}")
        return table[:seeds].copy()
    if starts == "fresh":
        return fresh_starts(seeds)
    raise ValueError(f"starts must be 'paper' or 'fresh', got {starts!r}")


# --------------------------------------------------------------------------- methods
@functools.lru_cache(maxsize=None)
def step_parameter(name: str) -> str | None:
    """The hyperparameter swept as the learning rate: ``'lr'``, else ``'dt'``, else ``None``."""
    import dynopt
    if name == ADAMW_CLIP:
        name = "adamw"
    hyper = dynopt.METHODS[name].hyperparameters()
    for key in ("lr", "dt"):
        if key in hyper:
            return key
    return None


def tied_parameters(name: str, value, dtmax_ratio=DTMAX_RATIO) -> dict:
    """Hyperparameters set with the swept one: ``{'dtmax': dtmax_ratio * dt}`` for a method
    that sweeps ``dt`` and has a ``dtmax`` (FIRE), else nothing.

    ``dtmax_ratio=None`` keeps the method's own ``dtmax`` (ASE's 1.0 for FIRE).
    """
    import dynopt
    if name == ADAMW_CLIP:
        name = "adamw"
    if dtmax_ratio is None or step_parameter(name) != "dt" \
            or "dtmax" not in dynopt.METHODS[name].hyperparameters():
        return {}
    if isinstance(dtmax_ratio, bool) or not isinstance(dtmax_ratio, (int, float)) \
            or not (math.isfinite(dtmax_ratio) and dtmax_ratio >= 1):
        raise ValueError(f"dtmax_ratio must be a number >= 1 or None, got {dtmax_ratio!r}")
    return {"dtmax": float(dtmax_ratio) * float(value)}


@functools.lru_cache(maxsize=None)
def prebuilt(name: str):
    """The registered method ``name`` with its default step program built once per process.

    Building a program runs SymPy (a noticeable part of a short run); the
    program does not change between runs, so every point of a sweep that a
    process runs reuses it.
    """
    import dataclasses

    import dynopt
    spec = dynopt.METHODS[name]
    program = spec.program()

    def build(integrator, **flags):
        return program

    return dataclasses.replace(spec, build=build)


def method_names() -> list:
    """Every registered method with a step to sweep, then ``adamw+clip`` and L-BFGS-B."""
    import dynopt
    names = [m for m in dynopt.METHODS if step_parameter(m) is not None]
    if "adamw" in dynopt.METHODS:
        names.append(ADAMW_CLIP)
    return names + [LBFGS]


def clipped_rosenbrock(X, max_norm: float = CLIP_NORM):
    r"""Rosenbrock value and gradient with each row's gradient clipped in norm.

    .. math:: g \leftarrow g \min\Big(1, \frac{c}{\lVert g\rVert_2 + 10^{-6}}\Big)

    as ``torch.nn.utils.clip_grad_norm_(params, max_norm=c)`` does before a step.
    """
    from ..problems import rosenbrock_fun_and_grad
    F, G = rosenbrock_fun_and_grad(X)
    norm = np.linalg.norm(G, axis=-1, keepdims=True)
    return F, G * np.minimum(1.0, max_norm / (norm + 1e-6))


# --------------------------------------------------------------------------- one point
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
        if method == LBFGS:
            return _run_lbfgs(X0, evaluations)
        return _run_dynopt(method, lr, X0, evaluations, dtmax_ratio)


def single_threaded_blas():
    """A context limiting BLAS to one thread (``threadpoolctl`` if installed).

    The runs are small; a multi-threaded BLAS on a busy machine made SciPy's
    L-BFGS-B a hundred times slower, and the sweep already uses the cores.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _run_dynopt(method, lr, X0, evaluations, dtmax_ratio=DTMAX_RATIO):
    import dynopt
    from ..problems import rosenbrock_fun_and_grad
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


def _run_lbfgs(X0, evaluations):
    import scipy.optimize as so
    from ..problems import rosenbrock_fun_and_grad
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


# --------------------------------------------------------------------------- aggregation
def counted_loss(final_loss, run_status) -> float:
    """The loss a run counts with: :data:`DIVERGED_LOSS` if it diverged (status 3 or 4)
    or its loss is not finite, else its final loss."""
    if int(run_status) in DIVERGED_STATUSES or final_loss is None \
            or not math.isfinite(float(final_loss)):
        return DIVERGED_LOSS
    return float(final_loss)


def flatten(sweep_records, seeds_of) -> list:
    """One record per run from the sweep's records (one per section, method and rate).

    ``seeds_of(starts)`` gives the number of starts of a section (used for
    points that failed or did not run, which report no per-start results).
    """
    out = []
    for rec in sweep_records:
        point = {k: rec[k] for k in ("starts", "method", "lr")}
        if rec["status"] != "ok":
            for s in range(seeds_of(rec["starts"])):
                out.append({**point, "seed": s, "status": rec["status"], "final_loss": None,
                            "run_status": None, "diverged": None, "counted_loss": None,
                            "nit": None, "nfev": None, "error": rec.get("error")})
            continue
        for s, (fl, st, it, fe) in enumerate(zip(rec["final_loss"], rec["run_status"],
                                                 rec["nit"], rec["nfev"])):
            out.append({**point, "seed": s, "status": "ok", "final_loss": fl, "run_status": st,
                        "diverged": int(st) in DIVERGED_STATUSES,
                        "counted_loss": counted_loss(fl, st), "nit": it, "nfev": fe,
                        "error": None})
    return out


def aggregate(records, *, group_by=("starts", "method"), over="lr", confidence=0.95,
              n_resamples=10000, seed=0) -> list:
    """The table rows: per group the best rate by mean counted loss, and its statistics.

    Parameters
    ----------
    records : list of dict
        Per-run records with the ``group_by`` fields, ``over``, ``status``
        (``'ok'`` records are used), ``final_loss`` and ``run_status``; the
        counted loss is recomputed here with :func:`counted_loss` (diverged
        runs count as :data:`DIVERGED_LOSS`). ``nfev`` is averaged when present.
    group_by, over
        Fields of a row and the field whose best value is picked.
    confidence, n_resamples, seed
        Of the bootstrap interval of the mean (:func:`dynopt.stats.summarize`).

    Returns
    -------
    list of dict
        One row per group, in order of first appearance: the group fields,
        ``best_<over>``, ``mean``, ``ci_low``, ``ci_high``, ``ci95`` (text),
        ``std``, ``median``, ``min``, ``max``, ``n``, ``diverged`` (count among
        the best setting's runs), ``diverged_all`` and ``runs_all`` (diverged
        and finished runs over every ``over`` value), ``evals`` (mean
        ``nfev``), ``values`` (the counted losses), ``failed_points`` (distinct
        ``over`` values with a failed or unrun record). A group without any
        ``'ok'`` record gets ``None`` statistics.
    """
    from ..stats import best_by, summarize
    groups = tuple(group_by)
    scored, order, failed = [], {}, {}
    for rec in records:
        gkey = tuple(rec[f] for f in groups)
        order.setdefault(gkey, None)
        if rec.get("status", "ok") != "ok":
            failed.setdefault(gkey, set()).add(rec[over])
            continue
        scored.append({**{f: rec[f] for f in groups}, over: rec[over],
                       "score": counted_loss(rec["final_loss"], rec["run_status"]),
                       "diverged_run": int(rec["run_status"]) in DIVERGED_STATUSES,
                       "nfev": rec.get("nfev")})
    best = best_by(scored, key="score", group_by=groups, over=over)
    rows = []
    for gkey in order:
        row = dict(zip(groups, gkey))
        pick = best.get(gkey if len(groups) > 1 else gkey[0])
        row["failed_points"] = sorted(failed.get(gkey, ()), key=lambda v: (v is None, v or 0))
        mine = [r for r in scored if tuple(r[f] for f in groups) == gkey]
        row["diverged_all"] = sum(r["diverged_run"] for r in mine)
        row["runs_all"] = len(mine)
        if pick is None:
            row.update({f"best_{over}": None, "mean": None, "ci_low": None, "ci_high": None,
                        "ci95": "all runs failed", "std": None, "median": None, "min": None,
                        "max": None, "n": 0, "diverged": None, "evals": None, "values": []})
            rows.append(row)
            continue
        chosen = [r for r in scored
                  if tuple(r[f] for f in groups) == gkey and r[over] == pick[over]]
        values = [r["score"] for r in chosen]
        stats = summarize(values, confidence=confidence, n_resamples=n_resamples, seed=seed)
        nfev = [r["nfev"] for r in chosen if r["nfev"] is not None]
        row.update({
            f"best_{over}": pick[over], "mean": stats["mean"], "ci_low": stats["ci_low"],
            "ci_high": stats["ci_high"], "ci95": _interval_text(stats["ci_low"], stats["ci_high"]),
            "std": stats["std"], "median": stats["median"], "min": stats["min"],
            "max": stats["max"], "n": stats["n"],
            "diverged": sum(r["diverged_run"] for r in chosen),
            "evals": float(np.mean(nfev)) if nfev else None, "values": values})
        rows.append(row)
    return rows


def _interval_text(low, high) -> str:
    if low is None or not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{low:.3g}, {high:.3g}]"


# --------------------------------------------------------------------------- the run
COLUMNS = ["starts", "method", "swept", "best_lr", "mean", "ci95", "min", "max", "diverged",
           "evals", "paper"]


def run(config) -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report` (figures planned)."""
    from .base import sweep
    t0 = time.perf_counter()
    plan = dict(PLANS[config.size])
    n_paper = len(paper_starts())
    seeds = config.seeds if config.seeds is not None else plan["seeds"]
    seeds_of = {"paper": min(seeds, n_paper), "fresh": seeds}.__getitem__
    names = method_names()
    points = [{"starts": sec, "method": m, "lr": lr}
              for sec in plan["sections"] for m in names
              for lr in ([None] if m == LBFGS else plan["lrs"])]
    # the tie of FIRE's dtmax is part of the task: a run log of another protocol is not reused
    task = functools.partial(sweep_task, seeds={s: seeds_of(s) for s in plan["sections"]},
                             evaluations=plan["evaluations"], dtmax_ratio=DTMAX_RATIO)
    result = sweep(config, task, points)
    records = flatten(result.records, seeds_of)
    rows = aggregate(records)
    for row in rows:
        row["swept"] = "" if row["method"] == LBFGS else step_parameter(row["method"])
        if row["method"] != LBFGS and tied_parameters(row["method"], 1.0):
            row["swept"] += f" (dtmax = {DTMAX_RATIO:g} dt)"
        row["paper"] = PAPER.get(row["method"]) if row["starts"] == "paper" else None
    rows.sort(key=lambda r: (plan["sections"].index(r["starts"]),
                             math.inf if r["mean"] is None else r["mean"]))
    curves = best_curves(result.records, rows)
    report = Report(
        name="rosenbrock",
        title=(f"Rosenbrock-{DIM}D, {plan['evaluations']} gradient evaluations, best learning "
               f"rate per method (FANoS paper, arXiv 2601.00889, headline table)"),
        columns=COLUMNS, rows=rows, records=records, complete=result.complete,
        notes=_notes(rows, records, plan, seeds_of, n_paper, seeds),
        meta={"size": config.size, "seeds": {s: seeds_of(s) for s in plan["sections"]},
              "evaluations": plan["evaluations"], "lrs": list(plan["lrs"]), "methods": names,
              "diverged_loss": DIVERGED_LOSS, "dtmax_ratio": DTMAX_RATIO, "curves": curves,
              "starts_file": "dynopt/reproduce/data/rosenbrock100_paper_starts.npy"})
    report.plan_figure(config.out / "rosenbrock_final.png", functools.partial(_plot_final, rows))
    report.plan_figure(config.out / "rosenbrock_curves.png",
                       functools.partial(_plot_curves, curves, plan["sections"]))
    report.meta["wall_time_s"] = round(time.perf_counter() - t0, 2)
    return report


def sweep_task(starts, method, lr, *, seeds, evaluations, dtmax_ratio=DTMAX_RATIO):
    """The sweep's task: :func:`run_point` with ``seeds`` a mapping section -> count."""
    return run_point(starts, method, lr, seeds=seeds[starts], evaluations=evaluations,
                     dtmax_ratio=dtmax_ratio)


def executor_args(config) -> dict:
    """``executor``/``max_workers`` of :func:`dynopt.sweep.run_sweep` from a config."""
    if config.executor is not None:
        return {"executor": config.executor}
    return {"max_workers": config.workers}


# --------------------------------------------------------------------------- curves and notes
def best_curves(sweep_records, rows, over="lr", group_by=("starts", "method")) -> dict:
    """``{section: {method: {'lr', 'evaluations', 'median'}}}`` of each row's best setting."""
    by_point = {tuple(r[f] for f in (*group_by, over)): r for r in sweep_records
                if r["status"] == "ok"}
    out = {}
    for row in rows:
        rec = by_point.get(tuple(row[f] for f in group_by) + (row[f"best_{over}"],))
        if rec is None:
            continue
        out.setdefault(row[group_by[0]], {})[row[group_by[1]]] = {
            over: row[f"best_{over}"], "evaluations": list(rec["curve_evaluations"]),
            "median": list(rec["curve"])}
    return out




def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _notes(rows, records, plan, seeds_of, n_paper, seeds) -> list:
    E = plan["evaluations"]
    notes = [
        f"Protocol: chained Rosenbrock, n = {DIM}; {E} gradient evaluations per run = the "
        f"evaluation at x0 plus {E - 1} updates; the loss is f at the last iterate (the paper's "
        f"'loss at the start of step {E}'). Rates {list(plan['lrs'])}; per method the rate with "
        f"the lowest mean final loss; diverged runs (status 3 NaN/Inf, 4 divergence) count as "
        f"{DIVERGED_LOSS:.0e}; 95% percentile-bootstrap interval of the mean (10000 resamples).",
        f"Starts 'paper': the paper's own starts (PyTorch seeds 0-{seeds_of('paper') - 1}, "
        f"float32 uniform(-2, 2) draws, from dynopt/reproduce/data/"
        f"rosenbrock100_paper_starts.npy)"
        + (f"; only {n_paper} exist, {seeds} were asked for" if seeds > n_paper else "") + ".",
    ]
    if "fresh" in plan["sections"]:
        notes.append(f"Starts 'fresh': numpy.random.default_rng(s).uniform(-2, 2, {DIM}), "
                     f"s = 0-{seeds_of('fresh') - 1}: the same protocol on other starts.")
    notes += [
        "Swept hyperparameter ('swept'): lr where the method has one, else its time step dt "
        "(physical-unit systems; FIRE/FIRE 2.0's initial step), FIRE's largest step tied to it, "
        f"dtmax = {DTMAX_RATIO:g} dt (ASE's default ratio 1.0/0.1; FIRE 2.0's own bound is "
        "tmax = 10 steps); all others at their defaults "
        "(heavy_ball momentum 0.9 = the paper's SGD + momentum 0.9; adamw weight decay 1e-2 as "
        "in PyTorch; fanos grad_clip 1.0, the paper's default). All runs in float64.",
        "adamw+clip: dynopt's adamw has no gradient-clipping option; the clip is applied to the "
        "gradient handed to it, g * min(1, 1/(|g|_2 + 1e-6)) as torch.nn.utils.clip_grad_norm_ "
        "does, which is exactly clipped AdamW (the decoupled decay does not use g).",
        f"scipy L-BFGS-B: SciPy's defaults (m = 10, ftol 2.2e-9, gtol 1e-5) with maxfun = "
        f"maxiter = {E}; it stops when its tolerances are met ('evals' is the mean number of "
        f"evaluations it used).",
    ]
    by = {(r["starts"], r["method"]): r for r in rows}
    if E != EVALUATIONS or seeds_of("paper") != n_paper:
        notes.append(f"At this size ({seeds_of('paper')} starts, {E} evaluations) the runs are "
                     f"shorter or fewer than the paper's ({n_paper} starts, {EVALUATIONS} "
                     f"evaluations): the comparisons below are not like for like.")
    for method, figure in PAPER.items():
        row = by.get(("paper", method))
        if row is None or row["mean"] is None:
            continue
        low, high = row["ci_low"], row["ci_high"]
        if low is not None and math.isfinite(low) and low <= figure <= high:
            where = "inside the measured 95% interval"
        elif low is not None and math.isfinite(low):
            where = ("below" if figure < low else "above") + " the measured 95% interval"
        else:
            where = "(no interval: one start)"
        notes.append(f"{PAPER_NAMES[method]} ({method}, paper starts): measured mean "
                     f"{_fmt(row['mean'])} at {row['swept'] or 'no rate'} = "
                     f"{_fmt(row['best_lr'])}, CI {row['ci95']}, vs the paper's {figure:.3g}: "
                     f"the paper's figure is {where}.")
    if "fresh" in plan["sections"]:
        for method in PAPER:
            a, b = by.get(("paper", method)), by.get(("fresh", method))
            if a and b and a["mean"] is not None and b["mean"] is not None:
                notes.append(f"{method}: mean {_fmt(a['mean'])} on the paper's starts, "
                             f"{_fmt(b['mean'])} on fresh starts (min {_fmt(b['min'])}, max "
                             f"{_fmt(b['max'])}, best {b['swept'] or 'rate'} "
                             f"{_fmt(b['best_lr'])}).")
    failed = sorted({(r["starts"], r["method"], r["lr"], r["error"]) for r in records
                     if r["status"] == "failed"}, key=str)
    for starts, method, lr, error in failed:
        notes.append(f"FAILED: {method} at rate {lr} on the {starts} starts: {error}")
    return notes


# --------------------------------------------------------------------------- figures
def _plot_final(rows, path) -> Path:
    """Mean final loss per method (log scale) with its 95% interval, starts and paper's figure."""
    from matplotlib.figure import Figure
    sections = list(dict.fromkeys(r["starts"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = Figure(figsize=(8, 0.38 * len(methods) + 1.6))
    ax = fig.add_subplot()
    styles = {"paper": ("tab:blue", "o"), "fresh": ("tab:orange", "s")}
    for j, sec in enumerate(sections):
        color, marker = styles.get(sec, ("tab:gray", "^"))
        offset = (j - (len(sections) - 1) / 2) * 0.25
        for row in rows:
            if row["starts"] != sec or row["mean"] is None:
                continue
            y = methods.index(row["method"]) + offset
            ax.scatter(row["values"], [y] * len(row["values"]), s=6, color=color, alpha=0.35)
            low, high = row["ci_low"], row["ci_high"]
            err = None
            if low is not None and math.isfinite(low):
                err = [[row["mean"] - low], [high - row["mean"]]]
            ax.errorbar([row["mean"]], [y], xerr=err, fmt=marker, color=color, capsize=3,
                        label=f"{sec} starts: mean, 95% CI" if row is _first(rows, sec) else None)
    for method, figure in PAPER.items():
        if method in methods:
            ax.scatter([figure], [methods.index(method)], marker="x", color="tab:red", s=50,
                       zorder=5, label="paper" if method == "fanos" else None)
    ax.set_xscale("log")
    ax.set_yticks(range(len(methods)), methods)
    ax.invert_yaxis()
    ax.set_xlabel(f"final loss (best rate; diverged = {DIVERGED_LOSS:.0e}); dots: single starts")
    ax.set_title(f"Rosenbrock-{DIM}D, final loss per method")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def _first(rows, section):
    for row in rows:
        if row["starts"] == section and row["mean"] is not None:
            return row
    return None


def _plot_curves(curves, sections, path) -> Path:
    """Median loss vs gradient evaluations of each method's best setting, one panel per section."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    sections = [s for s in sections if s in curves] or list(curves) or ["paper"]
    fig = Figure(figsize=(6.5 * len(sections), 5.2))
    methods = list(dict.fromkeys(m for s in curves.values() for m in s))
    cmap = colormaps["tab10"]
    for j, sec in enumerate(sections):
        ax = fig.add_subplot(1, len(sections), j + 1)
        for i, method in enumerate(methods):
            c = curves.get(sec, {}).get(method)
            if c is None:
                continue
            style = "-" if i < 10 else "--"
            ax.plot(c["evaluations"], c["median"], style, color=cmap(i % 10), lw=1.3,
                    label=f"{method} ({c['lr']})" if c["lr"] is not None else method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gradient evaluations")
        ax.set_ylabel("median loss over starts")
        ax.set_title(f"{sec} starts, best rate per method")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6.5, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


REPRODUCTION = Reproduction(
    "rosenbrock", "Rosenbrock-100D under 3000 gradient evaluations (FANoS paper's table)", run)
