"""The quadratics table's rows: one record per run, the tuned rows, rates and curves."""
from __future__ import annotations

import math

import numpy as np

from ..base import DIVERGED_STATUSES
from ..best_rate import counted_loss
from .protocol import base_method, make_problem
from .rates import predicted_rate, steps_to_target

__all__ = ["flatten", "log10_spread", "tuned_row", "add_rates", "best_curves"]


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


def log10_spread(values):
    r"""Standard deviation of :math:`\log_{10}(f - f^*)` over seeds (``None`` below two
    positive values): the spread in decades, which the mean of values ranging over
    many orders of magnitude hides."""
    logs = [math.log10(v) for v in values if v is not None and v > 0]
    return float(np.std(logs, ddof=1)) if len(logs) >= 2 else None


def add_rates(rows, records, plan) -> set:
    """Each row's predicted and observed rates, steps to the target, spread and divergences.

    Returns where the predicted rates came from (``'dynopt.tuning.tune'``,
    ``'dynopt.analysis'`` or ``'closed form'``).
    """
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
    return sources


def tuned_row(row, records):
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


def best_curves(sweep_records, rows, lrs) -> dict:
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
