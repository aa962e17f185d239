"""dynopt: optimizers as continuous dynamical systems.

Systems are written once in SymPy (:mod:`dynopt.systems`), turned into step
programs by pluggable integrators (:mod:`dynopt.integrators`), and compiled for
NumPy, Numba or CuPy (:mod:`dynopt.backends`). :func:`minimize` runs them with
SciPy's conventions; :func:`method` plugs any of them into
:func:`scipy.optimize.minimize`.
"""
from ._minimize import minimize
from .methods import METHODS, describe_methods
from .scipy_method import method
from . import integrators, systems

#: every registered method name -> its hyperparameters with defaults
methods = METHODS

__version__ = "0.1.0"

__all__ = ["minimize", "method", "methods", "METHODS", "describe_methods", "systems",
           "integrators", "__version__"]
