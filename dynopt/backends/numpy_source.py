"""NumPy source from step programs: the printers and the kernels' text.

The batch kernels are vectorised expressions after CSE over ``(batch, n)`` and
``(batch, 1)`` arrays: Piecewise branches print as nested ``numpy.where`` and
``Max``/``Min`` as ``numpy.maximum``/``numpy.minimum``, so that operands
broadcast. The single-member kernels hold scalars as Python numbers and print
with few array operations (:mod:`._single_member`). :mod:`.numpy_backend`
runs them; this module, which needs SymPy, is imported only to generate.
"""
from __future__ import annotations

from sympy.printing.numpy import NumPyPrinter

from ..program import Custom, StandardNormal, StepProgram, uses_noise
from ..program import x as x_symbol
from ._numba_source import NumbaPrinter
from ._single_member import FewOpsPrinter
from .codegen import BranchPrinting, blocks, kernel_inputs, linearize

__all__ = ["ArrayPrinter", "ScalarPrinter", "SingleArrayPrinter", "generate_source",
           "generate_single_source"]


class ArrayPrinter(BranchPrinting, NumPyPrinter):
    """NumPy printer whose branches and extrema broadcast elementwise; draws of
    :class:`~dynopt.program.StandardNormal` as arrays of the kernel's shape."""

    max_function, min_function, sign_function = "numpy.maximum", "numpy.minimum", "numpy.sign"

    def _print_StandardNormal(self, expr):
        key, step, stream = expr.args
        return (f"_standard_normal({self._print(key)}, {self._print(step)}, {int(stream)}, "
                "_shape[-1], _dtype)")

    def _select(self, cond, a, b):
        return f"numpy.where({cond}, {a}, {b})"

    def _nan(self):
        return "numpy.nan"


class ScalarPrinter(NumbaPrinter):
    """Python scalars, as the Numba printer writes them (``math`` functions,
    conditional expressions), with NaN-propagating extrema (as
    ``numpy.maximum``/``numpy.minimum``) from this module."""

    max_function, min_function, sign_function = "_fmax", "_fmin", "_sign"
    reserved_words = ArrayPrinter.reserved_words


_REDUCE = {"sum": "numpy.sum", "mean": "numpy.mean", "max": "numpy.max", "min": "numpy.min"}


def _emit_ops(lines, ops, printer, customs, ind="    "):
    for blk in blocks(ops):
        if blk.kind == "custom":
            op = blk.ops[0]
            name = f"_custom_{len(customs)}"
            customs[name] = op.custom.fn
            for sym, ssa in op.reads:
                lines.append(f"{ind}S[{sym.name!r}] = {ssa}")
            lines.append(f"{ind}{name}(S, P)")
            for sym, ssa in op.writes:
                lines.append(f"{ind}{ssa} = S[{sym.name!r}]")
            continue
        for sym, e in blk.temps:
            lines.append(f"{ind}{sym} = {printer.doprint(e)}")
        for op in blk.ops:
            if op.kind == "reduce":
                body = printer.doprint(op.expr)
                lines.append(f"{ind}{op.target} = {_REDUCE[op.reduce_op]}("
                             f"numpy.broadcast_to({body}, _shape), axis=-1, keepdims=True)")
            else:
                lines.append(f"{ind}{op.target} = {printer.doprint(op.expr)}")


def _emit_kernel(name, program, part, printer, customs):
    vec, sca = kernel_inputs(program, part)
    params = [s.name for s in program.params]
    lines = [f"def {name}(S, P):"]
    lines += [f"    {n} = S[{n!r}]" for n in vec + sca]
    lines += [f"    {n} = P[{n!r}]" for n in params]
    lines.append("    _shape = x.shape")
    if uses_noise(program):  # the draws take the kernel's shape and dtype
        lines.append("    _dtype = x.dtype")
    ops, outputs = linearize(program, part)
    _emit_ops(lines, ops, printer, customs)
    for sym, ssa in outputs.items():
        lines.append(f"    S[{sym.name!r}] = {ssa}")
    lines.append("    return S")
    return lines


def _emit_single_kernel(name, program, part, scalar_printer):
    """A kernel for one member: vectors of shape ``(1, n)``, scalars as Python numbers.

    Scalar state is read from and written to element ``[0, 0]`` of its ``(1, 1)``
    array; scalar stages print as plain Python (``math`` functions, conditional
    expressions), reductions return scalars, and the per-coordinate expressions
    print with as few array operations as they allow (:mod:`._single_member`).
    Only the inputs the kernel uses are read. No Custom stages.
    """
    vec, sca = kernel_inputs(program, part)
    vectors = set(program.elementwise_symbols())
    ops, outputs = linearize(program, part)
    per_coordinate = set(vectors)  # symbols holding one value per coordinate

    def varies(expr):
        return bool(expr.free_symbols & per_coordinate) or expr.has(StandardNormal)

    printer = SingleArrayPrinter(_SETTINGS, scalar_printer, varies)
    body, used = [], set()
    for blk in blocks(ops):
        elementwise = blk.kind == "elem"
        for sym, e in blk.temps:
            used |= e.free_symbols
            pr = printer if elementwise else scalar_printer
            body.append(f"    {sym} = {pr.doprint(e)}")
            if elementwise and varies(e):
                per_coordinate.add(sym)
        for op in blk.ops:
            used |= op.expr.free_symbols
            if op.kind == "reduce" and varies(op.expr):
                body.append(f"    {op.target} = {printer.reduction(op.expr, op.reduce_op)}")
            elif op.kind == "reduce":
                reduced = printer.doprint(op.expr)
                method = "sum" if op.reduce_op == "mean" else op.reduce_op
                tail = " / N" if op.reduce_op == "mean" else ""
                body.append(f"    {op.target} = float(numpy.broadcast_to({reduced}, x.shape)"
                            f".{method}()){tail}")
            elif op.kind == "elem":
                body.append(f"    {op.target} = {printer.doprint(op.expr)}")
                if varies(op.expr):
                    per_coordinate.add(op.target)
            else:
                body.append(f"    {op.target} = {scalar_printer.doprint(op.expr)}")
    for sym, ssa in outputs.items():
        used.add(ssa)
        if sym in vectors and ssa not in per_coordinate:
            used.add(x_symbol)
            body.append(f"    S[{sym.name!r}] = numpy.full(x.shape, {ssa}, dtype=x.dtype)")
        elif sym in vectors:
            body.append(f"    S[{sym.name!r}] = {ssa}")
        elif sym in program.scalars:
            body.append(f"    S[{sym.name!r}][0, 0] = {ssa}")
        else:  # a scalar carried over the gradient evaluation
            used.add(x_symbol)
            body.append(f"    S[{sym.name!r}] = numpy.full((1, 1), {ssa}, dtype=x.dtype)")
    if uses_noise(program):  # the draws take the kernel's shape and dtype
        used.add(x_symbol)
        body[:0] = ["    _shape = x.shape", "    _dtype = x.dtype"]
    if any(op.kind == "reduce" and not varies(op.expr) for op in ops):
        used.add(x_symbol)
    names = {s.name for s in used}
    if any(op.kind == "reduce" and op.reduce_op == "mean" for op in ops):
        names.add("N")
    lines = [f"def {name}(S, P):"]
    lines += [f"    {n} = S[{n!r}]" for n in vec if n in names]
    lines += [f"    {n} = S[{n!r}]" if n == "N" else f"    {n} = S[{n!r}][0, 0]"
              for n in sca if n in names]
    lines += [f"    {s.name} = P[{s.name!r}]" for s in program.params if s.name in names]
    return lines + body + ["    return S"]


class SingleArrayPrinter(FewOpsPrinter, ArrayPrinter):
    """The single-member kernels' printer: :class:`ArrayPrinter` with fewer array
    operations (:class:`._single_member.FewOpsPrinter`)."""


_SETTINGS = {"fully_qualified_modules": True, "allow_unknown_functions": False}


def generate_single_source(program: StepProgram) -> str:
    """Python/NumPy source of ``before`` and ``after`` for a single member (see
    :func:`_emit_single_kernel`); ``None`` for programs with Custom stages."""
    if any(isinstance(st, Custom) for st in program.stages):
        return None
    scalar = ScalarPrinter(_SETTINGS)
    lines = [f"# generated by dynopt from step program {program.name!r}: one member",
             "import math", "import numpy", ""]
    lines += _emit_single_kernel("before", program, "before", scalar) + [""]
    lines += _emit_single_kernel("after", program, "after", scalar)
    return "\n".join(lines) + "\n"


def generate_source(program: StepProgram, customs: dict | None = None) -> str:
    """Python/NumPy source of the kernels ``before``, ``after``, ``init``, ``energies``.

    Custom stages become calls of ``_custom_<i>``; ``customs`` (if given) is
    filled with those names and functions, which the source's namespace needs.
    """
    customs = {} if customs is None else customs
    printer = ArrayPrinter({"fully_qualified_modules": True, "allow_unknown_functions": False})
    vec, sca = kernel_inputs(program)
    params = [s.name for s in program.params]
    lines = [f"# generated by dynopt from step program {program.name!r}", "import numpy", ""]
    lines += _emit_kernel("before", program, "before", printer, customs) + [""]
    lines += _emit_kernel("after", program, "after", printer, customs) + [""]
    # init: vectors from x, g, f and hyperparameters; scalars from f, N and hyperparameters
    lines.append("def init(S, P):")
    lines += [f"    {n} = S[{n!r}]" for n in ("x", "g", "f", "N")]
    lines += [f"    {n} = P[{n!r}]" for n in params]
    lines.append("    _vshape = x.shape")
    lines.append("    _sshape = f.shape")
    for sym, e in program.vectors.items():
        lines.append(f"    S[{sym.name!r}] = _filled(_vshape, {printer.doprint(e)}, x.dtype)")
    for sym, e in program.scalars.items():
        lines.append(f"    S[{sym.name!r}] = _filled(_sshape, {printer.doprint(e)}, x.dtype)")
    lines.append("    return S")
    lines.append("")
    lines.append("def energies(S, P):")
    lines += [f"    {n} = S[{n!r}]" for n in vec + sca]
    lines += [f"    {n} = P[{n!r}]" for n in params]
    lines.append("    _shape = x.shape")
    lines.append("    out = {}")
    for name, (op, e) in program.energies.items():
        body = printer.doprint(e)
        if op == "scalar":
            lines.append(f"    out[{name!r}] = numpy.broadcast_to({body}, f.shape)")
        else:
            lines.append(f"    out[{name!r}] = {_REDUCE[op]}(numpy.broadcast_to({body}, _shape), axis=-1, keepdims=True)")
    lines.append("    return out")
    return "\n".join(lines) + "\n"
