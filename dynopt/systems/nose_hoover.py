r"""The Nosé–Hoover thermostat, derived from Nosé's extended Hamiltonian.

Nosé, J. Chem. Phys. 81, 511 (1984); Hoover, Phys. Rev. A 31, 1695 (1985). Hamilton's
equations of Nosé's Hamiltonian in virtual time, carried to real time in SymPy
(:func:`nose_real_time`), give Hoover's equations

.. math::

    \dot q = \frac{p}{m}, \qquad
    \dot p = -\nabla f(q) - \zeta p, \qquad
    \dot \zeta = \frac{1}{Q}\Big(\sum_i \frac{p_i^2}{m} - N k_B T\Big), \qquad
    \dot \eta = \zeta ,

which conserve the extended energy
:math:`H' = \sum_i p_i^2/2m + f + \tfrac12 Q \zeta^2 + N k_B T \eta` (checked
symbolically). ``normalization='mean'`` makes the thermostat mass per coordinate (the form
FANoS uses). Units with :math:`k_B = 1`. What is postulated and what derived: the section
"Systems" of the Systems page (``docs/systems.md``).
"""
from __future__ import annotations

import sympy as sp

from ..program import N, Reduce, g, x
from .base import System, VectorField, coordinate_sum, gradient_of_potential, p, potential, t, v
from .damped_oscillator import to_velocity

__all__ = ["NoseHoover", "nose_real_time", "zeta", "eta", "kinetic_sum"]

mass = sp.Symbol("mass", positive=True)
Q = sp.Symbol("Q", positive=True)
temperature = sp.Symbol("temperature", nonnegative=True)
#: thermostat friction (scalar state)
zeta = sp.Symbol("zeta", real=True)
#: thermostat position, :math:`\dot\eta = \zeta` (scalar state)
eta = sp.Symbol("eta", real=True)
#: the reduction :math:`\sum_i p_i^2/m_i` (or its mean) that drives the thermostat
kinetic_sum = sp.Symbol("T_inst", real=True)

#: Nosé's virtual momentum :math:`p'` (per coordinate), scaling variable and its momentum
p_virtual = sp.Symbol("p_virtual", real=True)
s_nose = sp.Symbol("s", positive=True)
p_s = sp.Symbol("p_s", real=True)


def nose_real_time(coordinate_part: sp.Expr, scalar_part: sp.Expr, Qe: sp.Expr) -> dict:
    r"""Hoover's real-time equations from Nosé's Hamiltonian, by Hamilton's equations.

    Nosé's Hamiltonian is :math:`H_N = \sum_i h(q_i, p_i', s) + H_s(s, p_s)`.
    Hamilton's equations in virtual time :math:`\tau`,

    .. math::

        \frac{dq_i}{d\tau} = \frac{\partial h}{\partial p_i'}, \quad
        \frac{dp_i'}{d\tau} = -\frac{\partial h}{\partial q_i}, \quad
        \frac{ds}{d\tau} = \frac{\partial H_s}{\partial p_s}, \quad
        \frac{dp_s}{d\tau} = -\sum_i \frac{\partial h}{\partial s} - \frac{\partial H_s}{\partial s},

    are carried to real time by :math:`d/dt = s\,d/d\tau` and to the real
    variables :math:`p = p'/s`, :math:`\zeta = p_s/Q_e`, :math:`\eta = \ln s` by
    the chain rule (:math:`\dot p = s(\partial_{p'} p\; dp'/d\tau + \partial_s p\;
    ds/d\tau)`, and so on).

    Parameters
    ----------
    coordinate_part
        :math:`h`, in ``x``, ``p_virtual``, ``s`` and ``potential(x)``.
    scalar_part
        :math:`H_s`, in ``s`` and ``p_s``.
    Qe
        The thermostat mass that defines :math:`\zeta = p_s/Q_e`.

    Returns
    -------
    dict
        ``'qdot'``, ``'pdot'`` (per coordinate, in ``p`` and ``g``), ``'zeta_density'``
        (the per-coordinate terms of :math:`\dot\zeta`, summed over coordinates),
        ``'zeta_scalar'`` (the rest of :math:`\dot\zeta`) and ``'etadot'``.

    Raises
    ------
    RuntimeError
        If the scaling variable :math:`s` does not drop out of a real-time equation.
    """
    real = {p_virtual: s_nose * p, p_s: Qe * zeta}

    def to_real(expr):
        out = sp.simplify(gradient_of_potential(expr).subs(real))
        if out.has(s_nose):
            raise RuntimeError(f"the time transformation left s in {out}")
        return out

    dq_dtau = sp.diff(coordinate_part, p_virtual)
    dpv_dtau = -sp.diff(coordinate_part, x)
    ds_dtau = sp.diff(scalar_part, p_s)
    dps_dtau_coordinate = -sp.diff(coordinate_part, s_nose)
    dps_dtau_scalar = -sp.diff(scalar_part, s_nose)
    p_real = p_virtual / s_nose
    return {
        "qdot": to_real(s_nose * dq_dtau),
        "pdot": to_real(s_nose * (sp.diff(p_real, p_virtual) * dpv_dtau
                                  + sp.diff(p_real, s_nose) * ds_dtau)),
        "zeta_density": to_real(s_nose * dps_dtau_coordinate / Qe),
        "zeta_scalar": to_real(s_nose * dps_dtau_scalar / Qe),
        "etadot": to_real(s_nose * sp.diff(sp.log(s_nose), s_nose) * ds_dtau),
    }


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

    Notes
    -----
    The equations are derived from Nosé's Hamiltonian with Hoover's time
    transformation (what is postulated and what is derived: the Systems page of the
    documentation); :meth:`nose_hamiltonian` returns the Hamiltonian the derivation
    starts from.
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

    def nose_hamiltonian(self) -> tuple:
        """Nosé's :math:`H_N` as ``(h, H_s)``: its per-coordinate and its scalar part."""
        h = self.hamiltonian().subs(p, p_virtual / s_nose)
        H_s = p_s**2 / (2 * self.thermostat_mass()) + N * temperature * sp.log(s_nose)
        return h, H_s

    def extended_energy_terms(self):
        """Scalar terms added to :math:`\\sum p^2/2m + f` in :math:`H'`."""
        Qe = self.thermostat_mass()
        return Qe * zeta**2 / 2 + N * temperature * eta

    def vector_field(self) -> VectorField:
        Qe = self.thermostat_mass()
        eqs = nose_real_time(*self.nose_hamiltonian(), Qe)
        if eqs["etadot"] != zeta:
            raise RuntimeError(f"expected eta' = zeta, got {eqs['etadot']}")
        # the sum over coordinates of the density is the reduction (or N times its mean)
        density = sp.simplify(eqs["zeta_density"] * Qe)
        total = kinetic_sum * (N if self.normalization == "mean" else 1)
        zeta_dot = sp.simplify((total + Qe * eqs["zeta_scalar"]) / Qe)
        xdot_v, vdot = to_velocity(eqs["qdot"], eqs["pdot"], mass)
        reduction = Reduce(kinetic_sum, sp.simplify(density.subs(p, mass * v)), self.normalization)
        field_ = VectorField(
            xdot=xdot_v, vdot=sp.expand(vdot),
            aux={zeta: zeta_dot, eta: eqs["etadot"]},
            aux_init={zeta: sp.Integer(0), eta: sp.Integer(0)},
            reductions=(reduction,),
            params=dict(self.symbols()),
            energies={"kinetic": ("sum", mass * v**2 / 2),
                      "thermostat": ("scalar", self.extended_energy_terms())},
        )
        self._check_conserved(field_)
        return field_

    def _check_conserved(self, field_: VectorField) -> None:
        """:math:`\\dot H' = 0` along the derived flow (per coordinate summed by the reduction)."""
        (reduction,) = field_.reductions
        power = sp.expand(mass * v * field_.vdot + g * field_.xdot)   # d/dt of m v^2/2 + f
        per_unit = sp.simplify(power / reduction.expr)                  # = -zeta
        total = kinetic_sum * (N if self.normalization == "mean" else 1)
        dH = (per_unit * total + sp.diff(self.extended_energy_terms(), zeta) * field_.aux[zeta]
              + sp.diff(self.extended_energy_terms(), eta) * field_.aux[eta])
        if per_unit.has(v) or sp.simplify(dH) != 0:
            raise RuntimeError(f"the derived flow does not conserve H': dH'/dt = {dH}")

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
        """:math:`H'`, conserved by the exact flow (the module docstring gives it)."""
        return self.energy() + self.extended_energy_terms()
