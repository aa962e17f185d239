r"""The integrator contract.

An integrator turns a :class:`~dynopt.systems.VectorField` into a
:class:`~dynopt.program.StepProgram` by symbolic substitution: it never sees
numbers. Each declares its ``order`` (of the global error on a smooth system)
and whether it is ``symplectic`` (for a conservative Hamiltonian system).

Every integrator here evaluates one new gradient per step. The step size
:math:`h` is the hyperparameter ``dt``. A *conformal* integrator (``conformal =
True``) solves the linear friction of a second-order system exactly and the
conservative rest by a symplectic scheme (:func:`split_friction`); on a system
with constant friction :math:`\gamma` it contracts phase-space volume by
exactly :math:`e^{-\gamma h}` per coordinate and step, as the flow does.
"""
from __future__ import annotations

import sympy as sp

from ..program import Elementwise, Gradient, Scalar, StepProgram, x
from ..systems.base import VectorField, v

__all__ = ["Integrator", "dt", "split_friction", "per_coordinate_symbols"]

#: the step size :math:`h`
dt = sp.Symbol("dt", positive=True)


class Integrator:
    """Base class; subclasses implement :meth:`stages`."""

    name: str = ""
    order: int = 0
    symplectic: bool = False
    #: whether the scheme is conformal symplectic on a system with linear friction
    conformal: bool = False
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

    @staticmethod
    def decay_stages(field: VectorField, friction: sp.Expr, h, name: str) -> tuple:
        r"""The factor :math:`e^{-\gamma h}` and the stages that compute it.

        A friction that is the same for every coordinate (a constant, a
        thermostat's :math:`\zeta`, a function of time) is exponentiated once,
        in a :class:`~dynopt.program.Scalar` stage, into a temporary ``name``;
        a per-coordinate one inline. Returns ``(factor, stages)``.
        """
        if friction == 0:
            return sp.Integer(1), []
        exponent = -friction * h
        if friction.free_symbols & per_coordinate_symbols(field):
            return sp.exp(exponent), []
        factor = sp.Symbol(name, positive=True)
        return factor, [Scalar([(factor, sp.exp(exponent))])]

    @staticmethod
    def verlet_drift(field: VectorField, h) -> list:
        """The middle of a Verlet step, after the opening half kick of the velocity.

        The reductions and filters, half an Euler step of the auxiliary variables,
        the drift :math:`x \\leftarrow x + h F_x(v)` (and the clock), the new
        gradient, the mirror image of the auxiliary half step (which keeps the step
        symmetric) and the post stages; the closing half kick is the caller's.
        """
        half = h / 2
        aux = [(s, s + half * rhs) for s, rhs in field.aux.items()]
        stages = list(field.reductions) + list(field.filters)
        if aux:
            stages.append(Scalar(aux))
        stages.append(Elementwise([(x, x + h * field.xdot)]))
        if field.time is not None:
            stages.append(Scalar([(field.time, field.time + h)]))
        stages.append(Gradient())
        if aux:
            stages.append(Scalar(aux[::-1]))
        stages.extend(field.post)
        return stages

    def __repr__(self):
        return f"{type(self).__name__}()"


def per_coordinate_symbols(field: VectorField) -> set:
    """Symbols that hold one value per coordinate when ``field``'s step runs."""
    from ..program import Custom, Elementwise, g, x
    out = {x, g, v, *field.extra_vectors}
    for st in (*field.pre, *field.filters, *field.post):
        if isinstance(st, Elementwise):
            out.update(t for t, _ in st.assignments)
        elif isinstance(st, Custom):
            out.update(s for s in st.writes if s not in field.extra_scalars and s not in field.aux)
    return out


def split_friction(field: VectorField) -> tuple:
    r"""Split the velocity equation into a force and a linear friction.

    Writes :math:`\dot v = F_v(g, v, a, t)` as

    .. math::

        \dot v = F(g, a, t) - \gamma(a, t)\, v, \qquad
        \gamma = -\frac{\partial F_v}{\partial v}, \qquad F = F_v\big|_{v=0},

    which requires :math:`F_v` to be affine in :math:`v`. The friction may
    depend on scalar state (a thermostat's :math:`\zeta`), on time and on
    per-coordinate quantities other than :math:`v`; during the dissipative
    sub-flow :math:`\dot v = -\gamma v` those are held, so it is solved
    exactly by :math:`v \leftarrow e^{-\gamma h} v`.

    Returns
    -------
    (gamma, force) : tuple of sympy.Expr

    Raises
    ------
    ValueError
        If the system is first order or :math:`F_v` is not affine in :math:`v`.
    """
    if not field.second_order:
        raise ValueError("a friction split needs a second-order system (with a velocity)")
    vdot = sp.expand(field.vdot)
    gamma = sp.simplify(-sp.diff(vdot, v))
    force = sp.simplify(vdot.subs(v, 0))
    if gamma.has(v) or sp.simplify(vdot - (force - gamma * v)) != 0:
        raise ValueError(
            f"a conformal integrator needs a velocity equation linear in v, "
            f"vdot = F(g, a) - gamma(a) v; got vdot = {field.vdot}")
    return gamma, force
