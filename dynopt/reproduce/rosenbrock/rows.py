"""The Rosenbrock table's rows: one record per run, the best rate per method, curves."""
from __future__ import annotations

from ..base import DIVERGED_STATUSES
from ..best_rate import counted_loss

__all__ = ["flatten", "best_curves"]


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
