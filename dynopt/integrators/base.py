"""The integrator contract.

An integrator turns a :class:`~dynopt.systems.VectorField` into a
:class:`~dynopt.program.StepProgram` by symbolic substitution: it never sees
numbers. Each declares its ``order`` (of the global error on a smooth system)
and whether it is ``symplectic`` (for a conservative Hamiltonian system).

Every integrator here evaluates one new gradient per step. The step size
:math:`h` is the hyperparameter ``dt``.
"""
from __future__ import annotations

import sympy as sp

from ..program import Gradient, Scalar, StepProgram
from ..systems.base import VectorField, v

__all__ = ["Integrator", "dt"]

#: the step size :math:`h`
dt = sp.Symbol("dt", positive=True)


class Integrator:
    """Base class; subclasses implement :meth:`stages`."""

    name: str = ""
    order: int = 0
    symplectic: bool = False
    #: whether the integrator needs a velocity (a second-order system)
    needs_velocity: bool = False

    def program(self, field: VectorField, name: str, dt_default: float = 0.1,
                description: str = "") -> StepProgram:
        """The step program of ``field`` integrated by this scheme."""
        field.check()
        if self.needs_velocity and not field.second_order:
            raise ValueError(
                f"integrator {self.name!r} needs a second-order system (with a velocity); "
                "use 'explicit_euler' or 'symplectic_euler' for a first-order flow")
        stages = [*field.pre, *self.stages(field)]
        if not any(isinstance(s, Gradient) for s in stages):
            stages.append(Gradient())
        vectors = {}
        if field.second_order:
            vectors[v] = sp.Integer(0)
        vectors.update(field.extra_vectors)
        scalars = dict(field.aux_init)
        scalars.update(field.extra_scalars)
        if field.time is not None:
            scalars[field.time] = field.time_init
        params = dict(field.params)
        params[dt] = dt_default
        return StepProgram(name=name, vectors=vectors, scalars=scalars, params=params,
                           stages=stages, energies=dict(field.energies), description=description)

    def stages(self, field: VectorField) -> list:
        raise NotImplementedError

    # ----------------------------------------------------------- pieces
    @staticmethod
    def aux_update(field: VectorField, h, simultaneous: bool, reduce: bool = True) -> list:
        """Euler update of the scalar auxiliary variables (and the clock).

        ``simultaneous=True`` evaluates every right-hand side at the old values
        (explicit Euler); otherwise each update sees the ones before it.
        ``reduce=False`` leaves the reductions out (the caller placed them).
        """
        stages = (list(field.reductions) if reduce else []) + list(field.filters)
        updates = list(field.aux.items())
        if field.time is not None:
            updates.append((field.time, sp.Integer(1)))
        if not updates:
            return stages
        if simultaneous:
            temps = [(sp.Symbol(f"{s.name}_new", real=True), s + h * rhs) for s, rhs in updates]
            assignments = temps + [(s, tmp) for (s, _), (tmp, _) in zip(updates, temps)]
        else:
            assignments = [(s, s + h * rhs) for s, rhs in updates]
        stages.append(Scalar(assignments))
        stages.extend(field.post)
        return stages

    def __repr__(self):
        return f"{type(self).__name__}()"
