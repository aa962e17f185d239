"""The PINN warm-start reproduction (FANoS through dynopt.torch against torch.optim AdamW,
SGD with momentum and L-BFGS) at its quick size, and the checks that its losses are honest."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dynopt.reproduce import reproduce  # noqa: E402
from dynopt.reproduce import pinn as P  # noqa: E402
from dynopt.reproduce.base import RUNLOG_SUFFIX  # noqa: E402
from dynopt.reproduce.pinn import problems as PR  # noqa: E402

QUICK = P.PLANS["quick"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAME = "pinn"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("pinn") / "results"
    report = reproduce(NAME, size="quick", out=out, workers=1, progress=False)
    return report, out


# ------------------------------------------------------------------ files and rows
def test_quick_writes_its_files_and_rows(quick):
    report, out = quick
    for suffix in (".json", ".csv", "_runs.csv", ".txt", RUNLOG_SUFFIX):
        assert (out / f"{NAME}{suffix}").stat().st_size > 0
    for fig in ("final", "curves"):
        assert (out / f"{NAME}_{fig}.png").read_bytes()[:8] == PNG_MAGIC
    data = json.loads((out / f"{NAME}.json").read_text())
    assert data["complete"] is True
    assert [(r["problem"], r["method"]) for r in data["rows"]] == \
        [(p, m) for p in QUICK["problems"] for m in ("fanos", "adamw", "sgd_momentum", "lbfgs")]
    n_runs = sum(len(P.grid_of(m, "quick")) for m in P.row_names()) * QUICK["seeds"] \
        * len(QUICK["problems"])
    assert len(data["records"]) == n_runs
    assert all(r["status"] == "ok" for r in data["records"])
    header = (out / f"{NAME}.csv").read_text().splitlines()[0].split(",")
    assert header == P.COLUMNS
    text = (out / f"{NAME}.txt").read_text()
    for method in P.row_names():
        assert method in text
    fanos = next(r for r in data["rows"] if r["method"] == "fanos")
    assert fanos["held"] in ("held", "partly", "not held") and fanos["paper"]
    assert "Paper: " + P.CLAIM in text


def test_numbers_are_finite_and_budgets_kept(quick):
    report, _ = quick
    for rec in report.records:
        for key in ("init_loss", "warm_loss", "peak_ratio", "warm_rel_l2"):
            assert math.isfinite(rec[key]) and rec[key] > 0
        if not rec["diverged"]:
            assert math.isfinite(rec["final_loss"]) and rec["final_loss"] >= 0
            assert math.isfinite(rec["rel_l2"]) and rec["rel_l2"] >= 0
        assert rec["warm_loss"] < rec["init_loss"]          # the warm start did train
        if rec["method"] == "lbfgs":
            assert 1 <= rec["nfev"] <= QUICK["evaluations"]
        else:
            assert rec["nfev"] == QUICK["evaluations"]
        assert rec["peak_ratio"] >= 1.0 - 1e-12             # its first loss is the warm one
    for row in report.rows:
        assert row["n"] == QUICK["seeds"]
        for key in ("loss", "median", "warm_loss", "rel_l2"):
            assert math.isfinite(row[key])


def test_rows_recomputed_from_the_records(quick):
    report, _ = quick
    recs = report.records
    for row in report.rows:
        mine = [r for r in recs if r["problem"] == row["problem"]
                and r["method"] == row["method"]]
        means = {}
        for r in mine:
            loss = 1e9 if r["final_loss"] is None else r["final_loss"]
            means.setdefault(r["lr"], []).append(loss)
        best = min(means, key=lambda k: np.mean(means[k]))
        assert row["lr"] == best
        chosen = [r for r in mine if r["lr"] == best]
        assert row["loss"] == pytest.approx(np.mean([r["final_loss"] for r in chosen]))
        assert row["worse"] == pytest.approx(
            np.mean([r["final_loss"] > r["warm_loss"] for r in chosen]))
        logs = np.log10([r["final_loss"] for r in chosen])
        assert row["sd_log10"] == pytest.approx(np.std(logs, ddof=1))
    # every optimizer of a seed continues the very same warm start
    for seed in range(QUICK["seeds"]):
        warm = {r["warm_loss"] for r in recs if r["seed"] == seed}
        assert len(warm) == 1


def test_verdict_needs_a_clearly_larger_spread_and_more_bad_runs():
    def rows(sd_fanos, worse_fanos, sd_other=0.2, worse_other=0.0):
        out = [{"problem": "p", "method": "fanos", "n": 5, "sd_log10": sd_fanos,
                "worse": worse_fanos}]
        for m in ("adamw", "sgd_momentum", "lbfgs"):
            out.append({"problem": "p", "method": m, "n": 5, "sd_log10": sd_other,
                        "worse": worse_other})
        return out
    held = P.verdicts(rows(0.5, 0.4), ["p"])["p"]
    assert (held["variance"], held["unstable"], held["held"]) == (True, True, "held")
    assert P.verdicts(rows(0.21, 0.4), ["p"])["p"]["held"] == "partly"   # 0.21 < 2 x 0.2
    assert P.verdicts(rows(0.5, 0.0), ["p"])["p"]["held"] == "partly"
    assert P.verdicts(rows(0.1, 0.2, worse_other=0.2), ["p"])["p"]["held"] == "not held"
    assert P.verdicts(rows(0.5, 0.4)[1:], ["p"])["p"] is None


# ------------------------------------------------------------------ the losses are honest
def test_exact_poisson_solution_has_zero_residual_and_loss():
    prob = PR.problem("poisson")
    pts = prob.points(0, "default")
    r = prob.residual(prob.exact_torch, pts["interior"])
    assert float(r.detach().abs().max()) < 1e-9
    assert float(prob.loss(prob.exact_torch, pts).detach()) < 1e-18
    # a function off by 0.01 x^2 has residual 0.02 everywhere (u'' of 0.01 x^2)
    r2 = prob.residual(lambda z: prob.exact_torch(z) + 0.01 * z[:, 0] ** 2, pts["interior"])
    assert np.allclose(r2.detach().numpy(), 0.02, atol=1e-9)
    # the residual is u'' - f: f = -4 pi^2 sin(2 pi x), so u = 0 leaves -f
    x = pts["interior"][:, 0]
    r0 = prob.residual(lambda z: 0.0 * z[:, 0], pts["interior"])
    assert np.allclose(r0.detach().numpy(), (4 * np.pi ** 2 * torch.sin(2 * np.pi * x)).numpy())


def test_exact_heat_solution_has_zero_residual_and_loss():
    prob = PR.problem("heat")
    pts = prob.points(1, "small")
    assert float(prob.residual(prob.exact_torch, pts["interior"]).detach().abs().max()) < 1e-9
    assert float(prob.loss(prob.exact_torch, pts).detach()) < 1e-18


def test_burgers_reference_satisfies_the_equation_away_from_the_shock():
    x = np.linspace(-1, 1, 401)
    h = 1e-4
    u = PR.burgers_reference(x, np.array([0.3 - h, 0.3, 0.3 + h]))
    assert np.allclose(PR.burgers_reference(x, np.array([0.0]))[:, 0], -np.sin(np.pi * x))
    assert np.abs(u[[0, -1], :]).max() < 1e-12                        # u(+-1, t) = 0
    u_t = (u[:, 2] - u[:, 0]) / (2 * h)
    u_x = np.gradient(u[:, 1], x)
    u_xx = np.gradient(u_x, x)
    r = u_t + u[:, 1] * u_x - PR.NU * u_xx
    away = np.abs(x) > 0.3
    assert np.abs(r[away][2:-2]).max() < 1e-3
    assert np.all(u[x < -0.05, 1] > 0) and np.all(u[x > 0.05, 1] < 0)  # the wave steepens


def test_points_depend_on_the_seed_only():
    prob = PR.problem("burgers")
    a, b, c = prob.points(3), prob.points(3), prob.points(4)
    assert torch.equal(a["interior"], b["interior"])
    assert not torch.equal(a["interior"], c["interior"])
    z = a["boundary"]
    lo, hi = prob.bounds[0]
    on = (z[:, 1] == 0) | (z[:, 0] == lo) | (z[:, 0] == hi)
    assert bool(on.all())


# ------------------------------------------------------------------ runs and folders
def test_a_second_run_does_not_overwrite_a_complete_one(quick, monkeypatch):
    report, out = quick
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"}
    calls = []
    real = P.run_point

    def watched(problem, method, lr, seed, **kw):
        calls.append((problem, method, lr, seed))
        return real(problem, method, lr, seed, **kw)

    monkeypatch.setattr(P, "run_point", watched)
    again = reproduce(NAME, size="quick", out=out, workers=1, progress=False)
    assert calls == [] and again.complete
    assert again.meta["reused_runs"] == len(report.records)
    assert json.loads((out / f"{NAME}.json").read_text())["rows"] == \
        json.loads(before[f"{NAME}.json"])["rows"]
    other = reproduce(NAME, size="quick", seeds=1, out=out, workers=1, progress=False)
    assert other.meta["out"] == str(out.resolve().with_name(out.name + "-2"))
    assert "holds an earlier pinn run" in other.meta["output"]
    assert len(calls) == len(P.row_names())
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"}
    assert after[f"{NAME}{RUNLOG_SUFFIX}"] == before[f"{NAME}{RUNLOG_SUFFIX}"]
    assert after[f"{NAME}_runs.csv"] == before[f"{NAME}_runs.csv"]


def test_bad_input_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match="method"):
        P.run_point("poisson", "adam", 1e-3, 0, warm_steps=1, evaluations=1)
    with pytest.raises(ValueError, match="lr"):
        P.run_point("poisson", "adamw", -1.0, 0, warm_steps=1, evaluations=1)
    with pytest.raises(ValueError, match="lr"):
        P.run_point("poisson", "lbfgs", 0.1, 0, warm_steps=1, evaluations=1)
    with pytest.raises(ValueError, match="problem"):
        P.problem("wave")
    with pytest.raises(ValueError, match="line_search"):
        P.run_point("poisson", "lbfgs", None, 0, warm_steps=1, evaluations=1,
                    line_search="armijo")
    with pytest.raises(ValueError, match="problems"):
        reproduce(NAME, size="quick", out=tmp_path, progress=False,
                  options={"problems": "poisson,wave"})
    with pytest.raises(ValueError, match="size"):
        P.grid_of("fanos", "huge")


def test_missing_torch_names_the_extra(tmp_path, monkeypatch):
    import importlib.util
    import sys
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ImportError, match=r"pinn reproduction needs torch.*"
                                          r"dynopt-physics\[torch\]"):
        reproduce(NAME, size="quick", out=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())
    monkeypatch.setitem(sys.modules, "torch", None)      # `import torch` fails
    with pytest.raises(ImportError, match=r"dynopt-physics\[torch\]"):
        P.run_point("poisson", "adamw", 1e-3, 0, warm_steps=1, evaluations=1)
