"""The digits MLP's statistics: the chosen rates, the table's rows, paired differences.

Rates are chosen on the validation runs (:func:`select_rates`); the table
summarises the test runs at each chosen rate (:func:`summarize_rows`); rows
are compared by seed (:func:`paired_differences`), KO with its base at the
base's rate, FANoS and Frankenstein with SGD, momentum and Adam.
"""
from __future__ import annotations

import math

import numpy as np

from .protocol import CLAIMS, _spec, sensitivity_row

__all__ = ["select_rates", "summarize_rows", "paired_differences", "sensitivity_summary",
           "paired"]


def select_rates(records, rows) -> dict:
    """The chosen rate of each row from its ``'select'`` records.

    Highest mean ``counted_accuracy`` over the finished seeds; ties: lower mean
    ``heldout_loss`` (``None``, a diverged run, counts as infinite), then the
    smaller rate. Rows without any finished record map to ``None``.
    """
    chosen = {}
    for row in rows:
        by_lr = {}
        for rec in records:
            if rec["phase"] == "select" and rec["method"] == row and rec["status"] == "ok":
                by_lr.setdefault(rec["lr"], []).append(rec)
        if not by_lr:
            chosen[row] = None
            continue

        def score(lr):
            recs = by_lr[lr]
            acc = float(np.mean([r["counted_accuracy"] for r in recs]))
            loss = float(np.mean([math.inf if r["heldout_loss"] is None or r["diverged"]
                                  else r["heldout_loss"] for r in recs]))
            return (-acc, loss, lr)

        chosen[row] = min(by_lr, key=score)
    return chosen


def _mean_std(values):
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None)


def summarize_rows(records, rows, chosen, grids) -> list:
    """Table rows: per optimizer the test statistics at its chosen rate.

    Parameters
    ----------
    records : list of dict
        All records (both phases).
    rows : list of str
        Row keys, in table order.
    chosen : dict
        Row -> chosen rate (or ``None``).
    grids : dict
        Row -> its grid (to flag a choice at an edge).

    Returns
    -------
    list of dict
        An ``'init'`` row (diversity of the initial weights) and one row per
        optimizer: ``method``, ``label``, ``lr``, ``edge``, ``acc_mean``,
        ``acc_std`` (over seeds of the counted accuracy), ``train_loss``,
        ``cos_W1``, ``cos_std``, ``erank_W1``, ``erank_std``, ``n`` (finished
        test runs), ``diverged``, ``failed`` (failed or unrun test runs),
        ``paper`` (the claim) and ``values`` (per-seed counted accuracies).
    """
    test = [r for r in records if r["phase"] == "test"]
    init = {}
    for r in test:
        if r["status"] == "ok":
            init.setdefault(r["seed"], (r["cos_W1_init"], r["erank_W1_init"]))
    c0, c0s = _mean_std([v[0] for v in init.values()])
    e0, e0s = _mean_std([v[1] for v in init.values()])
    out = [{"method": "init", "label": "initial weights (no training)", "lr": None,
            "edge": None, "acc_mean": None, "acc_std": None, "train_loss": None,
            "cos_W1": c0, "cos_std": c0s, "erank_W1": e0, "erank_std": e0s, "n": len(init),
            "diverged": None, "failed": None, "paper": "", "values": []}]
    for row in rows:
        lr = chosen.get(row)
        mine = [r for r in test if r["method"] == row and lr is not None and r["lr"] == lr]
        ok = [r for r in mine if r["status"] == "ok"]
        acc, acc_sd = _mean_std([r["counted_accuracy"] for r in ok])
        cos, cos_sd = _mean_std([r["cos_W1"] for r in ok])
        erank, erank_sd = _mean_std([r["erank_W1"] for r in ok])
        grid = grids[row]
        out.append({
            "method": row, "label": _spec(row)["label"], "lr": lr,
            "edge": None if lr is None else (lr == grid[0] or lr == grid[-1]),
            "acc_mean": acc, "acc_std": acc_sd,
            "train_loss": _mean_std([r["train_loss"] for r in ok])[0],
            "cos_W1": cos, "cos_std": cos_sd, "erank_W1": erank, "erank_std": erank_sd,
            "n": len(ok), "diverged": sum(bool(r["diverged"]) for r in ok),
            "failed": len(mine) - len(ok), "paper": CLAIMS[row],
            "values": [r["counted_accuracy"] for r in ok]})
    return out


def paired_differences(records, a, lr_a, b, lr_b, fields=("counted_accuracy", "cos_W1",
                                                          "erank_W1")) -> dict:
    """Per-seed differences ``a - b`` of ``fields`` between two rows' test runs.

    Only seeds where both runs finished (and the field is not ``None``) count.
    Returns ``{field: {'mean', 'std', 'se', 'n', 'values'}}``; ``std`` and
    ``se`` (standard error of the mean) are ``None`` below two seeds.
    """
    def runs(row, lr):
        return {r["seed"]: r for r in records if r["phase"] == "test" and r["method"] == row
                and r["lr"] == lr and r["status"] == "ok"}
    ra, rb = runs(a, lr_a), runs(b, lr_b)
    out = {}
    for f in fields:
        d = [ra[s][f] - rb[s][f] for s in sorted(set(ra) & set(rb))
             if ra[s][f] is not None and rb[s][f] is not None]
        mean, sd = _mean_std(d)
        out[f] = {"mean": mean, "std": sd, "n": len(d), "values": d,
                  "se": None if sd is None else sd / math.sqrt(len(d))}
    return out


def sensitivity_summary(records, lr, cells) -> list:
    """KO on SGD at SGD's rate ``lr``, one dict per cell ``(scale, gamma_c)``.

    Each dict: ``row`` (the records' row key), ``collision_scale``, ``gamma_c``,
    ``lr``, ``n`` (finished test runs), ``diverged``, ``acc_mean``, ``acc_std``,
    ``train_loss``, ``cos_W1``, ``cos_std``, ``erank_W1``, ``erank_std`` and
    ``paired``: :func:`paired_differences` against ``sgd`` at ``lr``.
    """
    out = []
    for scale, gamma in cells:
        row = sensitivity_row(scale, gamma)
        ok = [r for r in records if r["phase"] == "test" and r["method"] == row
              and r["lr"] == lr and r["status"] == "ok"]
        acc, acc_sd = _mean_std([r["counted_accuracy"] for r in ok])
        cos, cos_sd = _mean_std([r["cos_W1"] for r in ok])
        erank, erank_sd = _mean_std([r["erank_W1"] for r in ok])
        out.append({"row": row, "collision_scale": scale, "gamma_c": gamma, "lr": lr,
                    "n": len(ok), "diverged": sum(bool(r["diverged"]) for r in ok),
                    "acc_mean": acc, "acc_std": acc_sd,
                    "train_loss": _mean_std([r["train_loss"] for r in ok])[0],
                    "cos_W1": cos, "cos_std": cos_sd, "erank_W1": erank, "erank_std": erank_sd,
                    "paired": paired_differences(records, row, lr, "sgd", lr,
                                                 fields=("counted_accuracy", "cos_W1",
                                                         "erank_W1", "train_loss"))})
    return out


def paired(records, rows, chosen) -> dict:
    """KO rows: differences to the base at the base's rate; FANoS, Frankenstein: to SGD
    and Adam (each at its own chosen rate)."""
    out = {}
    for row in rows:
        base = _spec(row).get("base_row")
        if base is not None:
            if chosen.get(base) is not None:
                out[row] = {base: paired_differences(records, row, chosen[base], base,
                                                     chosen[base])}
        elif row in ("fanos", "frankenstein") and chosen.get(row) is not None:
            out[row] = {ref: paired_differences(records, row, chosen[row], ref, chosen[ref])
                        for ref in ("sgd", "momentum", "adam")
                        if ref in rows and chosen.get(ref) is not None}
    return out
