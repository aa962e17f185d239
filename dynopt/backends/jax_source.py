r"""JAX source of a step program: the kernels of :func:`dynopt.optax.transform`.

The stages before (and after) the gradient evaluation are linearised into
single-assignment ops with common subexpressions eliminated
(:func:`dynopt.backends.codegen.linearize`, :func:`~dynopt.backends.codegen.blocks`),
as for the NumPy and PyTorch backends, and printed as ``jax.numpy`` operations by
SymPy's :class:`~sympy.printing.numpy.JaxPrinter`: the expressions come from the
step program and are never written again by hand.

The kernels step a pytree of parameters leaf by leaf, without concatenating
the leaves:

* a per-coordinate value is a Python list with one array per leaf (shaped like
  the leaf);
* each group of consecutive elementwise assignments is one function over a
  single leaf (``_e0``, ``_e1`` ...), mapped over the leaves by the helper
  ``_map``;
* a reduction (``sum``, ``mean``, ``max``, ``min``) is a function over one leaf
  (``_r0`` ...) whose per-leaf results the helper ``_reduce`` combines, so that
  FANoS's kinetic temperature :math:`T = \frac{1}{n}\sum_i m_i v_i^2` and FIRE's
  power :math:`P = F\cdot v` run over *all* :math:`n` coordinates of *all* leaves,
  as on the concatenated vector of :func:`dynopt.minimize`;
* scalars (state, hyperparameters, the step index ``k``, ``N``) are 0-d arrays
  or Python numbers, printed once per kernel.

The ``before`` kernel also returns the parameter change ``_dx`` (one array per
leaf): where the program's last assignment of ``x`` reads
:math:`x \leftarrow x + \Delta` (the common case), ``_dx`` is :math:`\Delta`
itself, printed from the program's expression, and the new ``x`` is not
computed unless a later assignment reads it; otherwise ``_dx`` is
:math:`x_{\mathrm{new}} - x`.

Branches (:class:`sympy.Piecewise`) print as nested ``jax.numpy.where``, extrema
as NaN-propagating ``jax.numpy.maximum``/``minimum``, logic as
``jax.numpy.logical_and``/``or``/``not``, numbers without symbols
(:math:`\sqrt{10}`, :math:`\pi`) as double literals (weakly typed in JAX, so a
float32 run stays in float32). The module ``jax.numpy`` is bound as ``_jnp``
and every helper starts with an underscore, which no program symbol may
(:func:`dynopt.identifiers.check_identifier`): a symbol cannot shadow them.
Symbol names are checked before anything is printed
(:func:`~dynopt.backends.codegen.program_key`), so the source holds only
validated identifiers and the printer's own text. Nothing here imports JAX:
this module writes text, and :mod:`dynopt.optax` executes it.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import JaxPrinter as _SympyJaxPrinter

from ..program import N, Custom, StepProgram, g, x
from .codegen import (BranchPrinting, TensorPrinting, blocks, carried, kernel_inputs,
                      linearize, program_key, reads_objective)

__all__ = ["JaxPrinter", "generate_source", "reads_objective", "Layout"]

_PREFIX = "jax.numpy."


class JaxPrinter(TensorPrinting, BranchPrinting, _SympyJaxPrinter):
    """SymPy's JAX printer with the dynopt kernels' conventions.

    ``jax.numpy.f`` prints as ``_jnp.f``; ``Piecewise`` as nested
    ``_jnp.where`` (instead of ``select`` over a stacked list), ``Max``/``Min``
    as nested NaN-propagating ``_jnp.maximum``/``_jnp.minimum``, ``And``/``Or``
    as chained ``logical_and``/``logical_or`` (instead of ``all``/``any`` of a
    stacked array), relations as infix comparisons.
    """

    max_function, min_function, sign_function = "_jnp.maximum", "_jnp.minimum", "_jnp.sign"
    logic_module = "_jnp"

    def __init__(self, settings=None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False,
                          **(settings or {})})

    def _module_format(self, fqn, register=True):
        if fqn == "jax.numpy":
            return "_jnp"
        if fqn.startswith(_PREFIX):
            return "_jnp." + fqn[len(_PREFIX):]
        if fqn == "abs":            # Abs prints as the builtin
            return "_jnp.abs"
        raise ValueError(f"the JAX kernels print jax.numpy functions only, not {fqn!r}")

    def _select(self, cond, a, b):
        return f"_jnp.where({cond}, {a}, {b})"

    def _nan(self):
        return "float('nan')"

    def _print_StandardNormal(self, expr):
        key, step, stream = expr.args
        return (f"_standard_normal({self._print(key)}, {self._print(step)}, {int(stream)}, "
                "_like, _offset)")


def _check(program: StepProgram) -> None:
    if not isinstance(program, StepProgram):
        raise TypeError(f"program must be a StepProgram, got {type(program).__name__}")
    custom = [st.label for st in program.stages if isinstance(st, Custom)]
    if custom:
        raise NotImplementedError(
            f"step program {program.name!r} has Custom stage(s) {custom} (plain Python "
            "functions over NumPy state arrays, which JAX cannot trace); it cannot be "
            "expressed as an optax GradientTransformation: the JAX adapter prints "
            "elementwise, scalar, reduction and noise stages only")


class Layout:
    """What the generated kernels read and write (names), for :mod:`dynopt.optax`.

    Attributes
    ----------
    vectors, scalars : tuple of str
        The per-coordinate and scalar entries of the optimiser state: the
        program's state and the temporaries carried over the gradient evaluation.
    eager_init : bool
        Whether the initial values read neither ``g`` nor ``f`` (then ``init``
        runs when the optax state is made, from the parameters alone).
    reads_x : bool
        Whether the ``before`` or ``after`` kernel reads the parameters ``x`` (else
        the update may omit ``params``; ``init`` reads them when it needs them).
    reads_f : bool
        Whether a kernel reads the objective value ``f``.
    has_after : bool
        Whether the program has stages after the gradient evaluation.
    """

    def __init__(self, vectors, scalars, eager_init, reads_x, reads_f, has_after):
        self.vectors, self.scalars = tuple(vectors), tuple(scalars)
        self.eager_init, self.reads_x = eager_init, reads_x
        self.reads_f, self.has_after = reads_f, has_after


def _tuple(names) -> str:
    """The source of a tuple of the variables ``names``: ``(a, b, )``, ``()``."""
    return "(" + "".join(f"{n}, " for n in names) + ")"


class _Emitter:
    """Writes the per-leaf functions and the kernels that call them."""

    def __init__(self, program: StepProgram):
        self.program = program
        self.printer = JaxPrinter()
        self.helpers: list = []     # the per-leaf functions, printed before the kernels
        self.count = 0
        self.loaded: set = set()    # names any kernel reads from S

    def _fn(self, prefix, vec_in, sca_in, body, returns):
        name = f"_{prefix}{self.count}"
        self.count += 1
        args = ", ".join(["_like", "_offset", *vec_in, *sca_in])
        self.helpers.append(f"def {name}({args}):")
        self.helpers += [f"    {line}" for line in body]
        self.helpers.append(f"    return ({', '.join(returns)},)")
        self.helpers.append("")
        return name

    @staticmethod
    def _names(symbols) -> list:
        return sorted(s.name for s in symbols)

    def elementwise(self, lines, temps, ops, per_coord, read_later, dx=None):
        """One group of elementwise assignments as a function over one leaf.

        ``dx``: the SSA symbol of the final ``x`` and the expression of the
        parameter change, when this group assigns it.
        """
        printer = self.printer
        body, assigned, reads = [], set(), set()
        for sym, e in temps:
            body.append(f"{sym} = {printer.doprint(e)}")
            reads |= e.free_symbols - assigned
            assigned.add(sym)
        outputs = []
        for op in ops:
            if dx is not None and op.target == dx[0] and op.target not in read_later:
                continue            # the new x itself is not needed: _dx is
            body.append(f"{op.target} = {printer.doprint(op.expr)}")
            reads |= op.expr.free_symbols - assigned
            assigned.add(op.target)
            outputs.append(op.target)
        if dx is not None:
            body.append(f"_dx = {printer.doprint(dx[1])}")
            reads |= dx[1].free_symbols - assigned
        vec_in = self._names(reads & per_coord)
        sca_in = self._names(reads - per_coord)
        returns = [f"_vector({s.name}, _like)" for s in outputs]
        targets = [s.name for s in outputs]
        if dx is not None:
            returns.append("_vector(_dx, _like)")
            targets.append("_dx")
        name = self._fn("e", vec_in, sca_in, body, returns)
        lines.append(f"    {', '.join(targets)}, = _map({name}, _L, {_tuple(vec_in)}, "
                     f"{_tuple(sca_in)})")
        per_coord.update(outputs)
        return reads

    def reduction(self, lines, op, per_coord):
        body = self.printer.doprint(op.expr)
        reads = op.expr.free_symbols
        vec_in = self._names(reads & per_coord)
        sca_in = self._names(reads - per_coord)
        fn = {"sum": "sum", "mean": "sum", "max": "max", "min": "min"}[op.reduce_op]
        name = self._fn("r", vec_in, sca_in, [], [f"_jnp.{fn}(_vector({body}, _like))"])
        combine = "sum" if op.reduce_op == "mean" else op.reduce_op
        call = f"_reduce({combine!r}, {name}, _L, {_tuple(vec_in)}, {_tuple(sca_in)})"
        if op.reduce_op == "mean":
            call = f"{call} / N"
            reads = reads | {N}
        lines.append(f"    {op.target} = {call}")
        return reads

    def kernel(self, name, part):
        program = self.program
        vec, sca = kernel_inputs(program, part)
        per_coord = {s for s in program.elementwise_symbols() | set(carried(program))
                     if s.name in vec}
        ops, outputs = linearize(program, part)
        dx = None
        if part == "before":
            dx = self._parameter_change(ops, outputs)
        body, reads = [], set()
        grouped = blocks(ops)
        for i, blk in enumerate(grouped):
            later = set()
            for other in grouped[i + 1:]:
                for sym, e in other.temps:
                    later |= e.free_symbols
                for op in other.ops:
                    later |= op.expr.free_symbols
            if blk.kind == "elem":
                mine = dx if dx is not None and any(op.target == dx[0] for op in blk.ops) else None
                reads |= self.elementwise(body, blk.temps, blk.ops, per_coord, later, mine)
            elif blk.kind == "reduce":
                reads |= self.reduction(body, blk.ops[0], per_coord)
            else:
                for sym, e in blk.temps:
                    body.append(f"    {sym} = {self.printer.doprint(e)}")
                    reads |= e.free_symbols
                for op in blk.ops:
                    body.append(f"    {op.target} = {self.printer.doprint(op.expr)}")
                    reads |= op.expr.free_symbols
        lines = [f"def {name}(S, P, _L):"]
        inputs = {s.name for s in reads}
        if part == "before" and dx is None:
            inputs.add("x")
        for n in vec + sca:
            if n in inputs:
                lines.append(f"    {n} = S[{n!r}]")
                self.loaded.add(n)
        lines += [f"    {s.name} = P[{s.name!r}]" for s in program.params if s.name in inputs]
        lines += body
        for sym, ssa in outputs.items():
            if sym == x:
                continue
            if sym in program.elementwise_symbols():
                lines.append(f"    S[{sym.name!r}] = {ssa}")
            else:
                lines.append(f"    S[{sym.name!r}] = _scalar({ssa}, S['dtype'])")
        if part == "before":
            if dx is not None and dx[0] is None:   # x does not move
                lines.append("    S['_dx'] = [_jnp.zeros_like(_like) for _like, _ in _L]")
            elif dx is None:
                final = outputs.get(x, x)
                lines.append(f"    S['_dx'] = _map(_dx0, _L, {_tuple([final, 'x'])}, ())[0]")
                self.helpers += ["def _dx0(_like, _offset, _new, _old):",
                                 "    return (_vector(_new - _old, _like),)", ""]
            else:
                lines.append("    S['_dx'] = _dx")
        lines.append("    return S")
        return lines

    @staticmethod
    def _parameter_change(ops, outputs):
        """``(x_final, delta)`` when the last assignment of ``x`` is ``x + delta`` with the
        ``x`` the step started from, else ``None``."""
        final = outputs.get(x)
        if final is None:
            return (None, sp.Integer(0))   # the program leaves x where it is
        op = next(op for op in ops if op.target == final)
        if op.expr.is_Add and x in op.expr.args:
            return (final, op.expr - x)
        return None

    def init(self):
        program = self.program
        printer = self.printer
        lines = ["def init(S, P, _L):"]
        vec_reads, sca_reads = set(), set()
        vectors = list(program.vectors.items())
        scalar_lines = []
        for sym, e in program.scalars.items():
            scalar_lines.append(f"    S[{sym.name!r}] = _scalar({printer.doprint(e)}, S['dtype'])")
            sca_reads |= e.free_symbols
        per_coord = {x, g}
        if vectors:
            body, reads = [], set()
            for sym, e in vectors:
                body.append(f"{sym.name} = {printer.doprint(e)}")
                reads |= e.free_symbols
            vec_in = self._names(reads & per_coord)
            sca_in = self._names(reads - per_coord)
            name = self._fn("i", vec_in, sca_in, body,
                            [f"_vector({sym.name}, _like)" for sym, _ in vectors])
            call = (f"    {''.join(s.name + ', ' for s, _ in vectors)}= _map({name}, _L, "
                    f"{_tuple(vec_in)}, {_tuple(sca_in)})")
            vec_reads |= reads
        inputs = {s.name for s in vec_reads | sca_reads}
        for n in ("x", "g", "f", "N"):
            if n in inputs:
                lines.append(f"    {n} = S[{n!r}]")
        lines += [f"    {s.name} = P[{s.name!r}]" for s in program.params if s.name in inputs]
        if vectors:
            lines.append(call)
            lines += [f"    S[{s.name!r}] = {s.name}" for s, _ in vectors]
        lines += scalar_lines
        lines.append("    return S")
        return lines, inputs


def generate_source(program: StepProgram) -> tuple:
    """JAX source of the kernels ``init``, ``before`` and ``after`` of ``program``, and
    its :class:`Layout`.

    Each kernel ``kernel(S, P, _L)`` reads and writes the dict ``S``: per-coordinate
    entries (``x``, ``g``, the state vectors, carried temporaries) are lists with
    one array per leaf, scalars (``f``, ``k``, ``N``, the state scalars) are 0-d
    arrays or numbers, and ``S['dtype']`` is the state's dtype; ``P`` maps the
    hyperparameters to values and ``_L`` lists, per leaf, ``(like, offset)``: an
    array of the leaf's shape and dtype, and the index of its first coordinate in
    the concatenated vector (for the noise draws). ``before`` also writes
    ``S['_dx']``, the parameter change per leaf. The module needs ``_jnp``
    (``jax.numpy``) and the helpers ``_map``, ``_reduce``, ``_vector``,
    ``_scalar`` and ``_standard_normal`` of :mod:`dynopt.optax`.

    Raises
    ------
    NotImplementedError
        For a program with Custom stages (KO's collisions).
    """
    _check(program)
    key = program_key(program, "jax")
    emit = _Emitter(program)
    before = emit.kernel("before", "before")
    after = emit.kernel("after", "after")
    init, init_reads = emit.init()
    lines = [f"# dynopt step program {program.name!r} ({key}) over jax.numpy arrays, "
             "leaf by leaf", ""]
    lines += emit.helpers
    lines += before + [""] + after + [""] + init
    elementwise = program.elementwise_symbols()
    state_vectors = [s.name for s in program.vectors]
    state_scalars = [s.name for s in program.scalars]
    for sym in carried(program):
        (state_vectors if sym in elementwise else state_scalars).append(sym.name)
    eager = not ({"g", "f"} & init_reads)
    layout = Layout(state_vectors, state_scalars, eager_init=eager,
                    reads_x="x" in emit.loaded or (not eager and "x" in init_reads),
                    reads_f=reads_objective(program),
                    has_after=bool(program.after_gradient))
    return "\n".join(lines) + "\n", layout
