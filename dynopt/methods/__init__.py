"""Named methods. ``METHODS`` maps each name to its :class:`Method`.

``dynopt.methods`` is this package: the modules that define the methods
(:mod:`dynopt.methods.momentum`, :mod:`dynopt.methods.adaptive`, ...) and
:mod:`dynopt.methods.settings`, the example settings. The registry is the dict
``dynopt.METHODS``, the same object as ``dynopt.methods.METHODS``. The
hyperparameter symbols the methods share are in :mod:`dynopt.hyperparameters`.
"""
import importlib

from . import settings
from .base import Method, check_value, reparametrize, system_method

#: modules of this package that define a ``METHODS`` dict, merged in this order
_MODULES = ("momentum", "adaptive", "fanos", "frankenstein", "fire", "ko", "langevin",
            "nose_hoover_chain", "bregman")

METHODS: dict = {}
for _name in _MODULES:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # a method family not written yet
        if _exc.name != f"{__name__}.{_name}":
            raise
        continue
    METHODS.update(_module.METHODS)


def get_method(name) -> Method:
    if isinstance(name, Method):
        return name
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; valid: {sorted(METHODS)}") from None


def describe_methods() -> dict:
    """name -> {'summary', 'integrator', 'hyperparameters' (with defaults)}."""
    return {name: {"summary": m.summary, "integrator": m.integrator,
                   "physical": m.physical, "hyperparameters": m.hyperparameters()}
            for name, m in METHODS.items()}


__all__ = ["Method", "METHODS", "get_method", "describe_methods", "reparametrize",
           "system_method", "check_value", "settings"]
