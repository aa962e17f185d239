"""The condensation figures: cos_W1 over the epochs, and KO minus its base per rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import save_figure
from .protocol import ROWS

__all__ = ["plot_epochs", "plot_differences"]


def plot_epochs(records, rows, grids, path) -> Path:
    """Mean over seeds of cos_W1 after each epoch, one panel per pair at its middle rate."""
    from matplotlib.figure import Figure
    pairs = [p for p in ("sgd", "adam") if p in rows]
    fig = Figure(figsize=(5.2 * max(len(pairs), 1), 3.8))
    for k, base in enumerate(pairs):
        ax = fig.add_subplot(1, max(len(pairs), 1), k + 1)
        grid = grids[base]
        lr = grid[len(grid) // 2]
        for row in rows:
            if row != base and ROWS[row].get("base_row") != base:
                continue
            hist = [r["cos_W1_epochs"] for r in records if r["method"] == row
                    and r["lr"] == lr and r["status"] == "ok"
                    and all(v is not None for v in r["cos_W1_epochs"])]
            if hist:
                ax.plot(np.mean(np.array(hist, dtype=float), axis=0), marker=".",
                        ls="-" if row == base else "--", label=row)
        ax.set_xlabel("epoch (0: initial weights)")
        ax.set_ylabel("mean |cos| of W1 rows (mean over seeds)")
        ax.set_title(f"{base} pair, lr {lr:g}", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Condensation during training: rows of W1 becoming alike", fontsize=10)
    return save_figure(fig, path)


def plot_differences(table, path) -> Path:
    """KO minus its base, paired by seed, per rate: accuracy (pp), cos_W1, erank_W1, with the
    bootstrap intervals."""
    from matplotlib.figure import Figure
    rows = [r for r in table if r.get("paired")]
    fig = Figure(figsize=(13, 0.3 * len(rows) + 1.8))
    panels = (("accuracy", 100.0, "test accuracy, KO - base (pp)"),
              ("cos_W1", 1.0, "mean |cos| of W1 rows, KO - base"),
              ("erank_W1", 1.0, "effective rank of W1, KO - base"))
    names = [f"{r['method']} lr {r['lr']:g}" for r in rows]
    for k, (field, factor, xlabel) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        for i, r in enumerate(rows):
            d = r["paired"][field]
            ax.scatter([factor * v for v in d["values"]], [i] * len(d["values"]), s=10,
                       color="tab:blue", alpha=0.4)
            if d["mean"] is not None:
                lo, hi = d["ci"] if d["ci"] is not None else (d["mean"], d["mean"])
                ax.errorbar([factor * d["mean"]], [i],
                            xerr=[[factor * (d["mean"] - lo)], [factor * (hi - d["mean"])]],
                            fmt="o", color="black", capsize=3)
        ax.axvline(0.0, color="gray", lw=0.8)
        ax.set_yticks(range(len(names)), names if k == 0 else [""] * len(names), fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel, fontsize=8)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("KO minus its base at the same rate, paired by seed (dots: seeds; black: "
                 "mean and 95% bootstrap interval)", fontsize=10)
    return save_figure(fig, path)
