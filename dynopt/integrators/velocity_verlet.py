"""Velocity Verlet: half kick, drift, new gradient, half kick.

.. math::

    v_{k+1/2} &= v_k + \\tfrac h2 F_v(g_k, v_k, a_k) \\\\
    a_{k+1/2} &= a_k + \\tfrac h2 F_a(v_{k+1/2}) \\\\
    x_{k+1} &= x_k + h F_x(v_{k+1/2}) \\\\
    g_{k+1} &= \\nabla f(x_{k+1}) \\\\
    a_{k+1} &= a_{k+1/2} + \\tfrac h2 F_a(v_{k+1/2}) \\\\
    v_{k+1} &= v_{k+1/2} + \\tfrac h2 F_v(g_{k+1}, v_{k+1}, a_{k+1})

The last half kick is implicit in :math:`v_{k+1}`; SymPy solves it (the
velocity enters the systems here linearly). One new gradient per step, the
previous one reused. Second order; symplectic on a conservative system
(Swope et al., J. Chem. Phys. 76, 637, 1982).

The two auxiliary half steps are written above as Euler steps, which they are
for a variable absent from its own equation; one that enters it (a Nosé–Hoover
chain's :math:`\\dot\\zeta_1 \\ni -\\zeta_2\\zeta_1`) is advanced by a symmetric
exact splitting, the variables in reverse order in the closing half
(:meth:`~dynopt.integrators.Integrator.aux_flow`), which keeps the step
symmetric and second order for every such field.
"""
from __future__ import annotations

import sympy as sp

from ..program import Elementwise
from ..systems.base import v
from .base import Integrator, dt

__all__ = ["VelocityVerlet"]


class VelocityVerlet(Integrator):
    name = "velocity_verlet"
    order = 2
    symplectic = True
    needs_velocity = True

    def stages(self, field):
        half = dt / 2
        v_next = sp.Symbol("v_next", real=True)
        implicit = sp.Eq(v_next, v + half * field.vdot.subs(v, v_next))
        solutions = sp.solve(implicit, v_next)
        if len(solutions) != 1:
            raise ValueError("velocity_verlet needs a velocity equation linear in the velocity")
        stages = [Elementwise([(v, v + half * field.vdot)]), *self.verlet_drift(field, dt)]
        stages.append(Elementwise([(v, sp.simplify(solutions[0]))]))
        return stages
