"""The best setting of a grid per group, and its statistics (Rosenbrock, quadratics).

A run counts with its final loss, a diverged one with :data:`DIVERGED_LOSS`;
per group (e.g. starts and method) :func:`aggregate` picks the setting with
the lowest mean counted loss (:func:`dynopt.stats.best_by`) and summarises
its runs with a bootstrap interval of the mean (:func:`dynopt.stats.summarize`).
"""
from __future__ import annotations

import math

import numpy as np

from .base import DIVERGED_STATUSES

__all__ = ["DIVERGED_LOSS", "counted_loss", "aggregate"]

#: what a diverged run counts as
DIVERGED_LOSS = 1e9


def counted_loss(final_loss, run_status) -> float:
    """The loss a run counts with: :data:`DIVERGED_LOSS` if it diverged (status 3 or 4)
    or its loss is not finite, else its final loss."""
    if int(run_status) in DIVERGED_STATUSES or final_loss is None \
            or not math.isfinite(float(final_loss)):
        return DIVERGED_LOSS
    return float(final_loss)


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
