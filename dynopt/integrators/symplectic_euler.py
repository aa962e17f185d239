"""Symplectic (semi-implicit) Euler: kick with the old state, drift with the new velocity.

.. math::

    v_{k+1} = v_k + h F_v(g_k, v_k, a_k), \\quad
    x_{k+1} = x_k + h F_x(v_{k+1}), \\quad
    a_{k+1} = a_k + h F_a(v_{k+1}, a_k).

First order and symplectic (Hairer, Lubich & Wanner, *Geometric Numerical
Integration*, 2006, Thm. VI.3.3): on a conservative system the energy error
stays bounded. With a damped oscillator it is the heavy-ball method; with the
Nosé–Hoover system it is the integrator of FANoS.
"""
from __future__ import annotations

from ..program import Elementwise, x
from ..systems.base import v
from .base import Integrator, dt

__all__ = ["SymplecticEuler"]


class SymplecticEuler(Integrator):
    name = "symplectic_euler"
    order = 1
    symplectic = True

    def stages(self, field):
        if not field.second_order:
            return [Elementwise([(x, x + dt * field.xdot)])]
        move = Elementwise([(v, v + dt * field.vdot), (x, x + dt * field.xdot)])
        return [move, *self.aux_update(field, dt, simultaneous=False)]
