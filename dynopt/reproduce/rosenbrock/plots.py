"""The Rosenbrock figures: final loss per method, and loss against gradient evaluations."""
from __future__ import annotations

import math
from pathlib import Path

from ..best_rate import DIVERGED_LOSS
from ..report import save_figure
from .protocol import DIM, PAPER

__all__ = ["plot_final", "plot_curves"]


def plot_final(rows, path) -> Path:
    """Mean final loss per method (log scale) with its 95% interval, starts and paper's figure."""
    from matplotlib.figure import Figure
    sections = list(dict.fromkeys(r["starts"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = Figure(figsize=(8, 0.38 * len(methods) + 1.6))
    ax = fig.add_subplot()
    styles = {"paper": ("tab:blue", "o"), "fresh": ("tab:orange", "s")}
    for j, sec in enumerate(sections):
        color, marker = styles.get(sec, ("tab:gray", "^"))
        offset = (j - (len(sections) - 1) / 2) * 0.25
        for row in rows:
            if row["starts"] != sec or row["mean"] is None:
                continue
            y = methods.index(row["method"]) + offset
            ax.scatter(row["values"], [y] * len(row["values"]), s=6, color=color, alpha=0.35)
            low, high = row["ci_low"], row["ci_high"]
            err = None
            if low is not None and math.isfinite(low):
                err = [[row["mean"] - low], [high - row["mean"]]]
            ax.errorbar([row["mean"]], [y], xerr=err, fmt=marker, color=color, capsize=3,
                        label=f"{sec} starts: mean, 95% CI" if row is _first(rows, sec) else None)
    for method, figure in PAPER.items():
        if method in methods:
            ax.scatter([figure], [methods.index(method)], marker="x", color="tab:red", s=50,
                       zorder=5, label="paper" if method == "fanos" else None)
    ax.set_xscale("log")
    ax.set_yticks(range(len(methods)), methods)
    ax.invert_yaxis()
    ax.set_xlabel(f"final loss (best rate; diverged = {DIVERGED_LOSS:.0e}); dots: single starts")
    ax.set_title(f"Rosenbrock-{DIM}D, final loss per method")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def _first(rows, section):
    for row in rows:
        if row["starts"] == section and row["mean"] is not None:
            return row
    return None


def plot_curves(curves, sections, path) -> Path:
    """Median loss vs gradient evaluations of each method's best setting, one panel per section."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    sections = [s for s in sections if s in curves] or list(curves) or ["paper"]
    fig = Figure(figsize=(6.5 * len(sections), 5.2))
    methods = list(dict.fromkeys(m for s in curves.values() for m in s))
    cmap = colormaps["tab10"]
    for j, sec in enumerate(sections):
        ax = fig.add_subplot(1, len(sections), j + 1)
        for i, method in enumerate(methods):
            c = curves.get(sec, {}).get(method)
            if c is None:
                continue
            style = "-" if i < 10 else "--"
            ax.plot(c["evaluations"], c["median"], style, color=cmap(i % 10), lw=1.3,
                    label=f"{method} ({c['lr']})" if c["lr"] is not None else method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gradient evaluations")
        ax.set_ylabel("median loss over starts")
        ax.set_title(f"{sec} starts, best rate per method")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6.5, ncol=2)
    return save_figure(fig, path)
