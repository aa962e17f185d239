"""Dynamical systems, one file each, written once in SymPy.

``SYSTEMS`` maps a name to its class.
"""
from .base import System, VectorField
from .damped_oscillator import DampedOscillator, GradientFlow, NesterovODE
from .lagrangian import BregmanLagrangian, LagrangianSystem
from .langevin import UnderdampedLangevin
from .nose_hoover import NoseHoover
from .nose_hoover_chain import NoseHooverChain
from .preconditioned import PreconditionedOscillator

SYSTEMS = {cls.name: cls for cls in (DampedOscillator, GradientFlow, NesterovODE, NoseHoover,
                                      NoseHooverChain, BregmanLagrangian,
                                      UnderdampedLangevin, PreconditionedOscillator)}

__all__ = ["System", "VectorField", "DampedOscillator", "GradientFlow", "NesterovODE",
           "NoseHoover", "NoseHooverChain", "LagrangianSystem", "BregmanLagrangian", "UnderdampedLangevin",
           "PreconditionedOscillator", "SYSTEMS"]
