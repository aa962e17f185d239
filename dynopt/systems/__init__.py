"""Dynamical systems, one file each, written once in SymPy.

``SYSTEMS`` maps a name to its class.
"""
from .base import System, VectorField
from .damped_oscillator import DampedOscillator, GradientFlow, NesterovODE
from .lagrangian import BregmanLagrangian, LagrangianSystem
from .nose_hoover import NoseHoover
from .nose_hoover_chain import NoseHooverChain

SYSTEMS = {cls.name: cls for cls in (DampedOscillator, GradientFlow, NesterovODE, NoseHoover,
                                      NoseHooverChain, BregmanLagrangian)}

__all__ = ["System", "VectorField", "DampedOscillator", "GradientFlow", "NesterovODE",
           "NoseHoover", "NoseHooverChain", "LagrangianSystem", "BregmanLagrangian", "SYSTEMS"]
