"""The digits MLP figures: test results per row, the rate selection, KO's sensitivity."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import save_figure
from .protocol import SENSITIVITY_SCALES

__all__ = ["plot_results", "plot_sensitivity", "plot_selection"]


def plot_results(table, records, path) -> Path:
    """Test accuracy, cos_W1 and erank_W1 per optimizer: seeds as dots, mean ± std."""
    from matplotlib.figure import Figure
    trained = [r for r in table if r["method"] != "init"]
    init = next((r for r in table if r["method"] == "init"), None)
    names = [r["method"] for r in trained]
    fig = Figure(figsize=(13, 0.42 * len(names) + 1.8))
    panels = (("counted_accuracy", "acc_mean", "acc_std", "test accuracy"),
              ("cos_W1", "cos_W1", "cos_std", "mean |cos| of W1 rows (lower: diverse)"),
              ("erank_W1", "erank_W1", "erank_std", "effective rank of W1 (higher: diverse)"))
    for k, (field, mean_key, std_key, xlabel) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        for i, row in enumerate(trained):
            vals = [r[field] for r in records if r["phase"] == "test" and r["status"] == "ok"
                    and r["method"] == row["method"] and r["lr"] == row["lr"]
                    and r[field] is not None]
            ax.scatter(vals, [i] * len(vals), s=12, color="tab:blue", alpha=0.4)
            if row[mean_key] is not None:
                ax.errorbar([row[mean_key]], [i], xerr=None if row[std_key] is None
                            else [[row[std_key]], [row[std_key]]], fmt="o", color="black",
                            capsize=3)
        if init is not None and field != "counted_accuracy" and init[mean_key] is not None:
            ax.axvline(init[mean_key], color="tab:red", ls="--", lw=1, label="initial weights")
            ax.legend(fontsize=7, loc="best")
        ax.set_yticks(range(len(names)), names if k == 0 else [""] * len(names))
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Digits MLP: test runs at each optimizer's chosen rate "
                 "(dots: seeds; black: mean ± std)", fontsize=10)
    return save_figure(fig, path)


def plot_sensitivity(cells, path) -> Path:
    """Paired differences KO on SGD - SGD against gamma_c, one line per scale (± 1 s.e.)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(12, 3.6))
    panels = (("counted_accuracy", 100.0, "test accuracy, KO - SGD (pp)"),
              ("cos_W1", 1.0, "mean |cos| of W1 rows, KO - SGD"),
              ("erank_W1", 1.0, "effective rank of W1, KO - SGD"))
    for k, (field, factor, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        for scale, color in zip(SENSITIVITY_SCALES, ("tab:blue", "tab:orange")):
            mine = [c for c in cells if c["collision_scale"] == scale
                    and c["paired"][field]["mean"] is not None]
            if not mine:
                continue
            ax.errorbar([c["gamma_c"] for c in mine],
                        [factor * c["paired"][field]["mean"] for c in mine],
                        yerr=[factor * (c["paired"][field]["se"] or 0.0) for c in mine],
                        marker="o", capsize=3, color=color, label=f"{scale} scale")
        ax.axhline(0.0, color="gray", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("gamma_c")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"KO on SGD minus SGD at SGD's rate {cells[0]['lr']:g}, paired by seed "
                 f"(mean ± standard error)", fontsize=10)
    return save_figure(fig, path)


def plot_selection(records, rows, chosen, path) -> Path:
    """Mean validation accuracy against the rate per optimizer; the chosen rate starred."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for i, row in enumerate(rows):
        by_lr = {}
        for r in records:
            if r["phase"] == "select" and r["method"] == row and r["status"] == "ok":
                by_lr.setdefault(r["lr"], []).append(r["counted_accuracy"])
        if not by_lr:
            continue
        lrs = sorted(by_lr)
        acc = [float(np.mean(by_lr[lr])) for lr in lrs]
        style = "--" if row.startswith("ko_") else "-"
        ax.plot(lrs, acc, style, marker=".", color=cmap(i % 10), label=row)
        if chosen.get(row) in by_lr:
            ax.scatter([chosen[row]], [float(np.mean(by_lr[chosen[row]]))], marker="*", s=120,
                       color=cmap(i % 10), edgecolor="black", zorder=5)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("mean validation accuracy (diverged = 0)")
    ax.set_title("Rate selection on the validation split (star: chosen)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)
