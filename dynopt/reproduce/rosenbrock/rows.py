"""The Rosenbrock table's rows: one record per run, the best rate per method, curves."""
from __future__ import annotations

import numpy as np

from ..base import DIVERGED_STATUSES
from ..best_rate import counted_loss

__all__ = ["flatten", "best_curves", "tuned_columns"]

#: per-start fields of a tuned row's sweep record, kept in its run records
_TUNED_FIELDS = ("tune_nfev", "estimates", "x0_options", "final_options", "x0_negative")


def tuned_columns(row, records) -> None:
    """A tuned row's ``tune_evals`` (mean evaluations spent on estimates, counted in
    ``evals``), ``estimates`` (mean count), the median values chosen at :math:`x_0`
    (``x0_values``) and how many starts measured negative curvature there."""
    mine = [r for r in records if r["status"] == "ok" and r["starts"] == row["starts"]
            and r["method"] == row["method"]]
    if not mine:
        row.update({"tune_evals": None, "estimates": None, "x0_values": None,
                    "x0_negative": None})
        return
    row["tune_evals"] = float(np.mean([r["tune_nfev"] for r in mine]))
    row["estimates"] = float(np.mean([r["estimates"] for r in mine]))
    names = sorted(mine[0]["x0_options"])
    row["x0_values"] = ", ".join(
        f"{k} {np.median([r['x0_options'][k] for r in mine]):.3g}" for k in names)
    row["x0_negative"] = sum(bool(r["x0_negative"]) for r in mine)


def flatten(sweep_records, seeds_of) -> list:
    """One record per run from the sweep's records (one per section, method and rate).

    ``seeds_of(starts)`` gives the number of starts of a section (used for
    points that failed or did not run, which report no per-start results).
    A tuned row's record (``lr`` ``None``) also has, per start, ``tune_nfev``
    (the evaluations of its estimates, counted in ``nfev``), ``estimates``,
    ``x0_options``, ``final_options`` and ``x0_negative``.
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
            one = {**point, "seed": s, "status": "ok", "final_loss": fl, "run_status": st,
                   "diverged": int(st) in DIVERGED_STATUSES,
                   "counted_loss": counted_loss(fl, st), "nit": it, "nfev": fe, "error": None}
            for key in _TUNED_FIELDS:
                if key in rec:
                    one[key] = rec[key][s]
            out.append(one)
    return out


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
