"""Backends compile step programs. ``BACKENDS`` maps a name to a factory."""
from __future__ import annotations

from .base import Backend, Kernels


def _numpy():
    from .numpy_backend import NumpyBackend
    return NumpyBackend()


def _numba():
    from .numba_backend import NumbaBackend
    return NumbaBackend()


def _cupy():
    from .cupy_backend import CupyBackend
    return CupyBackend()


#: name -> factory; each imports its module on first use (SymPy's printers load only
#: where code is generated)
BACKENDS = {"numpy": _numpy, "numba": _numba, "cupy": _cupy}


def get_backend(name) -> Backend:
    """A backend instance from its name (or an instance)."""
    if isinstance(name, Backend):
        return name
    try:
        factory = BACKENDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backend {name!r}; valid: {sorted(BACKENDS)}") from None
    return factory()


__all__ = ["Backend", "Kernels", "BACKENDS", "get_backend"]
