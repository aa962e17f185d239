"""Explicit (forward) Euler: every right-hand side at the old state.

.. math::

    x_{k+1} = x_k + h F_x(v_k), \\quad v_{k+1} = v_k + h F_v(g_k, v_k, a_k), \\quad
    a_{k+1} = a_k + h F_a(v_k, a_k).

First order, not symplectic: on an undamped oscillator its energy grows by a
factor :math:`1 + h^2\\omega^2` per step. On a first-order flow it is gradient
descent.
"""
from __future__ import annotations

import sympy as sp

from ..program import Elementwise, x
from ..systems.base import v
from .base import Integrator, dt

__all__ = ["ExplicitEuler"]


class ExplicitEuler(Integrator):
    name = "explicit_euler"
    order = 1
    symplectic = False

    def stages(self, field):
        if not field.second_order:
            return [Elementwise([(x, x + dt * field.xdot)])]
        # Reductions read the old velocity, so they come first.
        v_new = sp.Symbol("v_new", real=True)
        move = Elementwise([(v_new, v + dt * field.vdot), (x, x + dt * field.xdot), (v, v_new)])
        return [*field.reductions, move,
                *self.aux_update(field, dt, simultaneous=True, reduce=False)]
