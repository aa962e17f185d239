"""The step program: the one intermediate form every method is compiled from.

A step program describes one optimiser step as a short sequence of stages over

* per-coordinate state (``x`` the position, ``v`` a velocity, ``s`` a moment ...),
* the gradient ``g`` at the current position, an opaque per-coordinate input,
* scalar state (a friction :math:`\\zeta`, FIRE's :math:`\\alpha`, a counter ...),
* hyperparameters (``lr``, ``mass`` ...), constant during a run,
* reductions: scalars computed from per-coordinate expressions (sums, means, maxima).

Stages run in order:

:class:`Elementwise`
    per-coordinate assignments, executed in order (a later assignment sees the
    new value of an earlier one); symbols that are not state are temporaries.
:class:`Reduce`
    a scalar from a per-coordinate expression: ``sum``, ``mean``, ``max``, ``min``.
:class:`Scalar`
    scalar assignments in order; branches are :class:`sympy.Piecewise`.
:class:`Gradient`
    the objective and its gradient are evaluated at the current ``x``; the
    symbols ``g`` and ``f`` hold the new values afterwards.
:class:`Custom`
    a plain Python function over the state arrays, for what is not an
    elementwise expression: random pairings of particles (KO's collisions),
    operations on rows of weight matrices. It reads and writes named entries
    of the state and may draw from the run's random generator ``S['rng']``.

Every program evaluates the gradient exactly once per step and does not change
``x`` after that evaluation, so on entry to a step ``g`` and ``f`` always belong
to the current ``x``. The built-in symbols are :data:`x`, :data:`g`, :data:`f`,
:data:`k` (the 0-based index of the step being taken) and :data:`N` (the number
of coordinates).

Backends compile the stages before the gradient and those after it into two
kernels; analysis reads the same stages symbolically.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import sympy as sp

__all__ = [
    "x", "g", "f", "k", "N",
    "Elementwise", "Reduce", "Scalar", "Gradient", "Custom", "StepProgram", "REDUCTION_OPS",
]

#: position (per coordinate)
x = sp.Symbol("x", real=True)
#: gradient of the objective at the current position (per coordinate)
g = sp.Symbol("g", real=True)
#: objective value at the current position (scalar)
f = sp.Symbol("f", real=True)
#: index of the step being taken, starting at 0 (scalar)
k = sp.Symbol("k", integer=True, nonnegative=True)
#: number of coordinates (scalar)
N = sp.Symbol("N", integer=True, positive=True)

BUILTIN_ELEMENTWISE = (x, g)
BUILTIN_SCALARS = (f, k, N)

REDUCTION_OPS = ("sum", "mean", "max", "min")


def _pairs(assignments) -> tuple:
    if isinstance(assignments, Mapping):
        assignments = assignments.items()
    out = []
    for target, expr in assignments:
        if not isinstance(target, sp.Symbol):
            raise TypeError(f"assignment target must be a sympy Symbol, got {target!r}")
        out.append((target, sp.sympify(expr)))
    return tuple(out)


@dataclass(frozen=True)
class Elementwise:
    """Per-coordinate assignments ``target <- expr``, executed in order."""

    assignments: tuple

    def __init__(self, assignments):
        object.__setattr__(self, "assignments", _pairs(assignments))


@dataclass(frozen=True)
class Scalar:
    """Scalar assignments ``target <- expr``, executed in order."""

    assignments: tuple

    def __init__(self, assignments):
        object.__setattr__(self, "assignments", _pairs(assignments))


@dataclass(frozen=True)
class Reduce:
    """``target <- op_i expr_i`` over the coordinates (``op`` in :data:`REDUCTION_OPS`)."""

    target: sp.Symbol
    expr: sp.Expr
    op: str = "sum"

    def __post_init__(self):
        if self.op not in REDUCTION_OPS:
            raise ValueError(f"op must be one of {REDUCTION_OPS}, got {self.op!r}")
        object.__setattr__(self, "expr", sp.sympify(self.expr))


@dataclass(frozen=True)
class Gradient:
    """Evaluate the objective and its gradient at the current ``x``."""


@dataclass(frozen=True)
class Custom:
    """A Python function ``fn(S, P) -> None`` updating the state dict in place.

    ``S`` maps names to arrays of shape ``(batch, n)`` (per coordinate) or
    ``(batch, 1)`` (scalars) and holds ``S['rng']``, a seeded
    :class:`numpy.random.Generator`; ``P`` maps hyperparameter names to values.
    ``reads`` and ``writes`` list the symbols it uses and assigns, so that
    backends keep their compiled segments consistent around it.
    """

    fn: object
    reads: tuple = ()
    writes: tuple = ()
    label: str = "custom"


@dataclass
class StepProgram:
    """One optimiser step as stages over symbolic state.

    Parameters
    ----------
    name
        A label used in generated source and messages.
    vectors
        Per-coordinate state other than ``x``: symbol -> initial value (an
        expression in ``x``, ``g``, ``f`` and the hyperparameters).
    scalars
        Scalar state: symbol -> initial value (expression in hyperparameters,
        ``f`` and ``N``).
    params
        Hyperparameters: symbol -> default value (``None`` marks a required one).
    stages
        The stages; exactly one :class:`Gradient`, and ``x`` not assigned after it.
    energies
        Optional named per-step diagnostics: name -> ``(op, expr)`` with ``op`` in
        :data:`REDUCTION_OPS` (a reduction over coordinates) or ``'scalar'`` (a
        scalar expression); evaluated on the state after each step when a run is
        recorded (kinetic energy, thermostat energy ...).
    """

    name: str
    vectors: dict
    scalars: dict
    params: dict
    stages: tuple
    energies: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        self.stages = tuple(self.stages)
        self.vectors = {s: sp.sympify(v) for s, v in self.vectors.items()}
        self.scalars = {s: sp.sympify(v) for s, v in self.scalars.items()}
        self.params = dict(self.params)
        self._validate()

    # ------------------------------------------------------------------ checks
    def _validate(self) -> None:
        grads = [i for i, st in enumerate(self.stages) if isinstance(st, Gradient)]
        if len(grads) != 1:
            raise ValueError(
                f"program {self.name!r} must evaluate the gradient exactly once per step, "
                f"found {len(grads)} Gradient stages")
        for st in self.stages[grads[0] + 1:]:
            if isinstance(st, Elementwise) and any(t == x for t, _ in st.assignments):
                raise ValueError(f"program {self.name!r} assigns x after the gradient evaluation")
            if isinstance(st, Custom) and x in st.writes:
                raise ValueError(f"program {self.name!r} assigns x after the gradient evaluation")
        names = [s.name for s in (*self.vectors, *self.scalars, *self.params)]
        names += [s.name for s in (*BUILTIN_ELEMENTWISE, *BUILTIN_SCALARS)]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"program {self.name!r} uses the names {sorted(dup)} twice")

    # --------------------------------------------------------------- queries
    @property
    def gradient_index(self) -> int:
        return next(i for i, st in enumerate(self.stages) if isinstance(st, Gradient))

    @property
    def before_gradient(self) -> tuple:
        return self.stages[: self.gradient_index]

    @property
    def after_gradient(self) -> tuple:
        return self.stages[self.gradient_index + 1:]

    @property
    def state_vectors(self) -> tuple:
        """Per-coordinate state symbols, ``x`` first."""
        return (x, *self.vectors)

    @property
    def state_scalars(self) -> tuple:
        return tuple(self.scalars)

    def elementwise_symbols(self) -> set:
        """Every symbol that holds one value per coordinate (state and temporaries)."""
        out = {x, g, *self.vectors}
        for st in self.stages:
            if isinstance(st, Elementwise):
                out.update(t for t, _ in st.assignments)
            elif isinstance(st, Custom):
                out.update(s for s in st.writes if s not in self.scalars)
        return out

    def param_defaults(self) -> dict:
        return {s.name: v for s, v in self.params.items()}

    def param_symbol(self, name: str) -> sp.Symbol:
        for s in self.params:
            if s.name == name:
                return s
        raise KeyError(name)

    def substitute(self, values: Mapping) -> "StepProgram":
        """A copy with some hyperparameters replaced by expressions or numbers."""
        values = {(self.param_symbol(k) if isinstance(k, str) else k): sp.sympify(v)
                  for k, v in values.items()}

        def sub(e):
            return e.xreplace(values)

        stages = []
        for st in self.stages:
            if isinstance(st, Elementwise):
                stages.append(Elementwise([(t, sub(e)) for t, e in st.assignments]))
            elif isinstance(st, Scalar):
                stages.append(Scalar([(t, sub(e)) for t, e in st.assignments]))
            elif isinstance(st, Reduce):
                stages.append(Reduce(st.target, sub(st.expr), st.op))
            else:
                stages.append(st)
        return StepProgram(
            name=self.name,
            vectors={s: sub(e) for s, e in self.vectors.items()},
            scalars={s: sub(e) for s, e in self.scalars.items()},
            params={s: d for s, d in self.params.items() if s not in values},
            stages=stages,
            energies={n: (op, sub(e)) for n, (op, e) in self.energies.items()},
            description=self.description,
        )

    def __str__(self) -> str:
        lines = [f"StepProgram {self.name!r}"]
        for st in self.stages:
            if isinstance(st, Gradient):
                lines.append("  g, f <- grad f(x), f(x)")
            elif isinstance(st, Custom):
                lines.append(f"  [custom {st.label}] {', '.join(map(str, st.writes))} <- "
                             f"{getattr(st.fn, '__name__', st.fn)}({', '.join(map(str, st.reads))})")
            elif isinstance(st, Reduce):
                lines.append(f"  {st.target} <- {st.op}_i({st.expr})")
            else:
                kind = "elementwise" if isinstance(st, Elementwise) else "scalar"
                for t, e in st.assignments:
                    lines.append(f"  [{kind}] {t} <- {e}")
        return "\n".join(lines)


def free_symbols(stages: Sequence) -> set:
    out = set()
    for st in stages:
        if isinstance(st, (Elementwise, Scalar)):
            for _, e in st.assignments:
                out |= e.free_symbols
        elif isinstance(st, Reduce):
            out |= st.expr.free_symbols
    return out
