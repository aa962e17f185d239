"""The damped oscillator (heavy ball), its overdamped limit and Nesterov's ODE.

After Yang et al., "The physical systems behind optimization algorithms",
NeurIPS 2018 (seed text ``001``): gradient descent and its momentum variants
are discretisations of

.. math::

    m \\ddot x + c \\dot x + \\nabla f(x) = 0,

derived here from :math:`H = p^2/(2m) + f(q)` and the Rayleigh dissipation
function :math:`R = \\tfrac12 c \\dot q^2`:

.. math::

    \\dot q = \\frac{\\partial H}{\\partial p}, \\qquad
    \\dot p = -\\frac{\\partial H}{\\partial q} - \\frac{\\partial R}{\\partial \\dot q}.
"""
from __future__ import annotations

import sympy as sp

from ..program import g, x
from .base import System, VectorField, coordinate_sum, gradient_of_potential, p, potential, t, v

__all__ = ["DampedOscillator", "GradientFlow", "NesterovODE", "hamilton_rayleigh"]

mass = sp.Symbol("mass", positive=True)
damping = sp.Symbol("damping", nonnegative=True)


def hamilton_rayleigh(H: sp.Expr, R: sp.Expr, qdot: sp.Symbol) -> tuple:
    """Hamilton's equations with a Rayleigh dissipation function.

    Returns ``(xdot, pdot)`` per coordinate, with :math:`\\partial f/\\partial x`
    replaced by the gradient symbol ``g``.
    """
    xdot = sp.diff(H, p)
    pdot = -sp.diff(H, x) - sp.diff(R, qdot).subs(qdot, xdot)
    return gradient_of_potential(xdot), gradient_of_potential(pdot)


def to_velocity(xdot: sp.Expr, pdot: sp.Expr, m: sp.Expr) -> tuple:
    """Rewrite Hamilton's equations in the velocity :math:`v = p/m` (constant ``m``)."""
    return sp.simplify(xdot.subs(p, m * v)), sp.simplify(pdot.subs(p, m * v) / m)


class DampedOscillator(System):
    """Heavy ball: :math:`m \\ddot x + c \\dot x + \\nabla f = 0`.

    Parameters
    ----------
    mass : float
        :math:`m > 0`.
    damping : float
        :math:`c \\ge 0`; damping ratio on an eigenvalue :math:`\\lambda` is
        :math:`\\zeta = c / (2\\sqrt{m\\lambda})`.

    Notes
    -----
    Energy :math:`E = \\tfrac12 m \\|v\\|^2 + f(x)` decays as
    :math:`\\dot E = -c \\|v\\|^2`.
    """

    name = "damped_oscillator"

    def __init__(self, mass: float = 1.0, damping: float = 1.0):
        super().__init__(mass=mass, damping=damping)

    @classmethod
    def symbols(cls):
        return {mass: 1.0, damping: 1.0}

    def hamiltonian(self):
        return p**2 / (2 * mass) + potential(x)

    def rayleigh(self, qdot):
        return damping * qdot**2 / 2

    def damping_coefficient(self):
        """The damping coefficient (a function of time for Nesterov's ODE)."""
        return damping

    def vector_field(self) -> VectorField:
        qdot = sp.Symbol("qdot")
        H = self.hamiltonian()
        R = self.damping_coefficient() * qdot**2 / 2
        xdot, pdot = hamilton_rayleigh(H, R, qdot)
        xdot, vdot = to_velocity(xdot, pdot, mass)
        return VectorField(
            xdot=xdot, vdot=vdot, params=dict(self.symbols()),
            energies={"kinetic": ("sum", mass * v**2 / 2)},
        )

    def equations(self):
        X = sp.Function("x")(t)
        field_ = self.vector_field()
        acc = field_.vdot.subs({v: X.diff(t), g: sp.Derivative(potential(X), X)})
        return [sp.Eq(X.diff(t, 2), acc)]

    def energy(self):
        """:math:`E = \\sum_i \\tfrac12 m v_i^2 + f(x)`."""
        return coordinate_sum(mass * v**2 / 2) + potential(x)


class NesterovODE(DampedOscillator):
    """Nesterov's ODE, :math:`\\ddot x + \\frac{3}{t} \\dot x + \\nabla f = 0`.

    Su, Boyd & Candès, "A differential equation for modeling Nesterov's
    accelerated gradient method", JMLR 17 (2016). Unit mass, damping
    :math:`r/t`; time starts at ``t0 > 0``.

    Parameters
    ----------
    r : float
        Damping numerator, 3 in Nesterov's method.
    t0 : float
        Initial time (the damping :math:`r/t` is singular at 0).
    """

    name = "nesterov_ode"
    r = sp.Symbol("r", positive=True)
    t0 = sp.Symbol("t0", positive=True)

    def __init__(self, r: float = 3.0, t0: float = 1.0):
        System.__init__(self, r=r, t0=t0)

    @classmethod
    def symbols(cls):
        return {cls.r: 3.0, cls.t0: 1.0}

    def hamiltonian(self):
        return p**2 / 2 + potential(x)

    def damping_coefficient(self):
        return self.r / t

    def vector_field(self) -> VectorField:
        qdot = sp.Symbol("qdot")
        xdot, pdot = hamilton_rayleigh(self.hamiltonian(), self.damping_coefficient() * qdot**2 / 2, qdot)
        xdot, vdot = to_velocity(xdot, pdot, sp.Integer(1))
        return VectorField(xdot=xdot, vdot=vdot, time=t, time_init=self.t0,
                           params=dict(self.symbols()), energies={"kinetic": ("sum", v**2 / 2)})

    def energy(self):
        return coordinate_sum(v**2 / 2) + potential(x)


class GradientFlow(System):
    """The overdamped (massless) limit: :math:`c \\dot x = -\\nabla f(x)`.

    Setting :math:`m \\to 0` in :class:`DampedOscillator` leaves the balance of
    dissipative and potential forces; explicit Euler with step :math:`h` is
    gradient descent with learning rate :math:`\\eta = h / c`.

    Parameters
    ----------
    damping : float
        :math:`c > 0`.
    """

    name = "gradient_flow"
    second_order = False

    def __init__(self, damping: float = 1.0):
        super().__init__(damping=damping)

    @classmethod
    def symbols(cls):
        return {damping: 1.0}

    def vector_field(self) -> VectorField:
        # Overdamped limit of the damped oscillator: solve m*vdot = 0 for v.
        qdot = sp.Symbol("qdot")
        H = p**2 / (2 * mass) + potential(x)
        xdot, pdot = hamilton_rayleigh(H, damping * qdot**2 / 2, qdot)
        _, vdot = to_velocity(xdot, pdot, mass)
        force_balance = sp.expand(mass * vdot).subs(mass, 0)
        (velocity,) = sp.solve(sp.Eq(force_balance, 0), v)
        return VectorField(xdot=velocity, vdot=None, params={damping: 1.0})

    def equations(self):
        X = sp.Function("x")(t)
        rhs = self.vector_field().xdot.subs(g, sp.Derivative(potential(X), X))
        return [sp.Eq(X.diff(t), rhs)]

    def energy(self):
        return potential(x)
