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
    assert {n: (c.order, c.symplectic, c.conformal) for n, c in INTEGRATORS.items()} == {
        "explicit_euler": (1, False, False), "symplectic_euler": (1, True, False),
        "velocity_verlet": (2, True, False), "conformal_euler": (1, False, True),
        "conformal_verlet": (2, False, True)}
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
                                              ("velocity_verlet", 2), ("conformal_euler", 1),
                                              ("conformal_verlet", 2)])
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


@pytest.mark.parametrize("integrator,order", [("symplectic_euler", 1), ("velocity_verlet", 2),
                                              ("conformal_euler", 1), ("conformal_verlet", 2)])
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


# --------------------------------------------------------------------- conformal integrators
def rosenbrock_run(method, integrator, **options):
    from dynopt.problems import rosenbrock_fun_and_grad
    x0 = np.random.default_rng(11).uniform(-1.2, 1.2, 5)
    opts = {"maxiter": 300, "gtol": 0, "divergence": None, "record": True, **options}
    return dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=method,
                           integrator=integrator, options=opts)


@pytest.mark.parametrize("conformal,plain", [("conformal_euler", "symplectic_euler"),
                                             ("conformal_verlet", "velocity_verlet")])
def test_conformal_without_friction_is_the_symplectic_scheme(conformal, plain):
    opts = {"dt": 2e-3, "mass": 1.5}
    a = rosenbrock_run("damped_oscillator", conformal, damping=0.0, **opts).trajectory["x"]
    b = rosenbrock_run("damped_oscillator", plain, damping=0.0, **opts).trajectory["x"]
    assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b))
    # with friction they are different schemes (apart by O(h^2), O(h^3) per step)
    c = rosenbrock_run("damped_oscillator", conformal, damping=2.0, **opts).trajectory["x"]
    d = rosenbrock_run("damped_oscillator", plain, damping=2.0, **opts).trajectory["x"]
    assert np.max(np.abs(c - d)) > 1e-8


def test_conformal_euler_on_the_oscillator_is_heavy_ball_with_exponential_momentum():
    # Franca et al. 2020: lr = h^2/m and momentum = exp(-c h/m), on a nonlinear objective
    h, m, c = 0.01, 0.7, 1.3
    osc = rosenbrock_run("damped_oscillator", "conformal_euler", dt=h, mass=m, damping=c)
    hb = rosenbrock_run("heavy_ball", None, lr=h * h / m, momentum=np.exp(-c * h / m))
    scale = np.max(np.abs(hb.trajectory["x"]))
    assert np.max(np.abs(osc.trajectory["x"] - hb.trajectory["x"])) <= 1e-11 * scale
    # symplectic Euler's momentum 1 - c h/m is a different heavy ball
    hb_se = rosenbrock_run("heavy_ball", None, lr=h * h / m, momentum=1 - c * h / m)
    assert np.max(np.abs(osc.trajectory["x"] - hb_se.trajectory["x"])) > 1e-6


def _symbolic_step(program, potential_derivative):
    """Run a program's Elementwise/Scalar/Gradient stages on one coordinate symbolically."""
    from dynopt.program import Elementwise, Gradient, Scalar, g, x
    env = {s: s for s in (*program.state_vectors, *program.state_scalars)}
    env[g] = potential_derivative(x)
    for st in program.stages:
        if isinstance(st, Gradient):
            env[g] = potential_derivative(env[x])
        elif isinstance(st, (Elementwise, Scalar)):
            for target, expr in st.assignments:
                env[target] = expr.xreplace(env)
        else:
            raise AssertionError(f"unexpected stage {st!r}")
    return env


@pytest.mark.parametrize("integrator", ["conformal_euler", "conformal_verlet",
                                        "symplectic_euler", "velocity_verlet"])
def test_conformal_symplectic_for_any_potential(integrator):
    # det d(x', v')/d(x, v) = exp(-c h/m) for an arbitrary nonlinear force f'(x): the step scales
    # the symplectic form (in 1 degree of freedom: area) exactly as the damped flow does
    import sympy as sp
    from dynopt.program import x
    from dynopt.systems.base import v
    prog = dynopt.METHODS["damped_oscillator"].program(integrator)
    fp = sp.Function("fprime")
    new = _symbolic_step(prog, fp)
    J = sp.Matrix([[sp.diff(new[x], x), sp.diff(new[x], v)],
                   [sp.diff(new[v], x), sp.diff(new[v], v)]])
    dt, mass, damping = (prog.param_symbol(n) for n in ("dt", "mass", "damping"))
    det = sp.simplify(J.det() - sp.exp(-damping * dt / mass))
    if get_integrator(integrator).conformal:
        assert det == 0
    else:  # the symplectic schemes do not damp area by the exact factor
        assert det != 0 and sp.simplify(det.subs(damping, 0)) == 0


def test_friction_split_derived_from_the_velocity_equation():
    import sympy as sp
    from dynopt.integrators import split_friction
    from dynopt.program import g
    from dynopt.systems import NoseHoover
    from dynopt.systems.base import VectorField, v
    from dynopt.systems.nose_hoover import zeta
    gamma, force = split_friction(NoseHoover().vector_field())
    mass = sp.Symbol("mass", positive=True)
    assert gamma == zeta and sp.simplify(force + g / mass) == 0
    cubic = VectorField(xdot=v, vdot=-g - v**3)
    with pytest.raises(ValueError, match="linear in v"):
        split_friction(cubic)
    with pytest.raises(ValueError, match="linear in v"):
        get_integrator("conformal_verlet").program(cubic, "cubic")
    with pytest.raises(ValueError, match="second-order"):
        dynopt.METHODS["gd"].program("conformal_euler")


def test_nose_hoover_conformal_verlet_tracks_velocity_verlet():
    # both second order on the same flow: their difference at fixed time shrinks like h^2
    diffs = []
    for h in (0.02, 0.01):
        a = nose_hoover_run("conformal_verlet", h, 2.0).x
        b = nose_hoover_run("velocity_verlet", h, 2.0).x
        diffs.append(np.max(np.abs(a - b)))
    assert 3.0 < diffs[0] / diffs[1] < 5.0
