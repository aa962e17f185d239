"""The LJ38 figures: force calls per row against the references, final energies."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import save_figure
from .protocol import GM_ENERGY, PAPER

__all__ = ["plot_calls", "plot_energies"]


def plot_calls(rows, records, path, cap) -> Path:
    """Force calls per method: every converged run (dots), mean (bar), paper's figures (x)."""
    from matplotlib.figure import Figure
    methods = [r["method"] for r in rows]
    fig = Figure(figsize=(8.5, 0.42 * len(methods) + 1.8))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for i, row in enumerate(rows):
        vals = np.asarray(row["values"], dtype=float)
        if vals.size:
            ax.scatter(vals, i + rng.uniform(-0.18, 0.18, vals.size), s=6, color="tab:blue",
                       alpha=0.4, label="converged run" if i == 0 else None)
            ax.plot([row["mean"]] * 2, [i - 0.3, i + 0.3], color="tab:blue", lw=2.5,
                    label="measured mean" if i == 0 else None)
        fails = [r for r in records if r["method"] == row["method"] and r["status"] == "ok"
                 and not r["converged"]]
        if fails:
            label = "failed run (drawn at the cap)"
            ax.scatter([cap] * len(fails), [i] * len(fails), marker="|", s=120,
                       color="tab:red",
                       label=label if label not in ax.get_legend_handles_labels()[1] else None)
        if row["paper_mean"] is not None:
            color = "tab:green" if row["method"] in PAPER else "tab:purple"
            label = "Frankenstein paper, Table 2" if row["method"] in PAPER else "OptBench"
            ax.errorbar([row["paper_mean"]], [i], xerr=[[row["paper_mean"] - row["paper_min"]],
                                                        [row["paper_max"] - row["paper_mean"]]],
                        fmt="x", color=color, capsize=3, ms=8,
                        label=label if label not in ax.get_legend_handles_labels()[1] else None)
    ax.set_xscale("log")
    ax.set_yticks(range(len(methods)), methods)
    ax.invert_yaxis()
    ax.set_xlabel("force calls to convergence (reference: mean with min-max bar)")
    ax.set_title("LJ38 relaxations: force calls per method")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return save_figure(fig, path)


def plot_energies(rows, records, path) -> Path:
    """Final energies of the converged runs per method, the global minimum marked."""
    from matplotlib.figure import Figure
    methods = [r["method"] for r in rows]
    fig = Figure(figsize=(8.5, 0.42 * len(methods) + 1.8))
    ax = fig.add_subplot()
    rng = np.random.default_rng(1)
    for i, method in enumerate(methods):
        e = np.array([r["energy"] for r in records if r["method"] == method
                      and r["status"] == "ok" and r["converged"]], dtype=float)
        if e.size:
            ax.scatter(e, i + rng.uniform(-0.18, 0.18, e.size), s=6, color="tab:blue", alpha=0.4)
            ax.plot([e.mean()] * 2, [i - 0.3, i + 0.3], color="tab:blue", lw=2.5)
    ax.axvline(GM_ENERGY, color="tab:red", ls="--", lw=1, label=f"global minimum {GM_ENERGY}")
    ax.set_yticks(range(len(methods)), methods)
    ax.invert_yaxis()
    ax.set_xlabel("final energy of converged runs (bar: mean)")
    ax.set_title("LJ38 relaxations: which minimum each method reaches")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    return save_figure(fig, path)
