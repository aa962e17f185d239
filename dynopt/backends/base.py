"""The backend contract.

A backend compiles a :class:`~dynopt.program.StepProgram` into
:class:`Kernels`: plain functions over a *state* dictionary (name -> array).
Per-coordinate arrays have shape ``(batch, n)``; scalar state and
hyperparameters have shape ``(batch, 1)`` (hyperparameters may also be Python
numbers). ``before`` runs the stages before the gradient evaluation,
``after`` those after it; ``init`` fills the initial state from ``x``, ``g``
and ``f``; ``energies`` evaluates the program's diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Backend", "Kernels"]


@dataclass
class Kernels:
    before: Callable
    after: Callable
    init: Callable
    energies: Callable
    #: the generated source, for reading and debugging
    source: str = ""
    #: backend-specific extras (compiled whole-run loops ...)
    extras: dict = field(default_factory=dict)


class Backend:
    """Compiles step programs; ``xp`` is its array module."""

    name: str = ""

    @property
    def xp(self):
        raise NotImplementedError

    def compile(self, program) -> Kernels:
        raise NotImplementedError

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a):
        import numpy as np
        return np.asarray(a)
