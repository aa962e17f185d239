r"""Nosé–Hoover chains: each thermostat thermostatted by the next.

Martyna, Klein & Tuckerman, "Nosé–Hoover chains: the canonical ensemble via
continuous dynamics", J. Chem. Phys. 97, 2635 (1992). For a chain of length
:math:`M`, the particles feel the friction :math:`\zeta_1` and thermostat :math:`j` the
friction :math:`\zeta_{j+1}`,

.. math::

    \dot \zeta_j = \frac{1}{Q_j}\big(Q_{j-1}\zeta_{j-1}^2 - k_B T\big) - \zeta_{j+1}\zeta_j,
    \qquad j \ge 2 ,

each thermostat force derived in SymPy from the conservation of the extended energy
(:meth:`NoseHooverChain.thermostat_forces`); :math:`M = 1` is
:class:`~dynopt.systems.NoseHoover`. Units with :math:`k_B = 1`. The whole chain, the
extended energy, what is postulated and the measured orders are on the Systems page
(``docs/systems.md``).
"""
from __future__ import annotations

import sympy as sp

from ..program import N, Reduce, g, x
from .base import System, VectorField, coordinate_sum, gradient_of_potential, p, potential, t, v
from .damped_oscillator import to_velocity
from .nose_hoover import Q, eta, kinetic_sum, mass, temperature, zeta

__all__ = ["NoseHooverChain", "chain_symbols"]

Q_chain = sp.Symbol("Q_chain", positive=True)


def chain_symbols(M: int) -> tuple:
    """``(zetas, etas)`` of a chain of length ``M``; the first pair is NoseHoover's."""
    zetas = [zeta] + [sp.Symbol(f"zeta{j}", real=True) for j in range(2, M + 1)]
    etas = [eta] + [sp.Symbol(f"eta{j}", real=True) for j in range(2, M + 1)]
    return tuple(zetas), tuple(etas)


class NoseHooverChain(System):
    """A Nosé–Hoover chain of ``M`` thermostats (Martyna, Klein & Tuckerman 1992).

    Parameters
    ----------
    M : int
        Length of the chain, :math:`M \\ge 1`.
    mass : float
        Particle mass :math:`m > 0`.
    Q : float
        Mass :math:`Q_1 > 0` of the thermostat on the particles.
    Q_chain : float
        Mass :math:`Q_j > 0`, :math:`j \\ge 2`, of the thermostats on the thermostats.
    temperature : float
        Target temperature :math:`k_B T \\ge 0`.

    Notes
    -----
    The auxiliary equation of :math:`\\zeta_j` contains :math:`\\zeta_{j+1}\\zeta_j`:
    it depends on its own variable, linearly. The second-order integrators solve
    that part exactly in a symmetric splitting
    (:meth:`~dynopt.integrators.Integrator.aux_flow`), so the extended energy
    is conserved at the integrator's order.
    """

    name = "nose_hoover_chain"

    def __init__(self, M: int = 2, mass: float = 1.0, Q: float = 1.0, Q_chain: float = 1.0,
                 temperature: float = 0.0):
        if isinstance(M, bool) or not isinstance(M, int) or M < 1:
            raise ValueError(f"NoseHooverChain: M must be an integer >= 1, got {M!r}")
        self.M = M
        super().__init__(mass=mass, Q=Q, Q_chain=Q_chain, temperature=temperature)

    @classmethod
    def symbols(cls):
        return {mass: 1.0, Q: 1.0, Q_chain: 1.0, temperature: 0.0}

    def masses(self) -> tuple:
        return (Q,) + (Q_chain,) * (self.M - 1)

    def extended_energy_terms(self) -> sp.Expr:
        """:math:`\\sum_j \\tfrac12 Q_j\\zeta_j^2 + N k_B T \\eta_1 + k_B T\\sum_{j\\ge2}\\eta_j`."""
        zetas, etas = chain_symbols(self.M)
        dof = (N,) + (sp.Integer(1),) * (self.M - 1)
        return sum(Qj * z**2 / 2 + n * temperature * e
                   for Qj, z, e, n in zip(self.masses(), zetas, etas, dof))

    def thermostat_forces(self) -> tuple:
        r"""The forces :math:`G_j`, solved from :math:`\dot H' \equiv 0`.

        With the postulated equations, :math:`\dot H' = \sum_j \zeta_j (G_j - S_j)`
        where :math:`S_j` depends on :math:`\zeta_1, \dots, \zeta_{j-1}` only, so
        :math:`\partial \dot H'/\partial\zeta_j` at
        :math:`\zeta_j = \dots = \zeta_M = 0` is :math:`G_j - S_j`; each
        :math:`G_j` is the root of that linear equation, and :math:`\dot H'`
        is then checked to vanish identically.
        """
        zetas, etas = chain_symbols(self.M)
        G = [sp.Symbol(f"G_{j}") for j in range(1, self.M + 1)]
        masses = self.masses()
        zeta_dots = [(G[j] - masses[j] * (zetas[j + 1] if j + 1 < self.M else 0) * zetas[j])
                     / masses[j] for j in range(self.M)]
        H_extra = self.extended_energy_terms()
        # particles: sum_i d/dt (p^2/2m + f) = -zeta_1 sum_i p^2/m = -zeta_1 T_inst
        dH = -zetas[0] * kinetic_sum
        dH += sum(sp.diff(H_extra, z) * zd for z, zd in zip(zetas, zeta_dots))
        dH += sum(sp.diff(H_extra, e) * z for e, z in zip(etas, zetas))
        dH = sp.expand(dH)
        solved = {}
        for j in range(self.M):
            later = {z: 0 for z in zetas[j:]}
            (G_j,) = sp.solve(sp.diff(dH, zetas[j]).subs(later), G[j])
            solved[G[j]] = sp.expand(G_j.subs(solved))
        if sp.simplify(dH.subs(solved)) != 0:
            raise RuntimeError(f"no thermostat forces conserve H': {dH.subs(solved)}")
        return tuple(solved[Gj] for Gj in G)

    def vector_field(self) -> VectorField:
        zetas, etas = chain_symbols(self.M)
        masses = self.masses()
        H = p**2 / (2 * mass) + potential(x)
        xdot = sp.diff(H, p)
        pdot = gradient_of_potential(-sp.diff(H, x)) - zetas[0] * p
        forces = self.thermostat_forces()
        aux = {}
        for j in range(self.M):
            next_friction = zetas[j + 1] if j + 1 < self.M else 0
            aux[zetas[j]] = forces[j] / masses[j] - next_friction * zetas[j]
        aux.update({e: z for e, z in zip(etas, zetas)})
        xdot_v, vdot = to_velocity(xdot, pdot, mass)
        return VectorField(
            xdot=xdot_v, vdot=sp.expand(vdot), aux=aux,
            aux_init={s: sp.Integer(0) for s in aux},
            reductions=(Reduce(kinetic_sum, mass * v**2, "sum"),),
            params=dict(self.symbols()),
            energies={"kinetic": ("sum", mass * v**2 / 2),
                      "thermostat": ("scalar", self.extended_energy_terms())},
        )

    def equations(self):
        zetas, _ = chain_symbols(self.M)
        X, P = sp.Function("q")(t), sp.Function("p")(t)
        Z = [sp.Function(z.name)(t) for z in zetas]
        vf = self.vector_field()
        i = sp.Symbol("i")
        K = sp.Sum(sp.Indexed("p", i) ** 2 / mass, (i, 1, N))
        sub = {v: P / mass, g: sp.Derivative(potential(X), X), kinetic_sum: K,
               **dict(zip(zetas, Z))}
        return [sp.Eq(X.diff(t), vf.xdot.subs(sub)),
                sp.Eq(P.diff(t), sp.expand(mass * vf.vdot).subs(sub)),
                *(sp.Eq(Zj.diff(t), vf.aux[z].subs(sub)) for z, Zj in zip(zetas, Z))]

    def energy(self):
        """The physical energy :math:`\\sum_i \\tfrac12 m v_i^2 + f(x)` (not conserved)."""
        return coordinate_sum(mass * v**2 / 2) + potential(x)

    def extended_energy(self):
        """:math:`H'`, conserved by the exact flow."""
        return self.energy() + self.extended_energy_terms()

    def __repr__(self):
        args = ", ".join(f"{k}={val!r}" for k, val in self.values.items())
        return f"NoseHooverChain(M={self.M}, {args})"
