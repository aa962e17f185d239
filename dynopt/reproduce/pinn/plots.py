"""The PINN figures: final loss per seed against the warm start, and the loss curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import save_figure

__all__ = ["plot_final", "plot_curves"]

_COLORS = {"fanos": "tab:red", "adamw": "tab:blue", "sgd_momentum": "tab:green",
           "lbfgs": "tab:purple"}


def plot_final(table, records, problems, rows, path) -> Path:
    """Per problem: every seed's final / warm-start loss at each optimizer's chosen rate."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(4.2 * len(problems), 3.4))
    for k, prob in enumerate(problems):
        ax = fig.add_subplot(1, len(problems), k + 1)
        for i, method in enumerate(rows):
            row = next((r for r in table if r["problem"] == prob and r["method"] == method),
                       None)
            if row is None or not row["n"]:
                continue
            vals = [r["ratio"] for r in records if r["problem"] == prob
                    and r["method"] == method and r["lr"] == row["lr"]
                    and r["status"] == "ok" and r["ratio"] is not None]
            ax.scatter([i] * len(vals), vals, s=16, color=_COLORS.get(method), alpha=0.7)
            if vals:
                ax.scatter([i], [float(np.exp(np.mean(np.log(vals))))], marker="_", s=300,
                           color="black")
        ax.axhline(1.0, color="gray", ls="--", lw=1, label="warm start")
        ax.set_yscale("log")
        ax.set_xticks(range(len(rows)), rows, rotation=20, fontsize=8)
        ax.set_title(prob, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        if k == 0:
            ax.set_ylabel("final loss / warm-start loss")
            ax.legend(fontsize=7)
    fig.suptitle("PINN warm starts: each seed at each optimizer's chosen rate "
                 "(black: geometric mean)", fontsize=10)
    return save_figure(fig, path)


def plot_curves(table, records, problems, rows, path) -> Path:
    """Per problem: loss / warm-start loss against gradient evaluations, one line per seed."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(4.2 * len(problems), 3.4))
    for k, prob in enumerate(problems):
        ax = fig.add_subplot(1, len(problems), k + 1)
        for method in rows:
            row = next((r for r in table if r["problem"] == prob and r["method"] == method),
                       None)
            if row is None or not row["n"]:
                continue
            first = True
            for r in records:
                if (r["problem"], r["method"], r["lr"], r["status"]) != (prob, method,
                                                                          row["lr"], "ok"):
                    continue
                y = [np.nan if v is None else v / r["warm_loss"] for v in r["curve"]]
                ax.plot(r["curve_evaluations"], y, color=_COLORS.get(method), lw=0.9,
                        alpha=0.7, label=method if first else None)
                first = False
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gradient evaluations after the warm start")
        ax.set_title(prob, fontsize=10)
        ax.grid(True, alpha=0.3)
        if k == 0:
            ax.set_ylabel("loss / warm-start loss")
            ax.legend(fontsize=7)
    fig.suptitle("Loss after the warm start, every seed, at each optimizer's chosen rate",
                 fontsize=10)
    return save_figure(fig, path)
