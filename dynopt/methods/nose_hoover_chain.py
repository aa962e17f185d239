"""``'nose_hoover_chain'``: the Nosé–Hoover chain as a method.

Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635 (1992); the system is
:class:`~dynopt.systems.NoseHooverChain`, derived in SymPy (see its docstring
and the systems page). The chain length ``M`` is a structural flag (it sets
the number of thermostats); ``M = 1`` is ``'nose_hoover'``. Velocity Verlet by
default: the extended energy is conserved at second order for every ``M``.
"""
from __future__ import annotations

from ..systems import NoseHooverChain
from .base import Method, system_method

__all__ = ["build_nose_hoover_chain", "METHODS"]


def build_nose_hoover_chain(integrator, M=2):
    """The step program of ``NoseHooverChain(M)`` under ``integrator``."""
    return system_method(NoseHooverChain(M=M), integrator, dt_default=0.05)


METHODS = {
    "nose_hoover_chain": Method(
        "nose_hoover_chain", build_nose_hoover_chain, integrator="velocity_verlet",
        flags={"M": 2},
        summary="Nose-Hoover chain of M thermostats (Martyna, Klein & Tuckerman 1992): dt, "
                "mass, Q, Q_chain, temperature",
        physical="Hamiltonian dynamics with a chain of M thermostats, each thermostatting "
                 "the one before it; conserves an extended energy"),
}
