"""Warm starts without SymPy: a built-in method's kernels and facts, recorded on disk.

The first run of a built-in method by name (with its default structure, on the
NumPy backend) derives it in SymPy and generates its kernels, as always; it also
writes a *record* to the kernel cache folder
(:func:`dynopt.backends._module_cache.cache_dir`): three generated modules, one
with the facts a run needs (the hyperparameters with their defaults and
checks, the state's layout), one with the batch kernels and one with the
single-member kernels for the hyperparameters that were zero. A later process
runs the same call from the record and never imports SymPy: a script's first
``minimize`` costs milliseconds instead of the derivation's second or so.

A record's key hashes the method's name and integrator, the path, size and
modification time of every source file of dynopt and the versions of Python,
NumPy and SymPy: an edit of the code that derives or prints a program, or
another installed version, gives a new key. The modules are
written, verified and loaded under the kernel cache's contract (private
folder, atomic writes, a SHA-256 beside each file); one that fails the check
is not run, with a :class:`~dynopt.backends._module_cache.CacheWarning`, and
the call takes the full path, which writes it again. Where the cache folder
cannot be used (another owner, open to others, no home folder), there are no
records and no warning: the runs take the full path. Everything that the
record cannot answer (another backend, a structural option, a hyperparameter
given per member, a method replaced in the registry, Custom stages) takes the
full path too.

``backend='numba'`` runs from the record too where the Numba backend would
step with the NumPy single-member kernels anyway: a lone run of fewer than
:data:`~dynopt.stepper.SMALL_THRESHOLD` coordinates in the Python loop (not
a compiled whole run). Such a run imports neither SymPy nor Numba; its
result names the Numba backend, as the full path's does. A first run of that
kind on the full path writes the record as a NumPy run does.
"""
from __future__ import annotations

import hashlib
import os
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from .stepper import SMALL_THRESHOLD, Stepper
from .value_rules import value_problem

__all__ = ["lookup", "record", "record_key", "forget", "WarmStepper"]

#: the record's layout; a change gives new keys
FORMAT = 1


def _fingerprint() -> str:
    """SHA-256 of dynopt's source files (each one's path, size and modification time)
    and of the versions they run with; computed once per process."""
    if not _FINGERPRINT:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256(f"format {FORMAT} python {sys.version}".encode())
        for name in ("numpy", "sympy"):
            try:
                h.update(f" {name} {metadata.version(name)}".encode())
            except metadata.PackageNotFoundError:
                h.update(f" {name} missing".encode())
        for rel, st in sorted(_sources(root, "")):
            h.update(f"\n{rel} {st.st_size} {st.st_mtime_ns}".encode())
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def _sources(folder: Path, prefix: str):
    """``(relative path, stat)`` of every ``.py`` file under ``folder``."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                yield from _sources(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.name.endswith(".py") and entry.is_file(follow_symlinks=False):
                yield prefix + entry.name, entry.stat(follow_symlinks=False)


_FINGERPRINT: list = []
#: (method, integrator) -> key
_KEYS: dict = {}


def record_key(method, integrator) -> str | None:
    """The record's key for ``method`` by name and ``integrator`` by name (or ``None``),
    or ``None`` where no record applies (objects, or strings that are not identifiers)."""
    if not (isinstance(method, str) and method.isidentifier()) or not (
            integrator is None or (isinstance(integrator, str) and integrator.isidentifier())):
        return None  # the record's comment line prints both: identifiers only
    key = _KEYS.get((method, integrator))
    if key is None:
        text = f"{_fingerprint()} {method!r} {integrator!r}"
        key = _KEYS[(method, integrator)] = hashlib.sha256(text.encode()).hexdigest()[:32]
    return key


def _replaced(method: str) -> bool:
    """Whether the registry holds something else than the built-in ``method`` (a
    process that never imported the registry cannot have changed it)."""
    registry = sys.modules.get("dynopt.methods")
    return registry is not None and registry.METHODS.get(method) is not registry.BUILTIN.get(
        method, registry)


def _zeros_label(zeros) -> str:
    return hashlib.sha256(" ".join(zeros).encode()).hexdigest()[:12] if zeros else "none"


# ------------------------------------------------------------------ the stepper
class WarmStepper(Stepper):
    """A :class:`~dynopt.stepper.Stepper` built from a record: the same kernels and
    state layout, without the program (``program`` is ``None``).

    It holds the single-member kernels of the zero sets loaded; the loop asks only
    for those (:func:`lookup` loads the one a run needs).
    """

    def __init__(self, facts: dict, kernels, single: dict, dtype, backend=None):
        from .backends.numpy_backend import NumpyBackend
        self.program = None
        self.backend = NumpyBackend() if backend is None else backend
        self.dtype = np.dtype(dtype)
        self.name = facts["name"]
        self.kernels = kernels
        self.xp = np
        self.to_numpy = self.backend.to_numpy
        self.vectors = tuple(facts["vectors"])
        self.scalars = tuple(facts["scalars"])
        self._writes_x = facts["writes_x"]
        self.has_after = facts["has_after"]
        self.noise = facts["noise"]
        self.draws = facts["draws"]
        self._single = dict(single)
        self._fused = None
        self._param_names = frozenset(p[0] for p in facts["params"])
        self._vector_set = frozenset(self.vectors)
        self._host = True

    def single_kernels(self, zeros=()):
        return self._single[zeros]


class SmallNumbaRuns:
    """The Numba backend as a warm stepper sees it: for lone runs of fewer than
    ``small_threshold`` coordinates, which step with the NumPy single-member
    kernels (host arrays, no Numba call), so that nothing here needs Numba."""

    name = "numba"
    small_threshold = SMALL_THRESHOLD
    xp = np

    @staticmethod
    def to_numpy(a):
        return a


# ------------------------------------------------------------------ reading
class _Missing(Exception):
    """The record (or one of its modules) is not there or failed its check."""


def _missing():
    raise _Missing


def _load(label: str, key: str, namespace: dict):
    from .backends._module_cache import load_generated_module, usable_cache_dir
    folder = usable_cache_dir()
    if folder is None:  # no usable cache folder: no record, and no warning for it
        return None, None
    try:
        module, source = load_generated_module(None, label, key, folder, namespace=namespace,
                                               make_source=_missing, numba=False)
    except _Missing:
        return None, None
    return module, source


def _facts(key: str) -> dict | None:
    module, _ = _load("warm_facts", key, {})
    if module is None:
        return None
    facts = getattr(module, "FACTS", None)
    if not isinstance(facts, dict) or facts.get("format") != FORMAT:
        return None
    return {**facts, "names": frozenset(spec[0] for spec in facts["params"])}


def _stepper(key: str, facts: dict, zeros: tuple, dtype, backend) -> WarmStepper | None:
    from .backends.base import Kernels
    from .backends.numpy_backend import ARRAY_HELPERS, SCALAR_HELPERS
    batch, batch_source = _load("warm_batch", key, ARRAY_HELPERS)
    if batch is None:
        return None
    kernels = Kernels(batch.before, batch.after, batch.init, batch.energies, source=batch_source)
    single = {}
    for z in sorted({(), zeros}):
        module, source = _load(f"warm_single_{_zeros_label(z)}", key, SCALAR_HELPERS)
        if module is None:
            return None
        single[z] = Kernels(module.before, module.after, None, None, source=source)
    return WarmStepper(facts, kernels, single, dtype,
                       SmallNumbaRuns() if backend == "numba" else None)


def _check(spec, value) -> bool:
    """Whether ``value`` is a plain number that passes the hyperparameter's rules
    (:func:`dynopt.value_rules.value_problem`, as the full path's check)."""
    _name, _default, positive, nonnegative, integer, lo, hi = spec
    return type(value) in (float, int) and value_problem(
        value, positive=positive, nonnegative=nonnegative, integer=integer,
        bounds=(lo, hi)) is None


def lookup(method, integrator, options: dict, batch: int, dtype, backend="numpy", n=None):
    """``(stepper, params, name)`` for a run from the record, or ``None`` (the full path).

    ``options`` are the hyperparameters given (the loop's own taken out). Anything
    the record cannot answer returns ``None``, so that the full path validates it
    and says what is wrong. ``backend`` is ``'numpy'``, or ``'numba'`` for a lone
    run of ``n`` coordinates (fewer than ``SMALL_THRESHOLD``) in the Python loop.
    """
    if backend == "numba" and not (batch == 1 and n is not None and n < SMALL_THRESHOLD):
        return None
    if backend not in ("numpy", "numba"):
        return None
    key = record_key(method, integrator)
    if key is None or _replaced(method):
        return None
    facts = _FACTS.get(key, False)
    if facts is False:
        facts = _FACTS[key] = _facts(key)
    if facts is None:
        return None
    specs = facts["params"]
    if any(k not in facts["names"] for k in options):
        return None
    params = {}
    for spec in specs:
        value = options.get(spec[0], spec[1])
        if value is None or not _check(spec, value):
            return None
        params[spec[0]] = value
    zeros = tuple(sorted(k for k, v in params.items() if v == 0)) if batch == 1 else ()
    dtype = np.dtype(dtype)
    stepper = _STEPPERS.get((key, zeros, dtype, backend))
    if stepper is None:
        stepper = _stepper(key, facts, zeros, dtype, backend)
        if stepper is None:
            return None
        _STEPPERS[(key, zeros, dtype, backend)] = stepper
    return stepper, params, facts["name"]


#: key -> the record's facts, or None where it is known to be missing
_FACTS: dict = {}
#: (key, zeros, dtype, backend name) -> WarmStepper
_STEPPERS: dict = {}


# ------------------------------------------------------------------ writing
def record(method, integrator, program, stepper, given: dict, params: dict,
           batch: int) -> None:
    """Write the record of a run that took the full path, where one applies: a
    built-in method by name, its default structure (``given``, the options, holds
    hyperparameters only), no Custom stages, the NumPy backend or the Numba
    backend's lone runs that step with the NumPy single-member kernels (the
    record holds NumPy kernels only)."""
    from .program import Custom
    key = record_key(method, integrator)
    names = {s.name for s in program.params}
    backend = stepper.backend.name
    if (key is None or _replaced(method) or backend not in ("numpy", "numba")
            or (backend == "numba" and batch != 1)
            or not set(given) <= names
            or any(isinstance(st, Custom) for st in program.stages)):
        return
    zeros = stepper.zero_params(params) if batch == 1 else ()
    if (key, zeros) in _WRITTEN:
        return
    from .backends._module_cache import load_generated_module, usable_cache_dir
    from .backends.numpy_source import generate_source
    from .methods import get_method
    folder = usable_cache_dir()
    if folder is None:
        return
    bounds = get_method(method).bounds
    specs = []
    for sym, default in program.params.items():
        lo, hi = bounds.get(sym.name) or (None, None)
        specs.append((sym.name, default, bool(sym.is_positive), bool(sym.is_nonnegative),
                      bool(sym.is_integer), lo, hi))
    facts = {"format": FORMAT, "name": stepper.name, "params": tuple(specs),
             "vectors": stepper.vectors, "scalars": stepper.scalars,
             "writes_x": stepper._writes_x, "has_after": stepper.has_after,
             "noise": stepper.noise, "draws": stepper.draws}
    try:
        text = (f"# generated by dynopt: the warm-start record of method {method!r} "
                f"(integrator {integrator!r})\nFACTS = {_literal(facts)}\n")
    except (TypeError, ValueError):  # a default that is not a plain number: no record
        return
    load_generated_module(text, "warm_facts", key, folder, numba=False)
    batch_source = stepper.kernels.source if backend == "numpy" else None
    load_generated_module(batch_source or generate_source(program), "warm_batch",
                          key, folder, namespace=_namespace("ARRAY_HELPERS"), numba=False)
    for z in sorted({(), zeros}):
        single = stepper.single_kernels(z)
        load_generated_module(single.source, f"warm_single_{_zeros_label(z)}", key, folder,
                              namespace=_namespace("SCALAR_HELPERS"), numba=False)
    _WRITTEN.add((key, zeros))
    _FACTS.pop(key, None)


_WRITTEN: set = set()


def forget() -> None:
    """Forget the records read and written in this process (the files are kept)."""
    _FACTS.clear()
    _STEPPERS.clear()
    _WRITTEN.clear()


def _namespace(name: str) -> dict:
    from .backends import numpy_backend
    return getattr(numpy_backend, name)


def _literal(value) -> str:
    """Python source of ``value``: numbers, booleans, ``None``, strings that are
    identifiers, and tuples and dicts of those (nothing else is printed)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValueError(f"a record holds finite numbers, got {value!r}")
        return repr(float(value))
    if isinstance(value, str):
        if not value.isidentifier():
            raise ValueError(f"a record holds identifiers, got {value!r}")
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + "".join(_literal(v) + ", " for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"a record holds numbers, names, tuples and dicts, got {type(value)}")
