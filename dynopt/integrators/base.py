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

from ..program import Elementwise, Gradient, Scalar, StepProgram, g, x
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

    #: program steps per step of the scheme (a composition spans several)
    substeps: int = 1

    def program(self, field: VectorField, name: str, dt_default: float = 0.1,
                description: str = "") -> StepProgram:
        """The step program of ``field`` integrated by this scheme."""
        self.check_field(field)
        return self.assemble(field, [*field.pre, *self.stages(field)], name, dt_default,
                             description)

    def check_field(self, field: VectorField) -> None:
        """Raise a clear error when this scheme cannot integrate ``field``."""
        field.check()
        if self.needs_velocity and not field.second_order:
            raise ValueError(
                f"integrator {self.name!r} needs a second-order system (with a velocity); "
                "use 'explicit_euler' or 'symplectic_euler' for a first-order flow")

    @staticmethod
    def assemble(field: VectorField, stages: list, name: str, dt_default: float = 0.1,
                 description: str = "", extra_scalars: dict | None = None) -> StepProgram:
        """The step program of ``stages`` with the state, parameters and energies of ``field``."""
        if not any(isinstance(s, Gradient) for s in stages):
            stages.append(Gradient())
        vectors = {}
        if field.second_order:
            vectors[v] = sp.Integer(0)
        vectors.update(field.extra_vectors)
        scalars = dict(field.aux_init)
        scalars.update(field.extra_scalars)
        scalars.update(extra_scalars or {})
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
        The ``post`` stages of the field always follow, auxiliary variables or not.
        """
        stages = (list(field.reductions) if reduce else []) + list(field.filters)
        updates = list(field.aux.items())
        if field.time is not None:
            updates.append((field.time, sp.Integer(1)))
        if updates:
            if simultaneous:
                temps = [(sp.Symbol(f"{s.name}_new", real=True), s + h * rhs)
                         for s, rhs in updates]
                assignments = temps + [(s, tmp) for (s, _), (tmp, _) in zip(updates, temps)]
            else:
                assignments = [(s, s + h * rhs) for s, rhs in updates]
            stages.append(Scalar(assignments))
        stages.extend(field.post)
        return stages

    @staticmethod
    def aux_flow(field: VectorField, h, reverse: bool = False) -> list:
        r"""Assignments for the auxiliary flow over a time ``h``, one variable after another.

        Each auxiliary equation is split as :math:`\dot a_i = c_i - d_i\, a_i`
        with :math:`c_i, d_i` independent of :math:`a_i` (the other variables
        and the reductions held). A variable that does not enter its own
        right-hand side (:math:`d_i = 0`) is advanced exactly,
        :math:`a_i \leftarrow a_i + h c_i`; otherwise its sub-flow is the
        symmetric Strang composition

        .. math::

            a_i \leftarrow e^{-d_i h/2}\Big(e^{-d_i h/2} a_i + h c_i\Big),

        exact decay, exact kick, exact decay (the palindromic Trotter factor of
        Martyna, Tuckerman, Tobias & Klein, Mol. Phys. 87, 1117, 1996), a
        symmetric map of local error :math:`O(h^3)`. The variables are taken in
        order, or in reverse order with ``reverse=True``: the two orders are
        adjoint maps, so a step that opens with one and closes with the other
        is symmetric, hence of even order.

        Raises
        ------
        ValueError
            If an auxiliary right-hand side is not affine in its own variable.
        """
        out = []
        for s, rhs in field.aux.items():
            d = -sp.diff(rhs, s)
            if d == 0:
                out.append((s, s + h * rhs))
                continue
            if d.has(s) or sp.simplify(sp.diff(rhs, s, 2)) != 0:
                raise ValueError(
                    f"the auxiliary equation d{s}/dt = {rhs} is not affine in {s}; "
                    "a second-order integrator needs d a/dt = c - d a with c, d free of a")
            c = rhs.subs(s, 0)
            decay = sp.exp(-d * h / 2)
            out.append((s, decay * (decay * s + h * c)))
        return out[::-1] if reverse else out

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

        The reductions and filters, the auxiliary flow over :math:`h/2`
        (:meth:`aux_flow`), the drift :math:`x \\leftarrow x + h F_x(v)` (and
        the clock), the new gradient, the auxiliary flow over :math:`h/2` in
        reverse order (its adjoint, which keeps the step symmetric) and the post
        stages; the closing half kick is the caller's. A reduction that reads
        the position or the gradient is computed again after the gradient, so
        that the closing half of the auxiliary flow sees the new point.
        """
        half = h / 2
        aux = Integrator.aux_flow(field, half)
        stages = list(field.reductions) + list(field.filters)
        if aux:
            stages.append(Scalar(aux))
        stages.append(Elementwise([(x, x + h * field.xdot)]))
        if field.time is not None:
            stages.append(Scalar([(field.time, field.time + h)]))
        stages.append(Gradient())
        if aux:
            stages += [r for r in field.reductions if r.expr.has(x) or r.expr.has(g)]
            stages.append(Scalar(Integrator.aux_flow(field, half, reverse=True)))
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
