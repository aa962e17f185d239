"""Curvature by Lanczos and hyperparameters from the one-step map (dynopt.tuning)."""
import numpy as np
import pytest

import dynopt
from dynopt.analysis import predicted_rate
from dynopt.curvature import hessian_extremes
from dynopt.problems.quadratic import Quadratic
from dynopt.tuning import TUNABLE, tune


def _spd(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    return A @ A.T / n + 0.05 * np.eye(n)


# ------------------------------------------------------------------ curvature
@pytest.mark.parametrize("difference", ["forward", "central"])
def test_full_lanczos_finds_the_extreme_eigenvalues(difference):
    n = 20
    A = _spd(n, 0)
    ev = np.linalg.eigvalsh(A)
    x0 = np.random.default_rng(1).standard_normal(n)
    est = hessian_extremes(lambda x: 0.5 * x @ A @ x, x0, jac=lambda x: A @ x, iterations=n,
                           difference=difference)
    assert est.lam_min == pytest.approx(ev[0], rel=1e-6)
    assert est.lam_max == pytest.approx(ev[-1], rel=1e-6)
    # every evaluation counted: forward = one at x0 plus one per product, central = two
    assert est.njev == (est.iterations + 1 if difference == "forward" else 2 * est.iterations)
    assert est.nfev == 0


def test_partial_lanczos_brackets_and_bounds():
    """After k < n steps the Ritz values lie inside the spectrum, and an eigenvalue lies
    within each extreme's residual bound (exact products through hessp)."""
    n = 60
    A = _spd(n, 2)
    ev = np.linalg.eigvalsh(A)
    est = hessian_extremes(None, np.zeros(n), hessp=lambda x, v: A @ v, iterations=12)
    assert est.nhessp == 12 and est.njev == 0
    assert ev[0] - 1e-12 <= est.lam_min and est.lam_max <= ev[-1] + 1e-12
    for theta, err in ((est.lam_min, est.err_min), (est.lam_max, est.err_max)):
        assert np.min(np.abs(ev - theta)) <= err * (1 + 1e-9) + 1e-12


def test_jac_true_counts_function_evaluations_and_batches():
    A = _spd(8, 3)
    fg = lambda x: (0.5 * x @ A @ x, A @ x)   # noqa: E731
    X0 = np.random.default_rng(0).standard_normal((3, 8))
    est = hessian_extremes(fg, X0, jac=True, iterations=8, difference="forward")
    assert len(est.members) == 3 and est.njev == est.nfev == 3 * 9
    assert est.lam_max == pytest.approx(np.linalg.eigvalsh(A)[-1], rel=1e-6)


def test_curvature_needs_a_gradient():
    with pytest.raises(ValueError, match="needs the gradient"):
        hessian_extremes(lambda x: float(x @ x), np.ones(3))


# ------------------------------------------------------------------ tuning
@pytest.mark.parametrize("kappa", [1e2, 1e4, 1e6])
def test_heavy_ball_minimax_is_polyaks_tuning(kappa):
    """On the exact spectrum with no margin the minimax solution is Polyak's (1964)."""
    mu, L = 1.0 / kappa, 1.0
    res = tune(None, np.zeros(2), method="heavy_ball", curvature=(mu, L), margin=0.0)
    sk = np.sqrt(kappa)
    assert res.options["lr"] == pytest.approx(4 / (np.sqrt(L) + np.sqrt(mu)) ** 2, rel=2e-2)
    assert res.options["momentum"] == pytest.approx(((sk - 1) / (sk + 1)) ** 2, rel=2e-3)
    # the optimal rate, and the analysis module's own prediction at the extremes
    assert 1 - res.rate == pytest.approx(1 - (sk - 1) / (sk + 1), rel=1e-2)
    for lam_ in (mu, L):
        assert predicted_rate("heavy_ball", lam_, options=res.options) <= res.rate * (1 + 1e-9)


def test_gradient_descent_minimax_is_two_over_mu_plus_L():
    res = tune(None, np.zeros(2), method="gd", curvature=(0.1, 3.0), margin=0.0)
    assert res.options["lr"] == pytest.approx(2 / 3.1, rel=1e-4)
    assert res.rate == pytest.approx((3.0 - 0.1) / 3.1, rel=1e-4)


@pytest.mark.parametrize("n", [10, 30])
@pytest.mark.parametrize("kappa", [1e2, 1e4, 1e6])
def test_tuned_heavy_ball_needs_at_most_1_2_times_polyaks_steps(n, kappa):
    """Target of the issue: tuning cost included, against Polyak's tuning from the exact
    eigenvalues, to the same gtol."""
    Q = Quadratic.with_condition(n, kappa, rotate=True, seed=1, largest=1.0,
                                 center=np.ones(n))
    mu, L = Q.eigenvalues.min(), Q.eigenvalues.max()
    sk = np.sqrt(L / mu)
    polyak = {"lr": 4 / (np.sqrt(L) + np.sqrt(mu)) ** 2, "momentum": ((sk - 1) / (sk + 1)) ** 2}
    res = tune(Q.fun_and_grad, np.zeros(n), jac=True)
    # forward differences of gradients: exact up to ~sqrt(eps) L on a quadratic
    assert res.lam_max <= L + 1e-6 * L and res.lam_min >= mu - 1e-6 * L
    opts = {"maxiter": 200000, "gtol": 1e-8}
    tuned = dynopt.minimize(Q.fun_and_grad, np.zeros(n), jac=True, method="heavy_ball",
                            options={**res.options, **opts})
    ref = dynopt.minimize(Q.fun_and_grad, np.zeros(n), jac=True, method="heavy_ball",
                          options={**polyak, **opts})
    assert tuned.status == 0 and ref.status == 0
    assert tuned.nit + res.njev <= 1.2 * ref.nit


def test_damped_oscillator_under_a_conformal_integrator():
    Q = Quadratic.with_condition(10, 1e3, rotate=True, seed=0, largest=1.0)
    res = tune(Q.fun_and_grad, np.ones(10), jac=True, method="damped_oscillator",
               integrator="conformal_euler")
    assert set(res.options) == {"dt", "damping"} and res.rate < 1
    run = dynopt.minimize(Q.fun_and_grad, np.ones(10), jac=True, method="damped_oscillator",
                          integrator="conformal_euler",
                          options={**res.options, "maxiter": 20000, "gtol": 1e-8})
    assert run.status == 0
    # the rate the run shows is the predicted one, roughly (a handful of steps either way)
    assert run.nit <= 1.5 * res.steps_to(1e-8) + 50


def test_unsupported_methods_and_bad_points_are_named():
    with pytest.raises(ValueError, match="not supported"):
        tune(None, np.zeros(2), method="adam", curvature=(1.0, 2.0))
    with pytest.raises(ValueError, match="not positive"):
        tune(lambda x: (float(-x @ x), -2 * x), np.ones(3), jac=True)
    with pytest.raises(ValueError, match="margin"):
        tune(None, np.zeros(2), curvature=(1.0, 2.0), margin=-1)
    assert "heavy_ball" in TUNABLE


def test_atoms_curvature_matches_the_numerical_hessian():
    """LJ13 at its minimum: Lanczos on the forces against the eigenvalues of the
    central-difference Hessian of ASE's forces; the positions are restored."""
    ase = pytest.importorskip("ase")
    from ase.calculators.lj import LennardJones
    from ase.cluster import Icosahedron
    from ase.optimize import BFGS

    from dynopt.curvature import atoms_curvature

    atoms = Icosahedron("Ar", 2, latticeconstant=2 ** (2 / 3) * 1.0)
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=10.0)
    BFGS(atoms, logfile=None).run(fmax=1e-6)
    before = atoms.get_positions().copy()
    est = atoms_curvature(atoms, iterations=39)
    np.testing.assert_array_equal(atoms.get_positions(), before)
    h = 1e-4
    x0 = before.reshape(-1)
    H = np.empty((39, 39))
    for i in range(39):
        e = np.zeros(39)
        e[i] = h
        atoms.set_positions((x0 + e).reshape(-1, 3))
        fp = atoms.get_forces().reshape(-1)
        atoms.set_positions((x0 - e).reshape(-1, 3))
        fm = atoms.get_forces().reshape(-1)
        H[:, i] = -(fp - fm) / (2 * h)
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert est.lam_max == pytest.approx(ev[-1], rel=1e-4)
    assert abs(est.lam_min) < 1e-3 * ev[-1]      # the six zero modes of a free cluster


def test_minimize_tune_option_counts_its_evaluations():
    Q = Quadratic.with_condition(20, 1e4, rotate=True, seed=3, largest=1.0, center=np.ones(20))
    calls = {"n": 0}

    def fg(x):
        calls["n"] += 1
        return Q.fun_and_grad(x)

    res = dynopt.minimize(fg, np.zeros(20), jac=True, method="heavy_ball",
                          options={"tune": True, "gtol": 1e-8, "maxiter": 100000})
    assert res.status == 0
    assert res.nfev == calls["n"] and res.njev == calls["n"]   # tuning included
    assert res.tuning["njev"] > 0 and set(res.tuning["options"]) == {"lr", "momentum"}
    assert res.hyperparameters["lr"] == pytest.approx(res.tuning["options"]["lr"])
    with pytest.raises(ValueError, match="chooses"):
        dynopt.minimize(fg, np.zeros(20), jac=True, method="heavy_ball",
                        options={"tune": True, "lr": 0.1})
    with pytest.raises(ValueError, match="supports the methods"):
        dynopt.minimize(fg, np.zeros(20), jac=True, method="adam", options={"tune": True})
    with pytest.raises(ValueError, match="give jac"):
        dynopt.minimize(lambda x: Q.fun(x), np.zeros(20), method="heavy_ball",
                        options={"tune": True})
    with pytest.raises(TypeError, match="tune"):
        dynopt.minimize(fg, np.zeros(20), jac=True, method="heavy_ball", options={"tune": 1})


# ------------------------------------------------------------------ negative curvature
def _heavy_ball_escape_closed_form(nu, L):
    """b solving q b (1+b)^2 = (1-b)^2 (1+b+b^2), q = nu / L' with L' = max(L, 2 nu)."""
    from scipy.optimize import brentq
    top = max(L, 2 * nu)
    q = nu / top
    b = brentq(lambda b: q * b * (1 + b) ** 2 - (1 - b) ** 2 * (1 + b + b * b), 1e-12, 1 - 1e-12)
    return {"lr": (1 + b) ** 2 / top, "momentum": b * b}, b


@pytest.mark.parametrize("nu, L", [(0.5, 1.0), (0.1, 1.0), (1e-3, 1.0), (2.0, 1.0)])
def test_heavy_ball_escape_is_the_closed_form(nu, L):
    """On the exact spectrum with no margin, the escape minimax is the explicit solution;
    the growth along -nu is the larger root of z^2 - (1 + beta + eta nu) z + beta."""
    res = tune(None, np.zeros(2), method="heavy_ball", curvature=(-nu, L), margin=0.0)
    want, b = _heavy_ball_escape_closed_form(nu, L)
    assert res.negative_curvature and "negative curvature" in res.reason
    assert res.options["lr"] == pytest.approx(want["lr"], rel=1e-6)
    assert res.options["momentum"] == pytest.approx(want["momentum"], rel=1e-6)
    eta, beta = res.options["lr"], res.options["momentum"]
    growth = max(abs(np.roots([1.0, -(1 + beta + eta * nu), beta])))
    assert res.escape_rate == pytest.approx(growth, rel=1e-9)
    assert res.rate == pytest.approx(b, rel=1e-6) and 1 / growth == pytest.approx(b, rel=1e-6)
    # the escape damping is smaller than the convex tune's on the same |lambda| interval
    convex = tune(None, np.zeros(2), method="heavy_ball", curvature=(nu, max(L, 2 * nu)),
                  margin=0.0)
    assert res.options["momentum"] > convex.options["momentum"]


@pytest.mark.parametrize("method, integrator", [("gd", None), ("heavy_ball", None),
                                                ("nesterov", None), ("gradient_flow", None),
                                                ("damped_oscillator", None),
                                                ("damped_oscillator", "conformal_euler")])
def test_escape_grows_along_the_negative_direction_and_keeps_the_rest_stable(method,
                                                                              integrator):
    from dynopt.analysis import step_matrix
    nu, L, margin = 0.3, 2.0, 0.05
    res = tune(None, np.zeros(2), method=method, integrator=integrator, curvature=(-nu, L),
               margin=margin)
    assert res.negative_curvature and res.escape_rate > 1 and res.rate < 1
    step = step_matrix(method, integrator, res.options)
    rho = step.spectral_radius(np.geomspace(1e-6 * nu, (1 + margin) * L, 200))
    assert np.all(rho <= 1 + 1e-9)
    # the growth along -nu from the symbolic map itself, evaluated at lambda = -nu
    from dynopt.analysis.continuous import lam
    M = np.array(step.at(**res.options).subs(lam, -nu).evalf(), dtype=float)
    assert max(abs(np.linalg.eigvals(M))) == pytest.approx(res.escape_rate, rel=1e-9)


def test_a_spectrum_without_positive_curvature_is_still_refused():
    with pytest.raises(ValueError, match="no positive curvature"):
        tune(None, np.zeros(2), curvature=(-2.0, -1.0))
    with pytest.raises(ValueError, match="not positive"):
        tune(None, np.zeros(2), curvature=(0.0, 1.0))


# ------------------------------------------------------------------ retuning during a run
def _quartic(a, c):
    """f = sum a_i x_i^2 / 2 + c x_i^4 / 4: Hessian diag(a_i + 3 c x_i^2), minimum at 0."""
    def fg(x):
        return float(0.5 * a @ (x * x) + 0.25 * c * np.sum(x ** 4)), a * x + c * x ** 3
    return fg


def test_retuning_follows_the_curvature_and_equals_tune_at_those_points():
    n = 6
    a = np.linspace(0.5, 2.0, n)
    fg = _quartic(a, 1.0)
    x0 = np.full(n, 2.0)
    res = dynopt.minimize(fg, x0, jac=True, method="heavy_ball",
                          options={"tune": True, "tune_every": 25, "gtol": 1e-9,
                                   "maxiter": 20000, "record": True})
    assert res.status == 0
    hist = res.tuning["history"]
    assert len(hist) >= 3 and hist[0]["step"] == 0
    assert [e["step"] for e in hist[1:]] == [25 * (i + 1) for i in range(len(hist) - 1)]
    traj = res.trajectory
    solved = tune(fg, x0, jac=True, method="heavy_ball")
    assert hist[0]["hyperparameters"] == solved.options
    for before, e in zip(hist, hist[1:]):
        x_at = traj["x"][list(traj["step"]).index(e["step"])]
        ref = tune(fg, x_at, jac=True, method="heavy_ball")
        assert e["lambda_min"] == ref.lam_min and e["lambda_max"] == ref.lam_max
        assert e["njev"] == ref.njev - 1                   # the run's gradient is reused
        assert e["applied"] and not e["negative_curvature"]
        moved = max(abs(a / b - 1) for a, b in zip(ref.interval, solved.interval))
        if e["solved"]:
            assert e["hyperparameters"] == ref.options      # the same choice, bit for bit
            assert moved > 1e-2
            solved = ref
        else:  # within the estimate's 1% of the last solved interval: those values kept
            assert moved <= 1e-2
            assert e["hyperparameters"] == before["hyperparameters"]
    assert sum(e["solved"] for e in hist[1:]) >= 2
    # the curvature fell from a + 3 c 4 at x0 to a at the minimum: a longer step
    assert hist[0]["lambda_max"] == pytest.approx(a[-1] + 12, rel=1e-2)
    assert hist[-1]["lambda_max"] == pytest.approx(a[-1], rel=1e-2)
    assert hist[-1]["hyperparameters"]["lr"] > 3 * hist[0]["hyperparameters"]["lr"]
    assert res.hyperparameters["lr"] == hist[-1]["hyperparameters"]["lr"]
    assert res.tuning["options"] == hist[-1]["hyperparameters"]
    # and the retuned run needs fewer steps than the one tuned at x0 only
    once = dynopt.minimize(fg, x0, jac=True, method="heavy_ball",
                           options={"tune": True, "gtol": 1e-9, "maxiter": 20000})
    assert once.status == 0 and res.nit < once.nit


def test_retuning_keeps_the_state():
    """Between two estimates the run is the plain method with the values in force, from the
    state the previous segment left (velocity included)."""
    n = 4
    fg = _quartic(np.linspace(0.5, 2.0, n), 1.0)
    x0 = np.full(n, 1.5)
    res = dynopt.minimize(fg, x0, jac=True, method="heavy_ball",
                          options={"tune": True, "tune_every": 10, "gtol": 0.0, "maxiter": 30,
                                   "record": True})
    hist = res.tuning["history"]
    x = x0.copy()
    v = np.zeros(n)
    g = fg(x)[1]
    for step in range(30):
        values = [e for e in hist if e["step"] <= step][-1]["hyperparameters"]
        v = values["momentum"] * v - values["lr"] * g
        x = x + v
        g = fg(x)[1]
        np.testing.assert_allclose(res.trajectory["x"][step + 1], x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.state["v"], v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("separate", [False, True])
def test_retuning_counts_every_evaluation(separate):
    n = 5
    a = np.linspace(0.5, 2.0, n)
    fg = _quartic(a, 1.0)
    calls = {"f": 0, "g": 0}

    def both(x):
        calls["f"] += 1
        calls["g"] += 1
        return fg(x)

    def fun(x):
        calls["f"] += 1
        return fg(x)[0]

    def jac(x):
        calls["g"] += 1
        return fg(x)[1]

    kw = {"jac": jac} if separate else {"jac": True}
    res = dynopt.minimize(fun if separate else both, np.full(n, 2.0), method="heavy_ball",
                          options={"tune": True, "tune_every": 7, "gtol": 1e-9,
                                   "maxiter": 5000}, **kw)
    assert res.status == 0
    assert res.nfev == calls["f"] and res.njev == calls["g"]
    hist = res.tuning["history"]
    assert len(hist) > 2
    assert res.tuning["njev"] == sum(e["njev"] for e in hist)
    assert res.tuning["nfev"] == sum(e["nfev"] for e in hist)
    # the loop's own: one evaluation at x0 and one per step
    assert res.njev - res.tuning["njev"] == res.nit + 1
    if separate:
        assert res.tuning["nfev"] == 0 and res.nfev == res.nit + 1


def test_retuning_stays_inside_maxfev():
    n = 5
    fg = _quartic(np.linspace(0.5, 2.0, n), 1.0)
    calls = {"n": 0}

    def counted(x):
        calls["n"] += 1
        return fg(x)

    res = dynopt.minimize(counted, np.full(n, 2.0), jac=True, method="heavy_ball",
                          options={"tune": True, "tune_every": 3, "gtol": 0.0,
                                   "maxiter": 10000, "maxfev": 40})
    assert res.status == 2 and res.nfev == calls["n"]
    # the estimate at x0 comes before the run's budget (as without tune_every); the rest
    # of the evaluations, the run's and the later estimates', stay within maxfev
    assert res.nfev - res.tuning["history"][0]["nfev"] <= 40


def test_tune_every_beyond_the_run_is_the_one_shot_tune_bit_for_bit():
    n = 6
    fg = _quartic(np.linspace(0.5, 2.0, n), 1.0)
    x0 = np.full(n, 2.0)
    for extra in ({"gtol": 1e-9, "maxiter": 20000}, {"gtol": 0.0, "maxiter": 40}):
        base = {"tune": True, "record": True, **extra}
        once = dynopt.minimize(fg, x0, jac=True, method="heavy_ball", options=base)
        every = extra["maxiter"] if extra["gtol"] == 0 else 10 ** 6
        later = dynopt.minimize(fg, x0, jac=True, method="heavy_ball",
                                options={**base, "tune_every": every})
        for key in ("x", "fun", "jac", "nit", "nfev", "njev", "status", "best_x", "best_fun"):
            np.testing.assert_array_equal(later[key], once[key])
        for key in once.trajectory:
            np.testing.assert_array_equal(later.trajectory[key], once.trajectory[key])
        assert later.hyperparameters == once.hyperparameters
        assert later.tuning["history"] == once.tuning["history"]
        assert len(later.tuning["history"]) == 1 and later.tuning["every"] == every
        for key in ("options", "lam_min", "lam_max", "rate", "nfev", "njev"):
            assert later.tuning[key] == once.tuning[key]


def _saddle(z):
    """f = x^2 - y^2 + y^4 / 4: a saddle at 0 (Hessian diag(2, -2)), minima at (0, +-sqrt 2)
    (Hessian diag(2, 4))."""
    x, y = z
    return float(x * x - y * y + 0.25 * y ** 4), np.array([2 * x, -2 * y + y ** 3])


def test_saddle_start_records_negative_curvature_and_retuning_is_faster():
    x0 = np.array([1.0, 1e-3])
    opts = {"gtol": 1e-8, "maxiter": 5000, "tune": True}
    once = dynopt.minimize(_saddle, x0, jac=True, method="heavy_ball", options=opts)
    first = once.tuning["history"][0]
    assert first["negative_curvature"] and first["lambda_min"] == pytest.approx(-2, rel=1e-3)
    assert first["escape_rate"] > 1 and "negative curvature" in first["reason"]
    assert once.status == 0          # the escape values are stable at the minimum too
    for every in (5, 10, 20):
        res = dynopt.minimize(_saddle, x0, jac=True, method="heavy_ball",
                              options={**opts, "tune_every": every})
        hist = res.tuning["history"]
        assert res.status == 0 and abs(res.x[1]) == pytest.approx(np.sqrt(2), rel=1e-6)
        assert hist[0]["negative_curvature"] and not hist[-1]["negative_curvature"]
        assert hist[-1]["lambda_min"] == pytest.approx(2, rel=1e-2)
        assert hist[-1]["lambda_max"] == pytest.approx(4, rel=1e-2)
        # fewer steps to gtol, and fewer gradients all told
        assert res.nit < once.nit and res.njev < once.njev, (every, res.nit, once.nit)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "a", True])
def test_bad_tune_every_is_named(bad):
    fg = _quartic(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="tune_every"):
        dynopt.minimize(fg, np.ones(3), jac=True, method="heavy_ball",
                        options={"tune": True, "tune_every": bad})


def test_tune_every_needs_tune_and_the_python_loop():
    fg = _quartic(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="needs options\\['tune'\\]=True"):
        dynopt.minimize(fg, np.ones(3), jac=True, method="heavy_ball",
                        options={"tune_every": 5})
    with pytest.raises(ValueError, match="vectorized"):
        dynopt.minimize(lambda X: (np.sum(X * X, axis=1), 2 * X), np.ones(3), jac=True,
                        method="heavy_ball",
                        options={"tune": True, "tune_every": 5, "vectorized": True})
    with pytest.raises(ValueError, match="compiled"):
        dynopt.minimize(fg, np.ones(3), jac=True, method="heavy_ball",
                        options={"tune": True, "tune_every": 5, "compiled": True})


def test_retuning_a_concave_stretch_keeps_the_values_and_says_so():
    """Where no positive curvature is measured the step has no bound: the values in force
    are kept and the entry says why (the Retuner on a state of its own: f = -|x|^2)."""
    from dynopt.stepper import get_stepper
    from dynopt.tuning import Retuner

    def fg(x):
        return float(-np.sum(x * x)), -2 * x

    st = get_stepper("heavy_ball")
    x = np.ones((1, 3))
    f, g = fg(x[0])
    state = st.init(x, np.array([f]), g[None, :], {"lr": 0.1, "momentum": 0.5})
    rt = Retuner(fg, True, (), "heavy_ball", None, {}, every=5)
    spent = rt(state, 5, g, 0)
    entry = rt.history[-1]
    assert not entry["applied"] and "no positive curvature" in entry["reason"]
    assert entry["negative_curvature"] and state.params == {"lr": 0.1, "momentum": 0.5}
    assert spent == (entry["nfev"], entry["njev"]) and entry["njev"] >= 1


def test_retuning_reaches_the_numba_kernels():
    """The new values are read by the compiled Numba kernels too (not only by the NumPy
    single-member ones): the same run on both backends, step for step."""
    pytest.importorskip("numba")
    from dynopt.backends.numba_backend import NumbaBackend
    n = 12
    fg = _quartic(np.linspace(0.5, 2.0, n), 1.0)
    opts = {"tune": True, "tune_every": 20, "gtol": 1e-9, "maxiter": 2000, "record": True}
    ref = dynopt.minimize(fg, np.full(n, 2.0), jac=True, method="heavy_ball", options=opts)
    got = dynopt.minimize(fg, np.full(n, 2.0), jac=True, method="heavy_ball", options=opts,
                          backend=NumbaBackend(small_threshold=1))   # the Numba kernels
    assert ref.status == 0 and got.nit == ref.nit and len(ref.tuning["history"]) >= 3
    assert got.tuning["history"] == ref.tuning["history"]
    np.testing.assert_allclose(got.trajectory["x"], ref.trajectory["x"], rtol=1e-12,
                               atol=1e-15)


def test_gradient_flow_tunes_as_gradient_descent_at_a_saddle():
    # gradient flow under explicit Euler is gradient descent with lr = dt: one map, so one
    # choice, also on the escape branch (a start of Rosenbrock-100D with negative
    # curvature); the search once started dt at the second-order scale 1/sqrt(L), deep in
    # the unstable region, and returned a choice with a worst contraction of 19
    from scipy.optimize import rosen, rosen_der
    x0 = np.random.default_rng(0).uniform(-2, 2, 100)
    gd = dynopt.tune(rosen, x0, jac=rosen_der, method="gd")
    flow = dynopt.tune(rosen, x0, jac=rosen_der, method="gradient_flow")
    assert gd.negative_curvature and flow.negative_curvature
    assert flow.options["dt"] == pytest.approx(gd.options["lr"], rel=1e-6)
    assert flow.rate == pytest.approx(gd.rate, rel=1e-6) and flow.rate < 1


def test_a_choice_that_does_not_contract_is_refused(monkeypatch):
    from dynopt import tuning
    monkeypatch.setattr(tuning, "minimax_hyperparameters",
                        lambda step, names, lo, hi, *a, **k: ({"lr": 10.0 / hi}, 9.0))
    with pytest.raises(ValueError, match="no stable choice found for 'gd'"):
        dynopt.tune(lambda y: (0.5 * float(y @ y), y), np.ones(4), jac=True, method="gd")
