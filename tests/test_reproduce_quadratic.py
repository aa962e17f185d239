"""The ill-conditioned quadratics reproduction at its quick size, and its analytic rates."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import dynopt
from dynopt.cli import main as cli_main
from dynopt.reproduce import reproduce
from dynopt.reproduce import quadratic as Q

QUICK = Q.PLANS["quick"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REGISTERED = [m for m in Q.METHODS if m in dynopt.METHODS]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("quadratic")
    report = reproduce("quadratic", size="quick", out=out, workers=1, progress=False)
    return report, out


def test_quick_report_files_and_rows(quick):
    report, out = quick
    for suffix in (".json", ".csv", "_runs.csv", ".txt"):
        assert (out / f"quadratic{suffix}").stat().st_size > 0
    assert [p.read_bytes()[:8] for p in report.figures] == [PNG_MAGIC]
    data = json.loads((out / "quadratic.json").read_text())
    assert len(data["records"]) == (len(Q.KAPPAS) * len(REGISTERED) * len(QUICK["lrs"])
                                    * QUICK["seeds"])
    assert all(r["status"] == "ok" for r in data["records"])
    got = {(r["kappa"], r["method"]) for r in data["rows"]}
    assert got == {(k, m) for k in Q.KAPPAS for m in REGISTERED}
    for kappa in data["meta"]["curves"]:
        assert set(data["meta"]["curves"][kappa]) == set(REGISTERED)
    assert data["complete"] is True


def _gd_closed_form(problem, x0, lr, steps):
    """f after ``steps`` gradient-descent steps: 1/2 sum_i lam_i (1 - lr lam_i)^(2K) z_i^2."""
    lam = problem.eigenvalues
    z = problem.rotation @ (x0 - problem.minimizer)
    return 0.5 * np.sum(lam * (1.0 - lr * lam) ** (2 * steps) * z**2)


def test_quick_gd_runs_match_the_closed_form(quick):
    report, _ = quick
    checked = 0
    for rec in report.records:
        if rec["method"] != "gd":
            continue
        problem = Q.make_problem(QUICK["dim"], rec["kappa"], rec["seed"])
        x0 = Q.start(QUICK["dim"], rec["seed"])
        expected = _gd_closed_form(problem, x0, rec["lr"], QUICK["steps"])
        assert rec["final_loss"] == pytest.approx(expected, rel=1e-7, abs=1e-300)
        assert rec["f0"] == pytest.approx(0.5 * x0 @ problem.hessian @ x0, rel=1e-12)
        checked += 1
    assert checked == len(Q.KAPPAS) * len(QUICK["lrs"]) * QUICK["seeds"]


def test_quick_rows_rates_and_spread(quick):
    report, _ = quick
    for row in report.rows:
        vals = [1e9 if r["run_status"] in (3, 4) else r["final_loss"] for r in report.records
                if (r["kappa"], r["method"], r["lr"]) == (row["kappa"], row["method"],
                                                          row["best_lr"])]
        assert row["mean"] == pytest.approx(np.mean(vals), rel=1e-12)
        assert row["sd_log10"] == pytest.approx(np.std(np.log10(vals), ddof=1), rel=1e-9)
        if row["method"] in ("gd", "heavy_ball", "nesterov"):
            lam = Q.make_problem(QUICK["dim"], row["kappa"], 0).eigenvalues
            mom = 0.0 if row["method"] == "gd" else 0.9
            rate = Q.closed_form_rates(row["method"], row["best_lr"], lam, momentum=mom).max()
            assert row["rate"] == pytest.approx(rate, rel=1e-9)
            assert row["steps_1e-6"] == Q.steps_to_target(rate)
        else:
            assert row["rate"] is None and row["steps_1e-6"] is None


def _observed_rate(method, lr, lam, momentum, steps=4000, window=2000, span=100):
    """Per-step contraction of the envelope of |x| on f = lam x^2 / 2.

    The envelope is max |x| over ``span`` steps (complex roots make |x| oscillate),
    compared at the end and ``window`` steps earlier.
    """
    opts = {"lr": lr, "maxiter": steps, "gtol": 0.0, "record": True, "divergence": None}
    if method != "gd":
        opts["momentum"] = momentum
    res = dynopt.minimize(lambda x: (0.5 * lam * x @ x, lam * x), np.array([1.0]), jac=True,
                          method=method, options=opts)
    x = np.abs(res.trajectory["x"][:, 0])
    late, early = x[-span:].max(), x[-span - window:-window].max()
    return (late / early) ** (1.0 / window)


@pytest.mark.parametrize("method, lr, lam, momentum", [
    ("gd", 0.5, 0.01, 0.0),
    ("gd", 1.0, 1.995, 0.0),
    ("heavy_ball", 0.1, 0.01, 0.5),      # real roots, overdamped
    ("heavy_ball", 0.1, 1.0, 0.9),       # complex roots, |root| = sqrt(momentum)
    ("nesterov", 0.1, 0.01, 0.5),
])
def test_closed_form_rates_match_runs(method, lr, lam, momentum):
    predicted = Q.closed_form_rates(method, lr, [lam], momentum=momentum)[0]
    observed = _observed_rate(method, lr, lam, momentum)
    assert observed == pytest.approx(predicted, rel=2e-3)


def test_closed_form_rates_agree_with_dynopt_analysis():
    discrete = pytest.importorskip("dynopt.analysis.discrete")
    lam = np.geomspace(1e-6, 1.0, 9)
    for method, opts in (("gd", {"lr": 0.7}), ("heavy_ball", {"lr": 0.3, "momentum": 0.9}),
                         ("nesterov", {"lr": 0.3, "momentum": 0.9})):
        ours = Q.closed_form_rates(method, opts["lr"], lam, momentum=opts.get("momentum", 0.0))
        theirs = discrete.predicted_rates(method, lam, options=opts)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_steps_to_target():
    assert Q.steps_to_target(0.5) == 10              # 0.5**20 <= 1e-6 < 0.5**18
    assert 0.5 ** (2 * 10) <= 1e-6 < 0.5 ** (2 * 9)
    k = Q.steps_to_target(1 - 1e-4)
    assert (1 - 1e-4) ** (2 * k) <= 1e-6 < (1 - 1e-4) ** (2 * (k - 1))
    assert Q.steps_to_target(1.0) is None and Q.steps_to_target(None) is None
    with pytest.raises(ValueError, match="closed-form"):
        Q.closed_form_rates("adam", 0.1, [1.0])


def test_flatten_counts_diverged_runs_as_1e9():
    sweep = [
        {"kappa": 100.0, "method": "gd", "seed": 0, "status": "ok", "final_loss": [0.5, 2.0],
         "run_status": [4, 1], "nit": [3, 10], "nfev": [4, 11], "f0": 1.0},
        {"kappa": 100.0, "method": "gd", "seed": 1, "status": "ok", "final_loss": [1.0, 4.0],
         "run_status": [1, 1], "nit": [10, 10], "nfev": [11, 11], "f0": 1.0},
        {"kappa": 100.0, "method": "gd", "seed": 2, "status": "failed", "error": "X: y"},
    ]
    records = Q.flatten(sweep, (0.1, 1.0))
    assert len(records) == 6
    assert [r["counted_loss"] for r in records[:2]] == [1e9, 2.0]
    assert [r["status"] for r in records[4:]] == ["failed", "failed"]
    from dynopt.reproduce.rosenbrock import aggregate
    (row,) = aggregate(records, group_by=("kappa", "method"), over="lr")
    assert row["best_lr"] == 1.0 and row["mean"] == pytest.approx(3.0)
    assert row["diverged"] == 0 and row["diverged_all"] == 1 and row["runs_all"] == 4
    assert row["failed_points"] == [0.1, 1.0]


def test_cli_quick(tmp_path, capsys):
    code = cli_main(["reproduce", "quadratic", "--quick", "--out", str(tmp_path),
                     "--no-progress", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "steps_1e-6" in printed and "fanos" in printed
    data = json.loads((tmp_path / "quadratic.json").read_text())
    assert data["records"] and len(data["rows"]) == len(Q.KAPPAS) * len(REGISTERED)
    assert (tmp_path / "quadratic_curves.png").read_bytes()[:8] == PNG_MAGIC


def test_failing_point_is_marked_and_others_report(tmp_path, monkeypatch):
    real = Q.run_point

    def flaky(kappa, method, seed, **kw):
        if kappa == 1e4 and method == "gd" and seed == 0:
            raise RuntimeError("boom")
        return real(kappa, method, seed, **kw)

    monkeypatch.setattr(Q, "run_point", flaky)
    monkeypatch.setattr(Q, "METHODS", ("gd", "heavy_ball"))
    report = reproduce("quadratic", size="quick", out=tmp_path, workers=1, progress=False)
    failed = [r for r in report.records if r["status"] == "failed"]
    assert len(failed) == len(QUICK["lrs"])
    assert all((r["kappa"], r["method"], r["seed"]) == (1e4, "gd", 0) for r in failed)
    assert all("RuntimeError: boom" in r["error"] for r in failed)
    row = next(r for r in report.rows if (r["kappa"], r["method"]) == (1e4, "gd"))
    assert row["n"] == QUICK["seeds"] - 1 and math.isfinite(row["mean"])
    assert len(report.rows) == len(Q.KAPPAS) * 2
    assert any("FAILED" in n and "boom" in n for n in report.notes)
