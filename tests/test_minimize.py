"""dynopt.minimize and the SciPy custom-method protocol."""
import numpy as np
import pytest
import scipy.optimize as so

import dynopt

X0 = [1.3, 0.7, 0.8, 1.9, 1.2]
HB = {"lr": 1e-3, "momentum": 0.9, "maxiter": 20000, "gtol": 1e-6}


def test_heavy_ball_reaches_rosenbrock_minimum():
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="heavy_ball", options=HB)
    assert res.success and res.status == 0
    np.testing.assert_allclose(res.x, np.ones(5), atol=1e-4)
    assert np.max(np.abs(so.rosen_der(res.x))) <= 1e-6
    assert res.nfev == res.njev == res.nit + 1
    assert res.fun == pytest.approx(so.rosen(res.x))


def test_same_through_scipy_custom_method():
    ours = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="heavy_ball", options=HB)
    res = so.minimize(so.rosen, X0, jac=so.rosen_der,
                      method=dynopt.method("heavy_ball", lr=1e-3, momentum=0.9),
                      options={"maxiter": 20000, "gtol": 1e-6})
    assert isinstance(res, so.OptimizeResult)
    np.testing.assert_array_equal(res.x, ours.x)
    assert res.nit == ours.nit and res.success


def test_scipy_jac_true_and_tol():
    fg = lambda x: (so.rosen(x), so.rosen_der(x))
    res = so.minimize(fg, X0, jac=True, tol=1e-6, method=dynopt.method("heavy_ball", lr=1e-3),
                      options={"maxiter": 20000})
    np.testing.assert_allclose(res.x, np.ones(5), atol=1e-4)


def test_scipy_rejects_bounds_and_constraints():
    meth = dynopt.method("heavy_ball")
    with pytest.raises(ValueError, match="bounds"):
        so.minimize(so.rosen, X0, jac=so.rosen_der, method=meth, bounds=[(0, 2)] * 5)
    with pytest.raises(ValueError, match="constraints"):
        so.minimize(so.rosen, X0, jac=so.rosen_der, method=meth,
                    constraints=[{"type": "eq", "fun": lambda x: x[0] - 1}])


@pytest.mark.parametrize("via_scipy", [False, True])
def test_callback_styles_and_stop_iteration(via_scipy):
    seen_new, seen_old = [], []

    def new_style(intermediate_result):
        seen_new.append((intermediate_result.nit, intermediate_result.fun))
        if intermediate_result.nit == 7:
            raise StopIteration

    def old_style(xk):
        seen_old.append(np.array(xk))

    for cb in (new_style, old_style):
        opts = {"maxiter": 50, "gtol": 0}
        if via_scipy:
            res = so.minimize(so.rosen, X0, jac=so.rosen_der, callback=cb,
                              method=dynopt.method("heavy_ball", lr=1e-3), options=opts)
        else:
            res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, callback=cb,
                                  options={**opts, "lr": 1e-3})
        if cb is new_style:
            assert res.nit == 7 and not res.success and res.status == 5
            assert "StopIteration" in res.message
            assert [n for n, _ in seen_new] == list(range(1, 8))
            assert seen_new[-1][1] == pytest.approx(so.rosen(res.x))
        else:
            assert res.nit == 50 and len(seen_old) == 50
            np.testing.assert_array_equal(seen_old[-1], res.x)


def test_exact_number_of_steps_with_gtol_zero():
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, options={"maxiter": 123, "gtol": 0})
    assert res.nit == 123 and res.status == 1 and not res.success


def test_finite_differences_are_counted():
    steps = 30
    res = dynopt.minimize(so.rosen, X0, options={"maxiter": steps, "gtol": 0, "lr": 1e-3})
    assert res.nfev == (len(X0) + 1) * (steps + 1) and res.njev == 0
    exact = dynopt.minimize(so.rosen, X0, jac=so.rosen_der,
                            options={"maxiter": steps, "gtol": 0, "lr": 1e-3})
    # forward differences carry an O(sqrt(eps) |f''|) error per gradient
    np.testing.assert_allclose(res.x, exact.x, rtol=1e-4)
    central = dynopt.minimize(so.rosen, X0, jac="3-point", options={"maxiter": steps, "gtol": 0})
    assert central.nfev == (2 * len(X0) + 1) * (steps + 1)


def test_finite_difference_step_is_an_option():
    # forward differences err by about h f''/2: a coarse step moves the first gradient by that much
    opts = {"maxiter": 1, "gtol": 0, "lr": 1e-4, "momentum": 0.0}
    exact = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, options=opts)
    fine = dynopt.minimize(so.rosen, X0, options=opts)
    coarse = dynopt.minimize(so.rosen, X0, options={**opts, "finite_diff_rel_step": 1e-3})
    err_fine = np.abs(fine.x - exact.x).max()
    err_coarse = np.abs(coarse.x - exact.x).max()
    assert err_coarse > 100 * err_fine
    # the forward-difference error of coordinate 0 is h/2 d2f/dx0^2 with h = 1e-3 max(1, |x0|)
    h = 1e-3 * max(1.0, abs(X0[0]))
    d2 = 1200 * X0[0] ** 2 - 400 * X0[1] + 2
    np.testing.assert_allclose((exact.x[0] - coarse.x[0]) / 1e-4, h / 2 * d2, rtol=0.05)


def test_record_trajectory():
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="nose_hoover",
                          options={"maxiter": 40, "gtol": 0, "dt": 1e-3, "record": True,
                                   "temperature": 0.1})
    tr = res.trajectory
    assert tr["x"].shape == (41, 5)
    np.testing.assert_array_equal(tr["step"], np.arange(41))
    np.testing.assert_allclose(tr["fun"], [so.rosen(x) for x in tr["x"]])
    np.testing.assert_allclose(tr["grad_norm"], [np.abs(so.rosen_der(x)).max() for x in tr["x"]])
    assert {"kinetic", "potential", "total", "zeta", "eta", "thermostat"} <= set(tr)
    np.testing.assert_allclose(tr["total"], tr["kinetic"] + tr["potential"] + tr["thermostat"])
    strided = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="nose_hoover",
                              options={"maxiter": 40, "gtol": 0, "dt": 1e-3, "record": 10,
                                       "temperature": 0.1})
    np.testing.assert_array_equal(strided.trajectory["step"], [0, 10, 20, 30, 40])
    np.testing.assert_allclose(strided.trajectory["x"], tr["x"][::10])


def test_system_object_as_method():
    from dynopt.systems import DampedOscillator
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der,
                          method=DampedOscillator(mass=1.0, damping=2.0),
                          integrator="velocity_verlet", options={"dt": 0.02, "maxiter": 50000})
    assert res.success
    np.testing.assert_allclose(res.x, np.ones(5), atol=1e-4)


def test_batch_equals_one_by_one():
    X = np.array([X0, [0.5] * 5, [-1.0, 1.0, -1.0, 1.0, 0.0]])
    lrs = np.array([1e-3, 2e-3, 5e-4])
    res = dynopt.minimize(so.rosen, X, jac=so.rosen_der,
                          options={"lr": lrs, "maxiter": 3000, "gtol": 1e-5})
    assert res.x.shape == (3, 5) and res.nit.shape == (3,)
    for i in range(3):
        one = dynopt.minimize(so.rosen, X[i], jac=so.rosen_der,
                              options={"lr": lrs[i], "maxiter": 3000, "gtol": 1e-5})
        # a single run steps with the single-member kernels (scalars as Python
        # numbers, expressions with fewer operations): equal to round-off
        np.testing.assert_allclose(res.x[i], one.x, rtol=1e-13, atol=1e-15)
        assert res.nit[i] == one.nit and res.status[i] == one.status
        assert res.nfev[i] == one.nfev


def test_vectorized_batch():
    X = np.array([X0, [0.5] * 5])
    fun = lambda X: np.array([so.rosen(x) for x in X])
    jac = lambda X: np.array([so.rosen_der(x) for x in X])
    res = dynopt.minimize(fun, X, jac=jac, options={"vectorized": True, "maxiter": 100, "gtol": 0})
    ref = dynopt.minimize(so.rosen, X, jac=so.rosen_der, options={"maxiter": 100, "gtol": 0})
    np.testing.assert_array_equal(res.x, ref.x)


# ------------------------------------------------------------------ failures
def test_nan_during_run_returns_best_point():
    def fun(x):
        return np.nan if x[0] < 0.5 else float((x[0] - 0.2) ** 2)

    def jac(x):
        return np.array([2 * (x[0] - 0.2)])

    res = dynopt.minimize(fun, [1.0], jac=jac, method="gd", options={"lr": 0.1, "maxiter": 100})
    assert res.status == 3 and not res.success
    assert "NaN or Inf" in res.message and "best point" in res.message
    assert res.x[0] >= 0.5 and res.fun == pytest.approx(fun(res.x))
    assert res.fun == res.best_fun


def test_divergence_is_reported():
    res = dynopt.minimize(lambda x: float(x @ x), [1.0, 2.0], jac=lambda x: 2 * x, method="gd",
                          options={"lr": 1.5, "maxiter": 1000})
    assert res.status == 4 and not res.success and "Diverged" in res.message
    np.testing.assert_array_equal(res.x, [1.0, 2.0])  # the best point is the start
    assert res.fun == 5.0


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_overflow_in_a_scalar_stage_stops_with_the_best_point(backend):
    # The chain thermostat's scalar stages take exp() of a friction that grows without
    # bound on Rosenbrock with yoshida4's large sub-steps: Python's math.exp raises
    # OverflowError where NumPy would give Inf. The run must stop as for NaN or Inf.
    x0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    res = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method="nose_hoover_chain",
                          integrator="yoshida4", backend=backend, options={"maxiter": 40})
    assert res.status == 3 and not res.success
    assert "in a scalar of the step" in res.message and "best point" in res.message
    assert np.isfinite(res.x).all() and res.fun == pytest.approx(so.rosen(res.x))
    assert res.fun == res.best_fun <= so.rosen(x0)
    np.testing.assert_allclose(res.jac, so.rosen_der(res.x))


@pytest.mark.parametrize("x0,err,match", [
    ([], ValueError, "x0 must not be empty"),
    (["a", "b"], TypeError, "x0 must be numeric"),
    ([1.0, np.nan], ValueError, "x0 contains NaN"),
    ([1.0, np.inf], ValueError, "x0 contains NaN"),
    (np.zeros((2, 2, 2)), ValueError, "x0 must be 1-D"),
])
def test_bad_x0(x0, err, match):
    with pytest.raises(err, match=match):
        dynopt.minimize(so.rosen, x0, jac=so.rosen_der)


@pytest.mark.parametrize("method,opt,value", [
    ("heavy_ball", "lr", 0.0), ("heavy_ball", "lr", -1e-3), ("damped_oscillator", "mass", 0.0),
    ("damped_oscillator", "dt", -0.1), ("nose_hoover", "Q", -1.0), ("heavy_ball", "momentum", 1.5),
])
def test_bad_hyperparameters_name_the_argument(method, opt, value):
    with pytest.raises(ValueError, match=f"'{opt}'"):
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method=method, options={opt: value})


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'bfgs'.*heavy_ball"):
        dynopt.minimize(so.rosen, X0, method="bfgs")
    with pytest.raises(ValueError, match="unknown integrator 'rk4'.*velocity_verlet"):
        dynopt.minimize(so.rosen, X0, integrator="rk4")
    with pytest.raises(ValueError, match="unknown backend 'jax'.*numpy"):
        dynopt.minimize(so.rosen, X0, backend="jax")
    with pytest.raises(TypeError, match="unknown option.*'learning_rate'.*valid: .*'lr'"):
        dynopt.minimize(so.rosen, X0, options={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="discrete rule"):
        dynopt.minimize(so.rosen, X0, method="nesterov", integrator="velocity_verlet")
    with pytest.raises(TypeError, match="unknown option"):
        dynopt.method("heavy_ball", lrr=1.0)


def test_jac_of_wrong_shape():
    with pytest.raises(ValueError, match=r"jac returned an array of shape \(3,\)"):
        dynopt.minimize(so.rosen, X0, jac=lambda x: np.zeros(3))


def test_bad_loop_options():
    with pytest.raises(ValueError, match="maxiter"):
        dynopt.minimize(so.rosen, X0, options={"maxiter": -1})
    with pytest.raises(ValueError, match="gtol"):
        dynopt.minimize(so.rosen, X0, tol=-1.0)
    with pytest.raises(ValueError, match="record"):
        dynopt.minimize(so.rosen, X0, options={"record": "yes"})


def test_maxfev_stops_the_run():
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, options={"maxfev": 10, "gtol": 0})
    assert res.status == 2 and res.nfev == 10


def test_method_listing_has_defaults():
    listing = dynopt.describe_methods()
    assert listing["heavy_ball"]["hyperparameters"] == {"lr": 1e-3, "momentum": 0.9}
    for name in dynopt.METHODS:
        assert name in listing


def test_heavy_ball_is_pytorch_sgd_momentum():
    # torch.optim.SGD(momentum=mu): b <- mu b + g ; x <- x - lr b
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 6)
    lr, mu = 1e-3, 0.8
    res = dynopt.minimize(so.rosen, x, jac=so.rosen_der,
                          options={"lr": lr, "momentum": mu, "maxiter": 25, "gtol": 0})
    b = np.zeros_like(x)
    for _ in range(25):
        b = mu * b + so.rosen_der(x)
        x = x - lr * b
    np.testing.assert_allclose(res.x, x, rtol=1e-13, atol=1e-15)


def test_nesterov_is_pytorch_nesterov():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 6)
    lr, mu = 1e-3, 0.9
    res = dynopt.minimize(so.rosen, x, jac=so.rosen_der, method="nesterov",
                          options={"lr": lr, "momentum": mu, "maxiter": 25, "gtol": 0})
    b = np.zeros_like(x)
    for _ in range(25):
        g = so.rosen_der(x)
        b = mu * b + g
        x = x - lr * (g + mu * b)
    np.testing.assert_allclose(res.x, x, rtol=1e-13, atol=1e-15)


def test_gd_is_x_minus_lr_g():
    x = np.array(X0)
    res = dynopt.minimize(so.rosen, x, jac=so.rosen_der, method="gd",
                          options={"lr": 1e-4, "maxiter": 10, "gtol": 0})
    for _ in range(10):
        x = x - 1e-4 * so.rosen_der(x)
    np.testing.assert_allclose(res.x, x, rtol=1e-14)


def test_float32_run_stays_float32():
    res = dynopt.minimize(so.rosen, np.array(X0, dtype=np.float32), jac=so.rosen_der,
                          options={"maxiter": 50, "gtol": 0})
    assert res.x.dtype == np.float32
    ref = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, options={"maxiter": 50, "gtol": 0})
    # float32 round-off (6e-8) amplified over 50 steps of a stiff map stays below 1e-4
    np.testing.assert_allclose(res.x, ref.x, rtol=0, atol=1e-4)
    assert np.abs(res.x - ref.x).max() > 0  # it really ran in single precision


def test_generated_source_is_inspectable():
    from dynopt.backends import get_backend
    from dynopt._minimize import build_program
    prog, _, _ = build_program("heavy_ball")
    src = get_backend("numpy").compile(prog).source
    assert "def before(S, P):" in src and "momentum" in src
    assert "Gradient" not in src
    assert "g, f <- grad f(x)" in str(prog)


def test_state_keeps_per_coordinate_values_whole():
    # FANoS under velocity Verlet carries its mass m across the gradient evaluation
    x0 = np.full(4, 0.5)
    res = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method="fanos",
                          integrator="velocity_verlet", options={"maxiter": 5, "gtol": 0})
    for key in ("x", "g", "v", "exp_avg_sq", "rms_mass"):
        assert np.shape(res.state[key]) == (4,), key
    for key in ("zeta", "T_ema", "k"):
        assert np.ndim(res.state[key]) == 0, key
    np.testing.assert_array_equal(res.state["x"], res.x)
    batch = dynopt.minimize(so.rosen, np.stack([x0, x0 + 0.1]), jac=so.rosen_der, method="fanos",
                            integrator="velocity_verlet", options={"maxiter": 5, "gtol": 0})
    assert batch.state["rms_mass"].shape == (2, 4) and batch.state["zeta"].shape == (2,)
    np.testing.assert_array_equal(batch.state["rms_mass"][0], res.state["rms_mass"])


def test_python_m_dynopt_is_the_command_line():
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "dynopt", "methods", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(json.loads(out.stdout)) == sorted(dynopt.METHODS)
