"""The LJ38 report's notes: starts, criterion, settings, each reference against ours."""
from __future__ import annotations

from .protocol import (ASE_RC, BOND_CUTOFF, CAP, CRITERIA, DYNOPT_SETTINGS, GM_ENERGY, GM_TOL,
                       OPTBENCH, PAPER, TUNED_ROWS)

__all__ = ["notes", "tuned_notes"]


def notes(rows, records, plan, seeds, criterion) -> list:
    notes = [
        f"Starts: OptBench's 1000 LJ38 files (the paper's starts) are not available offline; "
        f"start s is dynopt.problems.lennard_jones.random_cluster(38, seed=s), s = 0-{seeds - 1}"
        f" (uniform in a ball at density 0.5, no pair closer than 0.9). Comparable with the "
        f"paper in distribution only, not start by start.",
        f"Criterion: {CRITERIA[criterion][0]}; the paper says 'total force ... 1e-2' and used "
        f"ASE, whose test is the per-atom fmax. OptBench's own criterion is |F|_2 <= 0.01, "
        f"stricter (run(config, criterion='l2')).",
        f"Force calls: every energy+forces evaluation, the first included; cap {plan['cap']} "
        f"(OptBench's limit is {CAP}); a run over the cap, diverged, stopped by its optimizer "
        f"before the criterion, or meeting it with the cluster blown apart ('dissociated': more "
        f"than one group of atoms linked at distances < {BOND_CUTOFF:g}) is a failure. "
        f"mean/min/max over converged runs only; E_mean/E_min"
        f" their final energies; at_gm: runs within {GM_TOL:g} of the global minimum "
        f"{GM_ENERGY}.",
        "dynopt settings (tuned on starts 0-7, see DYNOPT_SETTINGS): "
        + "; ".join(f"{m} {DYNOPT_SETTINGS[m] or 'ASE defaults'}" for m in plan["methods"]
                    if m in DYNOPT_SETTINGS) + ".",
        f"ASE: FIRE, BFGS, LBFGS at their defaults (maxstep 0.2) with LennardJones(sigma=1, "
        f"epsilon=1, rc={ASE_RC:g}, smooth=False), force calls counted in the calculator. "
        f"SciPy CG and L-BFGS-B: their own tolerances set to 0, the objective wrapper counts "
        f"calls and stops at the first evaluated point meeting the criterion.",
    ]
    if seeds != 1000 or plan["cap"] != CAP:
        notes.append(f"This size ({seeds} starts, cap {plan['cap']}) is smaller than the paper's "
                     f"(1000 starts, cap {CAP} assumed): the maxima in particular are not like "
                     f"for like.")
    by = {r["method"]: r for r in rows}
    for method, ref in {**PAPER, **OPTBENCH}.items():
        row = by.get(method)
        if row is None or row["mean"] is None:
            continue
        ratio = row["mean"] / ref[1]
        notes.append(f"{method} vs {ref[0]}: measured mean {row['mean']:.0f} (min "
                     f"{row['min']}, max {row['max']}, {row['failures']} failures of "
                     f"{row['runs']}) vs {ref[1]}/{ref[2]}/{ref[3]}: {ratio:.2f} x the "
                     f"reference mean" + (" (OptBench's L2 criterion)" if method in OPTBENCH
                                          else "") + ".")
    notes += tuned_notes(rows)
    for rec in records:
        if rec["status"] != "ok":
            notes.append(f"FAILED: {rec['method']} on start {rec['seed']}: "
                         f"{rec['status']}: {rec['error']}")
    return notes


def tuned_notes(rows) -> list:
    """The tuned rows in words, and the target: the best of them against ASE's BFGS."""
    tuned = [r for r in rows if r["method"] in TUNED_ROWS and r["runs"]]
    if not tuned:
        return []
    out = ["Tuned rows: no grid. dynopt.minimize(..., options={'tune': True}) on the flat "
           "positions chooses the method's hyperparameters from the extreme Hessian eigenvalues "
           "measured at the start by Lanczos on differences of forces (dynopt.tuning.tune; the "
           "escape choice where the smallest is negative); 'tuned every K' measures again "
           "every K steps (tune_every). Every force call of the estimates counts: with J spent "
           "at the start the run gets maxfev = cap - J, the retunes count against maxfev; "
           "'tune_calls' is the estimates' mean share of a run's force calls."]
    for row in tuned:
        out.append(f"{row['method']}: {row['converged']} of {row['runs']} converged, "
                   f"{row['dissociated']} dissociated, {row['failures']} failures; mean force "
                   f"calls {_calls(row['mean'])} over the converged runs, "
                   f"{_calls(row['tune_calls'])} of a run's on {row['estimates']:.3g} "
                   f"estimates on average; negative curvature at the start on "
                   f"{row['x0_negative']} of {row['runs']} starts.")
    by = {r["method"]: r for r in rows}
    bfgs = by.get("ase BFGS")
    done = [r for r in tuned if r["mean"] is not None]
    if done:
        best = min(done, key=lambda r: (r["failures"] > 0, r["mean"]))
        text = (f"Target: the best tuned row, {best['method']}, needs {best['mean']:.0f} force "
                f"calls on average ({best['failures']} failures, {best['dissociated']} "
                f"dissociated of {best['runs']})")
        if bfgs is not None and bfgs["mean"] is not None:
            met = best["mean"] <= bfgs["mean"] and best["failures"] == 0
            text += (f" against ASE's BFGS {bfgs['mean']:.0f} on the same starts: "
                     f"{'met' if met else 'missed'}.")
        else:
            text += "; ASE's BFGS is not in this run (on the default 100 starts: 207)."
        kept = all(r["dissociated"] == 0 for r in tuned)
        out.append(text + (" No tuned row let a cluster fly apart." if kept else
                           " Some tuned rows let clusters fly apart (column dissociated)."))
    else:
        out.append("Target: no tuned run converged; missed.")
    return out


def _calls(value) -> str:
    return "n/a" if value is None else f"{value:.0f}"
