"""``'bregman_lagrangian'``: the Bregman Lagrangian's Euler–Lagrange flow as a method.

Wibisono, Wilson & Jordan, "A variational perspective on accelerated methods
in optimization", PNAS 113, E7351 (2016); the system is
:class:`~dynopt.systems.BregmanLagrangian` (equations by Euler–Lagrange in
SymPy). The order ``p`` of the polynomial family is a structural flag (it sets
the powers of :math:`t`); ``p = 2`` with the default ``C = 1/4`` is Nesterov's
ODE :math:`\\ddot X + \\frac3t \\dot X + \\nabla f = 0`, step for step
``'nesterov_ode'``.
"""
from __future__ import annotations

from ..systems import BregmanLagrangian
from .base import Method, system_builder

__all__ = ["METHODS"]

METHODS = {
    "bregman_lagrangian": Method(
        "bregman_lagrangian", system_builder(BregmanLagrangian, 0.01),
        integrator="symplectic_euler",
        flags={"p": 2},
        summary="Euler-Lagrange flow of the Bregman Lagrangian (Wibisono, Wilson & Jordan "
                "2016), Euclidean, order p: dt, C, t0",
        physical="Xddot + (p+1)/t Xdot + C p^2 t^(p-2) grad f = 0; p = 2, C = 1/4 is "
                 "Nesterov's ODE"),
}
