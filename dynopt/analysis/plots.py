"""Figures for the analysis: trajectories, energies, rate sweeps, stability regions.

Every function draws with Matplotlib's object interface and returns the
:class:`~matplotlib.figure.Figure`; none calls ``show()``. Pass ``ax`` to draw
into an existing axes.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_trajectory", "plot_energies", "plot_rate_sweep", "plot_stability_region"]


def _axes(ax, figsize=(5.5, 4.0)):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _trajectory(result):
    traj = getattr(result, "trajectory", None)
    if traj is None:
        raise ValueError("this result has no 'trajectory': run dynopt.minimize(..., "
                         "options={'record': True})")
    return traj


def plot_trajectory(result, fun, *, coords=(0, 1), bounds=None, levels: int = 25, ax=None,
                    member=None, label=None):
    r"""The iterates over the contours of :math:`f` in a plane of two coordinates.

    Parameters
    ----------
    result : OptimizeResult
        A recorded run.
    fun : callable
        ``fun(x) -> float`` (or ``(f, g)``, whose first entry is used); the other
        coordinates are held at the final iterate.
    coords : (int, int)
        The two coordinates to show.
    bounds : ((xmin, xmax), (ymin, ymax)), optional
        Default: the trajectory's range with a margin.
    levels : int
        Number of contour levels (spaced logarithmically above the minimum seen).
    member : int, optional
        The member of a batched run.

    Returns
    -------
    matplotlib.figure.Figure
    """
    traj = _trajectory(result)
    X = np.asarray(traj["x"], dtype=float)
    if X.ndim == 3:
        if member is None:
            raise ValueError(f"this run is a batch of {X.shape[1]} members; pass member=")
        X = X[:, member, :]
    n = X.shape[1]
    i, j = coords
    if not (0 <= i < n and 0 <= j < n and i != j):
        raise ValueError(f"coords must be two different indices in [0, {n}), got {coords!r}")
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {fun!r}")
    finite = np.all(np.isfinite(X), axis=1)
    X = X[finite]
    if bounds is None:
        lo, hi = X[:, [i, j]].min(axis=0), X[:, [i, j]].max(axis=0)
        pad = 0.15 * np.maximum(hi - lo, 1e-12)
        bounds = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    (x0, x1), (y0, y1) = bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, 120), np.linspace(y0, y1, 120))
    base = X[-1].copy()
    Z = np.empty_like(gx)
    for a in range(gx.shape[0]):
        for b in range(gx.shape[1]):
            base[i], base[j] = gx[a, b], gy[a, b]
            out = fun(base)
            Z[a, b] = out[0] if isinstance(out, tuple) else out
    fig, ax = _axes(ax)
    zmin = float(np.nanmin(Z))
    shifted = Z - zmin
    top = float(np.nanmax(shifted))
    if top > 0:
        lv = np.unique(np.geomspace(max(top * 1e-4, 1e-300), top, levels))
        ax.contour(gx, gy, shifted, levels=lv, cmap="viridis", linewidths=0.7)
    ax.plot(X[:, i], X[:, j], "-", color="C3", lw=1.0,
            label=label or getattr(result, "method", None))
    ax.plot(X[0, i], X[0, j], "o", color="C3", ms=5)
    ax.plot(X[-1, i], X[-1, j], "*", color="k", ms=9)
    ax.set_xlabel(f"$x_{{{i}}}$")
    ax.set_ylabel(f"$x_{{{j}}}$")
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_energies(result, *, names=None, log: bool = True, ax=None, member=None):
    """Recorded energies against the step.

    Parameters
    ----------
    result : OptimizeResult
        A recorded run.
    names : sequence of str, optional
        Trajectory entries to draw; default ``potential``, ``kinetic``, any
        program energies (a thermostat's) and ``total``.
    log : bool
        Logarithmic y axis (non-positive values are left out).
    member : int, optional
        The member of a batched run.

    Returns
    -------
    matplotlib.figure.Figure
    """
    traj = _trajectory(result)
    skip = {"step", "x", "fun", "grad_norm"}
    if names is None:
        state = set(getattr(result, "state", None) or {})  # scalar state is recorded too
        extra = [k for k in traj if k not in skip | state | {"potential", "kinetic", "total"}]
        names = ["potential", "kinetic", *extra, "total"]
    missing = [nm for nm in names if nm not in traj]
    if missing:
        raise ValueError(f"the trajectory has no {missing}; available: {sorted(traj)}")
    steps = np.asarray(traj["step"])
    fig, ax = _axes(ax)
    for nm in names:
        y = np.asarray(traj[nm], dtype=float)
        if y.ndim == 2:
            if member is None:
                raise ValueError(f"this run is a batch of {y.shape[1]} members; pass member=")
            y = y[:, member]
        if log:
            y = np.where(y > 0, y, np.nan)
        ax.plot(steps, y, label=nm, lw=1.6 if nm == "total" else 1.0,
                ls="--" if nm == "total" else "-")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step $k$")
    ax.set_ylabel("energy")
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_rate_sweep(table, *, x: str = "damping_ratio", ax=None):
    r"""Predicted against observed per-step rates across a sweep, regimes marked.

    Plots :math:`1 - r` (log scale) for the discrete prediction (line), the
    continuous prediction (dashed) and the observed rates (markers); with
    ``x='damping_ratio'`` the underdamped side is shaded and :math:`\zeta = 1` marked.

    Parameters
    ----------
    table : RateTable
        From :func:`~dynopt.analysis.compare.sweep_rates` or
        :func:`~dynopt.analysis.compare.compare_rates`.
    x : str
        The column on the horizontal axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    xs = np.asarray(table.column(x), dtype=float)
    order = np.argsort(xs)
    xs = xs[order]
    pred = np.asarray(table.column("predicted"), dtype=float)[order]
    cont = np.asarray(table.column("continuous"), dtype=float)[order]
    obs = np.asarray(table.column("observed"), dtype=float)[order]
    fig, ax = _axes(ax)
    with np.errstate(invalid="ignore"):
        gap = lambda r: np.where(np.abs(1 - r) > 0, np.abs(1 - r), np.nan)  # noqa: E731
        ax.plot(xs, gap(pred), "-", color="C0", label="predicted (one-step map)")
        ax.plot(xs, gap(cont), "--", color="C2", label=r"continuous $e^{-\sigma h}$")
        ax.plot(xs, gap(obs), "o", color="C3", ms=4, mfc="none", label="observed")
    unstable = pred >= 1
    if unstable.any():
        ax.plot(xs[unstable], gap(pred)[unstable], "x", color="k",
                label=r"unstable ($\rho \geq 1$)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if x == "damping_ratio":
        lo, hi = xs[np.isfinite(xs)].min(), xs[np.isfinite(xs)].max()
        if lo < 1:
            ax.axvspan(lo, min(1.0, hi), color="C1", alpha=0.08, label="underdamped")
        if hi > 1:
            ax.axvspan(max(1.0, lo), hi, color="C0", alpha=0.06, label="overdamped")
        if lo <= 1 <= hi:
            ax.axvline(1.0, color="k", lw=0.8, ls=":", label="critical")
        ax.set_xlabel(r"damping ratio $\zeta$")
    else:
        ax.set_xlabel(x)
    ax.set_ylabel(r"$|1 - r|$ per step")
    ax.set_title(f"{table.method}")
    ax.legend(loc="best", fontsize="x-small")
    return fig


def plot_stability_region(method, integrator=None, options=None, *, parameter=None, values=None,
                          hl_max: float | None = None, samples: int = 300, freeze=None, ax=None):
    r"""Spectral radius of the one-step map over :math:`h\lambda` (and a hyperparameter).

    The horizontal axis is :math:`h\lambda` with :math:`h` the value of the
    method's step hyperparameter (``dt``, else ``lr``, else 1). Without
    ``parameter`` the figure is :math:`\rho` against :math:`h\lambda` with the
    stable set shaded; with ``parameter`` (e.g. ``'momentum'``) and its
    ``values`` it is a map of :math:`\rho` in the (:math:`h\lambda`, parameter)
    plane with the boundary :math:`\rho = 1` drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .discrete import step_matrix
    step = step_matrix(method, integrator, options, freeze)
    names = {sym.name: val for sym, val in step.params.items()}
    hname = "dt" if "dt" in names else "lr" if "lr" in names else None
    hval = float(names[hname]) if hname else 1.0
    top = float(hl_max) if hl_max is not None else 5.0
    if not top > 0:
        raise ValueError(f"hl_max must be positive, got {hl_max!r}")
    hl = np.linspace(top / samples, top, samples)
    lams = hl / hval
    fig, ax = _axes(ax)
    hlabel = f"$h\\lambda$ ($h$ = {hname} = {hval:g})" if hname else r"$\lambda$"
    if parameter is None:
        rho = step.spectral_radius(lams)
        ax.plot(hl, rho, color="C0")
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.fill_between(hl, 0, 1, where=rho < 1, color="C2", alpha=0.15, label=r"stable ($\rho<1$)")
        ax.set_ylabel(r"spectral radius $\rho$")
        ax.set_ylim(0, max(1.5, min(float(np.nanmax(rho)), 3.0)))
        ax.legend(loc="best", fontsize="small")
    else:
        if parameter not in names:
            raise ValueError(f"parameter {parameter!r} is not a hyperparameter of {step.name!r}; "
                             f"valid: {sorted(names)}")
        if values is None:
            raise ValueError("values= (the values of the parameter) is required with parameter=")
        ys = np.asarray(values, dtype=float).reshape(-1)
        L, Y = np.meshgrid(lams, ys)
        rho = step.spectral_radius(L, **{parameter: Y})
        mesh = ax.pcolormesh(hl, ys, np.minimum(rho, 2.0), shading="auto", cmap="magma_r",
                             vmin=0, vmax=2.0)
        fig.colorbar(mesh, ax=ax, label=r"$\rho$ (clipped at 2)")
        ax.contour(hl, ys, rho, levels=[1.0], colors="w", linewidths=1.2)
        ax.set_ylabel(parameter)
    ax.set_xlabel(hlabel)
    ax.set_title(f"{step.name}" + (f" / {integrator}" if integrator else ""))
    return fig
