"""The preconditioned heavy ball: the damped oscillator under a diagonal metric.

References, independent of the generated kernels: the equations of motion written by
hand from m d xddot + c d xdot + grad f = 0, a loop written from the heavy ball's
update with the learning rate lr/d_i, the closed-form roots of the heavy ball's
characteristic polynomial z^2 - (1 + a - lr mu) z + a at mu = lambda_i/d_i, and the
Hessian's diagonal of quadratics whose matrix is known.
"""
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.analysis import predicted_rate
from dynopt.methods.preconditioned import (as_metric, hessian_diagonal,
                                           minimize_preconditioned)
from dynopt.program import g
from dynopt.systems import DampedOscillator, PreconditionedOscillator
from dynopt.systems.base import v
from dynopt.systems.damped_oscillator import damping, mass
from dynopt.systems.preconditioned import metric

N = 8
LAM = np.geomspace(1.0, 1e4, N)          # kappa = 1e4, diagonal in the coordinates
XSTAR = np.linspace(-1.0, 1.0, N)


def fun(y):
    return 0.5 * float(LAM @ ((y - XSTAR) ** 2))


def jac(y):
    return LAM * (y - XSTAR)


def heavy_ball_rate(lr, a, mu):
    """Closed form: the largest root modulus of z^2 - (1 + a - lr mu) z + a."""
    return float(np.max(np.abs(np.roots([1.0, -(1.0 + a - lr * mu), a]))))


def observed_rate(errors, start, stop):
    """(|e_stop| / |e_start|)^(1/(stop - start)) of the 2-norm over the state (x_k, x_{k-1})."""
    def size(k):
        return np.hypot(np.linalg.norm(errors[k]), np.linalg.norm(errors[k - 1]))
    return (size(stop) / size(start)) ** (1.0 / (stop - start))


# ------------------------------------------------------------------ the system
def test_vector_field_is_the_hand_written_equation():
    field = PreconditionedOscillator().vector_field()
    assert field.xdot == v
    # m d vdot = -g - c d v
    assert sp.simplify(field.vdot - (-g / (mass * metric) - damping * v / mass)) == 0
    assert field.extra_vectors == {metric: 1}
    # D = 1 is the damped oscillator
    plain = DampedOscillator().vector_field()
    assert sp.simplify(field.vdot.subs(metric, 1) - plain.vdot) == 0


def test_energy_decays_as_the_metric_dissipation():
    # dE/dt = sum_i (m d v vdot + g v) = -c d v^2 along the flow
    field = PreconditionedOscillator().vector_field()
    dE = mass * metric * v * field.vdot + g * field.xdot
    assert sp.simplify(dE + damping * metric * v**2) == 0


def test_unit_metric_is_the_heavy_ball_bit_for_bit():
    opts = {"lr": 1e-4, "momentum": 0.9, "maxiter": 200, "gtol": 0.0}
    a = dynopt.minimize(fun, np.zeros(N), jac=jac, method="preconditioned_heavy_ball",
                        options=opts)
    b = dynopt.minimize(fun, np.zeros(N), jac=jac, method="heavy_ball", options=opts)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.state["v"], b.state["v"])
    assert np.array_equal(a.state["metric"], np.ones(N))
    c = minimize_preconditioned(fun, np.zeros(N), jac, metric="identity", options=opts)
    assert np.array_equal(c.x, b.x)


def test_run_with_a_given_metric_is_the_hand_written_loop():
    rng = np.random.default_rng(1)
    d = LAM * rng.uniform(0.5, 2.0, N)
    lr, a, steps = 0.7, 0.2, 60
    res = minimize_preconditioned(fun, np.zeros(N), jac, metric=d,
                                  options={"lr": lr, "momentum": a, "maxiter": steps,
                                           "gtol": 0.0})
    y, u = np.zeros(N), np.zeros(N)
    for _ in range(steps):
        u = a * u - lr * jac(y) / d
        y = y + u
    np.testing.assert_allclose(res.x, y, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(res.metric, d)
    np.testing.assert_array_equal(res.state["metric"], d)
    assert res.nit == steps and res.njev == steps + 1 and res.metric_estimate is None


# ------------------------------------------------------------------ the rates
def _spread_metric():
    """d_i = lambda_i s_i with s_i from 1/2 to 2: the preconditioned spectrum is 1/s_i."""
    return LAM * np.geomspace(0.5, 2.0, N)


@pytest.mark.parametrize("lr,a", [(0.8, 0.1), (0.5, 0.3)])
def test_each_coordinate_contracts_at_the_heavy_ball_rate_of_lambda_over_d(lr, a):
    d = _spread_metric()
    mu = LAM / d
    opts = {"lr": lr, "momentum": a}
    res = minimize_preconditioned(fun, np.zeros(N), jac, metric=d,
                                  options={**opts, "maxiter": 120, "gtol": 0.0,
                                           "record": True})
    err = res.trajectory["x"] - XSTAR
    rates = []
    for i in range(N):
        predicted = predicted_rate("heavy_ball", mu[i], options=opts)
        assert predicted == pytest.approx(heavy_ball_rate(lr, a, mu[i]), rel=1e-12)
        rates.append(predicted)
        # a window that ends before the error reaches round-off (1e-11 of the start)
        stop = int(np.log(1e-11) / np.log(predicted))
        observed = observed_rate(err[:, [i]], stop // 3, stop)
        # complex roots make the error rotate: a few per cent over a finite window
        assert observed == pytest.approx(predicted, rel=0.08), (i, mu[i])
    # the whole run contracts at the slowest coordinate's rate
    worst = max(rates)
    stop = int(np.log(1e-11) / np.log(worst))
    assert observed_rate(err, stop // 3, stop) == pytest.approx(worst, rel=0.03)
    # and the preconditioned rates are far below the heavy ball's on the raw spectrum
    raw = max(heavy_ball_rate(lr, a, lam) for lam in LAM)
    assert raw > 1.0 and worst < 0.6


def test_preconditioning_beats_the_heavy_ball_tuned_on_the_raw_spectrum():
    def tuned(lo, hi):   # Polyak's optimal heavy ball on [lo, hi]
        s, t = np.sqrt(lo), np.sqrt(hi)
        return {"lr": 4.0 / (s + t) ** 2, "momentum": ((t - s) / (t + s)) ** 2}

    def steps_to(err, tol):
        size = np.max(np.abs(err), axis=1)
        return int(np.argmax(size < tol)) if np.any(size < tol) else None

    d = _spread_metric()
    mu = LAM / d
    pre_opts = tuned(mu.min(), mu.max())
    raw_opts = tuned(LAM.min(), LAM.max())
    common = {"gtol": 0.0, "record": True}
    pre = minimize_preconditioned(fun, np.zeros(N), jac, metric=d,
                                  options={**pre_opts, **common, "maxiter": 200})
    raw = dynopt.minimize(fun, np.zeros(N), jac=jac, method="heavy_ball",
                          options={**raw_opts, **common, "maxiter": 5000})
    n_pre = steps_to(pre.trajectory["x"] - XSTAR, 1e-8)
    n_raw = steps_to(raw.trajectory["x"] - XSTAR, 1e-8)
    # the predicted rates: sqrt(momentum) = (sqrt(kappa) - 1)/(sqrt(kappa) + 1)
    r_pre = max(predicted_rate("heavy_ball", m, options=pre_opts) for m in mu)
    r_raw = max(predicted_rate("heavy_ball", lam, options=raw_opts) for lam in LAM)
    assert r_pre == pytest.approx(1.0 / 3.0, rel=1e-6)
    assert r_raw == pytest.approx(99.0 / 101.0, rel=1e-6)
    assert n_pre is not None and n_raw is not None
    assert 20 * n_pre < n_raw, (n_pre, n_raw)
    # the tails contract at the predicted rates (at Polyak's choice the edge eigenvalues
    # have double roots, k r^k: the window's ratio exceeds r by about (stop/start)^(1/w))
    err_raw = raw.trajectory["x"] - XSTAR
    assert observed_rate(err_raw, 500, 1000) == pytest.approx(r_raw, rel=3e-3)
    assert observed_rate(pre.trajectory["x"] - XSTAR, 5, 20) == pytest.approx(r_pre, rel=0.1)


def test_hessian_diagonal_metric_makes_every_eigenvalue_one():
    # Hutchinson's estimate is exact on a diagonal Hessian: lr = 1, momentum = 0 is
    # Newton's step, one step to the minimum
    res = minimize_preconditioned(fun, np.zeros(N), jac, metric="hutchinson", probes=1,
                                  options={"lr": 1.0, "momentum": 0.0, "maxiter": 5,
                                           "gtol": 1e-9})
    np.testing.assert_allclose(res.metric, LAM, rtol=1e-7)
    assert np.max(np.abs(res.x - XSTAR)) < 1e-7
    assert res.nit <= 2
    est = res.metric_estimate
    assert (est.nfev, est.njev) == (0, 2)
    # the run's own evaluations plus the estimate's
    assert res.njev == res.nit + 1 + 2 and res.nfev == res.nit + 1


# ------------------------------------------------------------------ the estimate
def _rotated(n=6, seed=3):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = q @ np.diag(np.geomspace(1.0, 100.0, n)) @ q.T
    return A, (lambda y: 0.5 * float(y @ A @ y)), (lambda y: A @ y)


def test_coordinate_probes_give_the_exact_diagonal():
    A, f, gr = _rotated()
    x0 = np.linspace(-2.0, 3.0, 6)
    est = hessian_diagonal(f, x0, gr, kind="coordinates")
    np.testing.assert_allclose(est.diagonal, np.diag(A), rtol=1e-8)
    assert (est.nfev, est.njev, est.probes) == (0, 12, 6)


def test_hutchinson_is_unbiased_on_a_dense_hessian():
    A, f, gr = _rotated()
    x0 = np.zeros(6)
    probes = 4000
    est = hessian_diagonal(f, x0, gr, kind="hutchinson", probes=probes, seed=0)
    # the variance of one probe's estimate of d_i is sum_{j != i} A_ij^2
    sd = np.sqrt((np.sum(A**2, axis=1) - np.diag(A) ** 2) / probes)
    assert np.all(np.abs(est.diagonal - np.diag(A)) < 5 * sd)
    assert est.njev == 2 * probes


def test_jac_true_counts_both():
    est = hessian_diagonal(lambda y: (fun(y), jac(y)), np.zeros(N), True, probes=3)
    assert (est.nfev, est.njev) == (6, 6)
    np.testing.assert_allclose(est.diagonal, LAM, rtol=1e-7)


def test_as_metric_takes_the_absolute_value_and_a_floor():
    d = as_metric([-4.0, 2.0, 0.0], floor=1e-3)
    np.testing.assert_array_equal(d, [4.0, 2.0, 4e-3])


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("metric,match", [
    (np.array([1.0, -1.0] + [1.0] * (N - 2)), "positive and finite"),
    (np.ones(N - 1), "shape"),
    ("newton", "'hutchinson', 'coordinates', 'identity'"),
])
def test_bad_metric_is_refused(metric, match):
    with pytest.raises(ValueError, match=match):
        minimize_preconditioned(fun, np.zeros(N), jac, metric=metric)


def test_estimate_needs_gradients_and_good_arguments():
    with pytest.raises(ValueError, match="give jac"):
        hessian_diagonal(fun, np.zeros(N), None)
    with pytest.raises(ValueError, match="probes must be a positive integer"):
        hessian_diagonal(fun, np.zeros(N), jac, probes=0)
    with pytest.raises(ValueError, match="kind must be"):
        hessian_diagonal(fun, np.zeros(N), jac, kind="lanczos")
    with pytest.raises(ValueError, match="floor must lie in"):
        as_metric(LAM, floor=0.0)
    with pytest.raises(ValueError, match="zero in every coordinate"):
        as_metric(np.zeros(3))
    with pytest.raises(ValueError, match="takes no options\\['tune'\\]"):
        minimize_preconditioned(fun, np.zeros(N), jac, options={"tune": True})
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        minimize_preconditioned(fun, np.zeros((2, N)), jac)


def test_maxfev_counts_the_estimate():
    res = minimize_preconditioned(fun, np.zeros(N), jac, metric="coordinates",
                                  options={"lr": 1e-3, "momentum": 0.0, "maxiter": 1000,
                                           "gtol": 0.0, "maxfev": 30})
    assert res.status == 2
    assert max(res.nfev, res.njev) <= 30 + 1


# ------------------------------------------------------------------ ASE's Exp preconditioner
def test_exp_metric_is_the_diagonal_of_ase_exp_by_hand():
    pytest.importorskip("ase")
    from ase.calculators.lj import LennardJones
    from ase.cluster import Icosahedron

    from dynopt.methods.preconditioned import exp_metric
    atoms = Icosahedron("Ar", noshells=2, latticeconstant=2 ** (1 / 6) * np.sqrt(2))
    atoms.rattle(0.05, seed=1)
    r_nn, r_cut, A, mu, c_stab = 2 ** (1 / 6), 2.0 * 2 ** (1 / 6), 3.0, 2.0, 0.1
    d = exp_metric(atoms, A=A, r_cut=r_cut, r_NN=r_nn, mu=mu, c_stab=c_stab)
    # by hand: mu (sum over neighbours within r_cut of exp(-A (r/r_NN - 1)) + c_stab)
    pos = atoms.positions
    r = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    np.fill_diagonal(r, np.inf)
    per_atom = mu * (np.where(r < r_cut, np.exp(-A * (r / r_nn - 1)), 0.0).sum(axis=1) + c_stab)
    np.testing.assert_allclose(d, np.repeat(per_atom, 3), rtol=1e-12)
    # the surface atoms have fewer neighbours than the centre one
    assert np.argmax(per_atom) == int(np.argmin(np.linalg.norm(pos - pos.mean(0), axis=1)))

    atoms.calc = LennardJones(rc=1e3)

    def energy(y):
        atoms.positions = y.reshape(-1, 3)
        return atoms.get_potential_energy()

    def gradient(y):
        atoms.positions = y.reshape(-1, 3)
        return -atoms.get_forces().ravel()

    x0 = pos.ravel().copy()
    res = minimize_preconditioned(energy, x0, gradient, metric=d / d.mean(),
                                  options={"lr": 2e-3, "momentum": 0.8, "maxiter": 3000,
                                           "gtol": 1e-5})
    assert res.success and res.fun < energy(x0)
    with pytest.raises(ValueError, match="mu must be a positive number"):
        exp_metric(atoms, r_NN=r_nn, mu=0.0)
