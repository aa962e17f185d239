"""What a system is: a Hamiltonian (or a first-order flow) plus dissipation.

A system is written once in SymPy. Its equations of motion are *derived*:
Hamilton's equations from :math:`H(q, p)`, dissipative forces from a Rayleigh
function, thermostat equations from the conservation of an extended energy.
The integrators consume the result as a :class:`VectorField` written in
velocity coordinates :math:`v = \\partial H / \\partial p`:

.. math::

    \\dot x = F_x(v), \\qquad \\dot v = F_v(g, v, a, t), \\qquad
    \\dot a = F_a(r, a, t),

where :math:`g = \\nabla f(x)` is the gradient (an opaque per-coordinate
input), :math:`a` are scalar auxiliary variables (a thermostat's friction) and
:math:`r` are explicit reductions over the coordinates (kinetic energy).
A first-order system (gradient flow) has no velocity: :math:`\\dot x = F_x(g)`.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import sympy as sp

from ..program import Reduce, g, x

__all__ = ["System", "VectorField", "t", "p", "v", "potential", "coordinate_sum"]

#: time
t = sp.Symbol("t", real=True)
#: momentum (per coordinate)
p = sp.Symbol("p", real=True)
#: velocity (per coordinate): the state integrators carry
v = sp.Symbol("v", real=True)
#: the objective as an opaque function of one coordinate; its derivative is ``g``
potential = sp.Function("f")


def gradient_of_potential(expr: sp.Expr) -> sp.Expr:
    """Replace :math:`\\partial f / \\partial x` in ``expr`` by the gradient symbol ``g``."""
    return expr.replace(
        lambda e: (isinstance(e, sp.Derivative) and e.expr == potential(x)
                   and e.derivative_count == 1), lambda e: g)


def coordinate_sum(density: sp.Expr) -> sp.Expr:
    """:math:`\\sum_{i=1}^N` of a per-coordinate expression, for display."""
    from ..program import N
    i = sp.Idx("i")
    sub = {s: sp.Indexed(sp.IndexedBase(s.name), i) for s in density.free_symbols
           if s.name in ("v", "x", "g", "p")}
    return sp.Sum(density.xreplace(sub), (i, 1, N))


@dataclass
class VectorField:
    """The right-hand side an integrator turns into a step program.

    Attributes
    ----------
    xdot
        :math:`F_x`, per coordinate: a function of ``v`` (second order) or of
        ``g`` (first order).
    vdot
        :math:`F_v`, per coordinate, or ``None`` for a first-order system.
    aux
        Scalar auxiliary variables: symbol -> right-hand side. A right-hand side
        may depend on the other variables, the reductions and the time; the
        second-order integrators also need it affine in its own variable,
        :math:`\\dot a = c - d\\, a` with :math:`c, d` free of :math:`a` (a
        Nosé–Hoover chain's :math:`\\dot\\zeta_1 = G_1/Q_1 - \\zeta_2\\zeta_1`), and
        solve that part exactly in a symmetric splitting.
    aux_init
        Their initial values.
    reductions
        :class:`~dynopt.program.Reduce` stages (over the current ``v``) whose
        targets appear in ``aux``.
    time
        The time symbol when the field depends on time (Nesterov's ODE).
    params
        Parameters of the system: symbol -> default.
    energies
        Diagnostics: name -> ``(op, expr)`` (see :class:`~dynopt.program.StepProgram`).
    """

    xdot: sp.Expr
    vdot: sp.Expr | None
    aux: dict = field(default_factory=dict)
    aux_init: dict = field(default_factory=dict)
    reductions: tuple = ()
    time: sp.Symbol | None = None
    time_init: sp.Expr = sp.Integer(0)
    params: dict = field(default_factory=dict)
    energies: dict = field(default_factory=dict)
    #: method hooks: stages before the step (clipping, adaptive mass) ...
    pre: tuple = ()
    #: ... scalar filters between the reductions and the auxiliary update ...
    filters: tuple = ()
    #: ... and projections after it (clipping the friction)
    post: tuple = ()
    #: extra per-coordinate and scalar state the hooks carry: symbol -> initial value
    extra_vectors: dict = field(default_factory=dict)
    extra_scalars: dict = field(default_factory=dict)

    @property
    def second_order(self) -> bool:
        return self.vdot is not None

    def check(self) -> None:
        for red in self.reductions:
            if not isinstance(red, Reduce):
                raise TypeError(f"reductions must be Reduce stages, got {red!r}")


class System:
    """Base class: a symbolic dynamical system whose flow minimises :math:`f`.

    Subclasses define :meth:`vector_field` (derived, not typed in), :meth:`equations`
    (SymPy equations that render as LaTeX) and :meth:`energy`.

    The values given to the constructor are the defaults of the field's
    parameters: ``integrator.program(System(mass=2.0).vector_field(), name)``
    has ``mass = 2.0``. Every subclass's :meth:`vector_field` is wrapped (in
    ``__init_subclass__``) so that it applies them, whatever it returns.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("vector_field")
        if build is None or getattr(build, "_applies_values", False):
            return

        @functools.wraps(build)
        def vector_field(self):
            return self.apply_values(build(self))

        vector_field._applies_values = True
        cls.vector_field = vector_field

    def apply_values(self, field_: "VectorField") -> "VectorField":
        """``field_`` with this instance's parameter values as the parameter defaults."""
        values = getattr(self, "values", {})
        params = {s: (values[s.name] if values.get(s.name) is not None else d)
                  for s, d in field_.params.items()}
        return dataclasses.replace(field_, params=params)

    #: registry name
    name: str = ""
    #: second-order systems carry a velocity; first-order flows do not
    second_order: bool = True

    def __init__(self, **params):
        defaults = self.default_params()
        unknown = set(params) - set(defaults)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown parameter(s) {sorted(unknown)}; "
                f"valid: {sorted(defaults)}")
        self.values = {**defaults, **params}
        for name, value in self.values.items():
            if value is not None and not isinstance(value, sp.Basic):
                _check_param(type(self).__name__, name, value)

    # -------------------------------------------------------------- interface
    @classmethod
    def default_params(cls) -> dict:
        return {s.name: d for s, d in cls.symbols().items()}

    @classmethod
    def symbols(cls) -> dict:
        """Parameter symbols -> defaults."""
        raise NotImplementedError

    def vector_field(self) -> VectorField:
        raise NotImplementedError

    def equations(self) -> list:
        raise NotImplementedError

    def energy(self) -> sp.Expr:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({args})"


def _check_param(owner: str, name: str, value) -> None:
    import math
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: parameter {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(val):
        raise ValueError(f"{owner}: parameter {name!r} must be finite, got {value!r}")
