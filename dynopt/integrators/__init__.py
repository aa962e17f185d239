"""Integrators, one small class per scheme. ``INTEGRATORS`` maps name -> class."""
from .base import Integrator, dt, split_friction
from .composition import Composition, Yoshida4
from .conformal_euler import ConformalSymplecticEuler
from .conformal_verlet import ConformalVerlet
from .explicit_euler import ExplicitEuler
from .symplectic_euler import SymplecticEuler
from .velocity_verlet import VelocityVerlet

INTEGRATORS = {cls.name: cls for cls in (ExplicitEuler, SymplecticEuler, VelocityVerlet,
                                          ConformalSymplecticEuler, ConformalVerlet, Yoshida4)}


def get_integrator(name_or_instance) -> Integrator:
    """An integrator instance from a name or an instance (clear error otherwise)."""
    if isinstance(name_or_instance, Integrator):
        return name_or_instance
    if isinstance(name_or_instance, type) and issubclass(name_or_instance, Integrator):
        return name_or_instance()
    try:
        return INTEGRATORS[name_or_instance]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown integrator {name_or_instance!r}; valid: "
                         f"{sorted(INTEGRATORS)}") from None


__all__ = ["Integrator", "ExplicitEuler", "SymplecticEuler", "VelocityVerlet",
           "ConformalSymplecticEuler", "ConformalVerlet", "Composition", "Yoshida4", "INTEGRATORS", "get_integrator", "dt",
           "split_friction"]
