"""``'nose_hoover_chain'``: the Nosé–Hoover chain as a method.

Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635 (1992); the system is
:class:`~dynopt.systems.NoseHooverChain`, derived in SymPy (see its docstring
and the systems page). The chain length ``M`` is a structural flag (it sets
the number of thermostats); ``M = 1`` is ``'nose_hoover'``. Velocity Verlet by
default: the extended energy is conserved at second order for every ``M``.
"""
from __future__ import annotations

from ..systems import NoseHooverChain
from .base import Method, system_builder

__all__ = ["METHODS"]

METHODS = {
    "nose_hoover_chain": Method(
        "nose_hoover_chain", system_builder(NoseHooverChain, 0.05), integrator="velocity_verlet",
        flags={"M": 2},
        summary="Nose-Hoover chain of M thermostats (Martyna, Klein & Tuckerman 1992): dt, "
                "mass, Q, Q_chain, temperature",
        physical="Hamiltonian dynamics with a chain of M thermostats, each thermostatting "
                 "the one before it; conserves an extended energy"),
}
