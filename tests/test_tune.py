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
