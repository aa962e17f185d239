"""The FANoS paper's headline table: Rosenbrock-100D under a fixed gradient budget.

N. Dhiman, arXiv:2601.00889 (2026). Every registered method (``lr`` swept, or
its time step ``dt``), clipped AdamW and SciPy's L-BFGS-B run from the
paper's ten starts (and fresh ones at some sizes) for 3000 gradient
evaluations; per method the rate with the lowest mean final loss is reported
beside the paper's figure. Beside them, the tuned rows (:func:`tuned_rows`) use
no grid: the methods :func:`dynopt.tuning.tune` supports, their hyperparameters
from the spectrum measured at :math:`x_0` (and every ``tune_every`` steps),
every evaluation of the estimates counted in the same budget. The protocol, its sources and the results are on
the documentation page ``docs/reproduce/rosenbrock.md``.

The modules: :mod:`.protocol` (budget, grid, starts, methods, the paper's
figures), :mod:`.runs` (one sweep point), :mod:`.rows` (records and curves;
the best rate per method is :func:`dynopt.reproduce.best_rate.aggregate`),
:mod:`.prose` (the notes), :mod:`.plots` (the figures). This module holds
the run: the sweep and the table's rows.
"""
from __future__ import annotations

import functools
import math

from ..base import DIVERGED_STATUSES, Reproduction, prebuilt, single_threaded_blas
from ..best_rate import DIVERGED_LOSS, aggregate, counted_loss
from ..report import Report, plan_and_seeds, timed
from ..runlog import sweep
from .plots import plot_curves, plot_final
from .prose import notes
from .protocol import (ADAMW_CLIP, CLIP_NORM, CURVE_POINTS, DIM, DTMAX_RATIO, EVALUATIONS,
                       LBFGS, LR_GRID, PAPER, PAPER_NAMES, PLANS, TUNE_EVERY, TUNED,
                       clipped_rosenbrock, fresh_starts, method_names, paper_starts,
                       start_points, step_parameter, tied_parameters, tuned_name, tuned_spec)
from .rows import best_curves, flatten, tuned_columns
from .runs import run_point, run_tuned_point

__all__ = [
    "DIM", "EVALUATIONS", "LR_GRID", "DIVERGED_LOSS", "PAPER", "PLANS", "ADAMW_CLIP", "LBFGS",
    "DTMAX_RATIO", "paper_starts", "fresh_starts", "start_points", "step_parameter",
    "tied_parameters", "prebuilt",
    "method_names", "clipped_rosenbrock", "run_point", "run_tuned_point", "sweep_task",
    "TUNED", "TUNE_EVERY", "tuned_name", "tuned_spec", "tuned_rows", "single_threaded_blas",
    "flatten", "counted_loss", "aggregate", "best_curves", "executor_args", "run",
    "REPRODUCTION",
]

#: the table's columns
COLUMNS = ["starts", "method", "swept", "best_lr", "mean", "ci95", "min", "max", "diverged",
           "evals", "tune_evals", "paper"]


def tuned_rows(plan) -> list:
    """The plan's tuned rows: each ``tuned`` method at :math:`x_0`, each ``retuned`` one
    also every ``tune_every`` steps (:func:`tuned_name`)."""
    return ([tuned_name(m) for m in plan.get("tuned", ())]
            + [tuned_name(m, plan["tune_every"]) for m in plan.get("retuned", ())])


@timed
def run(config) -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report` (figures planned)."""
    plan, seeds = plan_and_seeds(PLANS, config)
    n_paper = len(paper_starts())
    seeds_of = {"paper": min(seeds, n_paper), "fresh": seeds}.__getitem__
    names = method_names() + tuned_rows(plan)
    tuned_sections = plan.get("tuned_sections", plan["sections"])
    points = [{"starts": sec, "method": m, "lr": lr}
              for sec in plan["sections"] for m in names
              if sec in tuned_sections or not tuned_spec(m)
              for lr in ([None] if m == LBFGS or tuned_spec(m) else plan["lrs"])]
    # the tie of FIRE's dtmax is part of the task: a run log of another protocol is not reused
    task = functools.partial(sweep_task, seeds={s: seeds_of(s) for s in plan["sections"]},
                             evaluations=plan["evaluations"], dtmax_ratio=DTMAX_RATIO)
    result = sweep(config, task, points)
    records = flatten(result.records, seeds_of)
    rows = _rows(aggregate(records), plan["sections"], records)
    curves = best_curves(result.records, rows)
    report = Report(
        name="rosenbrock",
        title=(f"Rosenbrock-{DIM}D, {plan['evaluations']} gradient evaluations, best learning "
               f"rate per method (FANoS paper, arXiv 2601.00889, headline table)"),
        columns=COLUMNS, rows=rows, records=records, complete=result.complete,
        notes=notes(rows, records, plan, seeds_of, n_paper, seeds),
        meta={"size": config.size, "seeds": {s: seeds_of(s) for s in plan["sections"]},
              "evaluations": plan["evaluations"], "lrs": list(plan["lrs"]), "methods": names,
              "tuned_rows": tuned_rows(plan), "tune_every": plan.get("tune_every"),
              "diverged_loss": DIVERGED_LOSS, "dtmax_ratio": DTMAX_RATIO, "curves": curves,
              "starts_file": "dynopt/reproduce/data/rosenbrock100_paper_starts.npy"})
    report.figure(config.out, "final", plot_final, rows)
    report.figure(config.out, "curves", plot_curves, curves, plan["sections"])
    return report


def _rows(rows, sections, records) -> list:
    """The table's rows: what is swept, the paper's figure; by section, then mean loss.

    A tuned row sweeps nothing (``swept`` says so) and has ``tune_evals``, the
    mean evaluations its estimates spent (part of ``evals``)."""
    for row in rows:
        spec = tuned_spec(row["method"])
        row["tune_evals"] = None
        if spec is not None:
            row["swept"] = ("none (tuned at x0)" if spec[1] is None
                            else f"none (tuned at x0, every {spec[1]} steps)")
            tuned_columns(row, records)
        else:
            row["swept"] = "" if row["method"] == LBFGS else step_parameter(row["method"])
        if row["method"] != LBFGS and spec is None and tied_parameters(row["method"], 1.0):
            row["swept"] += f" (dtmax = {DTMAX_RATIO:g} dt)"
        row["paper"] = PAPER.get(row["method"]) if row["starts"] == "paper" else None
    rows.sort(key=lambda r: (sections.index(r["starts"]),
                             math.inf if r["mean"] is None else r["mean"]))
    return rows


def sweep_task(starts, method, lr, *, seeds, evaluations, dtmax_ratio=DTMAX_RATIO):
    """The sweep's task: :func:`run_point` with ``seeds`` a mapping section -> count."""
    return run_point(starts, method, lr, seeds=seeds[starts], evaluations=evaluations,
                     dtmax_ratio=dtmax_ratio)


def executor_args(config) -> dict:
    """``executor``/``max_workers`` of :func:`dynopt.sweep.run_sweep` from a config."""
    if config.executor is not None:
        return {"executor": config.executor}
    return {"max_workers": config.workers}


REPRODUCTION = Reproduction(
    "rosenbrock", "Rosenbrock-100D under 3000 gradient evaluations (FANoS paper's table)", run)
