"""The NumPy backend: the reference. Vectorised expressions after CSE.

Generated source (:mod:`.numpy_source`) is plain Python over NumPy arrays;
``Kernels.source`` shows it. This module runs it and needs no SymPy: the
source is generated, and SymPy imported, only when a program is compiled.
"""
from __future__ import annotations

import linecache

import numpy

from . import _noise, _reductions, _scalar_math
from .base import Backend, Kernels

__all__ = ["NumpyBackend", "load_source", "SCALAR_HELPERS", "ARRAY_HELPERS"]


#: the names single-member kernels need besides ``numpy`` and ``math``
SCALAR_HELPERS = {"_fmax": _scalar_math.fmax, "_fmin": _scalar_math.fmin,
                  "_sign": _scalar_math.sign, "_standard_normal": _noise.standard_normal,
                  **_reductions.HELPERS}


def _filled(shape, value, dtype):
    """A new array of ``shape`` and ``dtype`` holding ``value`` broadcast (a number,
    a row per member, an array of the shape): the initial state."""
    out = numpy.empty(shape, dtype=dtype)
    out[...] = value
    return out


#: the names the batch kernels need besides ``numpy``
ARRAY_HELPERS = {"_standard_normal": _noise.standard_normal, "_filled": _filled}


def load_source(source: str, label: str, namespace: dict | None = None) -> dict:
    """Execute generated source, registering it so tracebacks show its lines."""
    filename = f"<dynopt-generated {label}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = dict(namespace or {})
    exec(compile(source, filename, "exec"), namespace)
    return namespace


class NumpyBackend(Backend):
    name = "numpy"
    _cache: dict = {}

    @property
    def xp(self):
        return numpy

    def compile(self, program) -> Kernels:
        from .codegen import program_key
        from .numpy_source import generate_source
        key = program_key(program, self.name)
        if key not in self._cache:
            customs: dict = {}
            source = generate_source(program, customs)
            ns = load_source(source, f"{program.name}-{key}", {**ARRAY_HELPERS, **customs})
            self._cache[key] = Kernels(ns["before"], ns["after"], ns["init"], ns["energies"],
                                       source=source)
        return self._cache[key]

    def compile_single(self, program):
        """Kernels ``(before, after)`` for a run of one member, or ``None`` when the
        program has Custom stages. The state is the batch kernels' with one row."""
        from .codegen import program_key
        from .numpy_source import generate_single_source
        key = ("single", program_key(program, self.name))
        if key not in self._cache:
            source = generate_single_source(program)
            if source is None:
                self._cache[key] = None
            else:
                ns = load_source(source, f"{program.name}-single-{key[1]}", SCALAR_HELPERS)
                self._cache[key] = Kernels(ns["before"], ns["after"], None, None, source=source)
        return self._cache[key]
