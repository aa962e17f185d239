r"""The condensation statistics: per row and rate the mean over seeds with a bootstrap
interval, and each KO row minus its base, paired by seed.

Every interval is the 95% percentile bootstrap of the mean over seeds
(:func:`dynopt.stats.bootstrap_ci`, 10 000 resamples, resampling seed 0);
``None`` below two seeds. A KO row at rate :math:`\eta` is compared with its
base at :math:`\eta` on the seeds where both finished: the differences
:math:`d_s = m_s^{KO} - m_s^{base}` of the test accuracy, ``cos_W1`` and
``erank_W1``. The share of the condensation undone is
:math:`-\bar d_{\cos} / (\bar c^{base} - \bar c^{init})`: the part of the
rise of ``cos_W1`` during the base's training that KO takes back.
"""
from __future__ import annotations

import numpy as np

from .protocol import CLAIM_SHORT, COMPARABLE_PP, MATERIAL_PERCENT, ROWS

__all__ = ["interval", "mean_ci", "summarize_rows", "paired_difference", "judge"]

#: the bootstrap's settings
CONFIDENCE = 0.95
RESAMPLES = 10_000


def interval(values):
    """The bootstrap interval of the mean of ``values`` (``None`` below two values)."""
    from ...stats import bootstrap_ci
    vals = [float(v) for v in values if v is not None]
    if len(vals) < 2:
        return None
    if min(vals) == max(vals):      # every resample has this mean
        return (vals[0], vals[0])
    return bootstrap_ci(vals, confidence=CONFIDENCE, n_resamples=RESAMPLES, seed=0)


def mean_ci(values):
    """``(mean, interval)`` of the values that are not ``None`` (``(None, None)`` if none)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), interval(vals)


def _ok(records, row, lr):
    return {r["seed"]: r for r in records
            if r["method"] == row and r["lr"] == lr and r["status"] == "ok"}


def paired_difference(records, a, b, lr, field) -> dict:
    """Per-seed ``a - b`` of ``field`` at rate ``lr``: ``mean``, ``ci``, ``n``, ``values``."""
    ra, rb = _ok(records, a, lr), _ok(records, b, lr)
    d = [ra[s][field] - rb[s][field] for s in sorted(set(ra) & set(rb))
         if ra[s][field] is not None and rb[s][field] is not None]
    mean, ci = mean_ci(d)
    return {"mean": mean, "ci": ci, "n": len(d), "values": d}


def judge(d_acc, d_cos, d_erank, undone=None) -> dict:
    """Whether the claim held for one pair.

    ``diverse``: ``'more'`` when the interval of the difference of ``cos_W1``
    is below zero and that of ``erank_W1`` above zero (``'less'`` the other way
    round, else ``'not resolved'``); ``comparable``: the interval of the
    accuracy difference is above minus :data:`~.protocol.COMPARABLE_PP` points;
    ``held``: ``'yes'`` when both and KO takes back at least
    :data:`~.protocol.MATERIAL_PERCENT` percent of its base's condensation
    (``undone``), ``'direction only'`` when both but less is taken back or the
    base shows no condensation to take back (``undone`` is ``None``), else ``'no'``.
    Every entry is ``'n/a'`` below two seeds."""
    if d_cos["ci"] is None or d_erank["ci"] is None or d_acc["ci"] is None:
        return {"diverse": "n/a", "comparable": "n/a", "held": "n/a"}
    if d_cos["ci"][1] < 0 and d_erank["ci"][0] > 0:
        diverse = "more"
    elif d_cos["ci"][0] > 0 and d_erank["ci"][1] < 0:
        diverse = "less"
    else:
        diverse = "not resolved"
    comparable = d_acc["ci"][0] >= -COMPARABLE_PP / 100.0
    held = "no"
    if diverse == "more" and comparable:
        held = ("yes" if undone is not None and undone >= MATERIAL_PERCENT
                else "direction only")
    return {"diverse": diverse, "comparable": "yes" if comparable else "no", "held": held}


def _fmt_ci(ci, spec, scale=1.0):
    if ci is None:
        return "n/a"
    return f"[{format(scale * ci[0], spec)}, {format(scale * ci[1], spec)}]"


def summarize_rows(records, rows, grids) -> list:
    """The table: an ``'init'`` row, then one row per (optimizer, rate).

    Each row: ``method``, ``label``, ``lr``, ``n`` (finished runs),
    ``diverged``, ``failed`` (failed or not run), ``acc``, ``acc_ci``,
    ``train_loss``, ``cos_W1``, ``cos_ci``, ``erank_W1``, ``erank_ci`` (mean and
    interval over seeds); a KO row also ``d_acc_pp``, ``d_acc_ci`` (percentage
    points), ``d_cos``, ``d_cos_ci``, ``d_erank``, ``d_erank_ci`` (against its
    base at the same rate), ``undone`` (percent of the base's rise of
    ``cos_W1`` over initialisation that KO takes back; ``None`` when the base's
    rows are no more alike than at initialisation), ``diverse``,
    ``comparable``, ``held`` (:func:`judge`) and ``paired`` (the differences in
    full); ``paper`` the claim. Interval columns ending in ``_ci`` are text.
    """
    init = {}
    for r in records:
        if r["status"] == "ok":
            init.setdefault(r["seed"], (r["cos_W1_init"], r["erank_W1_init"]))
    c0, c0ci = mean_ci([v[0] for v in init.values()])
    e0, e0ci = mean_ci([v[1] for v in init.values()])
    out = [{"method": "init", "label": "initial weights (no training)", "lr": None,
            "n": len(init), "cos_W1": c0, "cos_ci": _fmt_ci(c0ci, ".4f"), "erank_W1": e0,
            "erank_ci": _fmt_ci(e0ci, ".2f"), "paper": "", "acc_ci": "", "d_acc_ci": "",
            "d_cos_ci": "", "d_erank_ci": ""}]
    by = {}
    for row in rows:
        for lr in grids[row]:
            mine = [r for r in records if r["method"] == row and r["lr"] == lr]
            ok = [r for r in mine if r["status"] == "ok"]
            acc, acc_ci = mean_ci([r["accuracy"] for r in ok])
            cos, cos_ci = mean_ci([r["cos_W1"] for r in ok])
            erank, erank_ci = mean_ci([r["erank_W1"] for r in ok])
            entry = {"method": row, "label": ROWS[row]["label"], "lr": lr, "n": len(ok),
                     "diverged": sum(bool(r["diverged"]) for r in ok),
                     "failed": len(mine) - len(ok), "acc": acc,
                     "acc_ci": _fmt_ci(acc_ci, ".4f"),
                     "train_loss": mean_ci([r["train_loss"] for r in ok])[0],
                     "cos_W1": cos, "cos_ci": _fmt_ci(cos_ci, ".4f"), "erank_W1": erank,
                     "erank_ci": _fmt_ci(erank_ci, ".2f"), "paper": "baseline",
                     "d_acc_ci": "", "d_cos_ci": "", "d_erank_ci": ""}
            by[(row, lr)] = entry
            base = ROWS[row].get("base_row")
            if base is not None and base in rows:
                d = {f: paired_difference(records, row, base, lr, f)
                     for f in ("accuracy", "cos_W1", "erank_W1")}
                base_cos = by.get((base, lr), {}).get("cos_W1")
                rise = None if base_cos is None or c0 is None else base_cos - c0
                undone = (None if rise is None or rise <= 0 or d["cos_W1"]["mean"] is None
                          else -100.0 * d["cos_W1"]["mean"] / rise)
                verdict = judge(d["accuracy"], d["cos_W1"], d["erank_W1"], undone)
                entry.update({
                    "d_acc_pp": None if d["accuracy"]["mean"] is None
                    else 100.0 * d["accuracy"]["mean"],
                    "d_acc_ci": _fmt_ci(d["accuracy"]["ci"], "+.2f", 100.0),
                    "d_cos": d["cos_W1"]["mean"], "d_cos_ci": _fmt_ci(d["cos_W1"]["ci"], "+.1e"),
                    "d_erank": d["erank_W1"]["mean"],
                    "d_erank_ci": _fmt_ci(d["erank_W1"]["ci"], "+.1e"),
                    "undone": undone, **verdict, "paper": CLAIM_SHORT, "paired": d})
            out.append(entry)
    return out
