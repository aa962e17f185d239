"""The LJ38 table's rows: one record per run, then force calls and energies per row."""
from __future__ import annotations

import numpy as np

from .protocol import GM_ENERGY, GM_TOL, OPTBENCH, PAPER

__all__ = ["flatten", "aggregate"]


def flatten(sweep_records) -> tuple:
    """Per-run records and final positions from the sweep's records (one per block).

    Returns ``(records, positions)``: ``records`` one dict per (method, start)
    with ``status`` (``'ok'``, ``'failed'`` for a run that raised or a block
    that failed, ``'not run'``), ``converged``, ``outcome``, ``force_calls``,
    ``energy``, ``fmax``, ``l2``, ``detail``, ``error``; ``positions`` maps
    ``(method, seed)`` to the final flat positions of the finished runs.
    """
    records, positions = [], {}
    for rec in sweep_records:
        method = rec["method"]
        seeds = range(rec["first_seed"], rec["first_seed"] + rec["count"])
        if rec["status"] != "ok":
            for s in seeds:
                records.append({"method": method, "seed": s, "status": rec["status"],
                                "converged": None, "outcome": None, "force_calls": None,
                                "energy": None, "fmax": None, "l2": None, "fragments": None,
                                "detail": None, "error": rec.get("error")})
            continue
        for run_ in rec["runs"]:
            failed = run_["outcome"] == "error"
            row = {"method": method, "seed": run_["seed"],
                   "status": "failed" if failed else "ok",
                   "converged": None if failed else run_["outcome"] == "converged",
                   **{k: run_.get(k) for k in ("outcome", "force_calls", "energy", "fmax",
                                               "l2", "fragments", "detail", "error")}}
            for key in ("ase_nsteps", "tune_calls", "estimates", "x0_options", "x0_negative"):
                if key in run_:
                    row[key] = run_[key]
            records.append(row)
            if run_.get("positions") is not None:
                positions[(method, run_["seed"])] = np.asarray(run_["positions"], dtype=float)
    return records, positions


def aggregate(records, methods) -> list:
    """One table row per method: force calls over converged runs, failures, energies.

    Parameters
    ----------
    records : list of dict
        From :func:`flatten`.
    methods : sequence of str
        Row order.

    Returns
    -------
    list of dict
        ``method``, ``runs`` (finished), ``converged``, ``failures`` (finished
        but not converged), ``dissociated`` (among the failures: criterion met
        by a blown-apart cluster), ``errors`` (raised or not run), ``mean``,
        ``min``, ``max``, ``median`` (force calls of the converged runs),
        ``E_mean``, ``E_min`` (final energies of the converged runs),
        ``at_gm`` (converged runs within :data:`GM_TOL` of the global
        minimum), and the paper's figures ``paper_mean/min/max`` with their
        ``paper_source``; for a tuned row ``tune_calls`` (mean force calls of its
        estimates over the finished runs, part of their force calls), ``estimates``
        and ``x0_negative`` (starts with negative curvature measured there), else
        ``None``.
    """
    rows = []
    for method in methods:
        mine = [r for r in records if r["method"] == method]
        done = [r for r in mine if r["status"] == "ok"]
        conv = [r for r in done if r["converged"]]
        calls = [r["force_calls"] for r in conv]
        energies = [r["energy"] for r in conv]
        row = {"method": method, "runs": len(done), "converged": len(conv),
               "failures": len(done) - len(conv),
               "dissociated": sum(r["outcome"] == "dissociated" for r in done),
               "errors": len(mine) - len(done),
               "mean": float(np.mean(calls)) if calls else None,
               "median": float(np.median(calls)) if calls else None,
               "min": int(min(calls)) if calls else None,
               "max": int(max(calls)) if calls else None,
               "E_mean": float(np.mean(energies)) if energies else None,
               "E_min": float(min(energies)) if energies else None,
               "at_gm": sum(abs(e - GM_ENERGY) < GM_TOL for e in energies)}
        ref = PAPER.get(method) or OPTBENCH.get(method)
        row["paper_source"] = "" if ref is None else (
            f"Frankenstein T2: {ref[0]}" if method in PAPER else ref[0])
        row["paper_mean"], row["paper_min"], row["paper_max"] = (ref[1:] if ref else
                                                                 (None, None, None))
        row["values"] = calls
        tuned = [r for r in done if r.get("tune_calls") is not None]
        row["tune_calls"] = float(np.mean([r["tune_calls"] for r in tuned])) if tuned else None
        row["estimates"] = float(np.mean([r["estimates"] for r in tuned])) if tuned else None
        row["x0_negative"] = sum(bool(r["x0_negative"]) for r in tuned) if tuned else None
        rows.append(row)
    return rows
