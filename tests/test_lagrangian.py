"""The Lagrangian route: Euler-Lagrange with Rayleigh dissipation, and the Bregman Lagrangian
of Wibisono, Wilson & Jordan (PNAS 2016)."""
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.program import g, x
from dynopt.systems import BregmanLagrangian, DampedOscillator, LagrangianSystem, NesterovODE
from dynopt.systems.base import potential, t, v
from dynopt.systems.lagrangian import euler_lagrange

m, c = sp.symbols("m c", positive=True)


def test_euler_lagrange_with_rayleigh_is_the_damped_oscillator():
    # L = m v^2/2 - f, R = c v^2/2  ->  m a + c v + f' = 0
    acc = euler_lagrange(m * v**2 / 2 - potential(x), c * v**2 / 2)
    assert sp.simplify(m * acc + c * v + g) == 0
    from dynopt.systems.damped_oscillator import damping, mass
    ref = DampedOscillator().vector_field().vdot
    assert sp.simplify(euler_lagrange(mass * v**2 / 2 - potential(x), damping * v**2 / 2)
                       - ref) == 0


def test_euler_lagrange_position_and_time_dependence():
    # L = e^{t} (v^2/2 - x^2/2): the Caldirola-Kanai oscillator, a + v + x = 0
    acc = euler_lagrange(sp.exp(t) * (v**2 / 2 - x**2 / 2))
    assert sp.simplify(acc + v + x) == 0


def test_euler_lagrange_rejects_a_lagrangian_that_needs_the_hessian():
    with pytest.raises(ValueError, match="more of f than its gradient"):
        euler_lagrange(v**2 / 2 - sp.Derivative(potential(x), x) ** 2 / 2)


def test_bregman_euclidean_p2_is_nesterovs_ode():
    vf = BregmanLagrangian(p=2).vector_field()
    C = sp.Symbol("C", positive=True)
    nesterov = NesterovODE().vector_field().vdot.subs(sp.Symbol("r", positive=True), 3)
    assert sp.simplify(vf.vdot.subs(C, sp.Rational(1, 4)) - nesterov) == 0
    # written out: x'' + (3/t) x' + grad f = 0
    assert sp.simplify(vf.vdot.subs(C, sp.Rational(1, 4)) + 3 * v / t + g) == 0
    assert vf.time == t and BregmanLagrangian().values["C"] == 0.25


@pytest.mark.parametrize("p", [1, 3, sp.Rational(5, 2)])
def test_bregman_euclidean_family_closed_form(p):
    # WWJ: X'' + (p + 1)/t X' + C p^2 t^(p-2) grad f(X) = 0
    C = sp.Symbol("C", positive=True)
    acc = BregmanLagrangian(p=p).vector_field().vdot
    assert sp.simplify(acc + (p + 1) / t * v + C * p**2 * t ** (p - 2) * g) == 0


@pytest.mark.parametrize("p", [2, 3])
def test_bregman_lyapunov_function_decreases_at_the_predicted_rate(p):
    # WWJ's energy E = D_h(x*, X + e^{-alpha} V) + e^beta (f(X) - f*) has, under ideal scaling,
    # dE/dt = -e^{alpha+beta} D_f(x*, X); on f = lam X^2 / 2 with x* = 0, D_f(0, X) = lam X^2/2
    lam = sp.Symbol("lam", positive=True)
    sys_ = BregmanLagrangian(p=p)
    alpha, beta, _ = sys_.scaling()
    acc = sys_.vector_field().vdot.subs(g, lam * x)
    E = (0 - (x + sp.exp(-alpha) * v)) ** 2 / 2 + sp.exp(beta) * lam * x**2 / 2
    dE = sp.diff(E, t) + v * sp.diff(E, x) + acc * sp.diff(E, v)
    assert sp.simplify(dE + sp.exp(alpha + beta) * lam * x**2 / 2) == 0


def test_bregman_entropy_is_the_mirror_form():
    # separable h(y) = y log y: d/dt h'(X + t V/p) = -p C t^(p-1) g gives for p = 2
    # X'' = -4 C g (X + t V/2) - 3 V/t
    C = sp.Symbol("C", positive=True)
    acc = BregmanLagrangian(p=2, h=lambda y: y * sp.log(y)).vector_field().vdot
    assert sp.simplify(acc - (-4 * C * g * (x + t * v / 2) - 3 * v / t)) == 0


def test_bregman_p2_runs_as_nesterovs_ode():
    def fun(z):
        return 0.5 * float(z @ (np.array([1.0, 4.0]) * z))

    def jac(z):
        return np.array([1.0, 4.0]) * z

    opts = {"dt": 0.01, "maxiter": 400, "gtol": 0}
    a = dynopt.minimize(fun, [1.0, 1.0], jac=jac, method=BregmanLagrangian(p=2, C=0.25),
                        integrator="velocity_verlet", options=opts)
    b = dynopt.minimize(fun, [1.0, 1.0], jac=jac, method=NesterovODE(r=3.0, t0=1.0),
                        integrator="velocity_verlet", options=opts)
    assert np.allclose(a.x, b.x, rtol=1e-12, atol=1e-15)
    assert a.fun < 1e-2 * fun(np.array([1.0, 1.0]))


def test_lagrangian_system_subclass():
    k_spring = sp.Symbol("k_spring", positive=True)

    class Pendulum(LagrangianSystem):
        name = "pendulum"

        @classmethod
        def symbols(cls):
            return {k_spring: 1.0}

        def lagrangian(self):
            return v**2 / 2 - k_spring * potential(x)

    vf = Pendulum(k_spring=2.0).vector_field()
    assert sp.simplify(vf.vdot + k_spring * g) == 0 and vf.time is None
    assert vf.params == {k_spring: 2.0}
    (eq,) = Pendulum(k_spring=2.0).equations()
    X = sp.Function("x")(t)
    assert eq.lhs == X.diff(t, 2)
    assert sp.simplify(eq.rhs + k_spring * sp.Derivative(potential(X), X)) == 0
