r"""Systems given by a Lagrangian and a Rayleigh dissipation function.

A :class:`LagrangianSystem` defines, per coordinate, a Lagrangian
:math:`L(q, \dot q, t)` (the objective enters as ``potential(x)``) and a Rayleigh
function :math:`R(q, \dot q, t)`. Its equation of motion is the Euler–Lagrange
equation with dissipation,

.. math::

    \frac{d}{dt}\frac{\partial L}{\partial \dot q} - \frac{\partial L}{\partial q}
    = -\frac{\partial R}{\partial \dot q},

derived in SymPy: with :math:`v = \dot q` and the acceleration :math:`a = \ddot q`,
the total derivative is
:math:`\frac{d}{dt} = \partial_t + v\,\partial_q + a\,\partial_v`, and the equation
is solved for :math:`a` (it must be linear in :math:`a`, as it is when :math:`L`
is quadratic in :math:`\dot q`). The gradient :math:`\partial f/\partial q` becomes
the symbol ``g``; a Lagrangian whose equation needs a higher derivative of
:math:`f` is rejected.

:class:`BregmanLagrangian` is the Lagrangian of Wibisono, Wilson & Jordan, "A
variational perspective on accelerated methods in optimization", PNAS 113, E7351
(2016).
"""
from __future__ import annotations

import sympy as sp

from ..program import g, x
from .base import System, VectorField, coordinate_sum, gradient_of_potential, potential, t, v

__all__ = ["LagrangianSystem", "BregmanLagrangian", "euler_lagrange", "acceleration"]

#: the acceleration :math:`\ddot q` in the Euler–Lagrange equation
acceleration = sp.Symbol("a", real=True)


def euler_lagrange(L: sp.Expr, R: sp.Expr = sp.Integer(0)) -> sp.Expr:
    r"""The acceleration :math:`\ddot q` from :math:`L(x, v, t)` and :math:`R(x, v, t)`.

    Returns the right-hand side of :math:`\ddot q = F(q, \dot q, t, \nabla f)`,
    in ``x``, ``v``, ``t`` and ``g``.

    Raises
    ------
    ValueError
        If the equation is not linear in the acceleration, or needs more of
        :math:`f` than its gradient.
    """
    momentum = sp.diff(L, v)
    total = sp.diff(momentum, t) + v * sp.diff(momentum, x) + acceleration * sp.diff(momentum, v)
    equation = sp.expand(total - sp.diff(L, x) + sp.diff(R, v))
    if sp.diff(equation, acceleration, 2) != 0 or sp.diff(equation, acceleration) == 0:
        raise ValueError(f"the Euler-Lagrange equation {equation} = 0 is not linear in the "
                         "acceleration")
    (solution,) = sp.solve(equation, acceleration)
    out = sp.simplify(gradient_of_potential(solution))
    if out.has(potential(x)) or out.has(sp.Derivative):
        raise ValueError(f"the equation of motion needs more of f than its gradient: {out}")
    return out


class LagrangianSystem(System):
    """A second-order system from :meth:`lagrangian` and :meth:`rayleigh`.

    Subclasses return :math:`L` and :math:`R` per coordinate as expressions in
    ``x``, ``v`` (the velocity :math:`\\dot q`), ``t`` and ``potential(x)``, and
    say whether the system depends on time (``time_dependent``, with its
    ``initial_time``).
    """

    #: whether the field reads the clock ``t``
    time_dependent: bool = False

    def lagrangian(self) -> sp.Expr:
        raise NotImplementedError

    def rayleigh(self) -> sp.Expr:
        return sp.Integer(0)

    def initial_time(self) -> sp.Expr:
        return sp.Integer(0)

    def vector_field(self) -> VectorField:
        vdot = euler_lagrange(self.lagrangian(), self.rayleigh())
        clock = self.time_dependent or vdot.has(t)
        return VectorField(xdot=v, vdot=sp.expand(vdot), time=t if clock else None,
                           time_init=self.initial_time(), params=dict(self.symbols()),
                           energies={"kinetic": ("sum", v**2 / 2)})

    def equations(self):
        X = sp.Function("x")(t)
        acc = self.vector_field().vdot.subs({v: X.diff(t), g: sp.Derivative(potential(X), X)})
        return [sp.Eq(X.diff(t, 2), acc.subs(x, X))]

    def energy(self):
        return coordinate_sum(v**2 / 2) + potential(x)


class BregmanLagrangian(LagrangianSystem):
    r"""The Bregman Lagrangian of Wibisono, Wilson & Jordan (PNAS 2016), polynomial family.

    .. math::

        \mathcal L(X, V, t) = e^{\alpha_t + \gamma_t}\Big(D_h(X + e^{-\alpha_t} V, X)
        - e^{\beta_t} f(X)\Big), \qquad
        D_h(y, x) = h(y) - h(x) - \nabla h(x)\cdot(y - x),

    with the ideal scaling :math:`\dot\beta_t = e^{\alpha_t}`,
    :math:`\dot\gamma_t = e^{\alpha_t}` of the family

    .. math::

        \alpha_t = \log p - \log t, \qquad \beta_t = p \log t + \log C, \qquad
        \gamma_t = p \log t ,

    along which :math:`f(X_t) - f^* = O(1/(C t^p))`. For the Euclidean
    :math:`h(x) = \tfrac12\|x\|^2`, Euler–Lagrange gives

    .. math::

        \ddot X + \frac{p + 1}{t}\dot X + C p^2 t^{p-2}\,\nabla f(X) = 0,

    and :math:`p = 2`, :math:`C = 1/4` is Nesterov's ODE
    :math:`\ddot X + \frac 3t \dot X + \nabla f = 0` (Su, Boyd & Candès 2016).

    Parameters
    ----------
    p : int or float
        The order :math:`p > 0` of the family, a structural constant of the
        equations (it sets the powers of :math:`t`).
    C : float
        :math:`C > 0`; 1/4 with :math:`p = 2` is Nesterov's ODE.
    t0 : float
        Initial time (the damping :math:`(p+1)/t` is singular at 0).
    h : callable, optional
        The distance-generating function of one coordinate, ``h(y) -> sympy.Expr``
        (separable :math:`h`); default :math:`y^2/2`.
    """

    name = "bregman_lagrangian"
    time_dependent = True
    C = sp.Symbol("C", positive=True)
    t0 = sp.Symbol("t0", positive=True)

    def __init__(self, p: float = 2, C: float = 0.25, t0: float = 1.0, h=None):
        if isinstance(p, bool) or not isinstance(p, (int, float, sp.Rational)) or not p > 0:
            raise ValueError(f"BregmanLagrangian: p must be a positive number, got {p!r}")
        self.p = sp.nsimplify(p)
        self.h = h if h is not None else (lambda y: y**2 / 2)
        System.__init__(self, C=C, t0=t0)

    @classmethod
    def symbols(cls):
        return {cls.C: 0.25, cls.t0: 1.0}

    def scaling(self) -> tuple:
        """:math:`(\\alpha_t, \\beta_t, \\gamma_t)` of the polynomial family."""
        p = self.p
        return sp.log(p) - sp.log(t), p * sp.log(t) + sp.log(self.C), p * sp.log(t)

    def bregman(self, y, z) -> sp.Expr:
        """:math:`D_h(y, z)` for one coordinate."""
        s = sp.Symbol("s_h", real=True)
        hs = self.h(s)
        return hs.subs(s, y) - hs.subs(s, z) - sp.diff(hs, s).subs(s, z) * (y - z)

    def lagrangian(self):
        alpha, beta, gamma = self.scaling()
        return sp.exp(alpha + gamma) * (self.bregman(x + sp.exp(-alpha) * v, x)
                                        - sp.exp(beta) * potential(x))

    def initial_time(self):
        return self.t0

    def __repr__(self):
        return f"BregmanLagrangian(p={self.p}, C={self.values['C']!r}, t0={self.values['t0']!r})"
