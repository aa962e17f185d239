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
    """``steps`` steps of the scheme (a composition takes several program steps for one)."""
    steps *= get_integrator(integrator).substeps
    return dynopt.minimize(quad, [x0], jac=quad_grad, method="damped_oscillator",
                           integrator=integrator,
                           options={"dt": dt, "damping": damping, "mass": mass,
                                    "maxiter": steps, "gtol": 0, "divergence": None,
                                    "record": record})


def test_registry_declares_order_and_structure():
    assert {n: (c.order, c.symplectic, c.conformal) for n, c in INTEGRATORS.items()} == {
        "explicit_euler": (1, False, False), "symplectic_euler": (1, True, False),
        "velocity_verlet": (2, True, False), "conformal_euler": (1, False, True),
        "conformal_verlet": (2, False, True), "yoshida4": (4, True, False)}
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
                                              ("conformal_verlet", 2), ("yoshida4", 4)])
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


# --------------------------------------------------------------------- compositions
def verlet_matrix(tau):
    """Velocity Verlet on x'' = -x with step tau, in closed form: (x, v) -> M (x, v)."""
    return np.array([[1 - tau**2 / 2, tau], [-tau * (1 - tau**2 / 4), 1 - tau**2 / 2]])


def measured_step_matrix(integrator, h):
    """The linear map of one step of the scheme on x'' = -x, read off two runs of the code.

    From z0 = (1, 0): z1 = M z0 and z2 = M z1, so M = [z1 z2] [z0 z1]^-1."""
    n = get_integrator(integrator).substeps
    z = [np.array([1.0, 0.0])]
    for steps in (1, 2):
        res = oscillator(integrator, h, steps, record=False)
        z.append(np.array([res.x[0], res.state["v"].ravel()[0]]))
        assert res.nit == steps * n and res.nfev == steps * n + 1
    return np.column_stack(z[1:]) @ np.linalg.inv(np.column_stack(z[:2]))


def test_yoshida4_is_the_triple_jump_of_velocity_verlet():
    # Yoshida 1990: w1 = 1/(2 - 2^(1/3)), w0 = -2^(1/3) w1; the step is V(w1 h) V(w0 h) V(w1 h)
    h = 0.3
    w1 = 1 / (2 - 2 ** (1 / 3))
    w0 = 1 - 2 * w1
    expected = verlet_matrix(w1 * h) @ verlet_matrix(w0 * h) @ verlet_matrix(w1 * h)
    np.testing.assert_allclose(measured_step_matrix("yoshida4", h), expected, atol=1e-13)
    # symplectic in one degree of freedom: area preserved
    assert abs(np.linalg.det(expected) - 1) < 1e-13


def test_yoshida4_energy_error_bounded_over_1e5_steps():
    # The oscillator's step is linear, so 10^5 steps are 10^5 products with the map that the
    # code itself produced; a direct run of 3000 steps checks that reading.
    h = 0.1
    M = measured_step_matrix("yoshida4", h)
    z = np.empty((100_001, 2))
    z[0] = (1.0, 0.0)
    for i in range(100_000):
        z[i + 1] = M @ z[i]
    err = np.abs(0.5 * (z**2).sum(axis=1) - 0.5)
    tenth = len(err) // 10
    assert err[-tenth:].max() <= 1.05 * err[:tenth].max()
    assert err.max() < 1e-4   # O(h^4): velocity Verlet's bound at this h is 1.3e-3
    direct = oscillator("yoshida4", h, 3000, record=False)
    assert abs(direct.x[0] - z[3000, 0]) < 1e-11


def test_composition_of_conformal_verlet_is_fourth_order_with_friction():
    from dynopt.integrators import ConformalVerlet, Yoshida4
    T, m, c = 4.0, 1.0, 0.3
    integ = Yoshida4(ConformalVerlet())
    hs, errs = [], []
    for steps in (20, 40, 80):
        res = oscillator(integ, T / steps, steps, damping=c, mass=m, record=False)
        hs.append(T / steps)
        errs.append(abs(res.x[0] - exact_damped(T, m, c)))
    p, _ = order_of_convergence(np.array(hs), np.array(errs))
    assert abs(p - 4) < 0.2


def test_composition_rejects_what_it_cannot_compose():
    from dynopt.integrators import Composition, SymplecticEuler, VelocityVerlet
    with pytest.raises(ValueError, match="sum to 1"):
        Composition(VelocityVerlet(), (0.5, 0.4), order=2)
    with pytest.raises(ValueError, match="second-order"):
        Composition(SymplecticEuler(), (0.5, 0.5), order=2)
    with pytest.raises(ValueError, match="second-order"):
        dynopt.METHODS["gd"].program("yoshida4")


# --------------------------------------------------------------------- nothing dropped
@pytest.mark.parametrize("integrator", sorted(INTEGRATORS))
def test_post_hooks_run_without_auxiliary_variables(integrator):
    import sympy as sp
    from dataclasses import replace
    from dynopt.program import Scalar
    from dynopt.systems import DampedOscillator
    count = sp.Symbol("hook_count", real=True)
    field = replace(DampedOscillator().vector_field(), post=(Scalar([(count, count + 1)]),),
                    extra_scalars={count: sp.Integer(0)})
    prog = get_integrator(integrator).program(field, "with_post")
    assert any(st == field.post[0] for st in prog.stages)


@pytest.mark.parametrize("integrator", ["explicit_euler", "velocity_verlet", "yoshida4"])
def test_program_of_a_vector_field_keeps_the_constructor_values(integrator):
    from dynopt.systems import DampedOscillator, NoseHoover
    prog = get_integrator(integrator).program(
        NoseHoover(mass=2.5, Q=3.0, temperature=0.2).vector_field(), "nh")
    assert {n: prog.param_defaults()[n] for n in ("mass", "Q", "temperature")} == {
        "mass": 2.5, "Q": 3.0, "temperature": 0.2}
    # a user's system gets the same: the wrapper applies the values to whatever field it returns
    import sympy as sp
    from dynopt.program import g
    from dynopt.systems import System, VectorField
    from dynopt.systems.base import v
    k_spring = sp.Symbol("k_spring", positive=True)

    class Spring(System):
        name = "spring"

        @classmethod
        def symbols(cls):
            return {k_spring: 1.0}

        def vector_field(self):
            return VectorField(xdot=v, vdot=-k_spring * g, params=dict(self.symbols()))

    prog = get_integrator(integrator).program(Spring(k_spring=4.0).vector_field(), "spring")
    assert prog.param_defaults()["k_spring"] == 4.0
    assert Spring().vector_field().params == {k_spring: 1.0}
