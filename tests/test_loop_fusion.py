"""The fused program (position out of place, its squared length from the kernel) and the
loop's best point kept without copies: same runs, same best points, same failures."""
import numpy as np
import pytest

import dynopt
from dynopt.loop_fusion import fused_program
from dynopt.program import Custom
from dynopt.stepper import FUSED_NAMES, Stepper, get_stepper, resolve_program

METHODS = ("heavy_ball", "adam", "fanos", "fire")


def _quadratic(n, seed=0):
    d = np.random.default_rng(seed).uniform(0.5, 2.0, n)
    return (lambda x: 0.5 * float(np.dot(d * x, x))), (lambda x: d * x)


@pytest.fixture
def fuse_small(monkeypatch):
    """Fused kernels from 1 coordinate on (and no single-member kernels on Numba)."""
    monkeypatch.setattr(Stepper, "fused_threshold", 1)
    for m in METHODS:
        st = get_stepper(m, backend="numba")
        monkeypatch.setattr(st, "fused_threshold", 1)
    be = get_stepper("adam", backend="numba").backend
    monkeypatch.setattr(be, "small_threshold", 0)
    return be


def test_fused_program_reads_the_old_position_and_measures_the_new():
    program = resolve_program("heavy_ball")[0]
    fp = fused_program(program)
    names = {s.name for s in fp.state_vectors} | {s.name for s in fp.state_scalars}
    assert set(FUSED_NAMES) <= names
    text = str(fp)
    assert "x <- loop_xprev + v" in text and "loop_xx <- sum_i(x**2)" in text
    # the update itself is unchanged: the old position put back gives the original stages
    from dynopt.loop_fusion import XPREV
    from dynopt.program import x
    for new, old in zip(fp.before_gradient, program.before_gradient):
        assert [(t, e.xreplace({XPREV: x})) for t, e in new.assignments] == list(old.assignments)


def test_programs_with_custom_stages_are_not_fused():
    program = resolve_program("ko")[0]
    assert any(isinstance(st, Custom) for st in program.stages)
    assert fused_program(program) is None


@pytest.mark.parametrize("method", METHODS)
def test_fused_run_equals_the_plain_run(method, fuse_small):
    fun, jac = _quadratic(300)
    x0 = np.random.default_rng(1).standard_normal(300)
    opts = {"maxiter": 60, "gtol": 0.0, "record": True}
    fused = dynopt.minimize(fun, x0, jac=jac, method=method, backend="numba", options=opts)
    plain = dynopt.minimize(fun, x0, jac=jac, method=method, options=opts)
    assert fused.nit == plain.nit == 60 and fused.nfev == plain.nfev
    np.testing.assert_allclose(fused.x, plain.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fused.trajectory["fun"], plain.trajectory["fun"], rtol=1e-12)
    assert np.isclose(fused.best_fun, plain.best_fun, rtol=1e-12)
    np.testing.assert_allclose(fused.best_x, plain.best_x, rtol=1e-12, atol=1e-14)
    assert not set(FUSED_NAMES) & set(fused.state)
    assert set(fused.state) == set(plain.state)


def test_fused_state_is_used(fuse_small):
    st = get_stepper("heavy_ball", backend="numba")
    x0 = np.ones((1, 50))
    state = st.init(x0, 1.0, x0, st.program.param_defaults(), fuse=True)
    assert state.fused and "loop_xprev" in state
    old = state.x
    new = st.before(state, 0)
    assert new is not old  # out of place: the previous position is untouched
    np.testing.assert_array_equal(old, x0)
    assert np.isclose(state["loop_xx"][0, 0], float(np.dot(new[0], new[0])))
    assert not st.init(x0, 1.0, x0, st.program.param_defaults()).fused


def _bowl_then_cliff(n, at):
    """A quadratic bowl whose objective turns NaN once x[0] passes ``at`` ... the run
    must return the best point before it."""
    def fun(x):
        return float("nan") if x[0] > at else 0.5 * float(np.dot(x, x))

    def jac(x):
        return x.copy()
    return fun, jac


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_best_point_survives_a_nan_with_the_buffers_swapped(backend, fuse_small):
    # heavy ball overshoots the minimum at 0 and swings towards +x0: NaN there
    n = 64
    x0 = np.full(n, -1.0)
    fun, jac = _bowl_then_cliff(n, 0.3)
    res = dynopt.minimize(fun, x0, jac=jac, method="heavy_ball", backend=backend,
                          options={"lr": 0.5, "momentum": 0.95, "maxiter": 500, "gtol": 0})
    assert res.status == 3 and not res.success
    # the reference: the same run by hand, keeping every iterate
    x, v, best = x0.copy(), np.zeros(n), (0.5 * n, x0.copy())
    for _ in range(500):
        v = 0.95 * v - 0.5 * x
        x = x + v
        fx = fun(x)
        if not np.isfinite(fx):
            break
        if fx < best[0]:
            best = (fx, x.copy())
    np.testing.assert_allclose(res.best_x, best[1], rtol=1e-12)
    np.testing.assert_allclose(res.x, best[1], rtol=1e-12)
    assert np.isclose(res.best_fun, best[0], rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_an_objective_that_reuses_its_gradient_array(backend, fuse_small):
    """The objective writes every gradient into one array: the best gradient must not be
    the last one written."""
    n = 64
    buf = np.empty(n)

    def fun(x):
        return 0.5 * float(np.dot(x, x)) if abs(x[0]) < 50 else float("inf")

    def jac(x):
        np.copyto(buf, x)
        return buf

    x0 = np.full(n, 1.0)
    # lr above the stability limit 2: |x| grows until f is inf (status 3)
    res = dynopt.minimize(fun, x0, jac=jac, method="gd", backend=backend,
                          options={"lr": 2.5, "maxiter": 100, "gtol": 0})
    assert res.status in (3, 4)
    np.testing.assert_allclose(res.jac, res.x)  # the gradient at the returned point
    np.testing.assert_allclose(res.x, x0)       # the start is the best point


@pytest.mark.parametrize("norm", [np.inf, 1])
def test_long_gradients_stop_where_the_exact_norm_says(norm):
    """From 4096 coordinates the loop tests the 2-norm bound first: the run must stop at
    the first step whose exact norm is below gtol, as a recorded run (exact norms) does."""
    n = 5000
    fun, jac = _quadratic(n, seed=3)
    x0 = np.random.default_rng(4).standard_normal(n)
    gtol = 1e-3 if norm == np.inf else 1e-1
    opts = {"lr": 0.3, "momentum": 0.5, "maxiter": 5000, "gtol": gtol, "norm": norm}
    res = dynopt.minimize(fun, x0, jac=jac, method="heavy_ball", options=opts)
    ref = dynopt.minimize(fun, x0, jac=jac, method="heavy_ball", options={**opts, "record": True})
    assert res.success and res.nit == ref.nit > 5
    norms = [np.linalg.norm(jac(xk.ravel()), ord=norm) for xk in ref.trajectory["x"]]
    assert len(norms) == ref.nit + 1 and norms[-1] <= gtol < min(norms[:-1])
    np.testing.assert_array_equal(res.x, ref.x)
