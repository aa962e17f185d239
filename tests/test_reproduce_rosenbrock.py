"""The Rosenbrock-100D reproduction (FANoS paper's table) at its quick size, and its parts."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.optimize as so

import dynopt
from dynopt.cli import main as cli_main
from dynopt.reproduce import reproduce
from dynopt.reproduce import rosenbrock as R

QUICK = R.PLANS["quick"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("rosenbrock")
    report = reproduce("rosenbrock", size="quick", out=out, workers=1, progress=False)
    return report, out


# ------------------------------------------------------------------ starts
def test_paper_starts_file():
    starts = R.paper_starts()
    assert starts.shape == (10, 100)
    assert starts.dtype == np.float64
    assert np.all(starts >= -2.0) and np.all(starts <= 2.0)
    # float32 draws stored as float64: every entry is a float32 value
    np.testing.assert_array_equal(starts, starts.astype(np.float32).astype(np.float64))
    assert len({row.tobytes() for row in starts}) == 10
    # spread like U(-2, 2): mean near 0, variance near 4/3 (1000 draws)
    assert abs(starts.mean()) < 0.15
    assert abs(starts.var() - 4.0 / 3.0) < 0.2


def test_fresh_starts_are_seeded_uniform_and_new():
    a, b = R.fresh_starts(3), R.fresh_starts(3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[1], np.random.default_rng(1).uniform(-2, 2, 100))
    assert not np.any(np.all(np.isclose(a[:, None, :], R.paper_starts()[None]), axis=-1))
    with pytest.raises(ValueError, match="seeds"):
        R.start_points("paper", 11)
    with pytest.raises(ValueError, match="starts"):
        R.start_points("gaussian", 2)


# ------------------------------------------------------------------ aggregation
def _rec(method, lr, seed, final_loss, run_status, status="ok", starts="paper"):
    return {"starts": starts, "method": method, "lr": lr, "seed": seed, "status": status,
            "final_loss": final_loss, "run_status": run_status, "nfev": 10}


def test_counted_loss():
    assert R.counted_loss(0.5, 1) == 0.5
    assert R.counted_loss(0.5, 4) == R.DIVERGED_LOSS == 1e9
    assert R.counted_loss(0.5, 3) == 1e9
    assert R.counted_loss(float("nan"), 1) == 1e9
    assert R.counted_loss(2.0, 0) == 2.0


def test_aggregation_counts_diverged_runs_as_1e9():
    records = [
        # method a: lr 0.1 has a diverged run whose returned (best) loss is small
        _rec("a", 0.1, 0, 1.0, 1), _rec("a", 0.1, 1, 0.5, 4),
        _rec("a", 0.01, 0, 2.0, 1), _rec("a", 0.01, 1, 3.0, 1),
        # method b: its only rate has one NaN run
        _rec("b", 0.1, 0, float("nan"), 3), _rec("b", 0.1, 1, 10.0, 1),
        # a failed point is ignored and reported
        _rec("b", 0.01, 0, None, None, status="failed"),
        _rec("b", 0.01, 1, None, None, status="failed"),
    ]
    rows = {r["method"]: r for r in R.aggregate(records)}
    a, b = rows["a"], rows["b"]
    assert a["best_lr"] == 0.01           # (1 + 1e9)/2 loses against 2.5
    assert a["mean"] == pytest.approx(2.5)
    assert a["diverged"] == 0 and a["diverged_all"] == 1 and a["runs_all"] == 4
    assert (a["min"], a["max"]) == (2.0, 3.0)
    assert a["ci_low"] <= a["mean"] <= a["ci_high"]
    assert b["best_lr"] == 0.1
    assert b["mean"] == pytest.approx((1e9 + 10.0) / 2)
    assert b["diverged"] == 1 and b["max"] == 1e9 and b["min"] == 10.0
    assert b["failed_points"] == [0.01]
    assert a["failed_points"] == []


def test_aggregation_group_with_only_failures():
    rows = R.aggregate([_rec("c", 0.1, 0, None, None, status="failed")])
    assert rows[0]["method"] == "c" and rows[0]["mean"] is None and rows[0]["n"] == 0


# ------------------------------------------------------------------ runs
def test_batched_starts_run_independently():
    both = R.run_point("paper", "fanos", 3e-2, seeds=2, evaluations=60)
    first = R.run_point("paper", "fanos", 3e-2, seeds=1, evaluations=60)
    assert both["final_loss"][0] == pytest.approx(first["final_loss"][0], rel=1e-12)
    assert np.all(np.asarray(both["nfev"]) == 60)


def test_fire_dtmax_is_tied_to_the_swept_step():
    assert R.tied_parameters("fire", 3e-3) == {"dtmax": pytest.approx(10 * 3e-3)}
    assert R.tied_parameters("fire", 3e-3, dtmax_ratio=None) == {}
    assert R.tied_parameters("fanos", 3e-2) == {} and R.tied_parameters("fire2", 3e-3) == {}
    with pytest.raises(ValueError, match="dtmax_ratio"):
        R.tied_parameters("fire", 3e-3, dtmax_ratio=0.5)
    # two of the paper's starts, 1000 evaluations: with ASE's atomistic dtmax = 1.0 FIRE's step
    # outgrows the Rosenbrock valley and the loss stays large; tied to dt it converges
    tied = R.run_point("paper", "fire", 3e-3, seeds=2, evaluations=1000)
    ase_default = R.run_point("paper", "fire", 3e-3, seeds=2, evaluations=1000,
                              dtmax_ratio=None)
    assert np.max(tied["final_loss"]) < 1e-4
    assert np.min(ase_default["final_loss"]) > 10.0
    # the tied run is FIRE with dtmax = 0.03 given by hand
    from dynopt.problems import rosenbrock_fun_and_grad
    by_hand = dynopt.minimize(rosenbrock_fun_and_grad, R.paper_starts()[:2], jac=True,
                              method="fire", options={"dt": 3e-3, "dtmax": 0.03, "maxiter": 999,
                                                      "gtol": 0.0, "vectorized": True})
    np.testing.assert_allclose(tied["final_loss"], by_hand.fun, rtol=1e-12)


def test_quick_fire_rows_say_dtmax_is_tied(quick):
    report, _ = quick
    assert report.meta["dtmax_ratio"] == R.DTMAX_RATIO == 10
    for row in report.rows:
        if row["method"] == "fire":
            assert row["swept"] == "dt (dtmax = 10 dt)"
    assert any("dtmax = 10 dt" in note for note in report.notes)


def _adamw_reference(x, lr, steps, clip=None, wd=1e-2, b1=0.9, b2=0.999, eps=1e-8):
    """AdamW as torch.optim.AdamW documents it, on scipy's Rosenbrock."""
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for t in range(1, steps + 1):
        g = so.rosen_der(x)
        if clip is not None:
            g = g * min(1.0, clip / (np.linalg.norm(g) + 1e-6))
        x = x * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return so.rosen(x)


def test_quick_report_files_and_rows(quick):
    report, out = quick
    for suffix in (".json", ".csv", "_runs.csv", ".txt"):
        assert (out / f"rosenbrock{suffix}").stat().st_size > 0
    assert len(report.figures) == 2
    for path in report.figures:
        assert path.read_bytes()[:8] == PNG_MAGIC
    data = json.loads((out / "rosenbrock.json").read_text())
    grid_names = R.method_names()
    assert set(grid_names) >= {m for m in dynopt.METHODS if R.step_parameter(m)} | {R.LBFGS}
    names = grid_names + R.tuned_rows(QUICK)
    n_points = sum(1 if m == R.LBFGS else len(QUICK["lrs"]) for m in grid_names)
    n_tuned = len(R.tuned_rows(QUICK)) * len(QUICK["tuned_sections"])
    assert len(data["records"]) == (n_points * len(QUICK["sections"]) + n_tuned) * QUICK["seeds"]
    assert all(r["status"] == "ok" for r in data["records"])
    for section in QUICK["sections"]:
        got = [r["method"] for r in data["rows"] if r["starts"] == section]
        with_tuned = section in QUICK["tuned_sections"]
        assert sorted(got) == sorted(names if with_tuned else grid_names)
    table = (out / "rosenbrock.txt").read_text()
    for name in names:
        assert name in table
    assert data["complete"] is True


def test_quick_rows_agree_with_records(quick):
    report, _ = quick
    for row in report.rows:
        runs = [r for r in report.records if r["starts"] == row["starts"]
                and r["method"] == row["method"]]
        means = {}
        for lr in {r["lr"] for r in runs}:
            vals = [1e9 if r["run_status"] in (3, 4) else r["final_loss"]
                    for r in runs if r["lr"] == lr]
            means[lr] = float(np.mean(vals))
        assert row["mean"] == pytest.approx(min(means.values()), rel=1e-12)
        assert means[row["best_lr"]] == pytest.approx(row["mean"], rel=1e-12)
        best = [r for r in runs if r["lr"] == row["best_lr"]]
        assert row["diverged"] == sum(r["run_status"] in (3, 4) for r in best)


@pytest.mark.parametrize("method, clip", [("adamw", None), (R.ADAMW_CLIP, 1.0)])
def test_quick_adamw_matches_a_handwritten_adamw(quick, method, clip):
    """Budget (E-1 updates), start and clipping against an independent AdamW loop."""
    report, _ = quick
    lr = 1e-2
    rec = next(r for r in report.records if r["starts"] == "paper" and r["method"] == method
               and r["lr"] == lr and r["seed"] == 0)
    expected = _adamw_reference(R.paper_starts()[0], lr, QUICK["evaluations"] - 1, clip=clip)
    assert rec["final_loss"] == pytest.approx(expected, rel=1e-9)
    assert rec["nfev"] == QUICK["evaluations"]


def test_quick_lbfgs_matches_scipy(quick):
    """The L-BFGS-B row is SciPy's L-BFGS-B from the section's start under the budget.

    The objective is dynopt's Rosenbrock: L-BFGS-B amplifies the last-bit
    differences between it and ``scipy.optimize.rosen_der`` into visibly
    different iterates within a few hundred evaluations.
    """
    from dynopt.problems import rosenbrock_fun_and_grad
    report, _ = quick
    rec = next(r for r in report.records if r["starts"] == "fresh" and r["method"] == R.LBFGS
               and r["seed"] == 1)
    x0 = np.random.default_rng(1).uniform(-2, 2, 100)
    with R.single_threaded_blas():
        ref = so.minimize(rosenbrock_fun_and_grad, x0, jac=True, method="L-BFGS-B",
                          options={"maxfun": QUICK["evaluations"],
                                   "maxiter": QUICK["evaluations"]})
    assert rec["final_loss"] == ref.fun
    assert rec["nfev"] == ref.nfev


def test_quick_curves_for_best_settings(quick):
    report, _ = quick
    curves = report.meta["curves"]
    for row in report.rows:
        c = curves[row["starts"]][row["method"]]
        assert c["lr"] == row["best_lr"]
        assert c["evaluations"][0] == 1 and c["evaluations"][-1] == QUICK["evaluations"]
        x0 = R.start_points(row["starts"], QUICK["seeds"])
        assert c["median"][0] == pytest.approx(np.median(so.rosen(x0.T)), rel=1e-12)


def test_cli_quick(tmp_path, capsys, monkeypatch):
    # the tuned rows are checked on the fixture's run; here only the command line
    monkeypatch.setitem(R.PLANS, "quick", {**QUICK, "tuned": (), "retuned": ()})
    code = cli_main(["reproduce", "rosenbrock", "--quick", "--out", str(tmp_path),
                     "--no-progress", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "best_lr" in printed and "fanos" in printed
    data = json.loads((tmp_path / "rosenbrock.json").read_text())
    assert data["records"] and data["rows"]
    assert (tmp_path / "rosenbrock_final.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "rosenbrock_curves.png").read_bytes()[:8] == PNG_MAGIC


def test_failing_point_is_marked_and_others_report(tmp_path, monkeypatch):
    real = R.run_point

    def flaky(starts, method, lr, **kw):
        if method == "adam" and lr == 1e-2:
            raise RuntimeError("boom")
        return real(starts, method, lr, **kw)

    monkeypatch.setattr(R, "run_point", flaky)
    monkeypatch.setattr(R, "method_names", lambda: ["gd", "adam", R.LBFGS])
    monkeypatch.setitem(R.PLANS, "quick", {**QUICK, "tuned": (), "retuned": ()})
    report = reproduce("rosenbrock", size="quick", seeds=1, out=tmp_path, workers=1,
                       progress=False)
    failed = [r for r in report.records if r["status"] == "failed"]
    assert failed and all(r["method"] == "adam" and r["lr"] == 1e-2 for r in failed)
    assert all("RuntimeError: boom" in r["error"] for r in failed)
    ok_adam = [r for r in report.records if r["method"] == "adam" and r["status"] == "ok"]
    assert {r["lr"] for r in ok_adam} == set(QUICK["lrs"]) - {1e-2}
    rows = [r for r in report.rows if r["method"] == "adam"]
    assert len(rows) == len(QUICK["sections"])
    assert all(r["best_lr"] != 1e-2 and math.isfinite(r["mean"]) for r in rows)
    assert all(r["failed_points"] == [1e-2] for r in rows)
    assert any("FAILED" in n and "boom" in n for n in report.notes)
    assert report.complete
    saved = json.loads((tmp_path / "rosenbrock.json").read_text())
    assert sum(r["status"] == "failed" for r in saved["records"]) == len(failed)


# ------------------------------------------------------------------ tuned rows (no grid)
def test_tuned_names_round_trip():
    assert R.tuned_name("heavy_ball") == "heavy_ball (tuned)"
    assert R.tuned_spec("heavy_ball (tuned)") == ("heavy_ball", None)
    assert R.tuned_spec(R.tuned_name("nesterov", 300)) == ("nesterov", 300)
    for name in ("heavy_ball", R.ADAMW_CLIP, R.LBFGS, "gd (tuned every x)", None):
        assert R.tuned_spec(name) is None
    from dynopt.tuning import TUNABLE
    assert set(R.TUNED) <= set(TUNABLE)


def test_quick_tuned_rows_exist_beside_the_grid_rows(quick):
    report, _ = quick
    tuned = R.tuned_rows(QUICK)
    assert tuned == ["heavy_ball (tuned)", f"heavy_ball (tuned every {QUICK['tune_every']})"]
    assert QUICK["tuned_sections"] == ("paper",)
    for section in QUICK["tuned_sections"]:
        rows = {r["method"]: r for r in report.rows if r["starts"] == section}
        assert "heavy_ball" in rows                                  # the grid row beside them
        for name in tuned:
            row = rows[name]
            assert row["best_lr"] is None and row["swept"].startswith("none (tuned at x0")
            assert row["mean"] is not None and row["n"] == QUICK["seeds"]
            runs = [r for r in report.records if r["starts"] == section and r["method"] == name]
            assert len(runs) == QUICK["seeds"] and {r["lr"] for r in runs} == {None}
            assert row["tune_evals"] == pytest.approx(np.mean([r["tune_nfev"] for r in runs]))
            for r in runs:
                assert 0 < r["tune_nfev"] < r["nfev"] <= QUICK["evaluations"]
    assert any("Target (paper starts" in n for n in report.notes)


def test_quick_x0_tuned_row_spends_the_budget_exactly(quick):
    """Tuned at x0 only: the estimate, the evaluation at x0 and one per step are the budget."""
    report, _ = quick
    for r in report.records:
        if r["method"] == "heavy_ball (tuned)":
            assert r["estimates"] == 1
            assert r["nfev"] == QUICK["evaluations"]
            assert r["tune_nfev"] + 1 + r["nit"] == QUICK["evaluations"]


@pytest.mark.parametrize("every", [None, 30])
def test_tuned_point_counts_every_evaluation_and_uses_no_grid(monkeypatch, every):
    """Counted independently: every call of the objective, and the options the run got."""
    import dynopt.problems
    calls = [0]
    rosen = dynopt.problems.rosenbrock_fun_and_grad

    def counted(x):
        calls[0] += 1
        return rosen(x)

    seen = []
    minimize = dynopt.minimize

    def spy(fun, x0, **kwargs):
        seen.append(dict(kwargs["options"]))
        return minimize(fun, x0, **kwargs)

    monkeypatch.setattr(dynopt.problems, "rosenbrock_fun_and_grad", counted)
    monkeypatch.setattr(dynopt, "minimize", spy)
    E = 90
    out = R.run_tuned_point("paper", R.tuned_name("heavy_ball", every), seeds=1, evaluations=E)
    (opts,) = seen
    assert opts["tune"] is True and opts.get("tune_every") == every
    assert not {"lr", "momentum"} & set(opts)                  # chosen by tune, not given
    nfev, nit, spent = out["nfev"][0], out["nit"][0], out["tune_nfev"][0]
    # the calls: the x0 estimate's cost measured beforehand (as many as the run's own
    # estimate at x0), f(x0) for the curve, then the run itself
    x0_cost = calls[0] - 1 - nfev
    assert x0_cost > 0 and opts["maxfev"] == E - x0_cost
    assert nfev <= E and nfev == spent + 1 + nit
    if every is None:
        assert nfev == E and spent == x0_cost and out["estimates"][0] == 1
    else:
        assert out["estimates"][0] == 1 + min(nit, E) // every or out["run_status"][0] in (3, 4)
        assert spent > x0_cost or out["estimates"][0] == 1


def test_tuned_point_refuses_a_grid_name():
    with pytest.raises(ValueError, match="tuned row"):
        R.run_tuned_point("paper", "heavy_ball", seeds=1, evaluations=50)
