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
:class:`Noise`
    independent standard normal draws, one per coordinate, into a
    per-coordinate symbol (the random force of Langevin dynamics): an
    elementwise assignment of counter-based draws, the same on every backend.

Every program evaluates the gradient exactly once per step and does not change
``x`` after that evaluation, so on entry to a step ``g`` and ``f`` always belong
to the current ``x``. The built-in symbols are :data:`x`, :data:`g`, :data:`f`,
:data:`k` (the 0-based index of the step being taken) and :data:`N` (the number
of coordinates).

Backends compile the stages before the gradient and those after it into two
kernels; analysis reads the same stages symbolically.
"""
from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import sympy as sp

__all__ = [
    "x", "g", "f", "k", "N",
    "Elementwise", "Reduce", "Scalar", "Gradient", "Custom", "Noise", "StandardNormal",
    "StepProgram", "REDUCTION_OPS", "noise_key", "uses_noise",
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


#: names the generated modules use themselves (modules, helpers, the state and
#: hyperparameter dicts, the kernels): no state, hyperparameter or other symbol
#: loaded under its own name may take one of them (nor a Python builtin)
GENERATED_NAMES = frozenset({
    "numpy", "np", "math", "numba", "prange", "cupy", "fmax", "fmin", "sign", "S", "P",
    "out", "init", "before", "after", "energies",
})

#: names the CUDA printer prints with a trailing underscore (C identifiers of its
#: kernels); a symbol named like one of them plus underscores would clash
_RENAMED_NAMES = frozenset({"i", "n", "a", "b", "y", "total"})


def _as_expr(value, what: str):
    """A SymPy expression from a number or SymPy object; a string is never parsed."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be a SymPy expression or a number, got the string "
                        f"{value!r} (strings are not parsed)")
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError, ValueError):
        raise TypeError(f"{what} must be a SymPy expression or a number, "
                        f"got {value!r}") from None


def check_symbol_name(sym, where: str = "", loaded: bool = True) -> None:
    """Raise ValueError unless ``sym``'s name is safe to print into generated code.

    The name must be a Python identifier, not a keyword, and must not start
    with an underscore (the generated code's own temporaries do). A symbol the
    kernels load under its own name (``loaded``: state, hyperparameters,
    temporaries carried over the gradient evaluation) must also not be a
    Python builtin nor one of :data:`GENERATED_NAMES`; other temporaries are
    printed only under single-assignment names (``P`` as ``P_1``).
    """
    from .identifiers import check_identifier
    name = sym.name if isinstance(sym, sp.Symbol) else sym
    ctx = f" ({where})" if where else ""
    if not isinstance(name, str):
        raise ValueError(f"symbol name {name!r}{ctx} is not a valid Python identifier")
    check_identifier(name, where, reserved=False)
    if loaded and (name in GENERATED_NAMES or hasattr(builtins, name)):
        raise ValueError(f"symbol name {name!r}{ctx} clashes with a name of the generated "
                         "code (a module, helper or builtin); rename the symbol")


def _pairs(assignments, stage: str) -> tuple:
    if isinstance(assignments, Mapping):
        assignments = assignments.items()
    out = []
    for pair in assignments:
        try:
            target, expr = pair
        except (TypeError, ValueError):
            raise TypeError(f"{stage} stage: an assignment must be a (symbol, expression) "
                            f"pair, got {pair!r}") from None
        if not isinstance(target, sp.Symbol):
            raise TypeError(f"{stage} stage: assignment target must be a sympy Symbol, "
                            f"got {target!r}")
        out.append((target, _as_expr(expr, f"{stage} stage: the value assigned to {target}")))
    return tuple(out)


@dataclass(frozen=True)
class Elementwise:
    """Per-coordinate assignments ``target <- expr``, executed in order."""

    assignments: tuple

    def __init__(self, assignments):
        object.__setattr__(self, "assignments", _pairs(assignments, "elementwise"))


@dataclass(frozen=True)
class Scalar:
    """Scalar assignments ``target <- expr``, executed in order."""

    assignments: tuple

    def __init__(self, assignments):
        object.__setattr__(self, "assignments", _pairs(assignments, "scalar"))


@dataclass(frozen=True)
class Reduce:
    """``target <- op_i expr_i`` over the coordinates (``op`` in :data:`REDUCTION_OPS`)."""

    target: sp.Symbol
    expr: sp.Expr
    op: str = "sum"

    def __post_init__(self):
        if self.op not in REDUCTION_OPS:
            raise ValueError(f"op must be one of {REDUCTION_OPS}, got {self.op!r}")
        if not isinstance(self.target, sp.Symbol):
            raise TypeError(f"reduce stage: target must be a sympy Symbol, got {self.target!r}")
        object.__setattr__(self, "expr", _as_expr(self.expr, f"reduce stage: the value "
                                                              f"reduced into {self.target}"))


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

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"custom stage {self.label!r}: fn must be callable, got {self.fn!r}")
        if not isinstance(self.label, str):
            raise TypeError(f"custom stage: label must be a string, got {self.label!r}")
        for what in ("reads", "writes"):
            syms = getattr(self, what)
            if isinstance(syms, (sp.Basic, str)) or not hasattr(syms, "__iter__"):
                raise TypeError(f"custom stage {self.label!r}: {what} must be a sequence of "
                                f"sympy Symbols, got {syms!r}")
            syms = tuple(syms)
            for s in syms:
                if not isinstance(s, sp.Symbol):
                    raise TypeError(f"custom stage {self.label!r}: {what} must hold sympy "
                                    f"Symbols, got {s!r}")
            object.__setattr__(self, what, syms)


#: the scalar state that holds a run's noise key (set from the seed when a run starts)
noise_key = sp.Symbol("noise_key", real=True)


class StandardNormal(sp.Function):
    r"""One standard normal draw per coordinate: ``StandardNormal(key, step, stream)``.

    A counter-based generator: the draw for coordinate :math:`i` of a member is
    a fixed function of the member's key, the step index, the stream and
    :math:`i`, so that every backend computes the same numbers in its own
    kernels, in any order and on any number of threads.
    The 64-bit counter is mixed by SplitMix64 (Steele, Lea & Flood, OOPSLA
    2014) into two uniforms, turned into a normal by the Box–Muller transform;
    see :mod:`dynopt.backends._noise`. Programs use it through :class:`Noise`.
    """

    nargs = 3
    is_real = True

    @classmethod
    def eval(cls, key, step, stream):
        return None  # never evaluated symbolically: it is a random variable

    def _eval_derivative(self, s):
        return sp.S.Zero  # the draws do not depend on the state


class Noise(Elementwise):
    r"""``target <- \xi``: independent standard normal draws, one per coordinate.

    The draws :math:`\xi_i \sim \mathcal N(0, 1)` are counter-based
    (:class:`StandardNormal` of the run's ``noise_key``, the step index
    :data:`k` and the stage's ``stream``): a fixed seed (``options['seed']`` of
    :func:`dynopt.minimize`) gives the same run twice, and the NumPy, Numba
    and CUDA kernels compute the same numbers, fused into their passes like
    any elementwise assignment (it *is* one). In a batch, each member gets
    its own draws. A program with a Noise stage holds the scalar state
    ``noise_key``, set from the seed when a run starts.

    Parameters
    ----------
    target : sympy.Symbol
        The per-coordinate symbol that holds the draws, e.g. :math:`\xi` in the
        Ornstein–Uhlenbeck update :math:`v \leftarrow c_1 v + c_2 \xi`.
    stream : int
        Distinguishes the Noise stages of one program (each needs its own,
        or they draw the same numbers); 0 to 65535.
    """

    def __init__(self, target, stream: int = 0):
        if not isinstance(target, sp.Symbol):
            raise TypeError(f"noise stage: target must be a sympy Symbol, got {target!r}")
        if (not isinstance(stream, int) or isinstance(stream, bool)
                or not 0 <= stream < 2**16):
            raise ValueError(f"noise stage: stream must be an integer in [0, 65535], "
                             f"got {stream!r}")
        check_symbol_name(target, "noise stage", loaded=False)
        super().__init__([(target, StandardNormal(noise_key, k, sp.Integer(stream)))])

    @property
    def target(self) -> sp.Symbol:
        return self.assignments[0][0]

    @property
    def stream(self) -> int:
        return int(self.assignments[0][1].args[2])


def uses_noise(program) -> bool:
    """Whether any expression of ``program`` draws :class:`StandardNormal` numbers."""
    return any(isinstance(st, (Elementwise, Scalar)) and
               any(e.has(StandardNormal) for _, e in st.assignments)
               for st in program.stages)


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
        if not isinstance(self.name, str):
            raise TypeError(f"program name must be a string, got {self.name!r}")
        self.stages = tuple(self.stages)
        for what in ("vectors", "scalars", "params", "energies"):
            if not isinstance(getattr(self, what), Mapping):
                raise TypeError(f"program {self.name!r}: {what} must be a dict, "
                                f"got {getattr(self, what)!r}")
        self.vectors = {s: _as_expr(v, f"program {self.name!r}: the initial value of {s}")
                        for s, v in self.vectors.items()}
        self.scalars = {s: _as_expr(v, f"program {self.name!r}: the initial value of {s}")
                        for s, v in self.scalars.items()}
        self.params = dict(self.params)
        energies = {}
        for name, entry in self.energies.items():
            try:
                op, expr = entry
            except (TypeError, ValueError):
                raise TypeError(f"program {self.name!r}: energy {name!r} must be an "
                                f"(op, expression) pair, got {entry!r}") from None
            energies[name] = (op, _as_expr(expr, f"program {self.name!r}: energy {name!r}"))
        self.energies = energies
        if uses_noise(self) and noise_key not in self.scalars:
            self.scalars[noise_key] = sp.Integer(0)   # set from the seed when a run starts
        self._validate()

    # ------------------------------------------------------------------ checks
    def _validate(self) -> None:
        """Check the program when it is built, so that no backend meets a broken one.

        Every symbol is defined before it is read (state, hyperparameters,
        builtins, or a temporary assigned by an earlier stage of the same step);
        scalar stages read no per-coordinate value; inputs (``g``, ``f``, ``k``,
        ``N``, hyperparameters) are not assigned (a Custom stage before the
        gradient evaluation may rewrite ``g``, as KO's collisions do); every
        name is a Python identifier the generated code can hold. Errors name
        the stage and the symbol.
        """
        name = self.name
        for i, st in enumerate(self.stages):
            if not isinstance(st, (Elementwise, Scalar, Reduce, Gradient, Custom)):
                raise TypeError(f"program {name!r}: stage {i} must be an Elementwise, Scalar, "
                                f"Reduce, Gradient or Custom stage, got {st!r}")
        grads = [i for i, st in enumerate(self.stages) if isinstance(st, Gradient)]
        if len(grads) != 1:
            raise ValueError(
                f"program {name!r} must evaluate the gradient exactly once per step, "
                f"found {len(grads)} Gradient stages")
        for what, table in (("vectors", self.vectors), ("scalars", self.scalars),
                            ("params", self.params)):
            for sym in table:
                if not isinstance(sym, sp.Symbol):
                    raise TypeError(f"program {name!r}: the keys of {what} must be sympy "
                                    f"Symbols, got {sym!r}")
        for st in self.stages[grads[0] + 1:]:
            if isinstance(st, Elementwise) and any(t == x for t, _ in st.assignments):
                raise ValueError(f"program {name!r} assigns x after the gradient evaluation")
            if isinstance(st, Custom) and x in st.writes:
                raise ValueError(f"program {name!r} assigns x after the gradient evaluation")
        names = [s.name for s in (*self.vectors, *self.scalars, *self.params)]
        names += [s.name for s in (*BUILTIN_ELEMENTWISE, *BUILTIN_SCALARS)]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"program {name!r} uses the names {sorted(dup)} twice")
        self._validate_names()
        self._validate_dataflow(grads[0])
        self._validate_noise()

    def _validate_noise(self) -> None:
        """Draws only in elementwise stages, as ``StandardNormal(noise_key, k, stream)``
        with a literal stream, and no stream drawn by two stages (they would agree)."""
        seen: dict = {}
        elsewhere = [(f"program {self.name!r}: the initial value of {s.name!r}", e)
                     for s, e in (*self.vectors.items(), *self.scalars.items())]
        elsewhere += [(f"program {self.name!r}: energy {n!r}", e)
                      for n, (_, e) in self.energies.items()]
        elsewhere += [(self._stage_label(i, st), st.expr) for i, st in enumerate(self.stages)
                      if isinstance(st, Reduce)]
        for where, e in elsewhere:
            if e.has(StandardNormal):
                raise ValueError(f"{where} draws noise; draws are made only in elementwise "
                                 "stages (a Noise stage), whose results may then be read")
        for i, st in enumerate(self.stages):
            if not isinstance(st, (Elementwise, Scalar)):
                continue
            where = self._stage_label(i, st)
            for target, e in st.assignments:
                for draw in e.atoms(StandardNormal):
                    key, step, stream = draw.args
                    if isinstance(st, Scalar):
                        raise ValueError(f"{where} draws noise in the value of {target.name!r}; "
                                         "draws are per coordinate (use a Noise stage)")
                    if key != noise_key or step != k or not stream.is_Integer:
                        raise ValueError(f"{where}: a draw must read StandardNormal(noise_key, "
                                         f"k, <integer stream>), got {draw}")
                    if seen.setdefault(int(stream), i) != i:
                        raise ValueError(
                            f"{where} draws from stream {int(stream)}, as stage "
                            f"{seen[int(stream)]} does: the two would draw the same numbers; "
                            "give each Noise stage its own stream")

    def _stage_label(self, i: int, st) -> str:
        kind = next(label for cls, label in ((Noise, "noise"), (Elementwise, "elementwise"),
                                             (Scalar, "scalar"), (Reduce, "reduce"),
                                             (Custom, "custom"), (Gradient, "gradient"))
                    if isinstance(st, cls))
        extra = f" {st.label!r}" if isinstance(st, Custom) else ""
        return f"program {self.name!r}, stage {i} ({kind}{extra})"

    def _validate_dataflow(self, grad_index: int) -> None:
        params = set(self.params)
        inputs = {f, k, N} | params
        per_coord = self.elementwise_symbols()
        defined = {x, g, f, k, N, *self.vectors, *self.scalars, *params}

        def need(where, symbols):
            missing = sorted((s.name for s in symbols - defined))
            if missing:
                raise ValueError(f"{where} reads {missing[0]!r}, which is not defined: not state, "
                                 f"not a hyperparameter, not x, g, f, k or N, and not assigned "
                                 f"by an earlier stage of the step")

        def assign(where, target, scalar: bool):
            if target in inputs or (target == g and not where.endswith("[custom-g]")):
                kind = "a hyperparameter" if target in params else "an input of the step"
                raise ValueError(f"{where.replace(' [custom-g]', '')} assigns {target.name!r}, "
                                 f"which is {kind} and cannot be assigned")
            if scalar and target in per_coord:
                raise ValueError(f"{where} assigns the per-coordinate symbol {target.name!r} "
                                 "a scalar value")
            if not scalar and (target in self.scalars or target in scalar_targets):
                raise ValueError(f"{where} assigns the scalar {target.name!r} per coordinate")
            defined.add(target)

        scalar_targets = set()
        for st in self.stages:
            if isinstance(st, Scalar):
                scalar_targets.update(t for t, _ in st.assignments)
            elif isinstance(st, Reduce):
                scalar_targets.add(st.target)

        for i, st in enumerate(self.stages):
            where = self._stage_label(i, st)
            if isinstance(st, Gradient):
                continue
            if isinstance(st, Custom):
                need(where, set(st.reads))
                for s in st.writes:
                    ok_g = s == g and i < grad_index
                    assign(where + (" [custom-g]" if ok_g else ""), s,
                           scalar=s in self.scalars)
            elif isinstance(st, Reduce):
                need(where, st.expr.free_symbols)
                assign(where, st.target, scalar=True)
            else:
                scalar = isinstance(st, Scalar)
                for target, expr in st.assignments:
                    need(where, expr.free_symbols)
                    if scalar:
                        vec = sorted(s.name for s in expr.free_symbols & per_coord)
                        if vec:
                            raise ValueError(
                                f"{where} reads the per-coordinate value {vec[0]!r} in the "
                                f"value of {target.name!r}; reduce it first (a Reduce stage)")
                    assign(where, target, scalar=scalar)
        for sym, e in self.vectors.items():
            extra = e.free_symbols - {x, g, f, N, *params}
            if extra:
                raise ValueError(f"program {self.name!r}: the initial value of the vector "
                                 f"{sym.name!r} reads {sorted(s.name for s in extra)[0]!r}; "
                                 "it may read only x, g, f, N and hyperparameters")
        for sym, e in self.scalars.items():
            extra = e.free_symbols - {f, N, *params}
            if extra:
                raise ValueError(f"program {self.name!r}: the initial value of the scalar "
                                 f"{sym.name!r} reads {sorted(s.name for s in extra)[0]!r}; "
                                 "it may read only f, N and hyperparameters")
        state = {x, g, f, k, N, *self.vectors, *self.scalars, *params}
        for ename, (op, e) in self.energies.items():
            if not isinstance(ename, str) or not ename:
                raise TypeError(f"program {self.name!r}: energy names must be non-empty "
                                f"strings, got {ename!r}")
            if op not in (*REDUCTION_OPS, "scalar"):
                raise ValueError(f"program {self.name!r}: energy {ename!r} has op {op!r}; "
                                 f"valid: {[*REDUCTION_OPS, 'scalar']}")
            extra = e.free_symbols - state
            if extra:
                raise ValueError(f"program {self.name!r}: energy {ename!r} reads "
                                 f"{sorted(s.name for s in extra)[0]!r}, which is not state, "
                                 "a hyperparameter or x, g, f, k, N")
            vec = sorted(s.name for s in e.free_symbols & per_coord)
            if op == "scalar" and vec:
                raise ValueError(f"program {self.name!r}: the scalar energy {ename!r} reads "
                                 f"the per-coordinate value {vec[0]!r}")

    def _assigned(self) -> set:
        out = set()
        for st in self.stages:
            out |= StepProgram._assigned_by(st)
        return out

    def _carried(self) -> set:
        """Temporaries assigned before the gradient and read after it before any
        reassignment: the kernel after the gradient loads them by name."""
        before = set()
        for st in self.before_gradient:
            before |= StepProgram._assigned_by(st)
        reads, assigned = set(), set()
        for st in self.after_gradient:
            reads |= StepProgram._read_by(st) - assigned
            assigned |= StepProgram._assigned_by(st)
        return (before & reads) - {x, g, f, k, N, *self.vectors, *self.scalars, *self.params}

    @staticmethod
    def _assigned_by(st) -> set:
        if isinstance(st, Reduce):
            return {st.target}
        if isinstance(st, (Elementwise, Scalar)):
            return {t for t, _ in st.assignments}
        if isinstance(st, Custom):
            return set(st.writes)
        return set()

    @staticmethod
    def _read_by(st) -> set:
        if isinstance(st, Reduce):
            return set(st.expr.free_symbols)
        if isinstance(st, (Elementwise, Scalar)):
            out = set()
            for _, e in st.assignments:
                out |= e.free_symbols
            return out
        if isinstance(st, Custom):
            return set(st.reads)
        return set()

    def _symbols(self) -> dict:
        """Every symbol that reaches generated code: symbol -> where it appears first."""
        out: dict = {}

        def add(symbols, where):
            for s in symbols:
                out.setdefault(s, where)

        for what, table in (("vectors", self.vectors), ("scalars", self.scalars)):
            for sym, e in table.items():
                add([sym], f"program {self.name!r}, {what}")
                add(e.free_symbols, f"program {self.name!r}, initial value of {sym.name}")
        add(self.params, f"program {self.name!r}, params")
        for i, st in enumerate(self.stages):
            where = self._stage_label(i, st)
            if isinstance(st, Custom):
                add((*st.reads, *st.writes), where)
            elif isinstance(st, Reduce):
                add([st.target, *st.expr.free_symbols], where)
            elif not isinstance(st, Gradient):
                for t, e in st.assignments:
                    add([t, *e.free_symbols], where)
        for ename, (_, e) in self.energies.items():
            add(e.free_symbols, f"program {self.name!r}, energy {ename!r}")
        return out

    def _validate_names(self) -> None:
        from sympy.core.function import AppliedUndef
        symbols = self._symbols()
        loaded = {x, g, f, k, N, *self.vectors, *self.scalars, *self.params}
        loaded |= self._carried()
        by_name: dict = {}
        for sym, where in symbols.items():
            check_symbol_name(sym, where, loaded=sym in loaded or sym not in self._assigned())
            if sym.name in by_name and by_name[sym.name] != sym:
                raise ValueError(f"{where}: two different symbols are named {sym.name!r} "
                                 f"({sp.srepr(by_name[sym.name])} and {sp.srepr(sym)}); they "
                                 "would be the same variable in generated code")
            by_name[sym.name] = sym
        for sym, where in symbols.items():
            m = re.fullmatch(r"(.+)_(\d+)", sym.name)
            if m and m.group(1) in by_name:
                raise ValueError(f"{where}: the symbol name {sym.name!r} clashes with the "
                                 f"single-assignment names of {m.group(1)!r} in generated code")
            stem = sym.name.rstrip("_")
            if stem != sym.name and (stem in by_name or stem in GENERATED_NAMES
                                     or stem in _RENAMED_NAMES or keyword.iskeyword(stem)):
                raise ValueError(f"{where}: the symbol name {sym.name!r} clashes with the "
                                 f"printed form of {stem!r} in generated code")
        exprs = [e for _, e in self.vectors.items()] + [e for _, e in self.scalars.items()]
        exprs += [e for _, e in self.energies.values()]
        for st in self.stages:
            if isinstance(st, Reduce):
                exprs.append(st.expr)
            elif isinstance(st, (Elementwise, Scalar)):
                exprs += [e for _, e in st.assignments]
        for e in exprs:
            undefined = sorted(str(a.func) for a in e.atoms(AppliedUndef))
            if undefined:
                raise ValueError(f"program {self.name!r} calls the undefined function "
                                 f"{undefined[0]!r}; only SymPy's own functions are compiled")

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
        """A copy with some hyperparameters replaced by expressions or numbers.

        Symbols the new expressions introduce that the program does not know
        become hyperparameters without a default (give one with
        ``program.params[symbol] = value``).
        """
        values = {(self.param_symbol(key) if isinstance(key, str) else key):
                  _as_expr(val, f"the value substituted for {key}")
                  for key, val in values.items()}
        known = {x, g, f, k, N, *self.vectors, *self.scalars, *self.params} | self._assigned()
        introduced = {}
        for v in values.values():
            for s in sorted(v.free_symbols - known, key=lambda s: s.name):
                introduced.setdefault(s, None)

        def sub(e):
            return e.xreplace(values)

        stages = [replace_in_stage(st, values) for st in self.stages]
        return StepProgram(
            name=self.name,
            vectors={s: sub(e) for s, e in self.vectors.items()},
            scalars={s: sub(e) for s, e in self.scalars.items()},
            params={**{s: d for s, d in self.params.items() if s not in values}, **introduced},
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


def replace_in_stage(stage, mapping: Mapping):
    """``stage`` with ``mapping`` (symbol -> expression) substituted in its expressions.

    Gradient and Custom stages have no expressions and come back as they are, and
    so does a stage the substitution leaves unchanged (a Noise stage keeps its kind).
    """
    if isinstance(stage, (Elementwise, Scalar)):
        pairs = [(t, e.xreplace(mapping)) for t, e in stage.assignments]
        if all(e is old for (_, e), (_, old) in zip(pairs, stage.assignments)):
            return stage
        return type(stage)(pairs) if type(stage) in (Elementwise, Scalar) else Elementwise(pairs)
    if isinstance(stage, Reduce):
        return Reduce(stage.target, stage.expr.xreplace(mapping), stage.op)
    return stage


def free_symbols(stages: Sequence) -> set:
    out = set()
    for st in stages:
        if isinstance(st, (Elementwise, Scalar)):
            for _, e in st.assignments:
                out |= e.free_symbols
        elif isinstance(st, Reduce):
            out |= st.expr.free_symbols
    return out
