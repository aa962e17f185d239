"""Dynamical systems, one file each, written once in SymPy.

``SYSTEMS`` maps a name to its class.
"""
from .base import System, VectorField
from .damped_oscillator import DampedOscillator, GradientFlow, NesterovODE
from .lagrangian import BregmanLagrangian, LagrangianSystem
from .langevin import UnderdampedLangevin
from .nose_hoover import NoseHoover
from .nose_hoover_chain import NoseHooverChain

SYSTEMS = {cls.name: cls for cls in (DampedOscillator, GradientFlow, NesterovODE, NoseHoover,
                                      NoseHooverChain, BregmanLagrangian,
                                      UnderdampedLangevin)}

__all__ = ["System", "VectorField", "DampedOscillator", "GradientFlow", "NesterovODE",
           "NoseHoover", "NoseHooverChain", "LagrangianSystem", "BregmanLagrangian", "UnderdampedLangevin",
           "SYSTEMS"]
