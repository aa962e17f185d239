"""The condensation reproduction (KO through dynopt.torch against torch.optim SGD and Adam)
at its quick size, and the checks that its comparison is like with like."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dynopt.collisions import soft_collision  # noqa: E402
from dynopt.reproduce import reproduce  # noqa: E402
from dynopt.reproduce import condensation as C  # noqa: E402
from dynopt.reproduce.base import RUNLOG_SUFFIX  # noqa: E402

QUICK = C.PLANS["quick"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAME = "condensation"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("condensation") / "results"
    report = reproduce(NAME, size="quick", out=out, workers=1, progress=False)
    return report, out


def _cos(W):
    """Mean |cosine| over distinct row pairs, written out."""
    W = np.asarray(W, dtype=float)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    C_ = np.abs(U @ U.T)
    m = W.shape[0]
    return (C_.sum() - np.trace(C_)) / (m * (m - 1))


def _erank(W):
    s = np.linalg.svd(np.asarray(W, dtype=float), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


# ------------------------------------------------------------------ files and rows
def test_quick_writes_its_files_and_rows(quick):
    report, out = quick
    for suffix in (".json", ".csv", "_runs.csv", ".txt", RUNLOG_SUFFIX):
        assert (out / f"{NAME}{suffix}").stat().st_size > 0
    figures = [out / f"{NAME}_epochs.png", out / f"{NAME}_differences.png"]
    assert [p.read_bytes()[:8] for p in figures] == [PNG_MAGIC] * 2
    data = json.loads((out / f"{NAME}.json").read_text())
    assert data["complete"] is True
    want = [("init", None)] + [(r, lr) for r in C.row_names() for lr in C.grid_of(r, "quick")]
    assert [(r["method"], r["lr"]) for r in data["rows"]] == want
    assert {"sgd", "adam", "ko_sgd", "ko_adam"} <= set(C.row_names())
    n_runs = sum(len(C.grid_of(r, "quick")) for r in C.row_names()) * QUICK["seeds"]
    assert len(data["records"]) == n_runs
    assert all(r["status"] == "ok" and not r["diverged"] for r in data["records"])
    text = (out / f"{NAME}.txt").read_text()
    for row in C.row_names():
        assert row in text
    assert "held" in text and "paper" in text
    header = (out / f"{NAME}.csv").read_text().splitlines()[0].split(",")
    assert header == C.COLUMNS


def test_numbers_are_finite_and_in_range(quick):
    report, _ = quick
    for rec in report.records:
        assert 0.0 < rec["accuracy"] <= 1.0
        assert math.isfinite(rec["train_loss"]) and rec["train_loss"] > 0
        assert 0.0 <= rec["cos_W1"] <= 1.0 and 1.0 <= rec["erank_W1"] <= QUICK["hidden"]
        assert len(rec["cos_W1_epochs"]) == QUICK["epochs"] + 1
        assert rec["cos_W1_epochs"][0] == rec["cos_W1_init"]
        assert rec["cos_W1_epochs"][-1] == rec["cos_W1"]
    for row in report.rows[1:]:
        assert row["n"] == QUICK["seeds"]
        for key in ("acc", "cos_W1", "erank_W1", "train_loss"):
            assert math.isfinite(row[key])
        if row["method"].startswith("ko_"):
            for key in ("d_acc_pp", "d_cos", "d_erank"):
                assert math.isfinite(row[key])
            assert row["held"] in ("yes", "direction only", "no")


def test_rows_and_intervals_recomputed_from_the_records(quick):
    from scipy import stats
    report, _ = quick
    recs = {(r["method"], r["lr"], r["seed"]): r for r in report.records}
    for row in report.rows[1:]:
        runs = [recs[(row["method"], row["lr"], s)] for s in range(QUICK["seeds"])]
        acc = [r["accuracy"] for r in runs]
        assert row["acc"] == pytest.approx(np.mean(acc), abs=1e-15)
        assert row["cos_W1"] == pytest.approx(np.mean([r["cos_W1"] for r in runs]), abs=1e-15)
        cos = [r["cos_W1"] for r in runs]
        ci = stats.bootstrap((cos,), np.mean, n_resamples=10_000, method="percentile",
                             rng=np.random.default_rng(0)).confidence_interval
        assert row["cos_ci"] == f"[{ci.low:.4f}, {ci.high:.4f}]"
        base = C.ROWS[row["method"]].get("base_row")
        if base is not None:
            d = [recs[(row["method"], row["lr"], s)]["cos_W1"]
                 - recs[(base, row["lr"], s)]["cos_W1"] for s in range(QUICK["seeds"])]
            assert row["paired"]["cos_W1"]["values"] == pytest.approx(d, abs=0)
            assert row["d_cos"] == pytest.approx(np.mean(d), abs=1e-18)


def test_diversity_is_that_of_the_trained_weights():
    """A run trained again: its record's diversity is the written-out measure of its W1."""
    H, lr = QUICK["hidden"], C.grid_of("ko_adam", "quick")[0]
    run = C.train("ko_adam", lr, 1, hidden=H, epochs=QUICK["epochs"])
    rec = C.run_point("ko_adam", lr, 1, hidden=H, epochs=QUICK["epochs"])
    W1 = run["theta"][:64 * H].reshape(H, 64)
    W1_0 = run["theta0"][:64 * H].reshape(H, 64)
    assert rec["cos_W1"] == pytest.approx(_cos(W1), rel=1e-12)
    assert rec["erank_W1"] == pytest.approx(_erank(W1), rel=1e-12)
    assert rec["cos_W1_init"] == pytest.approx(_cos(W1_0), rel=1e-12)
    problem = run["problem"]
    h = np.tanh(problem.X_test @ W1.T + run["theta"][64 * H:64 * H + H])
    n2 = 64 * H + H
    W2 = run["theta"][n2:n2 + 10 * H].reshape(10, H)
    pred = np.argmax(h @ W2.T + run["theta"][n2 + 10 * H:], axis=1)
    assert rec["accuracy"] == pytest.approx(np.mean(pred == problem.y_test), abs=1e-15)


# ------------------------------------------------------------------ like with like
@pytest.mark.parametrize("ko, base", [("ko_sgd", "sgd"), ("ko_adam", "adam")])
def test_ko_without_collision_is_its_torch_optim_base(ko, base):
    """gamma_c = 0: dynopt.torch's KO and torch.optim's base give the same weights, so the
    pair differs by the collision only; with the row's gamma_c they differ."""
    lr = C.grid_of(base, "quick")[0]
    kw = {"hidden": QUICK["hidden"], "epochs": QUICK["epochs"]}
    ref = C.train(base, lr, 0, **kw)["theta"]
    plain = C.train(ko, lr, 0, overrides={"gamma_c": 0.0}, **kw)["theta"]
    start = C.make_problem(0, QUICK["hidden"]).init_params()
    assert np.max(np.abs(ref - start)) > 1e-2                     # it trained
    np.testing.assert_allclose(plain, ref, rtol=1e-12, atol=1e-13)
    collided = C.train(ko, lr, 0, **kw)["theta"]
    assert np.max(np.abs(collided - ref)) > 1e-9


def test_ko_on_sgd_is_the_soft_collision_of_both_weight_matrices_then_sgd():
    """KO on SGD written out: each minibatch's gradient of W1 and of W2 rewritten by
    dynopt.collisions.soft_collision (biases untouched), then p <- p - lr g."""
    H, E = QUICK["hidden"], 1
    lr = C.grid_of("ko_sgd", "quick")[0]
    gamma = C.ROWS["ko_sgd"]["options"]["gamma_c"]
    problem = C.make_problem(2, H)
    theta = problem.init_params()
    n1, n2 = 64 * H, 64 * H + H
    shapes = [(slice(0, n1), (H, 64)), (slice(n2, n2 + 10 * H), (10, H))]
    X = torch.from_numpy(np.ascontiguousarray(problem.X_train))
    y = torch.from_numpy(np.asarray(problem.y_train, dtype=np.int64))
    gen = torch.Generator().manual_seed(2)
    for _ in range(E):
        order = torch.randperm(X.shape[0], generator=gen)
        for start in range(0, X.shape[0], C.BATCH):
            idx = order[start:start + C.BATCH]
            t = torch.tensor(theta, requires_grad=True)
            W1, b1 = t[:n1].reshape(H, 64), t[n1:n2]
            W2, b2 = t[n2:n2 + 10 * H].reshape(10, H), t[n2 + 10 * H:]
            logits = torch.tanh(X[idx] @ W1.T + b1) @ W2.T + b2
            torch.nn.functional.cross_entropy(logits, y[idx]).backward()
            g = t.grad.numpy().copy()
            for sl, shape in shapes:
                g[sl] = soft_collision(theta[sl].reshape(shape), g[sl].reshape(shape),
                                       gamma_c=gamma).ravel()
            theta = theta - lr * g
    got = C.train("ko_sgd", lr, 2, hidden=H, epochs=E)["theta"]
    np.testing.assert_allclose(got, theta, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ runs kept
def test_a_second_run_does_not_overwrite_a_complete_one(quick, monkeypatch):
    report, out = quick
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"}
    calls = []
    real = C.run_point

    def watched(method, lr, seed, **kw):
        calls.append((method, lr, seed))
        return real(method, lr, seed, **kw)

    monkeypatch.setattr(C, "run_point", watched)
    again = reproduce(NAME, size="quick", out=out, workers=1, progress=False)
    assert calls == [] and again.complete
    assert again.meta["reused_runs"] == len(report.records)
    assert json.loads((out / f"{NAME}.json").read_text())["rows"] == \
        json.loads(before[f"{NAME}.json"])["rows"]
    monkeypatch.setattr(C, "row_names", lambda: ["adam", "ko_adam"])
    other = reproduce(NAME, size="quick", seeds=1, out=out, workers=1, progress=False)
    assert other.meta["out"] == str(out.resolve().with_name(out.name + "-2"))
    assert "holds an earlier condensation run" in other.meta["output"]
    assert len(calls) == 2
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"}
    assert after[f"{NAME}{RUNLOG_SUFFIX}"] == before[f"{NAME}{RUNLOG_SUFFIX}"]
    assert after[f"{NAME}_runs.csv"] == before[f"{NAME}_runs.csv"]


# ------------------------------------------------------------------ verdict, errors
def test_judge_needs_every_interval_on_the_claimed_side():
    def d(lo, hi):
        return {"ci": (lo, hi)}
    ok = C.judge(d(-0.005, 0.01), d(-2e-3, -1e-3), d(0.1, 0.2), undone=50.0)
    assert ok == {"diverse": "more", "comparable": "yes", "held": "yes"}
    # more diverse, but the base shows no condensation to take back
    assert C.judge(d(-0.005, 0.01), d(-2e-3, -1e-3), d(0.1, 0.2))["held"] == "direction only"
    # resolved, but KO takes back less than MATERIAL_PERCENT of the condensation
    small = C.judge(d(-0.005, 0.01), d(-2e-3, -1e-3), d(0.1, 0.2),
                    undone=0.5 * C.MATERIAL_PERCENT)
    assert small["held"] == "direction only"
    assert C.judge(d(-0.005, 0.01), d(-2e-3, -1e-3), d(0.1, 0.2),
                   undone=C.MATERIAL_PERCENT)["held"] == "yes"
    assert C.judge(d(-0.02, 0.01), d(-2e-3, -1e-3), d(0.1, 0.2), undone=50.0)["held"] == "no"
    assert C.judge(d(0, 0), d(-2e-3, 1e-3), d(0.1, 0.2))["diverse"] == "not resolved"
    assert C.judge(d(0, 0), d(-2e-3, -1e-3), d(-0.1, 0.2))["diverse"] == "not resolved"
    assert C.judge(d(0, 0), d(1e-3, 2e-3), d(-0.2, -0.1))["diverse"] == "less"
    assert C.judge({"ci": None}, d(1e-3, 2e-3), d(-0.2, -0.1))["held"] == "n/a"


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="method"):
        C.train("sgdx", 0.1, 0, hidden=4, epochs=1)
    with pytest.raises(ValueError, match="lr"):
        C.train("sgd", 0.0, 0, hidden=4, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        C.train("sgd", 0.1, 0, hidden=4, epochs=0)
    with pytest.raises(ValueError, match="seed"):
        C.make_problem(-1, 4)
    with pytest.raises(ValueError, match="hidden"):
        C.make_problem(0, 1)
    with pytest.raises(ValueError, match="size"):
        C.grid_of("adam", "huge")


def test_missing_torch_names_the_extra(tmp_path, monkeypatch):
    import importlib.util
    import sys
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ImportError, match=r"condensation reproduction needs torch.*"
                                          r"dynopt-physics\[torch\]"):
        reproduce(NAME, size="quick", out=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())
    monkeypatch.setitem(sys.modules, "torch", None)      # `import torch` fails
    with pytest.raises(ImportError, match=r"dynopt-physics\[torch\]"):
        C.train("sgd", 0.1, 0, hidden=4, epochs=1)
