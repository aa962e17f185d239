"""dynopt: optimizers as continuous dynamical systems.

Systems are written once in SymPy (`dynopt.systems`), turned into step
programs by pluggable integrators (`dynopt.integrators`), and compiled for
NumPy, Numba or CuPy (`dynopt.backends`). `minimize` runs them with SciPy's
conventions; `method` plugs any of them into `scipy.optimize.minimize`.

The names below are imported on first use, so that ``import dynopt`` costs
little: SymPy and SciPy load when a method is first resolved or run.
"""
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for readers and documentation tools; at run time see __getattr__
    from . import integrators, methods, stepper, systems
    from ._minimize import minimize
    from .methods import METHODS, describe_methods
    from .scipy_method import method
    from .tuning import tune

__version__ = "0.1.0"

#: public name -> (module, attribute); ``None`` means the module itself
_LAZY = {
    "minimize": ("._minimize", "minimize"),
    "method": (".scipy_method", "method"),
    "METHODS": (".methods", "METHODS"),
    "describe_methods": (".methods", "describe_methods"),
    "methods": (".methods", None),
    "systems": (".systems", None),
    "integrators": (".integrators", None),
    "stepper": (".stepper", None),
    "tune": (".tuning", "tune"),
    "curvature": (".curvature", None),
    "transforms": (".transforms", None),
    "torch": (".torch", None),   # PyTorch itself loads when an Optimizer is first made
    "optax": (".optax", None),   # JAX itself loads when a transform is first made
}

__all__ = ["minimize", "method", "methods", "METHODS", "describe_methods", "systems",
           "integrators", "stepper", "tune", "curvature", "transforms", "torch", "optax",
           "__version__"]


def __getattr__(name: str) -> object:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'dynopt' has no attribute {name!r}") from None
    value = importlib.import_module(module, __name__)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
