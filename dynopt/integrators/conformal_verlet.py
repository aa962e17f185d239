r"""Conformal velocity Verlet: half a friction step exactly, velocity Verlet, half again.

Strang splitting of :math:`\dot x = F_x(v)`,
:math:`\dot v = F(g, a, t) - \gamma(a, t)\, v` (the split of
:func:`~dynopt.integrators.base.split_friction`) into the dissipative flow
:math:`\dot v = -\gamma v`, solved exactly, and the conservative rest,
integrated by velocity Verlet:

.. math::

    \tilde v_k &= e^{-\gamma_k h/2}\, v_k \\
    v_{k+1/2} &= \tilde v_k + \tfrac h2 F(g_k, a_k, t_k) \\
    a_{k+1/2} &= a_k + \tfrac h2 F_a(v_{k+1/2}) \\
    x_{k+1} &= x_k + h F_x(v_{k+1/2}) \\
    g_{k+1} &= \nabla f(x_{k+1}) \\
    a_{k+1} &= a_{k+1/2} + \tfrac h2 F_a(v_{k+1/2}) \\
    v_{k+1} &= e^{-\gamma_{k+1} h/2} \big(v_{k+1/2} + \tfrac h2 F(g_{k+1}, a_{k+1}, t_{k+1})\big)

The composition is symmetric, hence second order; unlike velocity Verlet on
the full field, the closing half kick is explicit (the force does not depend on
:math:`v`). One new gradient per step, the previous one reused. For a constant
:math:`\gamma` the step is conformal symplectic: it scales the symplectic form,
and phase-space volume per coordinate, by exactly :math:`e^{-\gamma h}`, as the
flow does (McLachlan & Perlmutter, J. Geom. Phys. 39, 276, 2001; França,
Sulam, Robinson & Vidal, NeurIPS 2020, J. Stat. Mech. 2020, 124008). With no
friction it is velocity Verlet.

When :math:`\gamma` is scalar state (the Nosé–Hoover :math:`\zeta`), each
half friction step holds it at its value at the ends of the step; the
thermostat's own update is velocity Verlet's (the symmetric auxiliary flow of
:meth:`~dynopt.integrators.Integrator.aux_flow`).
"""
from __future__ import annotations

from ..program import Elementwise
from ..systems.base import v
from .base import Integrator, dt, split_friction

__all__ = ["ConformalVerlet"]


class ConformalVerlet(Integrator):
    name = "conformal_verlet"
    order = 2
    symplectic = False
    conformal = True
    needs_velocity = True

    def stages(self, field):
        half = dt / 2
        gamma, force = split_friction(field)
        decay_first, stages = self.decay_stages(field, gamma, half, "friction_decay")
        stages.append(Elementwise([(v, decay_first * v + half * force)]))
        stages += self.verlet_drift(field, dt)
        decay_last, closing = self.decay_stages(field, gamma, half, "friction_decay_end")
        stages += closing
        stages.append(Elementwise([(v, decay_last * (v + half * force))]))
        return stages
