"""The batched loop's compiled tests give the results of its NumPy tests: same statuses,
messages, counts, best points, for members that converge, diverge, meet NaN or run off."""
import math

import numpy as np
import pytest

import dynopt
from dynopt import batch_checks


def _problem():
    """Rows 0-2 converge, row 3 meets NaN, row 4 diverges (f grows past the bound)."""
    def fun(X):  # rows are told apart by their coordinates' ratio, which gd keeps
        f = 0.5 * np.sum(X * X, axis=1)
        nan = (X[:, 0] == X[:, 1]) & (X[:, 0] < 0.5)
        saddle = X[:, 1] == 2 * X[:, 0]
        f[nan] = np.nan
        f[saddle] = -f[saddle]  # unbounded below
        return f

    def jac(X):
        G = X.copy()
        saddle = X[:, 1] == 2 * X[:, 0]
        G[saddle] = -X[saddle]
        return G
    X0 = np.array([[1.0, 2.5], [0.5, -0.3], [3.0, 1.0], [1.0, 1.0], [0.1, 0.2]])
    return fun, jac, X0


def _run(monkeypatch, fast, norm=np.inf, **options):
    if not fast:
        monkeypatch.setattr(batch_checks, "kernels", lambda: None)
    fun, jac, X0 = _problem()
    opts = {"lr": 0.1, "maxiter": 400, "gtol": 1e-6, "vectorized": True, "norm": norm,
            "divergence": 1e3, **options}
    return dynopt.minimize(fun, X0, jac=jac, method="gd", options=opts)


@pytest.mark.parametrize("norm", [np.inf, 1, 2])
def test_compiled_and_numpy_tests_agree(monkeypatch, norm):
    assert batch_checks.kernels() is not None
    fast = _run(monkeypatch, True, norm)
    with monkeypatch.context() as m:
        slow = _run(m, False, norm)
    for key in ("status", "nit", "nfev", "njev", "success"):
        np.testing.assert_array_equal(fast[key], slow[key], err_msg=key)
    assert fast.message == slow.message
    np.testing.assert_array_equal(fast.x, slow.x)
    np.testing.assert_array_equal(fast.best_x, slow.best_x)
    np.testing.assert_array_equal(fast.fun, slow.fun)
    np.testing.assert_array_equal(fast.jac, slow.jac)
    # the statuses are what the problem makes them: converged, NaN, unbounded below
    assert list(fast.status[:3]) == [0, 0, 0] and fast.status[3] == 3 and fast.status[4] == 6


def test_gradient_norms_against_numpy():
    check_positions, record_step = batch_checks.kernels()
    rng = np.random.default_rng(0)
    B, n = 50, 7
    X, G = rng.standard_normal((B, n)), rng.standard_normal((B, n))
    G[3, 2] = np.nan
    G[5, 1] = np.inf
    Fv = rng.standard_normal(B)
    for code, ref in ((0, np.max(np.abs(G), axis=1)), (1, np.sum(np.abs(G), axis=1)),
                      (2, np.linalg.norm(G, axis=1))):
        F, Gout, gnorm = np.empty(B), np.empty((B, n)), np.empty(B)
        best_f, best_x, best_g = np.full(B, np.inf), np.zeros((B, n)), np.zeros((B, n))
        codes = np.zeros(B, dtype=np.int8)
        up, low = np.full(B, np.inf), np.full(B, -np.inf)
        flagged = record_step(X, Fv, G, code, F, Gout, gnorm, best_f, best_x, best_g,
                              up, low, 0.0, codes, True)
        np.testing.assert_allclose(gnorm, ref, rtol=1e-14)
        assert np.isnan(gnorm[3]) and np.isinf(gnorm[5])
        assert flagged == 2 and codes[3] == codes[5] == 3
        good = np.isfinite(ref)
        np.testing.assert_array_equal(best_f[good], Fv[good])
        np.testing.assert_array_equal(best_x[good], X[good])
    squares, codes = np.empty(B), np.zeros(B, dtype=np.int8)
    X[7, 0] = np.nan
    far2 = np.full(B, np.inf)
    far2[8] = 0.0
    assert check_positions(X, far2, squares, codes) == 2
    assert codes[7] == 3 and codes[8] == 4
    np.testing.assert_allclose(np.delete(squares, 7), np.delete(np.sum(X * X, axis=1), 7))


def _every_stop():
    """One member per way of stopping, told apart by the ratio ``q = x_2 / x_1``, which
    gd keeps exactly (the powers of two and -1): ``q = 1`` meets NaN below ``x_1 = 0.5``,
    ``q = 2`` falls without bound, ``q = 4`` climbs, ``q = -1`` runs off on a flat
    objective, ``q = -2`` overflows to Inf on one; the rest converge (quadratic)."""
    def fun(X):
        q = X[:, 1] / X[:, 0]
        f = 0.5 * np.sum(X * X, axis=1)
        f[(q == 1) & (X[:, 0] < 0.5)] = np.nan
        f[q == 2] *= -1
        f[(q == -1) | (q == -2)] = 0.0
        return f

    def jac(X):  # -x (growing by 1 + lr per step) on the members that climb or run off
        q = (X[:, 1] / X[:, 0])[:, None]
        return np.where((q == 2) | (q == 4) | (q == -1) | (q == -2), -X, X)
    X0 = np.array([[1.0, 2.5], [0.5, -0.3], [1.0, 1.0], [0.1, 0.2], [0.1, 0.4], [0.5, -0.5],
                   [-8e307, 1.6e308]])
    return fun, jac, X0


def _first(start, factor, limit):
    """The first k with start * factor**k > limit (closed form)."""
    return math.floor(math.log(limit / start) / math.log(factor)) + 1


@pytest.mark.parametrize("fast", [True, False])
def test_every_stop_has_its_status_and_message(monkeypatch, fast):
    if not fast:
        monkeypatch.setattr(batch_checks, "kernels", lambda: None)
    fun, jac, X0 = _every_stop()
    d, lr = 10.0, 0.1
    with np.errstate(over="ignore", invalid="ignore"):
        res = dynopt.minimize(fun, X0, jac=jac, method="gd",
                              options={"lr": lr, "maxiter": 400, "gtol": 1e-6,
                                       "vectorized": True, "divergence": d})
        f0 = fun(X0)
    # the steps at which each bound is crossed, from x_k = (1 +- lr)^k x_0
    nan_at = _first(1.0, 1 / (1 - lr), 1 / 0.5)                # x_1 < 0.5
    below_at = _first(-f0[3], (1 + lr) ** 2, -f0[3] + d)       # f < f0 - d max(1, |f0|)
    above_at = _first(f0[4], (1 + lr) ** 2, f0[4] + d)         # f > f0 + d max(1, |f0|)
    off_at = _first(np.linalg.norm(X0[5]), 1 + lr, d)           # |x| > d max(1, |x0|)
    inf_at = _first(1.6e308, 1 + lr, np.finfo(float).max)      # x_2 overflows
    assert list(res.status) == [0, 0, 3, 6, 4, 4, 3]
    m = res.message
    assert m[2].startswith("NaN or Inf met in the objective or gradient at step "
                           f"{nan_at};")
    assert m[3].startswith("Unbounded below") and f"at step {below_at})." in m[3]
    assert m[4].startswith("Diverged f = ") and f"at step {above_at};" in m[4]
    assert m[5].startswith("Diverged |x| = ") and f"= 10 at step {off_at};" in m[5]
    assert m[6].startswith(f"NaN or Inf met in the iterate at step {inf_at};")
    # a member that stops at a position is not evaluated there
    assert list(res.nit[2:]) == [nan_at, below_at, above_at, off_at - 1, inf_at - 1]
    np.testing.assert_array_equal(res.nfev, res.nit + 1)


def test_codes_that_stop_a_member_are_its_status():
    from dynopt.loop import STATUS_MESSAGES
    assert STATUS_MESSAGES[batch_checks.NONFINITE] == "NaN or Inf met"
    assert STATUS_MESSAGES[batch_checks.DIVERGED] == "Diverged"
    assert batch_checks.RAN_OFF == batch_checks.DIVERGED
    assert STATUS_MESSAGES[batch_checks.UNBOUNDED].startswith("Unbounded below")
    assert batch_checks.OK == 0 and batch_checks.CONVERGED not in (
        batch_checks.NONFINITE, batch_checks.DIVERGED, batch_checks.UNBOUNDED)


def _step_arrays(B, n, seed):
    rng = np.random.default_rng(seed)
    X, Gv = rng.standard_normal((B, n)), rng.standard_normal((B, n))
    Fv = rng.standard_normal(B)
    best_f = Fv + np.where(rng.random(B) < 0.5, 1.0, -1.0)  # about half the members improve
    return X, Fv, Gv, best_f


@pytest.mark.parametrize("code,norms", [(0, True), (0, False), (1, False), (2, True)])
@pytest.mark.parametrize("improve", ["some", "all", "none"])
def test_record_step_common_step_against_numpy(code, norms, improve):
    """A step that flags no member: values, gradients, norms and best points as NumPy
    computes them; ``gnorm`` untouched when the max-norm is not asked for."""
    _, record_step = batch_checks.kernels()
    B, n = 300, 3
    X, Fv, Gv, best_f = _step_arrays(B, n, 1)
    if improve != "some":
        best_f = Fv + (1.0 if improve == "all" else -1.0)
    better = Fv < best_f
    F, G, gnorm = np.empty(B), np.empty((B, n)), np.full(B, -7.0)
    bf, bx, bg = best_f.copy(), np.zeros((B, n)), np.zeros((B, n))
    up, low = np.full(B, np.inf), np.full(B, -np.inf)
    assert record_step(X, Fv, Gv, code, F, G, gnorm, bf, bx, bg, up, low, 0.0,
                       np.zeros(B, dtype=np.int8), norms) == 0
    np.testing.assert_array_equal(F, Fv)
    np.testing.assert_array_equal(G, Gv)
    np.testing.assert_array_equal(bf, np.where(better, Fv, best_f))
    np.testing.assert_array_equal(bx, np.where(better[:, None], X, 0.0))
    np.testing.assert_array_equal(bg, np.where(better[:, None], Gv, 0.0))
    ref = {0: np.max(np.abs(Gv), axis=1), 1: np.sum(np.abs(Gv), axis=1),
           2: np.linalg.norm(Gv, axis=1)}[code]
    if norms or code != 0:
        np.testing.assert_allclose(gnorm, ref, rtol=1e-14)
    else:
        assert (gnorm == -7.0).all()


def test_record_step_flags_what_the_common_step_would_miss():
    """Bounds, gtol and a 2-norm that overflows on finite components are flagged, with
    the best point taken only where the value is finite (as member by member)."""
    _, record_step = batch_checks.kernels()
    B, n = 6, 2
    X, Fv, Gv, best_f = _step_arrays(B, n, 2)
    best_f[:] = np.inf
    Gv[1] = [1e200, 1e200]           # finite, but its 2-norm is not
    Fv[2], Gv[3] = 1e9, [1e-9, 0.0]  # above the bound; below gtol
    Fv[4] = -1e9                     # below the bound
    up, low = np.full(B, 1e6), np.full(B, -1e6)
    for code, flagged in ((2, {1: batch_checks.NONFINITE}), (0, {})):
        codes = np.zeros(B, dtype=np.int8)
        F, G, gnorm = np.empty(B), np.empty((B, n)), np.empty(B)
        bf, bx, bg = best_f.copy(), np.zeros((B, n)), np.zeros((B, n))
        expect = {**flagged, 2: batch_checks.DIVERGED, 3: batch_checks.CONVERGED,
                  4: batch_checks.UNBOUNDED}
        assert record_step(X, Fv, Gv, code, F, G, gnorm, bf, bx, bg, up, low, 1e-6, codes,
                           False) == len(expect)
        assert {b: int(c) for b, c in enumerate(codes) if c} == expect
        taken = [b for b in range(B) if b not in flagged]
        np.testing.assert_array_equal(bf[taken], Fv[taken])
        np.testing.assert_array_equal(bx[taken], X[taken])
        assert all(np.isfinite(gnorm[taken]))


@pytest.mark.parametrize("options", [{"gtol": 0.0}, {"gtol": 0.0, "norm": 2},
                                     {"gtol": 0.0, "record": 7}])
def test_compiled_and_numpy_tests_agree_without_gtol(monkeypatch, options):
    """Without gtol (and without a record) the compiled tests may skip the norms: the
    results, the record and the statuses stay those of the NumPy tests."""
    fast = _run(monkeypatch, True, **options)
    with monkeypatch.context() as m:
        slow = _run(m, False, **options)
    for key in ("status", "nit", "nfev", "njev", "x", "best_x", "fun", "jac"):
        np.testing.assert_array_equal(fast[key], slow[key], err_msg=key)
    assert fast.message == slow.message
    if "record" in options:
        for key, val in slow.trajectory.items():
            np.testing.assert_array_equal(fast.trajectory[key], val, err_msg=key)


@pytest.mark.parametrize("fast", [True, False])
def test_an_error_mid_batch_carries_the_steps_taken(monkeypatch, fast):
    """The counts of the steps every member ran are added late: an objective that raises
    on its fifth call (the start, then steps 1-3 done) still reports nit = 3."""
    if not fast:
        monkeypatch.setattr(batch_checks, "kernels", lambda: None)
    calls = []

    def fun(X):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return 0.5 * np.sum(X * X, axis=1)

    X0 = np.array([[1.0, 2.0], [0.5, -0.3], [3.0, 1.0]])
    with pytest.raises(RuntimeError) as exc:
        dynopt.minimize(fun, X0, jac=lambda X: X.copy(), method="gd",
                        options={"lr": 0.1, "maxiter": 10, "gtol": 0.0, "vectorized": True})
    assert list(exc.value.nit) == [3, 3, 3]
    np.testing.assert_allclose(exc.value.best_x, X0 * 0.9 ** 3, rtol=1e-15)
    res = dynopt.minimize(lambda X: 0.5 * np.sum(X * X, axis=1), X0, jac=lambda X: X.copy(),
                          method="gd", options={"lr": 0.1, "maxiter": 10, "gtol": 0.0,
                                                "vectorized": True, "maxfev": 7})
    assert list(res.nit) == [6, 6, 6] and list(res.nfev) == [7, 7, 7]
    assert list(res.status) == [2, 2, 2]
