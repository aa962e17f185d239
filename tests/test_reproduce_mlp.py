"""The digits-MLP reproduction (KO, FANoS, Frankenstein vs SGD and Adam) at its quick size."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dynopt.cli import main as cli_main
from dynopt.collisions import soft_collision
from dynopt.diversity import effective_rank, mean_abs_cosine
from dynopt.problems.mlp import MLPProblem
from dynopt.reproduce import reproduce
from dynopt.reproduce import mlp as M

QUICK = M.PLANS["quick"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp")
    report = reproduce("mlp", size="quick", out=out, workers=1, progress=False)
    weights = np.load(out / "mlp_weights.npz")
    thetas = {(str(m), float(lr), int(s)): th for m, lr, s, th in
              zip(weights["method"], weights["lr"], weights["seed"], weights["theta"])}
    return report, out, thetas


def _tests(report):
    return [r for r in report.records if r["phase"] == "test"]


def _numpy_predict(theta, X, hidden=M.HIDDEN):
    """64 -> hidden -> 10 tanh network, written out: W1 (hidden, 64), b1, W2 (10, hidden), b2."""
    n1 = 64 * hidden
    W1 = theta[:n1].reshape(hidden, 64)
    b1 = theta[n1:n1 + hidden]
    W2 = theta[n1 + hidden:n1 + hidden + 10 * hidden].reshape(10, hidden)
    b2 = theta[n1 + hidden + 10 * hidden:]
    assert b2.shape == (10,)
    h = np.tanh(X @ W1.T + b1)
    return np.argmax(h @ W2.T + b2, axis=1)


# ------------------------------------------------------------------ files and rows
def test_quick_writes_table_json_csv_png(quick):
    report, out, thetas = quick
    for suffix in (".json", ".csv", "_runs.csv", ".txt", "_sensitivity.csv"):
        assert (out / f"mlp{suffix}").stat().st_size > 0
    assert [p.read_bytes()[:8] for p in report.figures] == [PNG_MAGIC] * 3
    assert (out / "mlp_sensitivity.png") in report.figures
    data = json.loads((out / "mlp.json").read_text())
    rows = M.row_names()
    sens = [M.sensitivity_row(sc, gm) for sc, gm in QUICK["sensitivity"]]
    assert sens and all(r not in rows for r in sens)
    assert data["meta"]["sensitivity_rows"] == sens
    assert [r["method"] for r in data["rows"]] == ["init", *rows, *sens]
    n_select = sum(len(M.grid_of(r, "quick")) for r in rows) * QUICK["select_seeds"]
    phases = [r["phase"] for r in data["records"]]
    assert phases.count("select") == n_select
    assert phases.count("test") >= (len(rows) + len(sens)) * QUICK["seeds"]
    # the sensitivity is not rate-selected: its rows run only at SGD's chosen rate
    for r in data["records"]:
        if r["method"] in sens:
            assert r["phase"] == "test" and r["lr"] == data["meta"]["chosen"]["sgd"]
    assert all(r["status"] == "ok" for r in data["records"])
    assert data["complete"] is True
    assert len(thetas) == phases.count("test")
    table = (out / "mlp.txt").read_text()
    for name in rows:
        assert name in table
    assert "acc_mean" in (out / "mlp.csv").read_text().splitlines()[0]


def test_selection_picks_the_best_validation_accuracy(quick):
    report, _, _ = quick
    chosen = report.meta["chosen"]
    for row in M.row_names():
        by_lr = {}
        for r in report.records:
            if r["phase"] == "select" and r["method"] == row:
                by_lr.setdefault(r["lr"], []).append(r["counted_accuracy"])
        best = max(np.mean(v) for v in by_lr.values())
        assert np.mean(by_lr[chosen[row]]) == best
        assert chosen[row] in M.grid_of(row, "quick")


# ------------------------------------------------------------------ independent checks
def test_accuracies_recomputed_from_predictions_and_weights(quick):
    report, _, thetas = quick
    for rec in _tests(report):
        problem = MLPProblem(sizes=(64, M.HIDDEN, 10), seed=rec["seed"])
        pred = np.asarray(rec["predictions"])
        assert pred.shape == problem.y_test.shape
        assert rec["accuracy"] == pytest.approx(np.mean(pred == problem.y_test), abs=1e-12)
        theta = thetas[(rec["method"], rec["lr"], rec["seed"])]
        np.testing.assert_array_equal(_numpy_predict(theta, problem.X_test), pred)
    for row in report.rows[1:]:
        accs = [np.mean(np.asarray(r["predictions"]) ==
                        MLPProblem(sizes=(64, M.HIDDEN, 10), seed=r["seed"]).y_test)
                for r in _tests(report) if r["method"] == row["method"] and r["lr"] == row["lr"]]
        assert len(accs) == QUICK["seeds"] == row["n"]
        assert row["acc_mean"] == pytest.approx(np.mean(accs), abs=1e-12)
        assert row["acc_std"] == pytest.approx(np.std(accs, ddof=1), abs=1e-12)


def test_diversity_is_dynopt_diversity_of_the_final_weights(quick):
    report, _, thetas = quick
    n1 = 64 * M.HIDDEN
    for rec in _tests(report):
        theta = thetas[(rec["method"], rec["lr"], rec["seed"])]
        W1 = theta[:n1].reshape(M.HIDDEN, 64)
        W2 = theta[n1 + M.HIDDEN:n1 + M.HIDDEN + 10 * M.HIDDEN].reshape(10, M.HIDDEN)
        assert rec["cos_W1"] == pytest.approx(mean_abs_cosine(W1), rel=1e-12)
        assert rec["erank_W1"] == pytest.approx(effective_rank(W1), rel=1e-12)
        assert rec["cos_W2"] == pytest.approx(mean_abs_cosine(W2), rel=1e-12)
        W0 = MLPProblem(sizes=(64, M.HIDDEN, 10), seed=rec["seed"]).init_params()[:n1]
        assert rec["cos_W1_init"] == pytest.approx(mean_abs_cosine(W0.reshape(M.HIDDEN, 64)))
    for row in report.rows[1:]:
        vals = [mean_abs_cosine(thetas[(row["method"], row["lr"], s)][:n1].reshape(M.HIDDEN, 64))
                for s in range(QUICK["seeds"])]
        assert row["cos_W1"] == pytest.approx(np.mean(vals), rel=1e-12)


def test_same_seed_same_result(quick):
    report, _, thetas = quick
    rec = next(r for r in _tests(report) if r["method"] == "ko_adam" and r["seed"] == 1)
    again = M.run_point("test", "ko_adam", rec["lr"], 1, steps=QUICK["steps"])
    np.testing.assert_array_equal(np.asarray(again.pop("theta")), thetas[("ko_adam", rec["lr"], 1)])
    for key, value in again.items():
        assert rec[key] == value, key
    other = M.run_point("test", "ko_adam", rec["lr"], 0, steps=QUICK["steps"])
    assert other["predictions"] != rec["predictions"]


def test_ko_pairs_are_the_ko_diversity_measurement(quick):
    from dynopt.experiments.ko_diversity import measure
    report, _, _ = quick
    lr = report.meta["chosen"]["sgd"]
    with M.single_threaded_blas():     # as the reproduction's runs: the same rounding
        got = measure(seeds=(0,), steps=QUICK["steps"], base="sgd", lr=lr, hidden=M.HIDDEN)
    ko = next(r for r in _tests(report) if (r["method"], r["lr"], r["seed"]) == ("ko_sgd", lr, 0))
    sgd = next(r for r in _tests(report) if (r["method"], r["lr"], r["seed"]) == ("sgd", lr, 0))
    for key, rec in (("ko", ko), ("base", sgd)):
        assert got[key]["test_accuracy"][0] == rec["accuracy"]
        assert got[key]["mean_abs_cosine"][0] == rec["cos_W1"]
        assert got[key]["train_loss"][0] == rec["train_loss"]
    pair = next(r for r in report.rows if r["method"] == "ko_sgd")["paired"]["sgd"]
    assert pair["cos_W1"]["values"][0] == pytest.approx(ko["cos_W1"] - sgd["cos_W1"], abs=0)


# ------------------------------------------------------------------ KO sensitivity
def test_sensitivity_run_is_gradient_descent_on_the_summed_collision(quick):
    """The 'sum' cell, transcribed by hand: theta <- theta - lr * g~, g~ the soft collision
    with normalize='sum' on both weight matrices, biases plain."""
    report, _, thetas = quick
    lr = report.meta["chosen"]["sgd"]
    scale, gamma = QUICK["sensitivity"][0]
    assert scale == "sum"
    row = M.sensitivity_row(scale, gamma)
    problem = M.make_problems(0)["test"]
    theta = problem.init_params()
    with M.single_threaded_blas():
        for _ in range(QUICK["steps"]):
            _, grad = problem.fun_and_grad(theta)
            for sl, shape in zip(problem.weight_slices, problem.weight_shapes):
                grad[sl] = soft_collision(theta[sl].reshape(shape), grad[sl].reshape(shape),
                                          gamma_c=gamma, normalize="sum").ravel()
            theta = theta - lr * grad
    np.testing.assert_allclose(thetas[(row, lr, 0)], theta, rtol=1e-9, atol=1e-12)
    # and it is not the 'mean' run at the same rate and seed
    assert np.max(np.abs(thetas[(row, lr, 0)] - thetas[("ko_sgd", lr, 0)])) > 1e-6


def test_sensitivity_summary_recomputed_from_the_records(quick):
    report, out, _ = quick
    lr = report.meta["chosen"]["sgd"]
    cells = report.meta["sensitivity"]
    assert [(c["collision_scale"], c["gamma_c"]) for c in cells] == M.sensitivity_cells("quick")
    assert ("mean", M.GAMMA_C) in M.sensitivity_cells("quick")
    tests = {(r["method"], r["lr"], r["seed"]): r for r in _tests(report)}
    for c in cells:
        assert c["row"] == M.sensitivity_row(c["collision_scale"], c["gamma_c"])
        ko = [tests[(c["row"], lr, s)] for s in range(QUICK["seeds"])]
        sgd = [tests[("sgd", lr, s)] for s in range(QUICK["seeds"])]
        assert c["n"] == QUICK["seeds"]
        assert c["acc_mean"] == pytest.approx(np.mean([r["counted_accuracy"] for r in ko]))
        assert c["cos_W1"] == pytest.approx(np.mean([r["cos_W1"] for r in ko]))
        for field in ("counted_accuracy", "cos_W1", "erank_W1"):
            d = [a[field] - b[field] for a, b in zip(ko, sgd)]
            assert c["paired"][field]["mean"] == pytest.approx(np.mean(d), abs=1e-15)
            assert c["paired"][field]["se"] == pytest.approx(
                np.std(d, ddof=1) / np.sqrt(len(d)), abs=1e-15)
    lines = (out / "mlp_sensitivity.csv").read_text().splitlines()
    assert lines[0].split(",") == M.SENSITIVITY_COLUMNS
    assert len(lines) == 1 + len(cells)
    assert any(n.startswith("Sensitivity of KO on SGD") for n in report.notes)
    assert sum(n.startswith("KO on SGD, ") for n in report.notes) == len(cells)


def test_sensitivity_grid_stays_where_mean_scale_descends():
    # every gamma_c of the default and full sizes is below 1 (the 'mean' scale's bound)
    for size in ("default", "full"):
        cells = M.sensitivity_cells(size)
        assert {sc for sc, _ in cells} == set(M.SENSITIVITY_SCALES)
        assert all(0 < gm < 1 for _, gm in cells)
        assert len(cells) == len(M.SENSITIVITY_SCALES) * len(M.SENSITIVITY_GAMMAS)
    for row, spec in M.SENSITIVITY.items():
        assert spec["options"]["collision_scale"] == spec["collision_scale"]
        assert row != "ko_sgd" and spec["base_row"] == "sgd"


# ------------------------------------------------------------------ failures and interruption
def test_failing_run_is_marked_and_the_others_kept(tmp_path, monkeypatch):
    real = M.run_point

    def flaky(phase, method, lr, seed, **kw):
        if phase == "test" and method == "adam" and seed == 1:
            raise RuntimeError("boom")
        return real(phase, method, lr, seed, **kw)

    monkeypatch.setattr(M, "run_point", flaky)
    monkeypatch.setattr(M, "row_names", lambda: ["sgd", "adam", "ko_adam"])
    report = reproduce("mlp", size="quick", out=tmp_path, workers=1, progress=False)
    failed = [r for r in report.records if r["status"] == "failed"]
    assert [(r["method"], r["seed"]) for r in failed] == [("adam", 1)]
    assert "RuntimeError: boom" in failed[0]["error"]
    rows = {r["method"]: r for r in report.rows}
    assert rows["adam"]["n"] == 1 and rows["adam"]["failed"] == 1
    assert rows["adam"]["acc_std"] is None and 0 < rows["adam"]["acc_mean"] <= 1
    assert rows["sgd"]["n"] == rows["ko_adam"]["n"] == QUICK["seeds"]
    assert rows["ko_adam"]["paired"]["adam"]["counted_accuracy"]["n"] == 1
    assert any(n.startswith("FAILED: adam") and "boom" in n for n in report.notes)
    assert report.complete
    saved = json.loads((tmp_path / "mlp.json").read_text())
    assert sum(r["status"] == "failed" for r in saved["records"]) == 1


def test_interrupted_run_reports_what_finished(tmp_path, monkeypatch):
    real = M.run_point

    def interrupted(phase, method, lr, seed, **kw):
        if phase == "test" and method == "adam":
            raise KeyboardInterrupt
        return real(phase, method, lr, seed, **kw)

    monkeypatch.setattr(M, "run_point", interrupted)
    monkeypatch.setattr(M, "row_names", lambda: ["sgd", "adam"])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        report = reproduce("mlp", size="quick", seeds=1, out=tmp_path, workers=1, progress=False)
    assert not report.complete and "INCOMPLETE" in str(report)
    status = {(r["phase"], r["method"]): r["status"] for r in report.records}
    assert status[("test", "sgd")] == "ok" and status[("test", "adam")] == "not run"
    rows = {r["method"]: r for r in report.rows}
    assert rows["sgd"]["n"] == 1 and rows["adam"]["n"] == 0 and rows["adam"]["failed"] == 1
    assert json.loads((tmp_path / "mlp.json").read_text())["complete"] is False


def test_cli_quick_one_row(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(M, "row_names", lambda: ["adam"])
    code = cli_main(["reproduce", "mlp", "--quick", "--seeds", "1", "--out", str(tmp_path),
                     "--no-progress", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "acc_mean" in printed and "adam" in printed
    assert (tmp_path / "mlp_results.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "mlp_selection.png").read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "mlp_sensitivity.png").exists()    # no sgd, ko_sgd: no sensitivity


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="phase"):
        M.run_point("train", "adam", 1e-3, 0, steps=2)
    with pytest.raises(ValueError, match="method"):
        M.run_point("test", "sgdx", 1e-3, 0, steps=2)
    with pytest.raises(ValueError, match="lr"):
        M.run_point("test", "adam", -1.0, 0, steps=2)
    with pytest.raises(ValueError, match="steps"):
        M.run_point("test", "adam", 1e-3, 0, steps=0)
    with pytest.raises(ValueError, match="seed"):
        M.make_problems(-1)
    with pytest.raises(ValueError, match="size"):
        M.grid_of("adam", "huge")
    with pytest.raises(ValueError, match="seeds"):
        reproduce("mlp", size="quick", seeds=0)
    with pytest.raises(ValueError, match="scale"):
        M.sensitivity_row("max", 0.1)
    with pytest.raises(ValueError, match="size"):
        M.sensitivity_cells("huge")


def test_missing_optional_modules_name_the_extra(tmp_path, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("sklearn", "ase") else real(name, *a))
    with pytest.raises(ImportError, match=r"dynopt-physics\[ml\]"):
        reproduce("mlp", size="quick", out=tmp_path, progress=False)
    # the command line checks a reproduction asked for by name before running it ('all'
    # leaves out what cannot run: tests/test_cli.py)
    with pytest.raises(SystemExit, match=r"lj38 reproduction needs ase.*dynopt-physics\[ase\]"):
        cli_main(["reproduce", "lj38", "--quick", "--out", str(tmp_path), "--no-progress"])
    assert not any(tmp_path.iterdir())
