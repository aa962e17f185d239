"""Integrators: energy behaviour, measured orders, conservation laws."""
import numpy as np
import pytest

import dynopt
from dynopt.integrators import INTEGRATORS, get_integrator
from dynopt.analysis.observed import order_of_convergence


def quad(x):
    return 0.5 * float(x @ x)


def quad_grad(x):
    return np.array(x, dtype=float)


def oscillator(integrator, dt, steps, damping=0.0, mass=1.0, x0=1.0, record=True):
    return dynopt.minimize(quad, [x0], jac=quad_grad, method="damped_oscillator",
                           integrator=integrator,
                           options={"dt": dt, "damping": damping, "mass": mass,
                                    "maxiter": steps, "gtol": 0, "divergence": None,
                                    "record": record})


def test_registry_declares_order_and_structure():
    assert {n: (c.order, c.symplectic) for n, c in INTEGRATORS.items()} == {
        "explicit_euler": (1, False), "symplectic_euler": (1, True), "velocity_verlet": (2, True)}
    with pytest.raises(ValueError, match="valid: .*symplectic_euler"):
        get_integrator("rk4")


@pytest.mark.parametrize("integrator", ["symplectic_euler", "velocity_verlet"])
def test_symplectic_energy_error_stays_bounded(integrator):
    h = 0.1
    res = oscillator(integrator, h, 100_000, record=50)
    E = res.trajectory["total"]
    err = np.abs(E - 0.5)
    # bounded: the error in the last tenth is no larger than in the first tenth
    tenth = len(E) // 10
    assert err[-tenth:].max() <= 1.05 * err[:tenth].max()
    assert err.max() < (0.1 if integrator == "symplectic_euler" else 0.01)
    assert res.nit == 100_000


def test_explicit_euler_energy_grows_by_closed_form_factor():
    # On x'' = -x explicit Euler multiplies the energy by exactly 1 + h^2 each step.
    h = 0.05
    res = oscillator("explicit_euler", h, 2000)
    E = res.trajectory["total"]
    k = res.trajectory["step"]
    np.testing.assert_allclose(E, 0.5 * (1 + h * h) ** k, rtol=1e-9)
    assert E[-1] > 100 * E[0]


def exact_damped(t, m, c, x0=1.0):
    """Exact solution of m x'' + c x' + x = 0, x(0) = x0, x'(0) = 0 (underdamped)."""
    gamma = c / (2 * m)
    w = np.sqrt(1 / m - gamma**2)
    return x0 * np.exp(-gamma * t) * (np.cos(w * t) + gamma / w * np.sin(w * t))


@pytest.mark.parametrize("integrator,order", [("explicit_euler", 1), ("symplectic_euler", 1),
                                              ("velocity_verlet", 2)])
def test_measured_order_by_step_halving(integrator, order):
    T, m, c = 4.0, 1.0, 0.3
    hs, errs = [], []
    for steps in (100, 200, 400, 800):
        h = T / steps
        res = oscillator(integrator, h, steps, damping=c, mass=m, record=False)
        hs.append(h)
        errs.append(abs(res.x[0] - exact_damped(T, m, c)))
    p, _ = order_of_convergence(np.array(hs), np.array(errs))
    assert abs(p - order) < 0.15


def nose_hoover_run(integrator, h, T_end, temperature=0.5):
    steps = int(round(T_end / h))
    x0 = np.array([1.0, -0.5, 0.3])
    return dynopt.minimize(lambda x: 0.5 * float(x @ (np.arange(1, 4) * x)), x0,
                           jac=lambda x: np.arange(1, 4) * x, method="nose_hoover",
                           integrator=integrator,
                           options={"dt": h, "Q": 2.0, "temperature": temperature,
                                    "maxiter": steps, "gtol": 0, "record": True})


@pytest.mark.parametrize("integrator,order", [("symplectic_euler", 1), ("velocity_verlet", 2)])
def test_nose_hoover_extended_energy_conserved_to_order(integrator, order):
    hs, drifts = [], []
    for h in (0.02, 0.01, 0.005):
        res = nose_hoover_run(integrator, h, 5.0)
        H = res.trajectory["total"]  # K + f + Q zeta^2/2 + N T eta
        hs.append(h)
        drifts.append(np.abs(H - H[0]).max())
    p, _ = order_of_convergence(np.array(hs), np.array(drifts))
    assert abs(p - order) < 0.3
    assert drifts[-1] < 1e-2


def test_nose_hoover_thermostat_exchanges_energy():
    res = nose_hoover_run("velocity_verlet", 0.01, 5.0)
    tr = res.trajectory
    # the physical energy is not conserved, the extended one is
    phys = tr["kinetic"] + tr["potential"]
    assert np.ptp(phys) > 100 * np.ptp(tr["total"])
