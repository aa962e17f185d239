r"""The damped oscillator under a diagonal metric: preconditioned heavy ball.

A constant, positive diagonal metric :math:`D = \operatorname{diag}(d_1, \dots, d_n)`
enters the kinetic energy and the Rayleigh dissipation function,

.. math::

    H = \frac{p^\top (mD)^{-1} p}{2} + f(q), \qquad
    R = \tfrac12\, c\, \dot q^\top D\, \dot q,

so that Hamilton's equations with dissipation give, per coordinate,

.. math::

    m d_i \ddot x_i + c\, d_i \dot x_i + \partial_i f(x) = 0 .

The dissipation is proportional to the mass (mass-proportional Rayleigh damping,
Rayleigh, *The Theory of Sound*, 1877, sec. 97): the friction per unit mass
:math:`c/m` is the same in every coordinate. On a quadratic whose Hessian
:math:`A` is diagonal, coordinate :math:`i` is the plain damped oscillator
:math:`m \ddot x + c \dot x + (\lambda_i/d_i) x = 0`: the metric replaces the
spectrum :math:`\lambda_i` by the preconditioned spectrum :math:`\lambda_i/d_i`
(the spectrum of :math:`D^{-1/2} A D^{-1/2}` for any symmetric :math:`A`), and
every rate of the heavy ball carries over with it. :math:`D = I` is
:class:`~dynopt.systems.DampedOscillator`.

The metric is the per-coordinate state ``metric``; no stage assigns it, so it is
constant during a run. It starts at 1; :func:`dynopt.methods.preconditioned.minimize_preconditioned`
sets it at the start of a run from a diagonal Hessian estimate or a given array.
"""
from __future__ import annotations

import sympy as sp

from ..program import g, x
from .base import System, VectorField, coordinate_sum, p, potential, t, v
from .damped_oscillator import damping, hamilton_rayleigh, mass, to_velocity

__all__ = ["PreconditionedOscillator", "metric"]

#: :math:`d_i > 0`, the diagonal of the metric (per-coordinate state, constant in a run)
metric = sp.Symbol("metric", positive=True)


class PreconditionedOscillator(System):
    r"""Heavy ball under a diagonal metric: :math:`m d_i \ddot x_i + c d_i \dot x_i + \partial_i f = 0`.

    Parameters
    ----------
    mass : float
        :math:`m > 0`, the scale of the mass :math:`m d_i` of coordinate :math:`i`.
    damping : float
        :math:`c \ge 0`, the scale of the friction :math:`c d_i`. The damping ratio of
        coordinate :math:`i` on a diagonal Hessian is
        :math:`\zeta_i = c / (2\sqrt{m \lambda_i / d_i})`.

    Notes
    -----
    Energy :math:`E = \sum_i \tfrac12 m d_i v_i^2 + f(x)` decays as
    :math:`\dot E = -c \sum_i d_i v_i^2`.
    """

    name = "preconditioned_oscillator"

    def __init__(self, mass: float = 1.0, damping: float = 1.0):
        super().__init__(mass=mass, damping=damping)

    @classmethod
    def symbols(cls):
        return {mass: 1.0, damping: 1.0}

    def hamiltonian(self):
        """:math:`H = p^2/(2 m d) + f` per coordinate."""
        return p**2 / (2 * mass * metric) + potential(x)

    def rayleigh(self, qdot):
        """:math:`R = \\tfrac12 c\\, d\\, \\dot q^2` per coordinate."""
        return damping * metric * qdot**2 / 2

    def vector_field(self) -> VectorField:
        qdot = sp.Symbol("qdot")
        xdot, pdot = hamilton_rayleigh(self.hamiltonian(), self.rayleigh(qdot), qdot)
        # the metric is constant in time, so v = p/(m d) is a constant rescaling of p
        xdot, vdot = to_velocity(xdot, pdot, mass * metric)
        return VectorField(
            xdot=xdot, vdot=vdot, params=dict(self.symbols()),
            energies={"kinetic": ("sum", mass * metric * v**2 / 2)},
            extra_vectors={metric: sp.Integer(1)},
        )

    def equations(self):
        X = sp.Function("x")(t)
        acc = self.vector_field().vdot.subs({v: X.diff(t), g: sp.Derivative(potential(X), X)})
        return [sp.Eq(X.diff(t, 2), acc)]

    def energy(self):
        """:math:`E = \\sum_i \\tfrac12 m d_i v_i^2 + f(x)`."""
        return coordinate_sum(mass * metric * v**2 / 2) + potential(x)
