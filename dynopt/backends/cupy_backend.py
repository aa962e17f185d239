"""The CuPy backend: ``cupy.ElementwiseKernel`` and ``cupy.ReductionKernel`` on the GPU.

The kernels are generated from the same schedule and expressions as the
other backends (:mod:`._cuda_source`): one ``ElementwiseKernel`` per pass of
elementwise assignments (over ``(batch, n)``), one per block of scalar code
(over ``(batch, 1)``), and one ``ReductionKernel`` per reduction (over the
last axis, ``keepdims``), in float32 or float64 after the state's dtype.
Per-member hyperparameters, given as ``(batch, 1)`` arrays, broadcast.
Outputs are new arrays (CuPy's memory pool makes that cheap), as in the NumPy
reference. ``init`` and ``energies``, run once per run or per recorded step,
are the NumPy reference's on host copies; Custom stages run on the host, on
NumPy copies of the entries they declare.

:func:`cuda_source` gives the same kernels as a standalone ``.cu`` file.
Without CuPy, constructing :class:`CupyBackend` raises :class:`ImportError`
naming the extra to install; this module itself imports without it.
"""
from __future__ import annotations

import numpy as np

from ..program import StepProgram, uses_noise
from ._cuda_source import CudaPrinter, cuda_source, part_launches, preamble
from ._schedule import CustomCall
from .base import Backend, Kernels
from .codegen import program_key
from .numpy_backend import NumpyBackend

__all__ = ["CupyBackend", "LaunchBackend", "cuda_source", "run_launches"]

INSTALL_HINT = ("the 'cupy' backend needs CuPy and a CUDA GPU: "
                "pip install 'dynopt-physics[cupy]' (it installs cupy-cuda13x)")


def run_launches(launches, S, P, launcher):
    """Execute one part: the launches in order, Custom stages between them."""
    B, n = launcher.shape(S["x"])
    vals: dict = {}

    def value(sym, cls):
        if sym in vals:
            return vals[sym]
        if cls == "par":
            return launcher.param(P[sym.name], B)
        return launcher.state(S[sym.name], cls, B, n)

    for step in launches.steps:
        if isinstance(step, CustomCall):
            for sym, ssa in step.reads:
                if ssa != sym:
                    S[sym.name] = launcher.to_host(vals[ssa])
                elif sym.name in S:
                    S[sym.name] = launcher.to_host(S[sym.name])
            step.fn(S, P)
            for sym, new in step.writes:
                vals[new] = launcher.from_host(S[sym.name])
            continue
        ins = [value(s, c) for s, c in step.inputs]
        outs = launcher.launch(step, ins, B, n)
        for (sym, _), out in zip(step.outputs, outs):
            vals[sym] = out
    for sym, ssa in launches.outputs.items():
        S[sym.name] = vals[ssa]
    return S


class LaunchBackend(Backend):
    """A backend running :func:`~dynopt.backends._cuda_source.part_launches` through
    a *launcher* (``launcher_factory(program, dtype)``): CuPy's kernels here, a
    host build of :func:`cuda_source` in the tests."""

    name = "launch"

    def __init__(self, launcher_factory, xp=np):
        self._factory = launcher_factory
        self._xp = xp
        self._cache: dict = {}

    @property
    def xp(self):
        return self._xp

    def compile(self, program: StepProgram) -> Kernels:
        if not isinstance(program, StepProgram):
            raise TypeError(f"program must be a StepProgram, got {type(program).__name__}")
        key = program_key(program, self.name)
        if key in self._cache:
            return self._cache[key]
        reference = NumpyBackend().compile(program)
        per_dtype: dict = {}

        def prepared(dtype):
            dtype = np.dtype(dtype)
            if dtype not in per_dtype:
                per_dtype[dtype] = (self._factory(program, dtype),
                                    {p: part_launches(program, p, dtype) for p in ("before", "after")})
            return per_dtype[dtype]

        def part(name):
            def run(S, P):
                launcher, launches = prepared(S["x"].dtype)
                return run_launches(launches[name], S, P, launcher)
            run.__name__ = name
            return run

        def init(S, P):
            H = self._host(S)
            reference.init(H, self._host_params(P))
            for k_, v_ in H.items():
                if k_ not in S:
                    S[k_] = self.asarray(v_)
            return S

        def energies(S, P):
            out = reference.energies(self._host(S), self._host_params(P))
            return {k_: self.asarray(np.asarray(v_)) for k_, v_ in out.items()}

        kernels = Kernels(part("before"), part("after"), init, energies,
                          source=cuda_source(program, np.float64))
        self._cache[key] = kernels
        return kernels

    def _host(self, S):
        return {k_: (v_ if k_ == "rng" or np.isscalar(v_) else self.to_numpy(v_))
                for k_, v_ in S.items()}

    def _host_params(self, P):
        return {k_: (self.to_numpy(v_) if hasattr(v_, "shape") else v_) for k_, v_ in P.items()}


class _CupyLauncher:
    """Launches CuPy kernels built from the launches of one program and dtype."""

    def __init__(self, cupy, program, dtype):
        self.cp = cupy
        self.dtype = np.dtype(dtype)
        tname = "float64" if self.dtype == np.float64 else "float32"
        nm = CudaPrinter(self.dtype)._print
        pre = preamble(self.dtype, noise=uses_noise(program))
        self.kernels = {}
        #: the map kernels that take the number of coordinates (those that draw noise)
        self.with_n = set()
        for part in ("before", "after"):
            for st in part_launches(program, part, self.dtype).steps:
                if isinstance(st, CustomCall):
                    continue
                ins = ", ".join(f"{tname} {nm(s)}" for s, _ in st.inputs)
                if st.kind == "map":
                    outs = ", ".join(f"{tname} _o_{nm(s)}" for s, _ in st.outputs)
                    body = st.body
                    if "dyn_gauss" in body:
                        # the draws read the flat index _i and the coordinates per member n
                        ins += ", int64 n"
                        body = "const long long _i = i;\n" + body
                        self.with_n.add(st.name)
                    self.kernels[st.name] = cupy.ElementwiseKernel(
                        ins, outs, body, st.name, preamble=pre)
                else:
                    if "dyn_gauss" in st.body:
                        raise NotImplementedError(
                            f"program {program.name!r}: a reduction over noise draws of the "
                            "same pass does not run on CuPy yet (its ReductionKernel has no "
                            "coordinate index); reduce in a later pass or use NumPy/Numba")
                    post = ("y = a / (" + tname + ")(_in_ind.size() / _out_ind.size())"
                            if st.reduce_op == "mean" else "y = a")
                    self.kernels[st.name] = cupy.ReductionKernel(
                        ins, f"{tname} y", st.body, st.reduce_expr, post, st.identity, st.name,
                        preamble=pre)

    def shape(self, x):
        return tuple(x.shape)

    def param(self, value, batch):
        arr = np.asarray(value) if not isinstance(value, self.cp.ndarray) else value
        if arr.ndim == 0:
            return float(arr)
        return self.cp.asarray(arr, dtype=self.dtype).reshape(batch, 1)

    def state(self, value, cls, batch, n):
        if np.isscalar(value):
            return float(value)
        return self.cp.asarray(value, dtype=self.dtype)

    def launch(self, step, ins, batch, n):
        kern = self.kernels[step.name]
        if step.kind == "map":
            shape = (batch, n) if step.domain == "vec" else (batch, 1)
            outs = [self.cp.empty(shape, dtype=self.dtype) for _ in step.outputs]
            extra = (np.int64(n),) if step.name in self.with_n else ()
            kern(*ins, *extra, *outs)
            return outs
        return [kern(*ins, axis=1, keepdims=True)]

    def to_host(self, value):
        return self.cp.asnumpy(value) if isinstance(value, self.cp.ndarray) else value

    def from_host(self, value):
        return self.cp.asarray(value, dtype=self.dtype)


class CupyBackend(LaunchBackend):
    """Step kernels on a CUDA GPU through CuPy (``pip install 'dynopt-physics[cupy]'``)."""

    name = "cupy"

    def __init__(self):
        try:
            import cupy
        except ImportError as exc:
            raise ImportError(INSTALL_HINT) from exc
        self._cupy = cupy
        super().__init__(lambda program, dtype: _CupyLauncher(cupy, program, dtype), cupy)

    def to_numpy(self, a):
        return self._cupy.asnumpy(a) if isinstance(a, self._cupy.ndarray) else np.asarray(a)
