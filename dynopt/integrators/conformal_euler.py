r"""Conformal symplectic Euler: the friction solved exactly, then symplectic Euler.

For :math:`\dot x = F_x(v)`, :math:`\dot v = F(g, a, t) - \gamma(a, t)\, v`
(the split of :func:`~dynopt.integrators.base.split_friction`), the step is
the exact flow of the dissipative part :math:`\dot v = -\gamma v` for a time
:math:`h` followed by symplectic Euler on the conservative part:

.. math::

    v_{k+1} = e^{-\gamma_k h}\, v_k + h F(g_k, a_k, t_k), \qquad
    x_{k+1} = x_k + h F_x(v_{k+1}), \qquad
    a_{k+1} = a_k + h F_a(v_{k+1}, a_k).

Both parts are solved by maps that are conformal symplectic (the first
scales the symplectic form by :math:`e^{-\gamma h}`, the second preserves
it), so for a constant :math:`\gamma` the step contracts phase-space volume
by exactly :math:`e^{-\gamma h}` per coordinate, as the flow does
(McLachlan & Perlmutter, "Conformal Hamiltonian systems", J. Geom. Phys. 39,
276, 2001). First order. On the damped oscillator
:math:`m\ddot x + c\dot x + \nabla f = 0` it is exactly Polyak's heavy ball

.. math::

    x_{k+1} = x_k - \eta \nabla f(x_k) + \alpha (x_k - x_{k-1}), \qquad
    \eta = \frac{h^2}{m}, \qquad \alpha = e^{-c h/m},

where symplectic Euler gives :math:`\alpha = 1 - ch/m` (França, Sulam,
Robinson & Vidal, "Conformal symplectic and relativistic optimization",
NeurIPS 2020; J. Stat. Mech. 2020, 124008). With no friction it is symplectic
Euler.
"""
from __future__ import annotations

from ..program import Elementwise, x
from ..systems.base import v
from .base import Integrator, dt, split_friction

__all__ = ["ConformalSymplecticEuler"]


class ConformalSymplecticEuler(Integrator):
    name = "conformal_euler"
    order = 1
    symplectic = False
    conformal = True
    needs_velocity = True

    def stages(self, field):
        gamma, force = split_friction(field)
        decay, first = self.decay_stages(field, gamma, dt, "friction_decay")
        move = Elementwise([(v, decay * v + dt * force), (x, x + dt * field.xdot)])
        return [*first, move, *self.aux_update(field, dt, simultaneous=False)]
