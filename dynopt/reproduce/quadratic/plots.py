"""The quadratics figure: f - f* against the step at each method's best rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import save_figure
from .protocol import KAPPAS, base_method

__all__ = ["plot_curves"]


def plot_curves(curves, path, steps) -> Path:
    """Median f - f* against the step at each method's best rate, one panel per kappa.

    The band spans the best and the worst seed.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    kappas = list(curves) or [repr(k) for k in KAPPAS]
    fig = Figure(figsize=(5.2 * len(kappas), 4.6))
    cmap = colormaps["tab10"]
    methods = list(dict.fromkeys(m for c in curves.values() for m in c))
    for j, kappa in enumerate(kappas):
        ax = fig.add_subplot(1, len(kappas), j + 1)
        for i, method in enumerate(methods):
            c = curves.get(kappa, {}).get(method)
            if c is None:
                continue
            x = np.maximum(np.asarray(c["steps"]), 0.5)     # step 0 drawn at 0.5 on the log axis
            ax.plot(x, c["median"], color=cmap(i % 10), lw=1.4,
                    ls="--" if base_method(method) else "-",
                    label=f"{method} (lr {c['lr']:.3g})")
            ax.fill_between(x, c["min"], c["max"], color=cmap(i % 10), alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(0.5, steps)
        ax.set_xlabel("step (tuned rows: gradients spent, tuning first)")
        ax.set_ylabel("f - f*  (median; band: min-max over seeds)")
        ax.set_title(f"kappa = {float(kappa):.0e}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
