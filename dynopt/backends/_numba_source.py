"""Python source of the Numba kernels of a step program.

Each compiled segment of a part (see :mod:`~dynopt.backends._schedule`)
becomes one ``numba.njit(parallel=True)`` function. Its outer loop runs over
the batch members in order; inside, every level prints its scalar code and
then one ``prange`` loop over the coordinates, with the level's reductions
fused into the loop as per-chunk partial results (chunks of
:data:`~dynopt.backends._numba_support.CHUNK` coordinates, combined in chunk
order). A plain Python driver per part (``before``, ``after``) normalises the
state and hyperparameters, calls the segments and, between them, the Custom
stages' Python functions; the module's ``_make_drivers(customs)`` makes the
drivers for given Custom functions, so programs that differ only in those
functions share the file and the compiled kernels.

Without Custom stages the kernel updates the state arrays in place. A state
vector whose old value is still read in a pass after the one that computes
its new value is written to a work array first and copied back at the end.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..program import N, Custom, StandardNormal, StepProgram, f, k
from ._schedule import CustomCall, Segment, plan_part
from .codegen import BranchPrinting

__all__ = ["NumbaPrinter", "emit_levels", "segment_storage", "step_module_source", "HEADER"]

JIT_PARALLEL = '@numba.njit(parallel=True, fastmath=False, cache=True, error_model="numpy")'
JIT_SERIAL = '@numba.njit(parallel=False, fastmath=False, cache=True, error_model="numpy")'

HEADER = '''import math

import numba
import numpy as np
from numba import prange

from dynopt.backends._numba_support import BLOCK as _BL
from dynopt.backends._numba_support import CHUNK as _CH
from dynopt.backends._numba_support import block_max as _bmax
from dynopt.backends._numba_support import block_min as _bmin
from dynopt.backends._numba_support import block_sum as _bsum
from dynopt.backends._numba_support import const_scalar as _cs
from dynopt.backends._numba_support import flat_batch as _flat
from dynopt.backends._numba_support import fmax, fmin, sign
from dynopt.backends._numba_support import gauss as _gauss
from dynopt.backends._numba_support import param as _pa
from dynopt.backends._numba_support import state_scalar as _ss
from dynopt.backends._numba_support import state_vector as _sv
'''

_BUILTIN_CONST = (f, k, N)


class NumbaPrinter(BranchPrinting, PythonCodePrinter):
    """Scalar Python for Numba: ``math`` functions, branches as conditional
    expressions, NaN-propagating ``fmax``/``fmin``/``sign`` (as NumPy's).
    Symbols named like the names the generated module uses get a trailing
    underscore."""

    reserved_words = PythonCodePrinter.reserved_words | {
        "math", "numba", "np", "prange", "fmax", "fmin", "sign", "S", "P"}

    def __init__(self, settings=None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False,
                          **(settings or {})})

    def _select(self, cond, a, b):
        return f"({a} if {cond} else {b})"

    def _nan(self):
        return "math.nan"

    def _print_NaN(self, expr):
        return "math.nan"

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "(-math.inf)"

    def _print_StandardNormal(self, expr):
        # the coordinate's index is the loop variable of the pass (see emit_levels)
        key, step, stream = expr.args
        return f"_gauss({self._print(key)}, {self._print(step)}, {int(stream)}, {NOISE_INDEX})"


class HoistingPrinter(NumbaPrinter):
    r"""A :class:`NumbaPrinter` that prints each loop-invariant subexpression of a pass
    (one with symbols, all of them scalars, and no draw) as a name, ``_h<j>``,
    computed once before the loop: Adam's bias corrections
    :math:`1 - \beta^{k+1}` (a ``pow`` per coordinate otherwise), FANoS's
    :math:`1 - \beta`. The enclosing expression prints as it would without
    hoisting (its factors in the same order), so each value is the same double."""

    def __init__(self, settings=None):
        super().__init__(settings)
        self._vector = None     # the pass's per-coordinate symbols; None: no hoisting
        self._names: dict = {}
        self.hoisted: list = []  # (name, code) of the current pass
        self._count = 0

    def start_pass(self, vector_symbols) -> None:
        self._vector, self._names, self.hoisted = set(vector_symbols), {}, []

    def end_pass(self) -> None:
        self._vector = None

    def _print(self, expr, **kwargs):
        vector = self._vector
        if (vector is not None and isinstance(expr, sp.Expr) and not expr.is_Atom
                and expr.free_symbols and not (expr.free_symbols & vector)
                and not expr.has(StandardNormal)):
            name = self._names.get(expr)
            if name is None:
                self._vector = None           # the subexpression itself prints plainly
                try:
                    code = super()._print(expr, **kwargs)
                finally:
                    self._vector = vector
                name = self._names[expr] = f"_h{self._count}"
                self._count += 1
                self.hoisted.append((name, code))
            return name
        return super()._print(expr, **kwargs)


#: what the printer writes for the coordinate index of a draw; `emit_levels`
#: puts the pass's loop variable in its place (no symbol may start with "_")
NOISE_INDEX = "_NOISE_INDEX"


_INIT = {"sum": "0.0", "mean": "0.0", "max": "(-math.inf)", "min": "math.inf"}

#: the helper that folds a block of terms into an accumulator
_BLOCK_FOLD = {"sum": "_bsum", "mean": "_bsum", "max": "_bmax", "min": "_bmin"}


def _accumulate(op, acc, value):
    if op in ("sum", "mean"):
        return f"{acc} += {value}"
    return f"{acc} = {'fmax' if op == 'max' else 'fmin'}({acc}, {value})"


def _row(array_name: str) -> str:
    return "_r" + array_name


def emit_levels(seg: Segment, storage: dict, vec_syms: set, pr, nm, *, parallel: bool,
                ind: str, parts: list, buffers: list | None = None) -> list:
    """Source lines of a segment's levels for one batch member.

    ``storage`` maps each per-coordinate symbol that lives in an array (read
    from outside, carried between passes, or an output) to the array's name;
    the row of the current member is ``_r<name>``. ``parts`` collects the
    names of the partial-result arrays the caller allocates.

    A pass with reductions runs over blocks of ``_BL`` coordinates: the
    block's terms are computed into a buffer, in the same loop as the pass's
    elementwise assignments (a loop without a loop-carried dependency, which
    the compiler can vectorise), then folded into the accumulator by
    ``_bsum``/``_bmax``/``_bmin``. With ``parallel``, each chunk of ``_CH``
    coordinates is a ``prange`` iteration with buffers of its own. Serial
    passes use buffers the caller allocates once: their names are appended to
    ``buffers`` (``np.empty(_BL)`` each); with ``buffers=None`` they are
    allocated where the pass starts.
    """
    lines: list = []
    for lv in seg.levels:
        for it in lv.scalars:
            lines.append(f"{ind}{nm(it.target)} = {pr(it.expr)}")
        if not lv.has_pass:
            continue
        here = {it.target for it in lv.elems}
        reads = set()
        for it in lv.elems + lv.reduces:
            reads |= it.expr.free_symbols
        loads = sorted((s for s in reads if s in vec_syms and s not in here), key=lambda s: s.name)
        missing = [s for s in loads if s not in storage]
        if missing:
            raise RuntimeError(f"per-coordinate values {missing} have no storage")
        accs = [(f"_acc{len(parts) + j}", it) for j, it in enumerate(lv.reduces)]
        bufs = [f"_buf{acc[4:]}" for acc, _ in accs]
        # the pass's expressions, with their loop-invariant parts computed before the loop
        hoist = getattr(pr, "__self__", None)
        if isinstance(hoist, HoistingPrinter):
            hoist.start_pass(vec_syms | here)
        elem_code = [pr(it.expr) for it in lv.elems]
        acc_code = [pr(it.expr) for _, it in accs]
        if isinstance(hoist, HoistingPrinter):
            hoist.end_pass()
            for name, code in hoist.hoisted:
                lines.append(f"{ind}{name} = {code}")
        chunked = parallel and bool(accs)
        if chunked:
            lines.append(f"{ind}for _c in prange(_nch):")
            lines.append(f"{ind}    _lo = _c * _CH")
            lines.append(f"{ind}    _hi = min(_lo + _CH, _n)")
            for acc, it in accs:
                lines.append(f"{ind}    {acc} = {_INIT[it.reduce_op]}")
            for buf in bufs:
                lines.append(f"{ind}    {buf} = np.empty(_BL)")
            outer = ind + "    "
            span = "_lo, _hi"
        elif accs:
            for acc, it in accs:
                lines.append(f"{ind}{acc} = {_INIT[it.reduce_op]}")
            for buf in bufs:
                if buffers is None:
                    lines.append(f"{ind}{buf} = np.empty(_BL)")
                else:
                    buffers.append(buf)
            outer = ind
            span = "0, _n"
        if accs:
            lines.append(f"{outer}for _j in range({span}, _BL):")
            lines.append(f"{outer}    _m = min(_BL, {span.split(', ')[1]} - _j)")
            lines.append(f"{outer}    for _q in range(_m):")
            # an unsigned index: no wraparound test on negative indices, so the loop vectorises
            lines.append(f"{outer}        _u = np.uint64(_j + _q)")
            body, idx = outer + "        ", "_u"
        else:
            lines.append(f"{ind}for _i in {'prange' if parallel else 'range'}(_n):")
            body, idx = ind + "    ", "_i"
        for s in loads:
            lines.append(f"{body}{nm(s)} = {_row(storage[s])}[{idx}]")
        for it, code in zip(lv.elems, elem_code):
            lines.append(f"{body}{nm(it.target)} = {code.replace(NOISE_INDEX, idx)}")
        for (acc, it), buf, code in zip(accs, bufs, acc_code):
            lines.append(f"{body}{buf}[_q] = {code.replace(NOISE_INDEX, idx)}")
        for it in lv.elems:
            if it.target in storage:
                lines.append(f"{body}{_row(storage[it.target])}[{idx}] = {nm(it.target)}")
        for (acc, it), buf in zip(accs, bufs):
            lines.append(f"{outer}    {acc} = {_BLOCK_FOLD[it.reduce_op]}({buf}, _m, {acc})")
        for acc, it in accs:
            if chunked:
                part = f"_part{acc[4:]}"
                parts.append(part)
                lines.append(f"{ind}    {part}[_c] = {acc}")
            else:
                parts.append(None)
        for acc, it in accs:
            t = nm(it.target)
            if chunked:
                part = f"_part{acc[4:]}"
                lines.append(f"{ind}{t} = {_INIT[it.reduce_op]}")
                lines.append(f"{ind}for _c in range(_nch):")
                lines.append(f"{ind}    {_accumulate(it.reduce_op, t, f'{part}[_c]')}")
            else:
                lines.append(f"{ind}{t} = {acc}")
            if it.reduce_op == "mean":
                lines.append(f"{ind}{t} = {t} / _n")
    return lines


def segment_storage(seg: Segment, finals: dict | None, nm) -> dict:
    """Where the segment's per-coordinate and scalar values live.

    ``finals`` maps the SSA symbol of each state variable's final value to the
    state symbol (in-place mode), or is ``None`` (every output gets its own
    array, the mode used around Custom stages). Returns a dict with
    ``storage`` (symbol -> array name), ``args`` (kernel arguments in order as
    ``(role, symbol)``, role in 'vec', 'sca', 'par', 'vout', 'sout'),
    ``work`` (arrays the kernel allocates), ``copyback`` (pairs
    ``(state array, work array)``) and ``sstore`` (pairs ``(array, symbol)``
    of scalar outputs).
    """
    storage: dict = {}
    vec_args: list = []
    for s in seg.vec_in:
        storage[s] = f"_a_{nm(s)}"
        vec_args.append(s)
    work, copyback, vout = [], [], []
    for t in seg.vec_out:
        if finals is not None and t in finals:
            s = finals[t]
            if s not in vec_args:
                vec_args.append(s)
                storage.setdefault(s, f"_a_{nm(s)}")
            p = seg.defined_at[t]
            if any(q > p for q in seg.reads_at.get(s, ())):
                storage[t] = f"_w_{nm(t)}"
                work.append(storage[t])
                copyback.append((storage[s], storage[t]))
            else:
                storage[t] = storage[s]
        else:
            storage[t] = f"_o_{nm(t)}"
            vout.append(t)
    for t in seg.carried():
        if t not in storage:
            storage[t] = f"_w_{nm(t)}"
            work.append(storage[t])
    sca_args = list(seg.sca_in)
    sstore, sout = [], []
    for t in seg.sca_out:
        if finals is not None and t in finals:
            s = finals[t]
            if s not in sca_args:
                sca_args.append(s)
            sstore.append((f"_a_{nm(s)}", t))
        else:
            sstore.append((f"_o_{nm(t)}", t))
            sout.append(t)
    args = ([("vec", s) for s in vec_args] + [("sca", s) for s in sca_args]
            + [("par", p) for p in seg.params] + [("vout", t) for t in vout]
            + [("sout", t) for t in sout])
    return {"storage": storage, "args": args, "work": work, "copyback": copyback,
            "sstore": sstore}


def _arg_name(role, sym, nm):
    return f"_o_{nm(sym)}" if role in ("vout", "sout") else f"_a_{nm(sym)}"


def emit_step_kernel(fname: str, seg: Segment, finals, vec_syms, pr, nm,
                     parallel: bool = True) -> tuple:
    """``(lines, layout)`` of one segment kernel over a batch (``prange``
    loops when ``parallel``, else plain loops and a serial function)."""
    lay = segment_storage(seg, finals, nm)
    storage = lay["storage"]
    args = [_arg_name(r, s, nm) for r, s in lay["args"]]
    parallel = parallel and (any(lv.has_pass for lv in seg.levels) or bool(lay["copyback"]))
    loop = "prange" if parallel else "range"
    parts: list = []
    buffers: list = []
    body = emit_levels(seg, storage, vec_syms, pr, nm, parallel=parallel, ind="        ",
                       parts=parts, buffers=buffers)
    lines = [JIT_PARALLEL if parallel else JIT_SERIAL,
             f"def {fname}(_B, _n{''.join(', ' + a for a in args)}):"]
    vec_arrays = [a for (r, s), a in zip(lay["args"], args) if r in ("vec", "vout")]
    ref = vec_arrays[0] if vec_arrays else None
    if any(p for p in parts):
        lines.append("    _nch = (_n + _CH - 1) // _CH")
        for p in parts:
            if p:
                lines.append(f"    {p} = np.empty(_nch)")
    for buf in buffers:
        lines.append(f"    {buf} = np.empty(_BL)")
    for w in lay["work"]:
        dtype = f"{ref}.dtype" if ref else "np.float64"
        lines.append(f"    {w} = np.empty((_B, _n), dtype={dtype})")
    lines.append("    for _b in range(_B):")
    for a in dict.fromkeys(vec_arrays + lay["work"]):
        lines.append(f"        {_row(a)} = {a}[_b]")
    for (r, s), a in zip(lay["args"], args):
        if r in ("sca", "par"):
            lines.append(f"        {nm(s)} = {a}[_b]")
    lines += body
    for arr, t in lay["sstore"]:
        lines.append(f"        {arr}[_b] = {nm(t)}")
    for dst, src in lay["copyback"]:
        lines.append(f"        for _i in {loop}(_n):")
        lines.append(f"            {_row(dst)}[_i] = {_row(src)}[_i]")
    lines.append("    return 0")
    return lines, lay


def flat_applies(seg: Segment) -> bool:
    """Whether a segment may run as one pass over every member's coordinates
    (:func:`emit_flat_kernel`): no reductions, no noise (its draws are keyed by the
    coordinate's index), and no scalar input but the step ``k`` and ``N`` (the
    others, such as ``f`` or a state scalar, differ between members)."""
    if any(lv.reduces for lv in seg.levels):
        return False
    if any(it.expr.has(StandardNormal) for lv in seg.levels for it in lv.scalars + lv.elems):
        return False
    return set(seg.sca_in) <= {k, N}


def emit_flat_kernel(fname: str, seg: Segment, finals, vec_syms, pr, nm) -> list:
    """Lines of a serial kernel that steps a whole batch as one pass over its
    ``batch * n`` coordinates, for a segment where :func:`flat_applies`.

    Every member's scalars are then the same (the hyperparameters are plain
    numbers and every member is at the same step), so they are computed once,
    from the first member's values, and each coordinate gets the arithmetic of
    the member-by-member kernel: the same numbers to the bit. A batch of many
    small members runs one long loop the compiler can vectorise, instead of a
    short loop per member (for 10 000 two-dimensional members a heavy-ball step
    took 22 us member by member). The driver checks that the scalars agree."""
    lay = segment_storage(seg, finals, nm)
    storage = lay["storage"]
    args = [_arg_name(r, s, nm) for r, s in lay["args"]]
    body = emit_levels(seg, storage, vec_syms, pr, nm, parallel=False, ind="    ",
                       parts=[], buffers=None)
    lines = [JIT_SERIAL, f"def {fname}(_B, _n{''.join(', ' + a for a in args)}):"]
    vec_arrays = [a for (r, s), a in zip(lay["args"], args) if r in ("vec", "vout")]
    ref = vec_arrays[0] if vec_arrays else None
    for w in lay["work"]:
        dtype = f"{ref}.dtype" if ref else "np.float64"
        lines.append(f"    {w} = np.empty((_B, _n), dtype={dtype})")
    for a in dict.fromkeys(vec_arrays + lay["work"]):
        lines.append(f"    {_row(a)} = {a}.reshape(-1)")
    for (r, s), a in zip(lay["args"], args):
        if r in ("sca", "par"):
            lines.append(f"    {nm(s)} = {a}[0]")
    lines.append("    _n = _B * _n  # one pass over every member's coordinates")
    lines += body
    for arr, t in lay["sstore"]:
        lines.append("    for _b in range(_B):")
        lines.append(f"        {arr}[_b] = {nm(t)}")
    for dst, src in lay["copyback"]:
        lines.append("    for _i in range(_n):")
        lines.append(f"        {_row(dst)}[_i] = {_row(src)}[_i]")
    lines.append("    return 0")
    return lines


def _load_original(sym, vec_syms, create=False):
    """Driver expression for an input of the part read from the state dict."""
    name = sym.name
    if sym in vec_syms:
        return "_x" if name == "x" else f"_sv(S, {name!r}, _dt, _shape{', True' if create else ''})"
    if sym in _BUILTIN_CONST:
        return f"_cs(S[{name!r}], _B, {name!r})"
    return f"_ss(S, {name!r}, _B, _dt{', True' if create else ''})"


def emit_driver(part: str, program: StepProgram, plan, kernels: list, nm) -> list:
    """The Python function ``part(S, P)`` calling the segment kernels."""
    vec_syms = plan.vector_symbols
    params = set(program.params)
    lines = [f"def {part}(S, P):"]
    if not plan.steps:
        return lines + ["    return S"]
    lines += ["    _x = _sv(S, 'x', None)", "    _B, _n = _x.shape", "    _dt = _x.dtype",
              "    _shape = (_B, _n)"]
    if not plan.has_custom:
        (fname, lay), = kernels
        seg = plan.segments[0]
        read = set(seg.vec_in) | set(seg.sca_in)
        args = []
        for role, s in lay["args"]:
            args.append(f"_pa(P, {s.name!r}, _B)" if role == "par"
                        else _load_original(s, vec_syms, create=s not in read))
        lines.append(f"    {fname}(_B, _n{''.join(', ' + a for a in args)})")
        return lines + ["    return S"]
    held: dict = {}

    def h(sym):
        return f"_h_{nm(sym)}"

    def need(sym):
        if sym in held:
            return held[sym]
        src = (f"_pa(P, {sym.name!r}, _B)" if sym in params
               else _load_original(sym, vec_syms))
        lines.append(f"    {h(sym)} = {src}")
        held[sym] = h(sym)
        return held[sym]

    kit = iter(kernels)
    n_custom = 0
    for step in plan.steps:
        if isinstance(step, CustomCall):
            for sym, ssa in step.reads:
                if ssa != sym:
                    val = held[ssa]
                    lines.append(f"    S[{sym.name!r}] = {val}" if sym in vec_syms or ssa in vec_syms
                                 else f"    S[{sym.name!r}] = {val}.reshape(_B, 1)")
            lines.append(f"    _custom_{part}_{n_custom}(S, P)")
            n_custom += 1
            for sym, new in step.writes:
                src = (f"_sv(S, {sym.name!r}, _dt, _shape)" if new in vec_syms
                       else f"_ss(S, {sym.name!r}, _B, _dt)")
                lines.append(f"    {h(new)} = {src}")
                held[new] = h(new)
            continue
        fname, lay = next(kit)
        args = []
        for role, s in lay["args"]:
            if role == "vout":
                lines.append(f"    {h(s)} = np.empty(_shape, dtype=_dt)")
                held[s] = h(s)
            elif role == "sout":
                lines.append(f"    {h(s)} = np.empty(_B, dtype=_dt)")
                held[s] = h(s)
            args.append(held[s] if s in held else need(s))
        lines.append(f"    {fname}(_B, _n{''.join(', ' + a for a in args)})")
    for sym, ssa in plan.outputs.items():
        val = held[ssa]
        lines.append(f"    S[{sym.name!r}] = {val}" if sym in vec_syms
                     else f"    S[{sym.name!r}] = {val}.reshape(_B, 1)")
    return lines + ["    return S"]


def step_module_source(program: StepProgram, key: str, parallel: bool = True,
                       threshold: int = 0) -> tuple:
    """Source of the module with the kernels and the drivers ``before``/``after``.

    Every segment gets a serial kernel (``_<part>_<j>_s``) and, with
    ``parallel``, a ``prange`` twin (``_<part>_<j>_p``) that the driver calls
    when a member has at least ``threshold`` coordinates. Numba compiles each
    on its first call, so only the variants in use cost compile time.

    Returns ``(source, customs)`` where ``customs`` maps the names the
    drivers call (``_custom_<part>_<i>``) to the Custom stages' functions,
    which the module's namespace must receive.
    """
    printer = HoistingPrinter()
    pr, nm = printer.doprint, NumbaPrinter()._print
    lines = [f"# generated by dynopt from step program {program.name!r} (key {key}); do not edit",
             HEADER]
    if any(isinstance(st, Custom) for st in program.stages):
        # the key holds the Custom functions' identities, which change from one
        # process to the next: keep it out of the source (the file is named by its hash)
        lines[0] = (f"# generated by dynopt from step program {program.name!r} (with Custom "
                    "stages); do not edit")
    customs: dict = {}
    drivers: list = []
    for part in ("before", "after"):
        plan = plan_part(program, part)
        finals = None if plan.has_custom else {ssa: s for s, ssa in plan.outputs.items()}
        kernels = []
        for j, seg in enumerate(plan.segments):
            fname = f"_{part}_{j}"
            klines, lay = emit_step_kernel(fname + "_s", seg, finals, plan.vector_symbols, pr, nm,
                                           False)
            lines += [""] + klines + [""]
            serial = fname + "_s"
            if not plan.has_custom and flat_applies(seg):
                # many members of few coordinates: one pass over the whole batch
                lines += [""] + emit_flat_kernel(fname + "_f", seg, finals,
                                                 plan.vector_symbols, pr, nm) + [""]
                names = "".join(f"{p.name!r}, " for p in seg.params)
                step = "S['k']" if k in seg.sca_in else "None"
                serial = f"({fname}_f if _B > 1 and _flat(P, ({names}), {step}) else {serial})"
            call = serial
            if parallel:
                klines, _ = emit_step_kernel(fname + "_p", seg, finals, plan.vector_symbols, pr,
                                             nm, True)
                lines += [""] + klines + [""]
                call = (f"({fname}_p if _n >= {int(threshold)} and numba.get_num_threads() > 1 "
                        f"else {serial})")
            kernels.append((call, lay))
        drivers += [""] + emit_driver(part, program, plan, kernels, nm) + [""]
        n = 0
        for step in plan.steps:
            if isinstance(step, CustomCall):
                customs[f"_custom_{part}_{n}"] = step.fn
                n += 1
    # the drivers are made by a factory that receives the Custom stages' functions, so
    # that programs sharing this file (same source, other functions) share the kernels
    names = ", ".join(f"{k!r}" for k in customs)
    factory = ["", "def _make_drivers(_customs):",
               f"    \"\"\"The drivers ``before``, ``after``; ``_customs`` maps {names or 'no names'} "
               "to functions.\"\"\""]
    factory += [f"    {k} = _customs[{k!r}]" for k in customs]
    factory += ["    " + ln if ln else "" for ln in drivers]
    factory += ["    return before, after", ""]
    return "\n".join(lines + factory) + "\n", customs
