"""Named methods. ``METHODS`` maps each name to its :class:`Method`.

``dynopt.methods`` is this package: the modules that define the methods
(:mod:`dynopt.methods.momentum`, :mod:`dynopt.methods.adaptive`, ...) and
:mod:`dynopt.methods.settings`, the example settings. The registry is the dict
``dynopt.METHODS``, the same object as ``dynopt.methods.METHODS``. The
hyperparameter symbols the methods share are in :mod:`dynopt.hyperparameters`.
"""
from . import settings
from .base import Method, check_value, reparametrize, system_builder, system_method

from . import adaptive, bregman, fanos, fire, frankenstein, ko, langevin, momentum
from . import nose_hoover_chain, preconditioned

#: the modules of this package that define methods, each a ``METHODS`` dict, in this order
FAMILIES = (momentum, adaptive, fanos, frankenstein, fire, ko, langevin, nose_hoover_chain,
            bregman, preconditioned)

#: name -> Method: every method dynopt knows (built in, then registered)
METHODS: dict = {}


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` under ``method.name`` and return it.

    Parameters
    ----------
    method : Method
        Its ``name`` must be a lower-case identifier (``minimize`` reads names in
        lower case, as SciPy does).
    replace : bool
        Allow a name that is taken (by default a clash is an error).

    Raises
    ------
    TypeError
        For anything but a :class:`Method`.
    ValueError
        For a bad or taken name.
    """
    if not isinstance(method, Method):
        raise TypeError(f"register takes a dynopt.methods.Method, got {type(method).__name__}")
    name = method.name
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"a method's name must be a lower-case identifier, got {name!r}")
    if name in METHODS and not replace:
        raise ValueError(f"a method named {name!r} is already registered; pass replace=True "
                         "to replace it")
    if name in METHODS:
        _forget(name)
    METHODS[name] = method
    return method


def _forget(name: str) -> None:
    from ..stepper import forget_method
    forget_method(name)


def unregister(name: str) -> Method:
    """Remove the method ``name`` from :data:`METHODS` and return it."""
    if name not in METHODS:
        raise ValueError(f"no method named {name!r} is registered")
    _forget(name)
    return METHODS.pop(name)


for _family in FAMILIES:
    for _key, _method in _family.METHODS.items():
        if _key != _method.name:
            raise ValueError(f"{_family.__name__}: METHODS[{_key!r}] is named {_method.name!r}")
        register(_method)

#: the methods dynopt defines (name -> Method), whatever the registry holds later; only
#: these have warm-start records (:mod:`dynopt.warm`)
BUILTIN = dict(METHODS)


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


__all__ = ["Method", "METHODS", "BUILTIN", "FAMILIES", "register", "unregister", "get_method",
           "describe_methods", "reparametrize", "system_method", "system_builder", "check_value",
           "settings"]
