"""The benchmark's bookkeeping: bytes per step, the targets table, option errors."""
import sys

import numpy as np
import pytest

import dynopt
from dynopt import bench


def test_step_bytes_counts_each_array_once():
    n = 1000
    # heavy ball reads x, v, g and writes x, v
    assert bench.step_bytes(dynopt.METHODS["heavy_ball"].program(), n) == 5 * n * 8
    # Adam reads x, m, v, g and writes x, m, v; float32 halves the traffic
    adam = dynopt.METHODS["adam"].program()
    assert bench.step_bytes(adam, n) == 7 * n * 8
    assert bench.step_bytes(adam, n, itemsize=4) == 7 * n * 4


def _report(of_bound, speedup, ratio, whole, warm, process, sizes=(1000, 10**7)):
    steps = [{"method": m, "n": n, "of_bound": of_bound, "speedup": speedup}
             for m in bench.METHODS for n in sizes]
    return {"sizes": list(sizes), "steps": steps,
            "torch": [{"n": n, "ratio": ratio} for n in sizes],
            "whole_run": {"method": "fanos", "n": 100, "steps": 3000, "speedup": whole},
            "compile": [{"method": "adam", "warm": warm, "warm_run": warm,
                         "warm_process": process}]}


def test_targets_met_and_missed():
    good = bench.check_targets(_report(0.9, 5.0, 1.2, 60.0, 0.3, 0.9))
    assert good and all(t["met"] is True for t in good)
    bad = {t["target"]: t for t in bench.check_targets(_report(0.7, 2.0, 0.9, 40.0, 1.5, 2.0))}
    assert all(t["met"] is False for t in bad.values())
    assert bad["fanos N=1e7: Numba step / streaming bound"]["value"] == 0.7


def test_targets_not_measured_away_from_their_configuration():
    report = _report(0.9, 5.0, 1.2, 60.0, 0.3, 0.9, sizes=(1000,))
    report["whole_run"]["steps"] = 300  # --quick
    report["torch"] = None
    targets = {t["target"]: t for t in bench.check_targets(report)}
    assert targets["adam N=1e7: Numba step / streaming bound"]["met"] is None
    assert targets["whole run FANoS Rosenbrock-100D x 3000: NumPy / compiled"]["met"] is None
    assert targets["adam N=1e+03: torch fused Adam time / dynopt Adam time"]["met"] is None


@pytest.mark.parametrize("argv", [["--sizes", "1e3,abc"], ["--sizes", "0"], ["--threads", "0"]])
def test_bad_options_exit_with_a_message(argv, capsys):
    with pytest.raises(SystemExit):
        bench.main(argv)
    assert "--" in capsys.readouterr().err


# ---------------------------------------------------------------- the JAX/optax rows
def test_jax_rows_are_skipped_without_jax(monkeypatch, capsys):
    from dynopt.bench import engine, jax_loops
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax raises ImportError
    monkeypatch.setitem(sys.modules, "optax", None)
    assert jax_loops.load() is None
    b = engine.batched(batch=3, steps=2, rounds=1)
    assert b["jax"] is None and b["jax_step"] is None
    assert b["minimize_over_jax"] is None and b["compiled_over_jax"] is None
    assert b["minimize_over_hand"]["min"] > 0 and b["compiled_over_hand"]["min"] > 0
    rows = engine.large_n(n=64, steps=2, rounds=1, methods=("adam", "fanos"))
    assert rows[0]["minimize_over_jax"] is None and rows[0]["jax_step"] is None
    assert "minimize_over_jax" not in rows[1]  # optax has no FANoS: no row to skip
    engine.print_report({"large_n": rows, "batched": b})
    out = capsys.readouterr().out
    assert out.count(jax_loops.MISSING) == 2


def _jax():
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    from dynopt.bench import jax_loops
    return jax_loops


@pytest.mark.parametrize("steps", [1, 3, 25])
def test_optax_batched_heavy_ball_follows_dynopt(steps):
    jax_loops = _jax()
    from dynopt.bench import engine
    X0 = engine.batched_start(4)
    lr, mu = engine.BATCHED_SETTINGS["lr"], engine.BATCHED_SETTINGS["momentum"]
    X = np.asarray(jax_loops.batched_heavy_ball(X0, steps, lr, mu)())
    opts = {"lr": lr, "momentum": mu, "maxiter": steps, "gtol": 0}
    loop = dynopt.minimize(engine.rosen2_rows, X0, jac=engine.rosen2_rows_grad,
                           method="heavy_ball", options={**opts, "vectorized": True})
    from dynopt.problems import rosenbrock_fun_and_grad_nb
    compiled = dynopt.minimize(rosenbrock_fun_and_grad_nb, X0, jac=True, method="heavy_ball",
                               backend="numba", options={**opts, "compiled": True})
    assert list(loop.nit) == [steps] * 4 and list(compiled.nit) == [steps] * 4
    assert not np.allclose(X, X0)  # the runs moved
    np.testing.assert_allclose(X, loop.x, rtol=1e-12, atol=0)
    np.testing.assert_allclose(X, compiled.x, rtol=1e-12, atol=0)


@pytest.mark.parametrize("method,opts", [("adam", {"lr": 1e-2}),
                                         ("heavy_ball", {"lr": 0.1, "momentum": 0.9})])
def test_optax_step_loop_follows_dynopt(method, opts):
    jax_loops = _jax()
    from dynopt.bench import engine
    n, steps = 7, 4
    fun, jac = engine._quadratic(n)
    x0 = np.random.default_rng(1).standard_normal(n)
    res = dynopt.minimize(fun, x0, jac=jac, method=method,
                          options={**opts, "maxiter": 3 * steps, "gtol": 0, "record": 1})
    run = jax_loops.step_loop(method, x0, engine._diagonal(n), steps, opts)
    for call in range(1, 4):  # the loop carries its state from call to call
        x = np.array(run())
        np.testing.assert_allclose(x, res.trajectory["x"][call * steps], rtol=1e-12, atol=0)
    assert jax_loops.step_loop("fanos", x0, engine._diagonal(n), steps, {}) is None


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "dynopt performance benchmark" in out and "batched" in out
    assert "``" not in out and ":math:" not in out and ":mod:" not in out


def test_measure_rejects_unknown_parts():
    from dynopt.bench import engine
    with pytest.raises(ValueError, match="parts"):
        engine.measure(parts=("batch",))


def test_torch_optimizer_rows_compare_like_with_like():
    pytest.importorskip("torch")
    from dynopt.bench import torch_optim
    report = torch_optim.measure(sizes=(4096,), rounds=2, steps_per_round=2)
    if report is None:
        pytest.skip("no fused Adam on this CPU")
    (row,) = report["rows"]
    assert set(row["per_step"]) == {"torch Adam (fused)", "adam (numba)", "adam (torch)",
                                    "fanos (numba)", "fanos (torch)"}
    # every contender took the same steps: Adam's parameters agree with torch's fused Adam
    assert row["adam_max_difference"] < 1e-5
    assert {t["target"].split(": ")[1] for t in report["targets"]} == {
        f"{name} / fused Adam (min)" for name in torch_optim.TARGETS}
    assert all(t["met"] == (t["value"] <= t["goal"]) for t in report["targets"])
    for r in row["over_fused_adam"].values():
        assert r["min"] > 0 and r["median"] > 0
