"""The Nosé–Hoover thermostat: a friction that feeds back on the kinetic energy.

Nosé, J. Chem. Phys. 81, 511 (1984); Hoover, Phys. Rev. A 31, 1695 (1985).
With :math:`H = \\sum_i p_i^2/(2m) + f(q)` and friction :math:`\\zeta`,

.. math::

    \\dot q = \\frac{p}{m}, \\qquad
    \\dot p = -\\nabla f(q) - \\zeta p, \\qquad
    \\dot \\zeta = \\frac{1}{Q}\\Big(\\sum_i \\frac{p_i^2}{m} - N k_B T\\Big), \\qquad
    \\dot \\eta = \\zeta .

The :math:`\\zeta` equation is not typed in: it is solved from the requirement
that the extended energy

.. math::

    H' = \\sum_i \\frac{p_i^2}{2m} + f(q) + \\tfrac12 Q \\zeta^2 + N k_B T \\eta

is conserved by the flow. With ``normalization='mean'`` the thermostat mass is
per coordinate (:math:`Q \\to N Q`), so :math:`\\dot\\zeta = (\\overline{p^2/m} - k_B T)/Q`:
the form FANoS uses (Dhiman, arXiv 2601.00889). Units with :math:`k_B = 1`.
"""
from __future__ import annotations

import sympy as sp

from ..program import N, Reduce, g, x
from .base import System, VectorField, coordinate_sum, gradient_of_potential, p, potential, t, v
from .damped_oscillator import to_velocity

__all__ = ["NoseHoover", "zeta", "eta", "kinetic_sum"]

mass = sp.Symbol("mass", positive=True)
Q = sp.Symbol("Q", positive=True)
temperature = sp.Symbol("temperature", nonnegative=True)
#: thermostat friction (scalar state)
zeta = sp.Symbol("zeta", real=True)
#: thermostat position, :math:`\dot\eta = \zeta` (scalar state)
eta = sp.Symbol("eta", real=True)
#: the reduction :math:`\sum_i p_i^2/m_i` (or its mean) that drives the thermostat
kinetic_sum = sp.Symbol("T_inst", real=True)


class NoseHoover(System):
    """Nosé–Hoover dynamics for minimisation.

    Parameters
    ----------
    mass : float
        Particle mass :math:`m > 0`.
    Q : float
        Thermostat mass :math:`Q > 0`.
    temperature : float
        Target temperature :math:`k_B T \\ge 0` (0 gives a pure friction feedback).
    normalization : {'sum', 'mean'}
        ``'sum'``: the classic extensive thermostat; ``'mean'``: per-coordinate
        thermostat mass, the form used by FANoS.
    """

    name = "nose_hoover"

    def __init__(self, mass: float = 1.0, Q: float = 1.0, temperature: float = 0.0,
                 normalization: str = "sum"):
        if normalization not in ("sum", "mean"):
            raise ValueError(f"normalization must be 'sum' or 'mean', got {normalization!r}")
        self.normalization = normalization
        super().__init__(mass=mass, Q=Q, temperature=temperature)

    @classmethod
    def symbols(cls):
        return {mass: 1.0, Q: 1.0, temperature: 0.0}

    def hamiltonian(self):
        return p**2 / (2 * mass) + potential(x)

    def thermostat_mass(self):
        return Q if self.normalization == "sum" else N * Q

    def extended_energy_terms(self):
        """Scalar terms added to :math:`\\sum p^2/2m + f` in :math:`H'`."""
        Qe = self.thermostat_mass()
        return Qe * zeta**2 / 2 + N * temperature * eta

    def vector_field(self) -> VectorField:
        H = self.hamiltonian()
        xdot = sp.diff(H, p)
        pdot = gradient_of_potential(-sp.diff(H, x)) - zeta * p
        # Power delivered to the particles, per coordinate: dH/dt = sum_i power_i.
        power = sp.expand(gradient_of_potential(sp.diff(H, p) * pdot + sp.diff(H, x) * xdot))
        # Only the friction term survives: power = zeta * w with w per coordinate.
        w = sp.simplify(power / zeta)
        if w.has(zeta) or w.has(g):
            raise RuntimeError(f"unexpected power density {power}")
        total = kinetic_sum * (N if self.normalization == "mean" else 1)
        zeta_dot = sp.Symbol("zeta_dot")
        conservation = sp.Eq(-zeta * total + self.thermostat_mass() * zeta * zeta_dot
                             + N * temperature * zeta, 0)
        (rhs,) = sp.solve(conservation, zeta_dot)
        xdot_v, vdot = to_velocity(xdot, pdot, mass)
        reduction = Reduce(kinetic_sum, sp.simplify((-w).subs(p, mass * v)), self.normalization)
        return VectorField(
            xdot=xdot_v, vdot=sp.expand(vdot),
            aux={zeta: sp.simplify(rhs), eta: zeta},
            aux_init={zeta: sp.Integer(0), eta: sp.Integer(0)},
            reductions=(reduction,),
            params=dict(self.symbols()),
            energies={"kinetic": ("sum", mass * v**2 / 2),
                      "thermostat": ("scalar", self.extended_energy_terms())},
        )

    def equations(self):
        X, P, Z = (sp.Function(n)(t) for n in ("q", "p", "zeta"))
        vf = self.vector_field()
        K = sp.Sum(sp.Indexed("p", sp.Symbol("i")) ** 2 / mass, (sp.Symbol("i"), 1, N))
        if self.normalization == "mean":
            K = K / N
        sub = {v: P / mass, g: sp.Derivative(potential(X), X), zeta: Z}
        return [
            sp.Eq(X.diff(t), vf.xdot.subs(sub)),
            sp.Eq(P.diff(t), sp.expand(mass * vf.vdot).subs(sub)),
            sp.Eq(Z.diff(t), vf.aux[zeta].subs({kinetic_sum: K, **sub})),
        ]

    def energy(self):
        """The physical energy :math:`\\sum_i \\tfrac12 m v_i^2 + f(x)` (not conserved)."""
        return coordinate_sum(mass * v**2 / 2) + potential(x)

    def extended_energy(self):
        """:math:`H'`, conserved by the exact flow (see the module docstring)."""
        return self.energy() + self.extended_energy_terms()
