"""The run engine: one step protocol built once, the loops' semantics, compiled conventions."""
import numba
import numpy as np
import pytest
import scipy.optimize as so

import dynopt
from dynopt import compiled as compiled_module
from dynopt.bench.engine import SMALL_SETTINGS
from dynopt.bench.handwritten import HANDWRITTEN
from dynopt.methods.base import Method
from dynopt.stepper import clear_caches, get_stepper

X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])


# ------------------------------------------------------------------ built once
def test_program_and_stepper_built_once_per_process(monkeypatch):
    clear_caches()
    calls = []
    original = Method.program

    def counting(self, *a, **kw):
        calls.append(self.name)
        return original(self, *a, **kw)
    monkeypatch.setattr(Method, "program", counting)
    for _ in range(3):
        for backend in ("numpy", "numba"):
            dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="fanos", backend=backend,
                            options={"maxiter": 2})
    assert calls == ["fanos"]
    a = get_stepper("fanos", backend="numba")
    assert a is get_stepper("fanos", backend="numba")
    assert a is not get_stepper("fanos", backend="numba", dtype=np.float32)
    assert a is not get_stepper("fanos", integrator="velocity_verlet", backend="numba")


# ------------------------------------------------------------------ the hand loops
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("method", sorted(HANDWRITTEN))
def test_minimize_follows_the_hand_written_loop(method, backend):
    """An independent transcription of each update (dynopt.bench.handwritten) and minimize
    take the same steps."""
    x0 = np.linspace(-1.2, 1.2, 7)
    opts = SMALL_SETTINGS[method]
    x_hand, f_hand, k = HANDWRITTEN[method](so.rosen, so.rosen_der, x0, 400, **opts)
    res = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method=method, backend=backend,
                          options={**opts, "maxiter": 400, "gtol": 0})
    assert res.nit == k == 400
    np.testing.assert_allclose(res.x, x_hand, rtol=1e-9, atol=1e-12)
    assert res.fun == pytest.approx(f_hand, rel=1e-9)


def test_single_and_batched_kernels_agree_for_every_method():
    """A lone run (single-member kernels) and the same run as a batch member."""
    for name in ("heavy_ball", "adam", "fanos", "fire", "frankenstein", "fire2"):
        opts = {**SMALL_SETTINGS.get(name, {"lr": 1e-4} if name == "frankenstein" else {}),
                "maxiter": 200, "gtol": 0}
        one = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method=name, options=opts)
        two = dynopt.minimize(so.rosen, np.stack([X0, X0 * 0.9]), jac=so.rosen_der,
                              method=name, options=opts)
        np.testing.assert_allclose(one.x, two.x[0], rtol=1e-10, atol=1e-13, err_msg=name)


# ------------------------------------------------------------------ failure semantics
def test_exception_in_fun_carries_the_best_point():
    calls = [0]

    def fun(x):
        calls[0] += 1
        if calls[0] > 30:
            raise RuntimeError("objective broke")
        return so.rosen(x)
    with pytest.raises(RuntimeError, match="objective broke") as info:
        dynopt.minimize(fun, X0, jac=so.rosen_der, method="heavy_ball",
                        options={"lr": 1e-4, "maxiter": 100})
    exc = info.value
    assert exc.nit == 29 and exc.best_fun < so.rosen(X0)
    assert so.rosen(exc.best_x) == pytest.approx(exc.best_fun)


def test_objective_unbounded_below_stops_with_its_own_status():
    res = dynopt.minimize(lambda x: -x @ x, np.full(3, 0.5), jac=lambda x: -2 * x,
                          method="heavy_ball", options={"lr": 0.1, "maxiter": 10**5})
    assert res.status == 6 and not res.success and "Unbounded below" in res.message
    assert res.fun < -1e12 * 0.75 and res.nit < 10**5


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_best_point_kept_when_the_run_diverges(backend):
    """The best point (kept by reference or by copy) is the recorded iterate of lowest f."""
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="heavy_ball", backend=backend,
                          options={"lr": 3e-3, "momentum": 0.9, "maxiter": 500,
                                   "record": True})
    assert res.status in (3, 4)
    tr = res.trajectory
    i = int(np.nanargmin(np.where(np.isfinite(tr["fun"]), tr["fun"], np.nan)))
    np.testing.assert_array_equal(res.best_x, tr["x"][i])
    np.testing.assert_array_equal(res.x, res.best_x)
    assert res.fun == res.best_fun == so.rosen(res.best_x)


# ------------------------------------------------------------------ compiled conventions
@numba.njit
def _f(x):
    s = 0.0
    for i in range(x.size - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


@numba.njit
def _g(x):
    out = np.zeros_like(x)
    for i in range(x.size - 1):
        r = x[i + 1] - x[i] ** 2
        out[i] += -400.0 * r * x[i] - 2 * (1 - x[i])
        out[i + 1] += 200.0 * r
    return out


@numba.njit
def _fg(x):
    return _f(x), _g(x)


@numba.njit
def _f_into(x, grad_out):
    grad_out[:] = _g(x)
    return _f(x)


@pytest.fixture
def count_compiled(monkeypatch):
    calls = []
    original = compiled_module.run_compiled

    def counting(*a, **kw):
        calls.append(1)
        return original(*a, **kw)
    monkeypatch.setattr(compiled_module, "run_compiled", counting)
    return calls


@pytest.mark.parametrize("fun, jac", [(_f, _g), (_fg, True), (_f_into, True)],
                         ids=["fun-and-jac", "pair-returning", "grad_out"])
def test_compiled_conventions_run_compiled_and_match_the_python_loop(fun, jac, count_compiled):
    opts = {"lr": 1e-4, "momentum": 0.9, "maxiter": 300, "gtol": 0, "record": 10}
    ref = dynopt.minimize(_f.py_func, X0, jac=_g.py_func, method="heavy_ball", options=opts)
    res = dynopt.minimize(fun, X0, jac=jac, method="heavy_ball", backend="numba", options=opts)
    assert count_compiled == [1]
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
    assert (res.nit, res.nfev, res.status) == (ref.nit, ref.nfev, ref.status)
    np.testing.assert_allclose(res.trajectory["fun"], ref.trajectory["fun"], rtol=1e-12)
    batch = dynopt.minimize(fun, np.stack([X0, X0 * 0.5]), jac=jac, method="heavy_ball",
                            backend="numba", options=opts)
    np.testing.assert_allclose(batch.x[0], ref.x, rtol=1e-12)


def test_compiled_false_and_unsupported_options_keep_the_python_loop(count_compiled):
    opts = {"lr": 1e-4, "maxiter": 50, "gtol": 0}
    a = dynopt.minimize(_f, X0, jac=_g, method="heavy_ball", backend="numba",
                        options={**opts, "compiled": False})
    b = dynopt.minimize(_f, X0, jac=_g, method="heavy_ball", backend="numba",
                        options={**opts, "maxfev": 40})
    c = dynopt.minimize(_f, X0, jac=_g, method="heavy_ball", backend="numpy", options=opts)
    assert count_compiled == []
    np.testing.assert_allclose(a.x, c.x, rtol=1e-12)
    assert b.status == 2


def test_compiled_pair_failure_keeps_the_best_point_like_the_python_loop():
    opts = {"lr": 3e-3, "momentum": 0.9, "maxiter": 500, "gtol": 0}
    ref = dynopt.minimize(_f.py_func, X0, jac=_g.py_func, method="heavy_ball", options=opts)
    res = dynopt.minimize(_f, X0, jac=_g, method="heavy_ball", backend="numba", options=opts)
    assert res.status == ref.status and res.status in (3, 4)
    assert res.nit == ref.nit
    np.testing.assert_allclose(res.best_x, ref.best_x, rtol=1e-12)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
    assert res.fun == pytest.approx(ref.fun, rel=1e-12)


def test_import_dynopt_loads_neither_sympy_nor_scipy_optimize():
    import subprocess
    import sys
    code = ("import sys, dynopt; heavy = [m for m in ('sympy', 'scipy.optimize', 'numba') "
            "if m in sys.modules]; print(heavy); dynopt.minimize; print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.split("\n")[:2]
    assert first == "[]" and second == "True"


def test_dynopt_bench_command_exits_zero_after_a_run(monkeypatch):
    from dynopt import bench, cli
    monkeypatch.setattr(bench, "main", lambda argv=None: {"targets": []})
    assert cli.main(["bench", "--quick"]) == 0


@pytest.mark.parametrize("batch", [False, True])
def test_iterate_running_off_is_divergence_with_the_best_point(batch):
    """Two atoms 0.01 sigma apart: heavy ball's first step throws them ~1e25 apart, where
    the gradient is tiny; the run must not report convergence there."""
    from dynopt.problems.lennard_jones import lj_energy_and_gradient as fg
    x0 = np.array([0.0, 0.0, 0.0, 0.01, 0.0, 0.0])
    X = np.stack([x0, x0]) if batch else x0
    res = dynopt.minimize(fg, X, jac=True, method="heavy_ball",
                          options={"lr": 1e-3, "momentum": 0.9, "maxiter": 100})
    status = res.status[0] if batch else res.status
    best = res.best_x[0] if batch else res.best_x
    assert status == 4
    assert "exceeded divergence" in (res.message[0] if batch else res.message)
    assert np.abs(best).max() < 1e3
