"""Named methods. ``METHODS`` maps each name to its :class:`Method`."""
from .base import Method, check_value, reparametrize, system_method
from .momentum import METHODS as _MOMENTUM

METHODS: dict = {}
METHODS.update(_MOMENTUM)


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
           "system_method", "check_value"]
