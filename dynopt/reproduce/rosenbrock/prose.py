"""The Rosenbrock report's notes: the protocol in words, each paper figure against ours."""
from __future__ import annotations

import math

from ..best_rate import DIVERGED_LOSS
from ..report import na
from .protocol import (ADAMW_CLIP, DIM, DTMAX_RATIO, EVALUATIONS, LBFGS, PAPER, PAPER_NAMES,
                       tuned_spec)

__all__ = ["notes", "tuned_notes"]


def _fmt(value) -> str:
    return na(value, ".3g")


def notes(rows, records, plan, seeds_of, n_paper, seeds) -> list:
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
    notes += tuned_notes(rows, plan)
    failed = sorted({(r["starts"], r["method"], r["lr"], r["error"]) for r in records
                     if r["status"] == "failed"}, key=str)
    for starts, method, lr, error in failed:
        notes.append(f"FAILED: {method} at rate {lr} on the {starts} starts: {error}")
    return notes


def tuned_notes(rows, plan) -> list:
    """The tuned rows in words, and the target: the best of them against the grid rows."""
    tuned = [r for r in rows if tuned_spec(r["method"]) is not None]
    if not tuned:
        return []
    E = plan["evaluations"]
    out = [f"Tuned rows ('m (tuned)', 'm (tuned every K)'): no grid. dynopt.minimize(..., "
           f"options={{'tune': True}}) chooses the method's hyperparameters from the extreme "
           f"Hessian eigenvalues measured at x0 by Lanczos on differences of gradients "
           f"(dynopt.tuning.tune; the escape choice where the smallest is negative); 'tuned "
           f"every K' measures again every K = {plan.get('tune_every')} steps "
           f"(tune_every). Every evaluation of the estimates is counted in the budget: with J "
           f"spent at x0 the run gets maxfev = {E} - J, the retunes count against maxfev; "
           f"'evals' is the whole run's count, 'tune_evals' the estimates' share of it."]
    for row in tuned:
        if row["mean"] is None:
            continue
        out.append(f"{row['method']} ({row['starts']} starts): mean {_fmt(row['mean'])}, "
                   f"{row['diverged']} diverged of {row['n']}; values chosen at x0 (median) "
                   f"{row['x0_values']}, negative curvature at x0 on {row['x0_negative']} of "
                   f"{row['n']} starts; {_fmt(row['tune_evals'])} of {_fmt(row['evals'])} "
                   f"evaluations on {_fmt(row['estimates'])} estimates.")
    for sec in dict.fromkeys(r["starts"] for r in tuned):
        mine = [r for r in tuned if r["starts"] == sec and r["mean"] is not None]
        grid = [r for r in rows if r["starts"] == sec and r["mean"] is not None
                and r["method"] != LBFGS and tuned_spec(r["method"]) is None]
        if not mine or not grid:
            continue
        best = min(mine, key=lambda r: r["mean"])
        paper_rows = [r for r in grid if r["method"] in (ADAMW_CLIP, "fanos")]
        beaten = [r for r in grid if best["mean"] < r["mean"]]
        text = (f"Target ({sec} starts, {E} evaluations, tuning included): the best tuned row, "
                f"{best['method']}, has mean {_fmt(best['mean'])}; ")
        text += "; ".join(f"{r['method']} (grid) {_fmt(r['mean'])}" for r in paper_rows)
        if sec == "paper":
            text += (f" (paper: AdamW + clip {PAPER[ADAMW_CLIP]:.3g}, FANoS "
                     f"{PAPER['fanos']:.3g})")
        below = all(best["mean"] < r["mean"] for r in paper_rows) and (
            sec != "paper" or best["mean"] < min(PAPER[ADAMW_CLIP], PAPER["fanos"]))
        text += (f": {'met' if below else 'missed'}. It is below {len(beaten)} of the "
                 f"{len(grid)} grid-tuned first-order rows")
        if len(beaten) < len(grid):
            lead = min(grid, key=lambda r: r["mean"])
            text += f" (the lowest: {lead['method']}, {_fmt(lead['mean'])})"
        out.append(text + ".")
    return out
