"""PyTorch source of a step program: the kernels of :class:`dynopt.torch.Optimizer`.

The stages before (and after) the gradient evaluation are linearised into
single-assignment ops with common subexpressions eliminated
(:func:`dynopt.backends.codegen.linearize`, :func:`~dynopt.backends.codegen.blocks`),
exactly as for the NumPy backend, and printed as ``torch`` operations: the
expressions come from the step program and are never written again by hand.

The generated kernels work on one flat parameter vector (a parameter group's
tensors concatenated):

* per-coordinate values are 1-D tensors of the group's length :math:`n`,
* scalars (state, hyperparameters, the step index ``k``, ``N``) are 0-d tensors,
* a reduction (``sum``, ``mean``, ``max``, ``min``) runs over all :math:`n`
  coordinates, so that FANoS's kinetic temperature and FIRE's power
  :math:`P = F\\cdot v` are global over the group, as in the methods' papers.

Branches (:class:`sympy.Piecewise`) print as nested ``torch.where``, extrema as
NaN-propagating ``torch.maximum``/``torch.minimum``, relations as infix
comparisons and numbers without symbols (:math:`\\sqrt{10}`, :math:`\\pi`) as
double literals. Nothing here imports ``torch``: this module writes text, and
:mod:`dynopt.torch` executes it.
"""
from __future__ import annotations

from sympy.printing.numpy import NumPyPrinter

from ..program import StepProgram
from .codegen import (BranchPrinting, TensorPrinting, blocks, kernel_inputs, linearize,
                      program_key, reads_objective)

__all__ = ["TorchPrinter", "generate_source", "reads_objective", "TORCH_NAMES"]

#: NumPy function names whose ``torch`` function is spelled differently
TORCH_NAMES = {"mod": "remainder", "amax": "amax", "amin": "amin", "absolute": "abs",
               "power": "pow", "fmod": "fmod"}


def _torch_name(value: str) -> str:
    """``numpy.arccos`` or ``math.acos`` -> ``torch.arccos``, ``torch.acos``; a builtin
    (``abs``) -> ``torch.abs``."""
    short = value.split(".", 1)[-1]
    return "torch." + TORCH_NAMES.get(short, short)


class TorchPrinter(TensorPrinting, BranchPrinting, NumPyPrinter):
    """SymPy printer of ``torch`` expressions over tensors that broadcast.

    Every symbol of a kernel is bound to a tensor (0-d for scalars), so that
    ``torch`` functions accept their arguments; the helpers ``_where``,
    ``_fmax``, ``_fmin`` and ``_sign`` of the generated module turn a number
    argument (a branch that is the literal ``0``) into a tensor first.
    """

    _module = "torch"
    _kf = {name: _torch_name(value) for name, value in NumPyPrinter._kf.items()}
    max_function, min_function, sign_function = "_fmax", "_fmin", "_sign"

    def __init__(self, settings=None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False,
                          **(settings or {})})
        # the merged table also holds PythonCodePrinter's ``math`` and builtin names
        self._kf = {name: _torch_name(value) for name, value in self._kf.items()}

    def _select(self, cond, a, b):
        return f"_where({cond}, {a}, {b}, x)"

    def _nan(self):
        return "float('nan')"

    def _print_StandardNormal(self, expr):
        key, step, stream = expr.args
        return f"_standard_normal({self._print(key)}, {self._print(step)}, {int(stream)}, x)"


#: reductions over the coordinates of the flat vector (``mean`` is ``sum / N``, as the
#: NumPy single-member kernels compute it)
_REDUCE = {"sum": "torch.sum({})", "mean": "(torch.sum({}) / N)", "max": "torch.amax({})",
           "min": "torch.amin({})"}


def _check(program: StepProgram) -> None:
    if not isinstance(program, StepProgram):
        raise TypeError(f"program must be a StepProgram, got {type(program).__name__}")


def _emit_custom(lines: list, op, customs: dict, vectors) -> None:
    """A Custom stage: its reads stored in ``S``, the call through the helper ``_custom``
    (which hands the function NumPy copies, as the NumPy backend's state holds them, and
    turns what it writes back into tensors), its writes read back."""
    name = f"_custom_{len(customs)}"
    customs[name] = op.custom.fn
    for sym, ssa in op.reads:
        lines.append(f"    S[{sym.name!r}] = {ssa}")
    reads = tuple(sym.name for sym, _ in op.reads)
    vec = tuple(sym.name for sym, _ in op.writes if sym in vectors)
    sca = tuple(sym.name for sym, _ in op.writes if sym not in vectors)
    lines.append(f"    _custom({name}, S, P, {reads!r}, {vec!r}, {sca!r}, x)")
    for sym, ssa in op.writes:
        lines.append(f"    {ssa} = S[{sym.name!r}]")


def _emit_kernel(name: str, program: StepProgram, part: str, printer: TorchPrinter,
                 customs: dict) -> list:
    vec, sca = kernel_inputs(program, part)
    vectors = program.elementwise_symbols()
    lines = [f"def {name}(S, P):"]
    lines += [f"    {n} = S[{n!r}]" for n in vec + sca]
    lines += [f"    {s.name} = P[{s.name!r}]" for s in program.params]
    ops, outputs = linearize(program, part)
    for blk in blocks(ops):
        if blk.kind == "custom":
            _emit_custom(lines, blk.ops[0], customs, vectors)
            continue
        for sym, e in blk.temps:
            lines.append(f"    {sym} = {printer.doprint(e)}")
        for op in blk.ops:
            body = printer.doprint(op.expr)
            if op.kind == "reduce":
                lines.append(f"    {op.target} = " + _REDUCE[op.reduce_op].format(
                    f"_vector({body}, x)"))
            else:
                lines.append(f"    {op.target} = {body}")
    for sym, ssa in outputs.items():
        kind = "_vector" if sym in vectors else "_scalar"
        lines.append(f"    S[{sym.name!r}] = {kind}({ssa}, x)")
    lines.append("    return S")
    return lines


def generate_source(program: StepProgram, customs: dict | None = None) -> str:
    """PyTorch source of the kernels ``init``, ``before`` and ``after`` of ``program``.

    ``init(S, P)`` sets the state vectors and scalars from their initial values
    (expressions in ``x``, ``g``, ``f``, ``N`` and hyperparameters); ``before``
    runs the stages before the gradient evaluation, ``after`` those after it.
    Each reads and writes the dict ``S`` of tensors (``x``, ``g``, ``f``, ``k``,
    ``N``, the state and the temporaries carried over the evaluation) and reads
    the hyperparameters from ``P``. The module needs the helpers of
    :mod:`dynopt.torch` (``_vector``, ``_scalar``, ``_where``, ``_fmax``,
    ``_fmin``, ``_sign``, ``_standard_normal``, ``_custom``) and ``torch`` in its
    namespace. Custom stages (KO's collisions, Python functions over NumPy arrays)
    become calls ``_custom(_custom_<i>, ...)``; ``customs`` (if given) is filled with
    those names and functions, which the namespace needs too.
    """
    _check(program)
    customs = {} if customs is None else customs
    printer = TorchPrinter()
    lines = [f"# dynopt step program {program.name!r} ({program_key(program, 'torch')}) "
             "over torch tensors", ""]
    lines += _emit_kernel("before", program, "before", printer, customs) + [""]
    lines += _emit_kernel("after", program, "after", printer, customs) + [""]
    lines.append("def init(S, P):")
    lines += [f"    {n} = S[{n!r}]" for n in ("x", "g", "f", "N")]
    lines += [f"    {s.name} = P[{s.name!r}]" for s in program.params]
    for sym, e in program.vectors.items():
        lines.append(f"    S[{sym.name!r}] = _vector({printer.doprint(e)}, x)")
    for sym, e in program.scalars.items():
        lines.append(f"    S[{sym.name!r}] = _scalar({printer.doprint(e)}, x)")
    lines.append("    return S")
    return "\n".join(lines) + "\n"
