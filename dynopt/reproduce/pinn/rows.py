r"""The table's rows: per problem and optimizer the best rate and its statistics, the verdict.

Per (problem, optimizer) the rate with the lowest mean counted final loss is
chosen (a diverged run counts as :data:`~.protocol.DIVERGED_LOSS`, the
Rosenbrock protocol's rule), on the same seeds that are reported. Its runs
give the mean final loss with a 95% percentile-bootstrap interval
(:func:`dynopt.stats.summarize`), the median, the spread across seeds
:math:`\mathrm{sd}(\log_{10} L)` (diverged runs left out), the mean relative
L2 error, and the fractions of runs that diverged, ended above the warm
start's loss, or spiked.

The verdict on the paper's claim, per problem, has two parts, both measured
at the rates chosen:

- *high variance*: FANoS's :math:`\mathrm{sd}(\log_{10} L)` is at least
  :data:`~.protocol.VARIANCE_FACTOR` times every other optimizer's;
- *unstable*: at least one FANoS run diverged or ended above its warm start,
  a larger fraction than every other optimizer's.

``held`` when both hold, ``partly`` when one does, ``not held`` when neither.
"""
from __future__ import annotations

import math

import numpy as np

from .protocol import DIVERGED_LOSS, VARIANCE_FACTOR

__all__ = ["counted", "summarize_rows", "verdicts"]


def counted(rec) -> float:
    """The loss a run counts with in a mean: its final loss, or ``DIVERGED_LOSS``."""
    loss = rec.get("final_loss")
    if rec.get("diverged") or loss is None or not math.isfinite(loss):
        return DIVERGED_LOSS
    return float(loss)


def _mean_ci(values):
    from ...stats import summarize
    s = summarize(values)
    return s["mean"], s["ci_low"], s["ci_high"]


def _ci_text(low, high):
    if low is None or not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{low:.3g}, {high:.3g}]"


def summarize_rows(records, problems, rows) -> list:
    """One row per (problem, optimizer) at its chosen rate (see the module docstring)."""
    out = []
    for prob in problems:
        for method in rows:
            mine = [r for r in records if r["problem"] == prob and r["method"] == method]
            done = [r for r in mine if r["status"] == "ok"]
            row = {"problem": prob, "method": method, "lr": None, "n": 0,
                   "runs_all": len(done),
                   "bad_all": sum(bool(r["worse"]) for r in done),
                   "failed": len(mine) - len(done)}
            by_lr = {}
            for r in done:
                by_lr.setdefault(r["lr"], []).append(r)
            if not by_lr:
                out.append({**row, "loss": None, "loss_ci": "n/a", "median": None,
                            "sd_log10": None, "rel_l2": None, "rel_l2_ci": "n/a",
                            "warm_loss": None, "diverged": None, "worse": None,
                            "spiked": None})
                continue
            lr = min(by_lr, key=lambda k: (float(np.mean([counted(r) for r in by_lr[k]])),
                                           -1 if k is None else k))
            chosen = sorted(by_lr[lr], key=lambda r: r["seed"])
            losses = [counted(r) for r in chosen]
            mean, low, high = _mean_ci(losses)
            finite = [r for r in chosen if not r["diverged"]]
            logs = [math.log10(r["final_loss"]) for r in finite if r["final_loss"] > 0]
            rel = [r["rel_l2"] for r in finite if r["rel_l2"] is not None]
            rel_mean, rel_low, rel_high = _mean_ci(rel) if rel else (None, None, None)
            n = len(chosen)
            out.append({
                **row, "lr": lr, "n": n, "loss": mean, "loss_ci": _ci_text(low, high),
                "loss_ci_low": low, "loss_ci_high": high,
                "median": float(np.median(losses)),
                "sd_log10": float(np.std(logs, ddof=1)) if len(logs) >= 2 else None,
                "rel_l2": rel_mean, "rel_l2_ci": _ci_text(rel_low, rel_high),
                "warm_loss": float(np.mean([r["warm_loss"] for r in chosen])),
                "diverged": sum(bool(r["diverged"]) for r in chosen) / n,
                "worse": sum(bool(r["worse"]) for r in chosen) / n,
                "spiked": sum(bool(r["spiked"]) for r in chosen) / n,
                "seeds": [r["seed"] for r in chosen], "values": losses})
    return out


def verdicts(table, problems, factor: float = VARIANCE_FACTOR) -> dict:
    """problem -> ``{'variance', 'unstable', 'held', 'text'}`` (see the module docstring);
    ``None`` where FANoS or every other row has no result."""
    out = {}
    for prob in problems:
        rows = {r["method"]: r for r in table if r["problem"] == prob and r["n"]}
        fanos = rows.get("fanos")
        others = [r for m, r in rows.items() if m != "fanos"]
        if fanos is None or not others:
            out[prob] = None
            continue
        sds = [r["sd_log10"] for r in others if r["sd_log10"] is not None]
        variance = bool(sds) and fanos["sd_log10"] is not None and all(
            fanos["sd_log10"] >= factor * s for s in sds)
        unstable = fanos["worse"] > 0 and all(fanos["worse"] > r["worse"] for r in others)
        held = {2: "held", 1: "partly", 0: "not held"}[int(variance) + int(unstable)]
        top = max(others, key=lambda r: -math.inf if r["sd_log10"] is None else r["sd_log10"])
        sd_f = "n/a" if fanos["sd_log10"] is None else f"{fanos['sd_log10']:.2f}"
        sd_o = "n/a" if top["sd_log10"] is None else f"{top['sd_log10']:.2f}"
        text = (f"{held}: sd(log10 loss) {sd_f} (largest other: {sd_o}, {top['method']}; "
                f"high variance needs {factor:g} times it); "
                f"worse than warm start {fanos['worse']:.0%} of FANoS runs "
                f"(others at most {max(r['worse'] for r in others):.0%})")
        out[prob] = {"variance": bool(variance), "unstable": bool(unstable), "held": held,
                     "text": text}
    return out
