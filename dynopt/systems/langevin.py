"""Underdamped Langevin dynamics: the damped oscillator in contact with a heat bath.

.. math::

    dq = \\frac{p}{m}\\,dt, \\qquad
    dp = -\\nabla f(q)\\,dt - \\gamma p\\,dt + \\sigma\\,dW_t ,

the Hamiltonian :math:`H = p^2/(2m) + f(q)` and the Rayleigh function
:math:`R = \\tfrac12 m\\gamma \\dot q^2` of :class:`DampedOscillator` with a
random force. The noise strength is not chosen but derived: :meth:`diffusion`
solves for the :math:`\\sigma^2` that makes the Gibbs density
:math:`\\rho \\propto e^{-H/T}` stationary under the Fokker–Planck equation,
which gives the fluctuation–dissipation relation :math:`\\sigma^2 = 2 m\\gamma T`
(Einstein; see Leimkuhler & Matthews, *Molecular Dynamics*, Springer 2015,
ch. 6). The temperature :math:`T` is in the units of :math:`f` (:math:`k_B = 1`).
"""
from __future__ import annotations

import sympy as sp

from ..program import g, x
from .base import System, VectorField, coordinate_sum, p, potential, t, v
from .damped_oscillator import hamilton_rayleigh, to_velocity

__all__ = ["UnderdampedLangevin"]

mass = sp.Symbol("mass", positive=True)
gamma = sp.Symbol("gamma", positive=True)
temperature = sp.Symbol("temperature", nonnegative=True)
#: the time step of an Ornstein-Uhlenbeck solve
h = sp.Symbol("h", positive=True)


class UnderdampedLangevin(System):
    """The damped oscillator with the random force of a heat bath at temperature :math:`T`.

    Parameters
    ----------
    mass : float
        :math:`m > 0`.
    gamma : float
        Friction rate :math:`\\gamma > 0` (damping :math:`c = m\\gamma`).
    temperature : float
        :math:`T \\ge 0`; :math:`T = 0` is the damped oscillator.

    Notes
    -----
    The stationary density is :math:`\\rho \\propto e^{-H/T}`: positions sample
    :math:`e^{-f/T}` and velocities the Maxwell distribution
    :math:`\\langle m v_i^2\\rangle = T`. Samplers built on it are checked
    against both (and against the configurational temperature
    :math:`\\langle|\\nabla f|^2\\rangle / \\langle\\Delta f\\rangle = T`).
    """

    name = "underdamped_langevin"

    def __init__(self, mass: float = 1.0, gamma: float = 1.0, temperature: float = 0.0):
        super().__init__(mass=mass, gamma=gamma, temperature=temperature)

    @classmethod
    def symbols(cls):
        return {mass: 1.0, gamma: 1.0, temperature: 0.0}

    def hamiltonian(self):
        return p**2 / (2 * mass) + potential(x)

    def rayleigh(self, qdot):
        return mass * gamma * qdot**2 / 2

    def damping_coefficient(self):
        return mass * gamma

    def vector_field(self) -> VectorField:
        """The drift in the velocity :math:`v`: the damped oscillator with
        :math:`c = m\\gamma` (the noise is added by the integrators that
        sample, e.g. the ``'langevin_baoab'`` method)."""
        xdot, vdot = self.velocity_drift()
        return VectorField(xdot=xdot, vdot=vdot, params=dict(self.symbols()),
                           energies={"kinetic": ("sum", mass * v**2 / 2)})

    def equations(self) -> list:
        """:math:`m\\ddot x = -\\nabla f - m\\gamma\\dot x + \\sigma\\,\\eta(t)`, with
        :math:`\\eta` white noise and :math:`\\sigma^2` from :meth:`diffusion`."""
        X = sp.Function("x")(t)
        eta = sp.Function("eta")(t)
        acc = self.velocity_drift()[1].subs({v: X.diff(t), g: sp.Derivative(potential(X), X)})
        return [sp.Eq(mass * X.diff(t, 2), sp.expand(mass * acc) + sp.sqrt(self.diffusion()) * eta)]

    def energy(self) -> sp.Expr:
        """:math:`E = \\sum_i \\tfrac12 m v_i^2 + f(x)`; stationary density
        :math:`\\propto e^{-E/T}`."""
        return coordinate_sum(mass * v**2 / 2) + potential(x)

    def drift(self) -> tuple:
        """:math:`(\\dot q, \\dot p)` without the noise, from Hamilton's equations with
        the Rayleigh function, :math:`\\partial f/\\partial q` as ``g``."""
        qdot = sp.Symbol("qdot", real=True)
        return hamilton_rayleigh(self.hamiltonian(), self.rayleigh(qdot), qdot)

    def velocity_drift(self) -> tuple:
        """:math:`(\\dot x, \\dot v)` in the velocity :math:`v = p/m`."""
        return to_velocity(*self.drift(), mass)

    def diffusion(self) -> sp.Expr:
        """:math:`\\sigma^2`, the variance rate of the momentum noise, derived.

        In one coordinate, with the potential :math:`f(q)` left general, the
        stationary Fokker–Planck equation

        .. math::

            0 = -\\partial_q(\\dot q\\,\\rho) - \\partial_p(\\dot p\\,\\rho)
                + \\tfrac12 \\sigma^2 \\partial_p^2 \\rho

        for :math:`\\rho = e^{-H/T}` is linear in :math:`\\sigma^2`; its solution
        is the fluctuation–dissipation relation.
        """
        q = sp.Symbol("q", real=True)
        T = sp.Symbol("T", positive=True)   # the relation is derived for T > 0
        U = sp.Function("U")
        H = self.hamiltonian().subs(potential(x), U(q))
        qdot, pdot = self.drift()
        qdot = qdot.subs({x: q, g: sp.diff(U(q), q)})
        pdot = pdot.subs({x: q, g: sp.diff(U(q), q)})
        rho = sp.exp(-H / T)
        s2 = sp.Symbol("sigma2", positive=True)
        fp = (-sp.diff(qdot * rho, q) - sp.diff(pdot * rho, p) + s2 / 2 * sp.diff(rho, p, 2))
        solution = sp.solve(sp.simplify(fp / rho), s2)
        if len(solution) != 1:
            raise RuntimeError(f"{self.name}: the Fokker-Planck equation does not fix the "
                               f"noise strength (solutions {solution})")
        return sp.simplify(solution[0].subs(T, temperature))

    def ornstein_uhlenbeck(self, step=h) -> tuple:
        """``(c1, c2)`` of the exact velocity update over a time ``step`` of the
        friction and noise alone, :math:`dv = -\\gamma v\\,dt + (\\sigma/m)\\,dW`:

        .. math:: v \\leftarrow c_1 v + c_2 \\xi, \\qquad \\xi \\sim \\mathcal N(0, 1),

        :math:`c_1` from the linear ODE's solution and :math:`c_2^2` from Itô's
        isometry, :math:`c_2^2 = \\int_0^h c_1(h-s)^2\\,\\sigma^2/m^2\\,ds`:
        :math:`c_1 = e^{-\\gamma h}`, :math:`c_2 = \\sqrt{(1 - e^{-2\\gamma h})T/m}`.
        """
        s = sp.Symbol("s", nonnegative=True)
        vdot = self.velocity_drift()[1]
        rate = -sp.diff(vdot, v)                      # the linear friction rate, gamma
        c1 = sp.exp(-rate * step)
        variance = sp.integrate(sp.exp(-2 * rate * (step - s)) * self.diffusion() / mass**2,
                                (s, 0, step))
        return sp.simplify(c1), sp.sqrt(sp.expand(sp.simplify(variance)))
