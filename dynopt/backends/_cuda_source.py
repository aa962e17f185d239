"""CUDA C from the step program: the launches of the CuPy backend and a .cu file.

The schedule of :mod:`~dynopt.backends._schedule` becomes a list of launches
per part:

* ``map`` over the coordinates (``domain='vec'``, shape ``(batch, n)``) for
  the elementwise assignments of a pass, or over the members
  (``domain='sca'``, shape ``(batch, 1)``) for the scalar code between passes;
  the body is C statements (``cupy.ElementwiseKernel``'s ``operation``);
* ``reduce`` for each reduction: a map expression (the reduced expression with
  the pass's elementwise temporaries substituted, so it reads the pass's
  inputs) and a reduce expression (``cupy.ReductionKernel``).

Expressions are printed by SymPy's :class:`~sympy.printing.c.C99CodePrinter`
(float variant: ``sqrtf``, ``1.0F`` ...), with branches as ``?:``, NaN
propagating ``dyn_fmax``/``dyn_fmin``/``dyn_sign`` (NumPy's semantics) and small
integer powers as products. :func:`cuda_source` writes the same bodies as a
standalone translation unit of ``extern "C" __global__`` functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.codegen.ast import float32, real
from sympy.printing.c import C99CodePrinter

from ..program import StepProgram, uses_noise, x
from ._noise import CUDA_SOURCE as _NOISE_SOURCE
from ._schedule import CustomCall, plan_part
from .codegen import BranchPrinting, program_key

__all__ = ["CudaPrinter", "Launch", "PartLaunches", "part_launches", "cuda_source", "preamble",
           "c_type"]


def c_type(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return "double"
    if dtype == np.float32:
        return "float"
    raise ValueError(f"dtype must be float32 or float64, got {dtype}")


class CudaPrinter(BranchPrinting, C99CodePrinter):
    """C99 for CUDA device code in ``double`` or ``float``."""

    max_function, min_function, sign_function = "dyn_fmax", "dyn_fmin", "dyn_sign"
    reserved_words = set(C99CodePrinter.reserved_words) | {
        "i", "n", "a", "b", "y", "total", "_ind", "_in_ind", "_out_ind", "dyn_fmax", "dyn_fmin",
        "dyn_sign"}

    def __init__(self, dtype=np.float64):
        self.single = np.dtype(dtype) == np.float32
        settings = {"type_aliases": {real: float32}} if self.single else {}
        super().__init__(settings)

    def _nan(self):
        return 'nanf("")' if self.single else 'nan("")'

    def _select(self, cond, a, b):
        return f"(({cond}) ? ({a}) : ({b}))"

    def _print_Pow(self, expr):
        base, e = expr.args
        if base.is_Rational:  # sqrt(10) would call the host-only sqrt(int)
            base = sp.Float(base, 17)
            expr = sp.Pow(base, e, evaluate=False)
        if e.is_Integer and 2 <= int(e) <= 4:
            b = self._print(base)
            return "(" + "*".join([f"({b})"] * int(e)) + ")"
        return super()._print_Pow(expr)

    def _print_math_func(self, expr, nest=False, known=None):
        # numeric arguments as floating literals: CUDA has no device sqrt(int)
        if any(a.is_Rational for a in expr.args):
            expr = expr.func(*[sp.Float(a, 17) if a.is_Rational else a for a in expr.args],
                             evaluate=False)
        return super()._print_math_func(expr, nest=nest, known=known)

    def _print_NaN(self, expr):
        return self._nan()

    def _print_StandardNormal(self, expr):
        # _i: the flat index over (batch, n), n: coordinates per member (both defined
        # by every kernel that evaluates an elementwise expression)
        key, step, stream = expr.args
        fn = "dyn_gaussf" if self.single else "dyn_gauss"
        return (f"{fn}({self._print(key)}, {self._print(step)}, {int(stream)}ULL, "
                "(unsigned long long) (_i % n))")

    def _print_Infinity(self, expr):
        return "INFINITY"

    def _print_NegativeInfinity(self, expr):
        return "(-INFINITY)"

    def _print_NumberSymbol(self, expr):
        return self._print(sp.Float(expr.evalf(20), 20))

    _print_Pi = _print_NumberSymbol
    _print_Exp1 = _print_NumberSymbol
    _print_EulerGamma = _print_NumberSymbol
    _print_GoldenRatio = _print_NumberSymbol


#: the draws' device functions, once per translation unit
CUDA_NOISE = ("#ifndef DYNOPT_CUDA_NOISE\n#define DYNOPT_CUDA_NOISE\n" + _NOISE_SOURCE
              + "#endif\n")

#: lets a host C++ compiler build the file too: every kernel then runs as a
#: single thread of a single block (a serial reference, used by the tests)
HOST_EMULATION = """\
#if !defined(__CUDACC__) && !defined(DYNOPT_HOST_EMULATION)
#define DYNOPT_HOST_EMULATION
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
struct dyn_dim3 { unsigned int x; };
static const dyn_dim3 blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};
static inline void __syncthreads() {}
#endif
"""


def preamble(dtype, noise: bool = False) -> str:
    """Device helpers the bodies call (NaN-propagating max/min, sign; with
    ``noise``, the counter-based normal draws of :mod:`~dynopt.backends._noise`)."""
    T = c_type(dtype)
    return (CUDA_NOISE if noise else "") + f"""\
__device__ __forceinline__ {T} dyn_fmax({T} a, {T} b) {{
    return (a != a) ? a : ((b != b) ? b : (a >= b ? a : b));
}}
__device__ __forceinline__ {T} dyn_fmin({T} a, {T} b) {{
    return (a != a) ? a : ((b != b) ? b : (a <= b ? a : b));
}}
__device__ __forceinline__ {T} dyn_sign({T} a) {{
    return (a > 0) ? ({T})1 : ((a < 0) ? ({T})-1 : ((a == 0) ? ({T})0 : a));
}}
"""


@dataclass
class Launch:
    """One kernel launch: ``kind`` 'map' or 'reduce'."""

    kind: str
    name: str
    domain: str
    inputs: list
    outputs: list
    body: str = ""
    reduce_op: str = ""

    @property
    def reduce_expr(self) -> str:
        return {"sum": "a + b", "mean": "a + b", "max": "dyn_fmax(a, b)",
                "min": "dyn_fmin(a, b)"}[self.reduce_op]

    @property
    def identity(self) -> str:
        return {"sum": "0", "mean": "0", "max": "-INFINITY", "min": "INFINITY"}[self.reduce_op]


@dataclass
class PartLaunches:
    """Launches and Custom calls of one part, and its final state values."""

    steps: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)


def _classify(sym, vec_syms, params):
    if sym in params:
        return "par"
    return "vec" if sym in vec_syms else "sca"


def part_launches(program: StepProgram, part: str, dtype=np.float64) -> PartLaunches:
    """The launches of ``part`` ('before' or 'after') printed for ``dtype``."""
    printer = CudaPrinter(dtype)
    pr, nm = printer.doprint, printer._print
    T = c_type(dtype)
    plan = plan_part(program, part)
    params = set(program.params)
    vec_syms = plan.vector_symbols
    raw: list = []  # (launch, items' targets) or CustomCall
    tag = f"{_ident(program.name)}_{program_key(program, 'cuda')[:8]}_{part}"
    count = 0
    for step in plan.steps:
        if isinstance(step, CustomCall):
            raw.append(step)
            continue
        for lv in step.levels:
            if lv.scalars:
                raw.append(_map(f"{tag}_{count}", "sca", lv.scalars, vec_syms, params, pr, nm, T))
                count += 1
            subs: dict = {}
            for it in lv.elems:
                subs[it.target] = it.expr.xreplace(subs)
            for it in lv.reduces:
                expr = it.expr.xreplace(subs)
                ins = sorted(expr.free_symbols, key=lambda s: s.name)
                if not any(s in vec_syms for s in ins):
                    ins.append(x)  # gives the reduction its (batch, n) shape
                raw.append(Launch("reduce", f"{tag}_{count}", "vec",
                                  [(s, _classify(s, vec_syms, params)) for s in ins],
                                  [(it.target, "sca")], pr(expr), it.reduce_op))
                count += 1
            if lv.elems:
                raw.append(_map(f"{tag}_{count}", "vec", lv.elems, vec_syms, params, pr, nm, T))
                count += 1
    # keep only the outputs that something later needs
    needed = set(plan.outputs.values())
    steps = []
    for st in reversed(raw):
        if isinstance(st, CustomCall):
            needed = (needed - {new for _, new in st.writes}) | {ssa for _, ssa in st.reads}
            steps.append(st)
            continue
        if st.kind == "map":
            keep = [(s, c) for s, c in st.outputs if s in needed]
            if not keep:
                continue
            defined = {s for s, _ in st.outputs}
            st.outputs = keep
            st.body += "".join(f"\n_o_{nm(s)} = {nm(s)};" for s, _ in keep)
        else:
            defined = {st.outputs[0][0]}
        needed = (needed - defined) | {s for s, _ in st.inputs}
        steps.append(st)
    return PartLaunches(steps[::-1], dict(plan.outputs))


def _map(name, domain, items, vec_syms, params, pr, nm, T):
    defined, used = set(), set()
    lines = []
    for it in items:
        used |= it.expr.free_symbols - defined
        lines.append(f"const {T} {nm(it.target)} = {pr(it.expr)};")
        defined.add(it.target)
    ins = sorted(used, key=lambda s: s.name)
    cls = "vec" if domain == "vec" else "sca"
    return Launch("map", name, domain, [(s, _classify(s, vec_syms, params)) for s in ins],
                  [(it.target, cls) for it in items], "\n".join(lines))


def _ident(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name)
    return out if out[:1].isalpha() else "p_" + out


def _map_kernel(launch, nm, T) -> str:
    params = [f"const {T}* __restrict__ p_{nm(s)}" for s, _ in launch.inputs]
    params += [f"{T}* __restrict__ p__o_{nm(s)}" for s, _ in launch.outputs]
    params += ["const long long n", "const long long total"]
    lines = [f'extern "C" __global__ void {launch.name}({", ".join(params)})', "{",
             "    for (long long _i = (long long)blockIdx.x * blockDim.x + threadIdx.x; "
             "_i < total; _i += (long long)blockDim.x * gridDim.x) {",
             "        const long long _b = _i / n;"]
    for s, c in launch.inputs:
        lines.append(f"        const {T} {nm(s)} = p_{nm(s)}[{'_i' if c == 'vec' else '_b'}];")
    for s, _ in launch.outputs:
        lines.append(f"        {T} _o_{nm(s)};")
    lines.append("        {")
    lines += ["            " + ln for ln in launch.body.splitlines()]
    lines.append("        }")
    for s, _ in launch.outputs:
        lines.append(f"        p__o_{nm(s)}[_i] = _o_{nm(s)};")
    lines += ["    }", "}"]
    return "\n".join(lines)


def _reduce_kernel(launch, nm, T) -> str:
    params = [f"const {T}* __restrict__ p_{nm(s)}" for s, _ in launch.inputs]
    params += [f"{T}* __restrict__ p_out", "const long long n", "const long long batch"]
    post = "a / (" + T + ")n" if launch.reduce_op == "mean" else "a"
    lines = [f'extern "C" __global__ void {launch.name}({", ".join(params)})', "{",
             f"    __shared__ {T} _sh[256];",
             "    for (long long _b = blockIdx.x; _b < batch; _b += gridDim.x) {"]
    for s, c in launch.inputs:
        if c != "vec":
            lines.append(f"        const {T} {nm(s)} = p_{nm(s)}[_b];")
    lines += [f"        {T} _acc = {launch.identity};",
              "        for (long long _j = threadIdx.x; _j < n; _j += blockDim.x) {",
              "            const long long _i = _b * n + _j;"]
    for s, c in launch.inputs:
        if c == "vec":
            lines.append(f"            const {T} {nm(s)} = p_{nm(s)}[_i];")
    lines += [f"            const {T} _m = ({launch.body});",
              f"            {{ const {T} a = _acc; const {T} b = _m; _acc = ({launch.reduce_expr}); }}",
              "        }",
              "        _sh[threadIdx.x] = _acc;",
              "        __syncthreads();",
              "        for (unsigned int _s = blockDim.x / 2; _s > 0; _s >>= 1) {",
              "            if (threadIdx.x < _s) {",
              f"                const {T} a = _sh[threadIdx.x]; const {T} b = _sh[threadIdx.x + _s];",
              f"                _sh[threadIdx.x] = ({launch.reduce_expr});",
              "            }",
              "            __syncthreads();",
              "        }",
              f"        if (threadIdx.x == 0) {{ const {T} a = _sh[0]; p_out[_b] = {post}; }}",
              "        __syncthreads();",
              "    }", "}"]
    return "\n".join(lines)


def cuda_source(program: StepProgram, dtype=np.float64) -> str:
    """The kernels of ``program`` as one standalone CUDA translation unit.

    Kernels are named ``<program>_<key>_<part>_<i>`` (``key``: the first
    characters of :func:`~dynopt.backends.codegen.program_key`, so the sources
    of several programs can share a translation unit). Elementwise launches
    become grid-stride ``extern "C" __global__``
    functions ``(inputs..., outputs..., n, total)`` over flattened
    ``(batch, n)`` arrays (scalars and hyperparameters: one value per member);
    reductions one block per member (launched with 256 threads or a smaller
    power of two) ``(inputs..., out, n, batch)``. The bodies are those of the
    CuPy kernels. Custom stages run on the host and are listed as comments.
    """
    T = c_type(dtype)
    nm = CudaPrinter(dtype)._print
    out = [f"// generated by dynopt from step program {program.name!r} ({T}); do not edit",
           "#include <math.h>", "", HOST_EMULATION,
           f"#ifndef DYNOPT_CUDA_HELPERS_{T.upper()}", f"#define DYNOPT_CUDA_HELPERS_{T.upper()}",
           preamble(dtype) + "#endif", CUDA_NOISE if uses_noise(program) else "", ""]
    for part in ("before", "after"):
        launches = part_launches(program, part, dtype)
        out.append(f"// ---- {part} the gradient evaluation")
        for st in launches.steps:
            if isinstance(st, CustomCall):
                out.append(f"// custom stage {getattr(st.fn, '__name__', st.fn)!s} runs on the host")
            elif st.kind == "map":
                out.append(_map_kernel(st, nm, T))
            else:
                out.append(_reduce_kernel(st, nm, T))
            out.append("")
    return "\n".join(out) + "\n"
