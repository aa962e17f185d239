"""Ill-conditioned convex quadratics, where the FANoS paper reports instability.

N. Dhiman, arXiv:2601.00889 (2026), reports FANoS unstable and of high
variance on ill-conditioned convex quadratics, without a table. FANoS, heavy
ball, gradient descent, Nesterov, Adam and AdamW run on rotated quadratics of
condition number :math:`10^2, 10^4, 10^6` over a grid of rates, and the
linear methods once more tuned from the measured curvature with the same
gradient budget; per (kappa, method) the best rate's final :math:`f - f^*`
beside the contraction linear analysis predicts. The protocol, its sources
and the results are on the documentation page ``docs/reproduce/quadratic.md``.

The modules: :mod:`.protocol` (problems, starts, grid), :mod:`.runs` (one
sweep point, grid or tuned), :mod:`.rates` (analytic rates), :mod:`.rows`
(records and the table's rows), :mod:`.prose` (the notes), :mod:`.plots`
(the figure). This module holds the run.
"""
from __future__ import annotations

import functools

from ..base import Reproduction
from ..best_rate import DIVERGED_LOSS, aggregate
from ..report import Report, plan_and_seeds, timed
from ..runlog import sweep
from .plots import plot_curves
from .prose import notes
from .protocol import (CURVE_POINTS, KAPPAS, LR_GRID, METHODS, PLANS, TARGET, TUNED,
                       TUNED_METHODS, base_method, make_problem, start, tuned_name)
from .rates import closed_form_rates, predicted_rate, steps_to_target
from .rows import add_rates, best_curves, flatten, log10_spread, tuned_row
from .runs import run_point, run_tuned_point

__all__ = ["KAPPAS", "METHODS", "TUNED_METHODS", "TUNED", "LR_GRID", "PLANS", "TARGET",
           "make_problem", "start", "run_point", "run_tuned_point", "tuned_name",
           "base_method", "sweep_task", "closed_form_rates", "predicted_rate", "steps_to_target",
           "log10_spread", "flatten",
           "run", "REPRODUCTION"]

#: the table's columns
COLUMNS = ["kappa", "method", "best_lr", "mean", "ci95", "std", "sd_log10", "min", "max",
           "diverged", "div_grid", "1-rate", "steps_1e-6", "1-obs_rate"]


@timed
def run(config) -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report` (figures planned)."""
    import dynopt
    from ...tuning import TUNABLE
    plan, seeds = plan_and_seeds(PLANS, config)
    lrs = tuple(plan["lrs"])
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
            tuned_row(row, records)
    curves = best_curves(result.records, rows, lrs)
    sources = add_rates(rows, records, plan)
    report = Report(
        name="quadratic",
        title=(f"Ill-conditioned quadratics, n = {plan['dim']}, {plan['steps']} steps, best "
               f"learning rate per method: final f - f* (FANoS paper's instability claim)"),
        columns=COLUMNS, rows=rows, records=records, complete=result.complete,
        notes=notes(rows, records, plan, seeds, sources),
        meta={"size": config.size, "dim": plan["dim"], "seeds": seeds, "steps": plan["steps"],
              "lrs": list(lrs), "kappas": list(KAPPAS), "methods": methods,
              "tuned_methods": tuned, "gradient_budget": plan["steps"] + 1,
              "diverged_loss": DIVERGED_LOSS, "rate_source": sorted(sources), "curves": curves})
    report.figure(config.out, "curves", plot_curves, curves, steps=plan["steps"])
    return report


def sweep_task(kappa, method, seed, *, dim, steps, lrs):
    """The sweep's task (module level, so a process pool can carry it).

    A tuned row's point (``method`` ending in :data:`TUNED`) runs
    :func:`run_tuned_point` and ignores ``lrs``.
    """
    base = base_method(method)
    if base is not None:
        return run_tuned_point(kappa, base, seed, dim=dim, steps=steps)
    return run_point(kappa, method, seed, dim=dim, steps=steps, lrs=lrs)


REPRODUCTION = Reproduction(
    "quadratic", "Ill-conditioned convex quadratics (FANoS paper's instability claim)", run)
