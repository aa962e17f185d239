"""From a step program to straight-line code: single assignment, then CSE.

:func:`linearize` turns the stages before (or after) the gradient evaluation
into a list of :class:`Op` in single-assignment form: every assignment gets a
fresh name (``v`` -> ``v_1`` -> ``v_2``), so that common-subexpression
elimination across a whole stage is safe even though stages assign in order.
Backends print the ops with their own printer.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sympy as sp

from ..identifiers import check_identifier
from ..program import (N, Custom, Elementwise, Reduce, Scalar, StandardNormal, StepProgram,
                       f, g, k, x)

__all__ = ["Op", "Block", "linearize", "blocks", "program_key", "kernel_inputs", "carried",
           "check_program_names", "BranchPrinting", "TensorPrinting", "reads_objective"]


@dataclass(frozen=True)
class Op:
    kind: str            # 'elem', 'scalar', 'reduce' or 'custom'
    target: sp.Symbol    # for 'custom': None
    expr: sp.Expr        # for 'custom': None
    reduce_op: str = ""
    #: for 'custom': the stage, the SSA symbols it reads (name -> symbol) and
    #: the fresh SSA symbols it writes (name -> symbol)
    custom: Custom | None = None
    reads: tuple = ()
    writes: tuple = ()


@dataclass
class Block:
    """Consecutive ops of one kind after CSE: ``temps`` then ``ops``."""

    kind: str
    temps: list
    ops: list


def kernel_inputs(program: StepProgram, part: str = "before") -> tuple:
    """(vector inputs, scalar inputs): the names a kernel reads.

    The ``after`` kernel also reads the values :func:`carried` over the
    gradient evaluation (the ``before`` kernel stores them in the state).
    """
    vec = [s.name for s in program.state_vectors] + [g.name]
    sca = [s.name for s in program.state_scalars] + [f.name, k.name, N.name]
    if part == "after":
        elementwise = program.elementwise_symbols()
        for sym in carried(program):
            (vec if sym in elementwise else sca).append(sym.name)
    return vec, sca


def _assigned(stages) -> list:
    out = []
    for st in stages:
        if isinstance(st, Reduce):
            out.append(st.target)
        elif isinstance(st, (Elementwise, Scalar)):
            out.extend(t for t, _ in st.assignments)
        elif isinstance(st, Custom):
            out.extend(st.writes)
    return out


def _read(stages) -> set:
    out = set()
    for st in stages:
        if isinstance(st, Reduce):
            out |= st.expr.free_symbols
        elif isinstance(st, (Elementwise, Scalar)):
            for _, e in st.assignments:
                out |= e.free_symbols
        elif isinstance(st, Custom):
            out |= set(st.reads)
    return out


def carried(program: StepProgram) -> list:
    """Temporaries computed before the gradient and read after it (e.g. Verlet's
    kinetic-energy reduction of the half-step velocity), in a stable order."""
    state = set(program.state_vectors) | set(program.state_scalars) | {g, f, k, N}
    before = [s for s in dict.fromkeys(_assigned(program.before_gradient)) if s not in state]
    after_assigned_first = set()
    reads = set()
    for st in program.after_gradient:
        reads |= _read([st]) - after_assigned_first
        after_assigned_first |= set(_assigned([st]))
    return sorted((s for s in before if s in reads), key=lambda s: s.name)


def check_program_names(program: StepProgram) -> None:
    """Raise ValueError unless every symbol of ``program`` may be printed into code.

    Every symbol (state, hyperparameters, stage targets, the symbols their
    expressions and the energies read, a Custom stage's reads and writes) must
    pass :func:`dynopt.identifiers.check_identifier`; a symbol the kernels load
    under its own name (state, hyperparameters, values carried over the
    gradient evaluation, anything read and never assigned) must also not be a
    name the generated code binds itself. :func:`program_key` and
    :func:`linearize` call this first, so no backend writes or runs a module
    holding a name that is not a plain identifier.
    """
    if not isinstance(program, StepProgram):
        raise TypeError(f"program must be a StepProgram, got {type(program).__name__}")
    where: dict = {}

    def add(symbols, what):
        for s in symbols:
            if not isinstance(s, sp.Symbol):
                raise TypeError(f"program {program.name!r}, {what}: expected a SymPy symbol, "
                                f"got {s!r}")
            where.setdefault(s, what)

    for what, table in (("state vector", program.vectors), ("state scalar", program.scalars)):
        for sym, e in table.items():
            add([sym], what)
            add(getattr(e, "free_symbols", ()), f"initial value of {sym}")
    add(program.params, "hyperparameter")
    for i, st in enumerate(program.stages):
        what = f"stage {i} ({type(st).__name__})"
        if isinstance(st, Reduce):
            add([st.target, *st.expr.free_symbols], what)
        elif isinstance(st, Custom):
            add([*st.reads, *st.writes], what)
        elif isinstance(st, (Elementwise, Scalar)):
            for t, e in st.assignments:
                add([t, *e.free_symbols], what)
    for name, (_, e) in program.energies.items():
        add(e.free_symbols, f"energy {name!r}")
    assigned = set(_assigned(program.stages))
    loaded = {x, g, f, k, N, *program.vectors, *program.scalars, *program.params}
    loaded |= set(carried(program))
    for sym, what in where.items():
        check_identifier(sym.name, f"program {program.name!r}, {what}",
                         reserved=sym in loaded or sym not in assigned)


def linearize(program: StepProgram, part: str) -> tuple:
    """SSA ops of ``part`` ('before' or 'after' the gradient) and the outputs.

    Returns ``(ops, outputs)`` where ``outputs`` maps each state symbol that was
    assigned to the SSA symbol holding its final value. The program's symbol
    names are checked first (:func:`check_program_names`).
    """
    check_program_names(program)
    stages = program.before_gradient if part == "before" else program.after_gradient
    elementwise = program.elementwise_symbols()
    current: dict = {}
    counts: dict = {}
    ops: list = []

    def fresh(sym):
        counts[sym] = counts.get(sym, 0) + 1
        return sp.Symbol(f"{sym.name}_{counts[sym]}", real=True)

    def rename(expr):
        return expr.xreplace(current) if current else expr

    for st in stages:
        if isinstance(st, Reduce):
            new = fresh(st.target)
            ops.append(Op("reduce", new, rename(st.expr), st.op))
            current[st.target] = new
        elif isinstance(st, Custom):
            reads = tuple((s, current.get(s, s)) for s in st.reads)
            writes = []
            for s in st.writes:
                new = fresh(s)
                writes.append((s, new))
            # the function sees the current value of everything it reads
            ops.append(Op("custom", None, None, custom=st, reads=reads, writes=tuple(writes)))
            for s, new in writes:
                current[s] = new
        elif isinstance(st, (Elementwise, Scalar)):
            for target, expr in st.assignments:
                kind = "elem" if isinstance(st, Elementwise) else "scalar"
                if kind == "scalar" and target in elementwise:
                    raise ValueError(f"scalar stage assigns the per-coordinate symbol {target}")
                new = fresh(target)
                ops.append(Op(kind, new, rename(expr)))
                current[target] = new
    state = set(program.state_vectors) | set(program.state_scalars)
    if part == "before":
        state |= set(carried(program))
    outputs = {s: current[s] for s in current if s in state}
    return [_fewer_operations(op) for op in ops], outputs


def _fewer_operations(op: Op) -> Op:
    """``op`` with its expression expanded when that takes fewer operations.

    A method derived from a physical system often reads
    ``lr*(-g - v*(1 - mu)/lr) + v``, which expands to ``mu*v - lr*g``: half the
    arithmetic, and in the NumPy kernels half the array passes. Every backend
    prints the same ops, so they agree with one another as before.
    """
    if op.kind not in ("elem", "scalar"):
        return op
    expanded = sp.expand(op.expr)
    if sp.count_ops(expanded) < sp.count_ops(op.expr):
        return Op(op.kind, op.target, expanded, op.reduce_op)
    return op


def blocks(ops: list, optimize: bool = True) -> list:
    """Group consecutive ops of a kind and eliminate common subexpressions."""
    out: list = []
    counter = [0]

    def symbols():
        # the counter advances before the symbol is handed out: a block whose CSE
        # takes one symbol never resumes its generator, and the next block must not
        # get the same name (a CUDA kernel fusing both would declare it twice)
        while True:
            counter[0] += 1
            yield sp.Symbol(f"_c{counter[0] - 1}", real=True)

    i = 0
    while i < len(ops):
        kind = ops[i].kind
        j, targets = i, set()
        while j < len(ops) and ops[j].kind == kind and kind not in ("reduce", "custom"):
            # CSE temps are printed before the whole group: an op reading an earlier op's
            # result starts a new group, or a temp could read that result before it exists
            if ops[j].expr.free_symbols & targets:
                break
            targets.add(ops[j].target)
            j += 1
        group = ops[i:max(j, i + 1)]
        if optimize and kind not in ("reduce", "custom"):
            temps, reduced = sp.cse([o.expr for o in group], symbols=symbols(), order="none")
            group = [Op(o.kind, o.target, e, o.reduce_op) for o, e in zip(group, reduced)]
        else:
            temps = []
        out.append(Block(kind, list(temps), group))
        i = max(j, i + 1)
    return out


def program_key(program: StepProgram, *extra) -> str:
    """A stable hash of everything that determines generated code.

    Every backend computes it before it generates anything, so the program's
    symbol names are checked here first (:func:`check_program_names`).
    """
    check_program_names(program)
    parts = [program.name, sp.srepr(list(program.vectors.items())),
             sp.srepr(list(program.scalars.items())), sp.srepr(list(program.params))]
    for st in program.stages:
        parts.append(type(st).__name__)
        if isinstance(st, Reduce):
            parts.append(sp.srepr((st.target, st.expr)) + st.op)
        elif isinstance(st, (Elementwise, Scalar)):
            parts.append(sp.srepr(st.assignments))
        elif isinstance(st, Custom):
            fn = st.fn
            parts.append(f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
                         f"{id(fn)}{st.reads}{st.writes}")
    parts.append(sp.srepr(list(program.energies.items())))
    parts.extend(map(str, extra))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class BranchPrinting:
    """Printer mixin: branches and NaN-propagating extrema in a backend's own words.

    A SymPy ``Piecewise`` prints as nested selections, its last condition (if not
    ``True``) falling back to NaN; ``Max``/``Min`` with several arguments as nested
    two-argument calls; ``sign`` as one call. A printer says how with
    :meth:`_select` (``cond ? a : b`` in its language), :meth:`_nan` and the
    function names ``max_function``, ``min_function``, ``sign_function``.
    """

    max_function = "fmax"
    min_function = "fmin"
    sign_function = "sign"

    def _select(self, cond: str, a: str, b: str) -> str:
        raise NotImplementedError

    def _nan(self) -> str:
        raise NotImplementedError

    def _print_Piecewise(self, expr):
        *pairs, (last, cond) = expr.args
        out = self._print(last)
        if cond != sp.true:
            out = self._select(self._print(cond), out, self._nan())
        for e, c in reversed(pairs):
            out = self._select(self._print(c), self._print(e), out)
        return out

    def _nested(self, fn, args):
        args = [self._print(a) for a in args]
        out = args[-1]
        for a in reversed(args[:-1]):
            out = f"{fn}({a}, {out})"
        return out

    def _print_Max(self, expr):
        return self._nested(self.max_function, expr.args)

    def _print_Min(self, expr):
        return self._nested(self.min_function, expr.args)

    def _print_sign(self, expr):
        return f"{self.sign_function}({self._print(expr.args[0])})"


class TensorPrinting:
    """Printer mixin for array libraries whose functions take arrays, not Python
    numbers (``torch``, ``jax.numpy``): numbers without symbols as double literals,
    relations as infix comparisons, ``And``/``Or``/``Not`` as nested
    ``logical_and``/``logical_or``/``logical_not`` of the module :attr:`logic_module`.
    Put it before the SymPy printer in the bases."""

    #: the name the generated source binds the array module to (``torch``, ``_jnp``)
    logic_module = "torch"

    def _print(self, expr, **kwargs):
        # a number without symbols (sqrt(10), pi, a Float) as a correctly rounded double
        # literal: the libraries' functions do not take SymPy numbers
        if (isinstance(expr, sp.Expr) and expr.is_number and not expr.is_Rational
                and not isinstance(expr, StandardNormal)):
            try:
                value = float(expr)
            except TypeError:
                pass
            else:
                return f"({value!r})" if value < 0 else repr(value)
        return super()._print(expr, **kwargs)

    def _print_Relational(self, expr):
        op = expr.rel_op
        if op not in ("==", "!=", "<", "<=", ">", ">="):
            return super()._print_Relational(expr)
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _logical(self, fn, args):
        out = self._print(args[-1])
        for a in reversed(args[:-1]):
            out = f"{self.logic_module}.{fn}({self._print(a)}, {out})"
        return out

    def _print_And(self, expr):
        return self._logical("logical_and", expr.args)

    def _print_Or(self, expr):
        return self._logical("logical_or", expr.args)

    def _print_Not(self, expr):
        return f"{self.logic_module}.logical_not({self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"


def reads_objective(program: StepProgram) -> bool:
    """Whether any stage or initial value of ``program`` reads the objective value ``f``."""
    exprs = list(program.vectors.values()) + list(program.scalars.values())
    for st in program.stages:
        if hasattr(st, "assignments"):
            exprs += [e for _, e in st.assignments]
        elif hasattr(st, "expr"):
            exprs.append(st.expr)
    return any(f in e.free_symbols for e in exprs)
