"""The quadratics report's notes: problem, protocol, rates and each kappa in words."""
from __future__ import annotations

from ..best_rate import DIVERGED_LOSS
from ..report import na
from .protocol import KAPPAS, METHODS, TUNED, base_method

__all__ = ["notes"]


def _fmt(value) -> str:
    return na(value, ".3g")


def notes(rows, records, plan, seeds, sources) -> list:
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
