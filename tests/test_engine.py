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
def test_program_and_stepper_built_once_per_process(monkeypatch, tmp_path):
    # a cache folder of its own: the first call derives the method (a warm-start record
    # from an earlier process would answer every call, dynopt.warm)
    monkeypatch.setenv("DYNOPT_CACHE_DIR", str(tmp_path / "cache"))
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
    clear_caches()  # nothing built over the test's own folder outlives it


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


# ------------------------------------------------------------------ compiled batches
def _members_alone(method, X, params, loop, keys=None):
    """Each row of ``X`` as a lone compiled run of the backend (its single-run path)."""
    from dynopt.backends import get_backend
    from dynopt.methods import METHODS
    be, program = get_backend("numba"), METHODS[method].program()
    out = []
    for b in range(X.shape[0]):
        p = {k: (float(np.asarray(v).reshape(-1)[b]) if np.size(v) > 1 else v)
             for k, v in params.items()}
        lp = dict(loop) if keys is None else {**loop, "noise_key": float(keys[b])}
        out.append(be.run_compiled(program, p, _f_into, X[b], lp))
    return out


def _assert_batch_is_members(res, alone, stride):
    for b, r in enumerate(alone):
        assert (res.status[b], res.nit[b], res.nfev[b]) == (r["status"], r["nit"], r["nfev"])
        failed = r["status"] in (3, 4)
        assert np.array_equal(res.x[b], r["best_x"] if failed else r["x"])
        assert res.fun[b] == (r["best_fun"] if failed else r["fun"])
        assert np.array_equal(res.jac[b], r["jac"]) and res.best_fun[b] == r["best_fun"]
        assert np.array_equal(res.best_x[b], r["best_x"])
        assert res.x.dtype == r["x"].dtype
        assert list(res.state) == list(r["state"])
        for key, val in r["state"].items():
            assert np.array_equal(res.state[key][b], val), key
        if stride:
            assert list(res.trajectory[b]) == list(r["trajectory"])
            for key, val in r["trajectory"].items():
                assert np.array_equal(res.trajectory[b][key], val), key
        else:
            assert "trajectory" not in res


@pytest.mark.parametrize("stride", [0, 3])
def test_compiled_batch_is_each_member_run_alone(stride):
    """Per-member step sizes, one of which diverges; trajectories on and off."""
    X = np.random.default_rng(7).uniform(-1.5, 1.5, (4, 5))
    lrs = np.array([1e-4, 3e-4, 2e-2, 1e-3])
    loop = {"maxiter": 60, "gtol": 0.0, "divergence": 1e3, "record": stride}
    res = dynopt.minimize(_f_into, X, jac=True, method="heavy_ball", backend="numba",
                          options={**loop, "lr": lrs, "momentum": 0.9, "compiled": True,
                                   "record": stride or False})
    alone = _members_alone("heavy_ball", X, {"lr": lrs, "momentum": 0.9}, loop)
    assert 4 in res.status and 1 in res.status
    _assert_batch_is_members(res, alone, stride)
    assert res.message[2].startswith(dynopt.loop.STATUS_MESSAGES[4])
    ref = dynopt.minimize(_f.py_func, X, jac=_g.py_func, method="heavy_ball",
                          options={**loop, "lr": lrs, "momentum": 0.9,
                                   "record": stride or False})
    assert list(res.status) == list(ref.status) and list(res.nit) == list(ref.nit)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)


def test_compiled_batch_float32_with_per_member_init():
    """FIRE's init copies dt into its step h: float32, one dt per member."""
    X = np.random.default_rng(8).uniform(-1.5, 1.5, (3, 4)).astype(np.float32)
    dts = np.array([1e-3, 2e-3, 5e-3])
    loop = {"maxiter": 40, "gtol": 0.0, "record": 5}
    res = dynopt.minimize(_f_into, X, jac=True, method="fire", backend="numba",
                          options={**loop, "dt": dts, "compiled": True})
    assert res.x.dtype == np.float32
    _assert_batch_is_members(res, _members_alone("fire", X, {"dt": dts}, loop), 5)
    assert len(set(res.state["h"].tolist())) == 3


def test_compiled_batch_with_noise_keeps_each_members_key():
    from dynopt.backends._noise import member_keys
    X = np.random.default_rng(9).uniform(-1.0, 1.0, (3, 4))
    loop = {"maxiter": 30, "gtol": 0.0, "record": 10}
    res = dynopt.minimize(_f_into, X, jac=True, method="langevin_baoab", backend="numba",
                          options={**loop, "dt": 1e-3, "seed": 11, "compiled": True})
    keys = member_keys(np.random.default_rng(11), 3)[:, 0]
    alone = _members_alone("langevin_baoab", X, {"dt": 1e-3}, loop, keys)
    _assert_batch_is_members(res, alone, 10)
    assert not np.array_equal(res.x[0] - X[0], res.x[1] - X[1])  # distinct draws


def test_compiled_batch_looks_the_program_up_once(monkeypatch):
    """The program's key (a SymPy print of the whole program) is not computed per member."""
    from dynopt.backends import codegen, numba_backend
    calls = []
    # the NumPy backend imports program_key from codegen when it compiles
    for mod in (numba_backend, codegen):
        original = mod.program_key

        def counting(*a, _original=original, **kw):
            calls.append(1)
            return _original(*a, **kw)
        monkeypatch.setattr(mod, "program_key", counting)
    opts = {"lr": 1e-4, "maxiter": 5, "gtol": 0.0, "compiled": True}
    counts = []
    for batch in (2, 40):
        del calls[:]
        dynopt.minimize(_f_into, np.ones((batch, 3)), jac=True, method="heavy_ball",
                        backend="numba", options=opts)
        counts.append(len(calls))
    assert counts[0] == counts[1] <= 2


def test_import_dynopt_loads_neither_sympy_nor_scipy_optimize():
    import subprocess
    import sys
    code = ("import sys, dynopt; heavy = [m for m in ('sympy', 'scipy.optimize', 'numba') "
            "if m in sys.modules]; print(heavy); dynopt.minimize; print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.split("\n")[:2]
    # nor does minimize itself: SymPy loads where a method is derived (tests/test_warm.py)
    assert first == "[]" and second == "False"


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


def test_short_inf_norm_sees_every_nan_and_inf():
    from dynopt.loop import _inf_norm
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 16, 17, 40):
        g = rng.normal(size=n)
        assert _inf_norm(g) == np.abs(g).max()
        for bad in (np.nan, np.inf, -np.inf):
            for i in {0, n // 2, n - 1}:
                h = g.copy()
                h[i] = bad
                got, want = _inf_norm(h), np.max(np.abs(h))
                assert got == want or (np.isnan(got) and np.isnan(want)), (n, i, bad)
    big = np.array([1e308, 1.5e308, -1e308])  # finite, whose sum overflows
    assert _inf_norm(big) == 1.5e308
