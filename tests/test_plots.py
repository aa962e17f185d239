"""Figures of dynopt.analysis.plots (Agg backend) and the notebooks, executed."""
import pathlib

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import dynopt  # noqa: E402
from dynopt.analysis import RateTable, sweep_rates  # noqa: E402
from dynopt.analysis.plots import (plot_energies, plot_rate_sweep,  # noqa: E402
                                   plot_stability_region, plot_trajectory)

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "physics_of_optimizers.ipynb"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: fewest figures each notebook must produce (the default for any other notebook)
MIN_IMAGES = {NOTEBOOK.name: 5}


def quad(lams):
    lams = np.asarray(lams, dtype=float)
    return lambda x: (0.5 * float(np.dot(lams * x, x)), lams * x)


@pytest.fixture(scope="module")
def run2d():
    return dynopt.minimize(quad([1.0, 8.0]), np.array([1.0, -0.5]), method="heavy_ball", jac=True,
                           options={"lr": 0.05, "momentum": 0.7, "record": True})


def test_trajectory_over_contours(run2d):
    fig = plot_trajectory(run2d, lambda x: quad([1.0, 8.0])(x)[0])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xydata(), run2d.trajectory["x"])
    assert ax.collections  # the contours
    with pytest.raises(ValueError, match="coords"):
        plot_trajectory(run2d, lambda x: 0.0, coords=(0, 0))
    unrecorded = dynopt.minimize(quad([1.0, 8.0]), np.ones(2), method="heavy_ball", jac=True)
    with pytest.raises(ValueError, match="record"):
        plot_trajectory(unrecorded, lambda x: 0.0)


def test_energies_log_scale_and_thermostat():
    res = dynopt.minimize(quad([1.0, 4.0]), np.ones(2), method="nose_hoover", jac=True,
                          options={"dt": 0.05, "record": True, "gtol": 0.0, "maxiter": 200})
    fig = plot_energies(res)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = [ln.get_label() for ln in ax.lines]
    assert labels == ["potential", "kinetic", "thermostat", "total"]
    # the drawn total is kinetic + potential + thermostat, as recorded
    total = ax.lines[3].get_ydata()
    parts = sum(np.asarray(res.trajectory[k]) for k in ("potential", "kinetic", "thermostat"))
    np.testing.assert_allclose(total, parts, rtol=1e-12)
    with pytest.raises(ValueError, match="no"):
        plot_energies(res, names=["nonsense"])


def test_rate_sweep_marks_the_regimes():
    table = sweep_rates("heavy_ball", zetas=[0.3, 1.0, 3.0], options={"lr": 0.05, "momentum": 0.5},
                        steps=600)
    fig = plot_rate_sweep(table)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    for want in ("predicted (one-step map)", "observed", "underdamped", "overdamped", "critical"):
        assert want in labels
    order = np.argsort(table.column("damping_ratio"))
    np.testing.assert_allclose(ax.lines[0].get_ydata(),
                               np.abs(1 - table.column("predicted")[order]))
    np.testing.assert_allclose(ax.lines[2].get_ydata(), np.abs(1 - table.column("observed")[order]))
    with pytest.raises(KeyError):
        plot_rate_sweep(RateTable(table.rows, "x"), x="missing")


def test_stability_region_boundary_matches_the_closed_form():
    lr = 0.1
    moms = np.linspace(0.0, 0.9, 10)
    fig = plot_stability_region("heavy_ball", options={"lr": lr}, parameter="momentum",
                                values=moms, hl_max=4.5, samples=450)
    ax = fig.axes[0]
    # the rho = 1 contour lies on h*lambda = lr*lambda = 2(1 + momentum)
    verts = np.concatenate([p.vertices for p in ax.collections[-1].get_paths()])
    on_rows = np.isclose(verts[:, 1][:, None], moms[None, :], atol=1e-9).any(axis=1)
    assert on_rows.sum() >= len(moms) - 1  # (between rows the contour is interpolated)
    np.testing.assert_allclose(verts[on_rows, 0], 2 * (1 + verts[on_rows, 1]), atol=0.011)
    line = plot_stability_region("damped_oscillator", "explicit_euler", options={"dt": 0.1},
                                 hl_max=1.0)
    assert isinstance(line, Figure)
    with pytest.raises(ValueError, match="parameter"):
        plot_stability_region("heavy_ball", parameter="bogus", values=[0.5])


def test_every_notebook_is_collected():
    assert NOTEBOOK in NOTEBOOKS and len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_errors(monkeypatch, notebook):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # the kernel inherits the environment: a headless MPLBACKEND=Agg (as in CI) would keep
    # the notebook's figures out of its outputs, so the kernel gets the inline backend
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()  # raises CellExecutionError on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= MIN_IMAGES.get(notebook.name, 3)
