"""The Numba backend: fused, parallel kernels generated from the step program.

Each part of the program (the stages before and after the gradient
evaluation) is scheduled into passes over the coordinates
(:mod:`~dynopt.backends._schedule`): one ``numba.prange`` loop per run of
elementwise assignments, with the reductions whose operands are computed in
that loop fused into it, and scalar code between the loops. The kernels are
``numba.njit(parallel=True, fastmath=False, cache=True)``; the batch axis is an
outer loop over the members, the coordinates of a member are split among the
threads. Each kernel has a serial twin (the same code with ``range``), used for
members with fewer than ``parallel_threshold`` coordinates.
``Kernels.source`` is the generated module.

The generated source is a real file in the cache directory
(``$DYNOPT_CACHE_DIR`` or ``~/.cache/dynopt/numba``), named by
:func:`~dynopt.backends.codegen.program_key`, so Numba's on-disk cache serves
a second process without compiling again (see :mod:`._module_cache`).

Kernels update the state arrays in place (the NumPy reference replaces them);
``init`` and ``energies``, which run once per run or per recorded step, are
the NumPy reference's. Custom stages split a part into compiled segments with
the Python function called between them.

:meth:`NumbaBackend.run_compiled` runs a whole minimisation in one compiled
function when the objective is itself a Numba function.
"""
from __future__ import annotations

import hashlib
import inspect
import os

try:
    import numba  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in the tests
    raise ImportError(
        "the 'numba' backend needs Numba, a dependency of dynopt-physics that is not "
        "importable here: pip install numba (or reinstall: pip install dynopt-physics)"
    ) from exc
import numpy

from ..program import Custom, StepProgram
# coordinates below which a single run steps with the NumPy single-member kernels (defined
# with the step protocol, where the warm starts read it without importing Numba)
from ..stepper import SMALL_THRESHOLD
from ._module_cache import cache_dir as _cache_dir
from ._module_cache import load_generated_module
from ._numba_run import run_layout, run_module_source
from ._numba_source import step_module_source
from .base import Backend, Kernels
from .codegen import program_key
from .numpy_backend import NumpyBackend

__all__ = ["NumbaBackend", "CODEGEN_VERSION"]

#: bump when the generated code changes, so that stale cached modules are not reused
CODEGEN_VERSION = "numba-3"


#: coordinates per member from which the parallel (prange) kernels run
PARALLEL_THRESHOLD = 2**18


def _generator_hash() -> str:
    """A hash of the code generators' own source: editing them invalidates the cache."""
    from . import _numba_run, _numba_source, _numba_support, _scalar_math, _schedule, codegen
    h = hashlib.sha256()
    for mod in (_numba_run, _numba_source, _numba_support, _scalar_math, _schedule, codegen):
        with open(mod.__file__, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


_GENERATOR = _generator_hash()


def _has_custom(program: StepProgram) -> bool:
    return any(isinstance(st, Custom) for st in program.stages)


class NumbaBackend(Backend):
    """Compiles step programs to parallel Numba kernels.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Where generated modules (and Numba's cache beside them) are kept;
        default ``$DYNOPT_CACHE_DIR`` or ``~/.cache/dynopt/numba``.
    parallel : bool
        ``True`` (default): members with at least ``parallel_threshold``
        coordinates run the ``prange`` kernels, split among Numba's threads.
        ``False``: serial kernels only.
    parallel_threshold : int
        Coordinates per member from which the parallel kernels are used
        (default :data:`PARALLEL_THRESHOLD`, 262144) when Numba has more than one
        thread (``numba.set_num_threads`` and ``NUMBA_NUM_THREADS`` are read on
        every call: one thread means the serial kernels). Below it, starting the
        threads of a parallel loop (microseconds, and on a loaded machine the wait
        for every thread to be scheduled, which made a FANoS step at 10^5
        coordinates ten times slower than NumPy's) costs more than the loop. The serial and parallel
        kernels are the same code with ``range`` for ``prange``; each compiles
        on its first use (a parallel kernel takes about three times longer).
    small_threshold : int
        A run of one member with fewer coordinates than this steps with the
        NumPy backend's single-member kernels (:data:`SMALL_THRESHOLD` by
        default; ``0``: always the Numba kernels). Below it the fixed cost of a
        call into compiled code, with a dozen array arguments to check, exceeds
        the NumPy operations of a whole step; the results agree to round-off.
    """

    name = "numba"
    _cache: dict = {}

    def __init__(self, cache_dir=None, parallel=True, parallel_threshold=None,
                 small_threshold=None):
        if not isinstance(parallel, bool):
            raise TypeError(f"parallel must be True or False, got {parallel!r}")
        self.cache_dir = cache_dir
        self.parallel = parallel
        self.parallel_threshold = _coordinates("parallel_threshold", parallel_threshold,
                                               PARALLEL_THRESHOLD)
        self.small_threshold = _coordinates("small_threshold", small_threshold, SMALL_THRESHOLD)

    @property
    def xp(self):
        return numpy

    def compile(self, program: StepProgram) -> Kernels:
        if not isinstance(program, StepProgram):
            raise TypeError(f"program must be a StepProgram, got {type(program).__name__}")
        key_parts = (CODEGEN_VERSION, _GENERATOR, numba.__version__,
                     f"parallel>={self.parallel_threshold}" if self.parallel else "serial")
        key = program_key(program, self.name, *key_parts)
        memo = (key, str(self.cache_dir))
        if memo in self._cache:
            return self._cache[memo]
        if _has_custom(program):
            # the key holds the functions' identities, which change between
            # processes: the file is named by its source
            source, customs = step_module_source(program, key, self.parallel,
                                                 self.parallel_threshold)
            file_key = hashlib.sha256(source.encode()).hexdigest()[:16]
            module, source = load_generated_module(source, program.name, file_key, self.cache_dir)
        else:
            customs = {}
            module, source = load_generated_module(
                None, program.name, key, self.cache_dir,
                make_source=lambda: step_module_source(program, key, self.parallel,
                                                       self.parallel_threshold)[0])
        before, after = module._make_drivers(customs)
        reference = NumpyBackend().compile(program)
        kernels = Kernels(before, after, reference.init, reference.energies,
                          source=source, extras={"module": module, "key": key,
                                                 "key_parts": key_parts, "path": module.__file__})
        self._cache[memo] = kernels
        return kernels

    @property
    def directory(self):
        """The cache directory in use."""
        return _cache_dir(self.cache_dir)

    # ------------------------------------------------------------------ whole runs
    def can_run_compiled(self, program: StepProgram) -> bool:
        """Whether :meth:`run_compiled` can run ``program`` (no Custom stages)."""
        return isinstance(program, StepProgram) and not _has_custom(program)

    def run_compiled(self, program: StepProgram, params: dict, fun_and_grad_nb, x0, loop: dict) -> dict:
        """A whole run in one compiled function.

        Parameters
        ----------
        program : StepProgram
            Without Custom stages (see :meth:`can_run_compiled`).
        params : dict
            Hyperparameters, name -> number (missing ones take the program's
            defaults).
        fun_and_grad_nb : numba dispatcher
            ``fun(x, grad_out) -> f``: writes the gradient at ``x`` into
            ``grad_out`` and returns the objective, e.g.
            :func:`dynopt.problems.rosenbrock_fun_and_grad_nb`.
        x0 : array_like, shape (n,)
            Starting point; float32 runs in float32, anything else in float64.
        loop : dict
            ``maxiter`` (10000), ``gtol`` (1e-5; the test is on the inf-norm of
            the gradient, 0 runs exactly ``maxiter`` steps), ``divergence``
            (1e12 or ``None``), ``record`` (a stride, 0 or ``False`` = off,
            ``True`` = 1), ``maxfev`` (``None`` or a positive integer),
            ``noise_key`` (the key of the program's draws, see
            `dynopt.backends._noise`; 0 when not given); ``norm`` must be
            ``inf`` if given; other keys are ignored.

        Returns
        -------
        dict
            ``x`` (the last iterate), ``fun``, ``jac`` (the gradient at the
            returned point: the best one when the run failed with status 3 or
            4), ``nit``, ``nfev``, ``status`` (codes of
            :data:`dynopt.loop.STATUS_MESSAGES`), ``best_x``, ``best_fun``,
            ``state`` (name -> final value: arrays for per-coordinate entries,
            floats for scalars, as ``OptimizeResult.state`` of the Python loop)
            and ``trajectory`` (dict of arrays as the Python loop records, or
            ``None``).
        """
        self._check_compiled_inputs(program, fun_and_grad_nb)
        x = numpy.array(x0, copy=True)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"x0 must be a non-empty 1-D array, got shape {x.shape}")
        if x.dtype not in (numpy.float32, numpy.float64):
            x = x.astype(numpy.float64)
        ctl, stride = _loop_controls(loop)
        P = _scalar_params(program, params)
        module = self._run_module(program, fun_and_grad_nb)
        return _execute(module, program, P, fun_and_grad_nb, x, ctl, stride,
                        loop.get("noise_key"))

    def _check_compiled_inputs(self, program, fun_and_grad_nb) -> None:
        """A program without Custom stages and a Numba-compiled ``fun(x, grad_out)``."""
        if not isinstance(program, StepProgram):
            raise TypeError(f"program must be a StepProgram, got {type(program).__name__}")
        if not self.can_run_compiled(program):
            raise ValueError(f"program {program.name!r} has Custom (Python) stages and cannot "
                             "run compiled; use the step kernels (compiled=False)")
        if not isinstance(fun_and_grad_nb, numba.core.dispatcher.Dispatcher):
            raise TypeError("fun_and_grad_nb must be a Numba-compiled function fun(x, grad_out) "
                            f"-> f (numba.njit), got {fun_and_grad_nb!r}")

    def run_compiled_batch(self, program: StepProgram, params: dict, fun_and_grad_nb, X0,
                           loop: dict, noise_keys=None) -> dict:
        """Whole runs of a batch of members, all in two compiled calls.

        Each member runs the code of :meth:`run_compiled` (``_run_batch`` of the
        generated module calls the single run's ``_run`` on each member's rows),
        so every member's result is the one :meth:`run_compiled` gives for it
        alone; the module is looked up once per call, not once per member. The
        members are split among Numba's threads (``_run_batch_parallel``) when
        the backend is parallel, Numba has more than one thread and the whole
        run's work, members × coordinates × ``maxiter``, reaches
        ``parallel_threshold``: the threads start once for the whole run.

        Parameters
        ----------
        program, fun_and_grad_nb, loop
            As for :meth:`run_compiled`.
        params : dict
            Hyperparameters, name -> a number for every member, or an array of
            one value per member (shape ``(batch,)`` or ``(batch, 1)``).
        X0 : array_like, shape (batch, n)
            Starting points; float32 runs in float32, anything else in float64.
        noise_keys : array_like, shape (batch,), optional
            Each member's ``noise_key`` (see :meth:`run_compiled`).

        Returns
        -------
        dict
            Arrays with a leading batch axis: ``x``, ``fun``, ``jac`` (as for
            :meth:`run_compiled`), ``nit``, ``nfev``, ``status``, ``best_x``,
            ``best_fun``; ``state`` (name -> ``(batch, n)`` or ``(batch,)``
            array) and ``trajectory`` (one dict per member, or ``None``).
        """
        self._check_compiled_inputs(program, fun_and_grad_nb)
        X = numpy.array(X0, copy=True)
        if X.ndim != 2 or X.size == 0:
            raise ValueError(f"X0 must be a non-empty 2-D array (batch, n), got shape {X.shape}")
        if X.dtype not in (numpy.float32, numpy.float64):
            X = X.astype(numpy.float64)
        X = numpy.ascontiguousarray(X)
        B = X.shape[0]
        if noise_keys is not None:
            noise_keys = numpy.asarray(noise_keys, dtype=numpy.float64).reshape(-1)
            if noise_keys.shape != (B,):
                raise ValueError(f"noise_keys must hold one key per member ({B}), got shape "
                                 f"{noise_keys.shape}")
        ctl, stride = _loop_controls(loop)
        P = _batch_params(program, params, B)
        module = self._run_module(program, fun_and_grad_nb)
        work = B * X.shape[1] * max(int(ctl[0]), 1)
        threads = self.parallel and work >= self.parallel_threshold and B > 1
        batch_run = (module._run_batch_parallel if threads and numba.get_num_threads() > 1
                     else module._run_batch)
        return _execute_batch(module, batch_run, program, P, X, ctl, stride, noise_keys)

    def _run_module(self, program, fun):
        ident, cacheable = _function_identity(fun)
        key = program_key(program, "numba-run", CODEGEN_VERSION, _GENERATOR, numba.__version__,
                          ident)
        memo = ("run", key, str(self.cache_dir))
        if memo not in self._cache:
            label = f"{program.name}_run"
            if cacheable:
                module, _ = load_generated_module(
                    None, label, key, self.cache_dir, namespace={"_objective": fun},
                    make_source=lambda: run_module_source(program, key, cache=True))
            else:
                source = run_module_source(program, key, cache=False)
                file_key = hashlib.sha256(source.encode()).hexdigest()[:16]
                module, _ = load_generated_module(source, label, file_key, self.cache_dir,
                                                  namespace={"_objective": fun}, module_key=key)
            self._cache[memo] = module
        return self._cache[memo]


def _coordinates(name, value, default) -> int:
    """A count of coordinates given as ``name`` (``None``: ``default``)."""
    if value is None:
        return default
    if not isinstance(value, (int, numpy.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _function_identity(fun) -> tuple:
    """(text identifying a Numba function across processes, whether it may be cached)."""
    py = fun.py_func
    qual = getattr(py, "__qualname__", "")
    try:
        path = inspect.getfile(py)
        st = os.stat(path)
        stamp = f"{path}:{st.st_mtime_ns}:{st.st_size}"
    except (TypeError, OSError):
        return f"id{id(fun)}", False
    if "<locals>" in qual or "<lambda>" in qual:
        return f"{stamp}:{qual}:id{id(fun)}", False
    return f"{py.__module__}.{qual}@{stamp}", True


def _loop_controls(loop: dict) -> tuple:
    loop = dict(loop or {})
    maxiter = loop.get("maxiter", 10000)
    if not isinstance(maxiter, (int, numpy.integer)) or isinstance(maxiter, bool) or maxiter < 0:
        raise ValueError(f"loop['maxiter'] must be a non-negative integer, got {maxiter!r}")
    gtol = loop.get("gtol", 1e-5)
    if not isinstance(gtol, (int, float, numpy.integer, numpy.floating)) or not gtol >= 0:
        raise ValueError(f"loop['gtol'] must be a non-negative number, got {gtol!r}")
    norm = loop.get("norm", numpy.inf)
    if callable(norm) or norm != numpy.inf:
        raise ValueError(f"compiled runs test the inf-norm of the gradient; loop['norm'] must be "
                         f"inf, got {norm!r}")
    div = loop.get("divergence", 1e12)
    if div is not None and not (isinstance(div, (int, float, numpy.integer, numpy.floating))
                                and div > 0):
        raise ValueError(f"loop['divergence'] must be positive or None, got {div!r}")
    record = loop.get("record", 0)
    if record is True:
        stride = 1
    elif record is False or record is None:
        stride = 0
    elif isinstance(record, (int, numpy.integer)) and record >= 0:
        stride = int(record)
    else:
        raise ValueError(f"loop['record'] must be a stride (int >= 0) or a bool, got {record!r}")
    maxfev = loop.get("maxfev")
    if maxfev is not None and (not isinstance(maxfev, (int, numpy.integer)) or maxfev < 1):
        raise ValueError(f"loop['maxfev'] must be None or a positive integer, got {maxfev!r}")
    ctl = numpy.array([maxiter, gtol, 0.0, 0.0 if div is None else 1.0, stride,
                       0 if maxfev is None else maxfev], dtype=numpy.float64)
    ctl[2] = numpy.nan if div is None else float(div)  # replaced by the threshold once f0 is known
    return ctl, stride


def _param_arrays(program, params):
    """``(name, float64 array)`` of every hyperparameter, defaults filled in."""
    P = {**program.param_defaults(), **dict(params or {})}
    for sym in program.params:
        value = P[sym.name]
        if value is None:
            raise TypeError(f"program {program.name!r} needs the hyperparameter {sym.name!r}")
        yield sym.name, numpy.asarray(value, dtype=numpy.float64)


def _scalar_params(program, params) -> dict:
    out = {}
    for name, arr in _param_arrays(program, params):
        if arr.size != 1:
            raise ValueError(f"compiled runs take one value per hyperparameter; {name!r} "
                             f"has shape {arr.shape}")
        out[name] = float(arr.reshape(-1)[0])
    return out


def _batch_params(program, params, B) -> dict:
    """Hyperparameters of a batch: name -> a float (every member's) or a float64
    array of shape ``(B,)``."""
    out = {}
    for name, arr in _param_arrays(program, params):
        if arr.size == 1:
            out[name] = float(arr.reshape(-1)[0])
        elif arr.shape in ((B,), (B, 1)):
            out[name] = numpy.ascontiguousarray(arr.reshape(B))
        else:
            raise ValueError(f"compiled batched runs take one value per hyperparameter or one "
                             f"per member ({B}); {name!r} has shape {arr.shape}")
    return out


def _execute_batch(module, batch_run, program, P, X, ctl, stride, noise_keys) -> dict:
    """:func:`_execute` for every row of ``X``: the same arrays, with a batch axis;
    ``batch_run`` is the module's serial or parallel batch loop."""
    B, n = X.shape
    dtype = X.dtype
    layout = run_layout(program)
    G = numpy.zeros((B, n), dtype=dtype)
    F0 = numpy.empty(B)
    module._start(X, G, F0)
    init = NumpyBackend().compile(program).init
    per_member = [k for k, v in P.items() if isinstance(v, numpy.ndarray)]
    if per_member and dtype != numpy.float64:
        # a float64 array would promote the init's float32 arithmetic where a Python
        # float does not: each member's init with its own numbers, as a single run
        S = None
        for b in range(B):
            Sb = {"x": X[b:b + 1], "g": G[b:b + 1], "f": numpy.full((1, 1), F0[b], dtype=dtype),
                  "k": numpy.zeros((1, 1), dtype=dtype), "N": float(n)}
            init(Sb, {k: (float(v[b]) if k in per_member else v) for k, v in P.items()})
            if S is None:
                S = {k: (numpy.empty((B,) + numpy.shape(v)[1:], dtype=numpy.asarray(v).dtype)
                         if numpy.ndim(v) == 2 else v) for k, v in Sb.items()}
            for k, v in Sb.items():
                if numpy.ndim(v) == 2:
                    S[k][b] = v[0]
        S["x"], S["g"] = X, G
    else:
        S = {"x": X, "g": G, "f": F0.astype(dtype)[:, None], "k": numpy.zeros((B, 1), dtype=dtype),
             "N": float(n)}
        init(S, {k: (v[:, None] if k in per_member else v) for k, v in P.items()})
    if noise_keys is not None and "noise_key" in S:
        S["noise_key"] = noise_keys.astype(dtype)[:, None]
    names_v = [s.name for s in layout["vectors"]]
    names_s = [s.name for s in layout["scalars"]]
    vectors = []
    for name in names_v:
        if name not in S:
            S[name] = numpy.zeros((B, n), dtype=dtype)
        v = numpy.asarray(S[name], dtype=dtype)
        if v.shape != (B, n) or not (v.flags.c_contiguous and v.flags.writeable):
            v = numpy.array(numpy.broadcast_to(v, (B, n)), dtype=dtype)
        vectors.append(v)
    ss = numpy.zeros((B, len(names_s)), dtype=dtype)
    for j, name in enumerate(names_s):
        if name in S:
            value = numpy.asarray(S[name]).reshape(-1)
            ss[:, j] = value if value.size == B else value[0]
    par = numpy.empty((B, len(layout["params"])), dtype=numpy.float64)
    for j, s in enumerate(layout["params"]):
        par[:, j] = P[s.name]
    fk = numpy.zeros((B, 2), dtype=dtype)
    fk[:, 0] = F0
    ctl = numpy.repeat(ctl[None, :], B, axis=0)
    if ctl[0, 3] > 0.5:
        ctl[:, 2] = F0 + ctl[:, 2] * numpy.maximum(1.0, numpy.abs(F0))
    maxiter = int(ctl[0, 0])
    rows = (2 + maxiter // stride) if stride else 1
    T = B if stride else 1
    n_en, n_sc = len(layout["energies"]), len(layout["state_scalars"])
    best_x, best_g = numpy.empty((B, n), dtype=dtype), numpy.empty((B, n), dtype=dtype)
    tr_step = numpy.zeros((T, rows), dtype=numpy.int64)
    tr_x = numpy.zeros((T, rows, n) if stride else (1, 1, n), dtype=dtype)
    tr_f, tr_gn, tr_tot = (numpy.zeros((T, rows)) for _ in range(3))
    tr_en, tr_sc = numpy.zeros((T, rows, max(n_en, 1))), numpy.zeros((T, rows, max(n_sc, 1)))
    res = numpy.zeros((B, 3))
    res[:, 0] = F0
    counts = numpy.zeros((B, 4), dtype=numpy.int64)
    batch_run(*vectors, ss, par, fk, ctl, best_x, best_g, tr_step, tr_x, tr_f, tr_gn,
                      tr_en, tr_tot, tr_sc, res, counts)
    status = counts[:, 0].copy()
    failed = (status == 3) | (status == 4)
    state = {"x": vectors[0].copy(), "g": vectors[1].copy(), "f": fk[:, 0].astype(numpy.float64),
             "k": fk[:, 1].astype(numpy.float64)}
    for name, vec in zip(names_v[2:], vectors[2:]):
        state[name] = vec
    for j, name in enumerate(names_s):
        state[name] = ss[:, j].astype(numpy.float64)
    order = ["x", "g", "f", "k", *[s.name for s in program.vectors],
             *[s.name for s in program.state_scalars]]
    state = {name: state[name] for name in dict.fromkeys(order + list(state))}
    trajectories = None
    if stride:
        trajectories = []
        for b in range(B):
            m = int(counts[b, 3])
            tr = {"step": tr_step[b, :m].copy(), "x": tr_x[b, :m].copy(),
                  "fun": tr_f[b, :m].copy(), "grad_norm": tr_gn[b, :m].copy(),
                  "potential": tr_f[b, :m].copy()}
            for j, name in enumerate(layout["energies"]):
                tr[name] = tr_en[b, :m, j].copy()
            tr.setdefault("kinetic", numpy.zeros(m))
            tr["total"] = tr_tot[b, :m].copy()
            for j, s in enumerate(layout["state_scalars"]):
                tr[s.name] = tr_sc[b, :m, j].copy()
            trajectories.append(tr)
    jac = numpy.where(failed[:, None], best_g, vectors[1])
    return {"x": vectors[0].copy(), "fun": res[:, 0].copy(), "jac": jac, "nit": counts[:, 1].copy(),
            "nfev": counts[:, 2].copy(), "status": status, "best_x": best_x,
            "best_fun": res[:, 1].copy(), "state": state, "trajectory": trajectories}


def _execute(module, program, P, fun, x, ctl, stride, noise_key=None) -> dict:
    n, dtype = x.size, x.dtype
    layout = run_layout(program)
    g = numpy.zeros(n, dtype=dtype)
    f0 = float(fun(x, g))
    S = {"x": x[None, :], "g": g[None, :], "f": numpy.full((1, 1), f0, dtype=dtype),
         "k": numpy.zeros((1, 1), dtype=dtype), "N": float(n)}
    NumpyBackend().compile(program).init(S, P)
    if noise_key is not None and "noise_key" in S:
        S["noise_key"] = numpy.full((1, 1), noise_key, dtype=dtype)
    names_v = [s.name for s in layout["vectors"]]
    names_s = [s.name for s in layout["scalars"]]
    vectors = []
    for name in names_v:
        if name not in S:
            S[name] = numpy.zeros((1, n), dtype=dtype)
        S[name] = numpy.ascontiguousarray(S[name], dtype=dtype)
        vectors.append(S[name][0])
    ss = numpy.array([numpy.asarray(S[nm]).reshape(-1)[0] if nm in S else 0.0 for nm in names_s],
                     dtype=dtype)
    par = numpy.array([P[s.name] for s in layout["params"]], dtype=numpy.float64)
    fk = numpy.array([f0, 0.0], dtype=dtype)
    if ctl[3] > 0.5:
        ctl[2] = f0 + ctl[2] * max(1.0, abs(f0))
    maxiter = int(ctl[0])
    rows = (2 + maxiter // stride) if stride else 1
    n_en, n_sc = len(layout["energies"]), len(layout["state_scalars"])
    best_x, best_g = numpy.empty(n, dtype=dtype), numpy.empty(n, dtype=dtype)
    tr_step = numpy.zeros(rows, dtype=numpy.int64)
    tr_x = numpy.zeros((rows, n) if stride else (1, n), dtype=dtype)
    tr_f, tr_gn, tr_tot = (numpy.zeros(rows) for _ in range(3))
    tr_en, tr_sc = numpy.zeros((rows, max(n_en, 1))), numpy.zeros((rows, max(n_sc, 1)))
    res = numpy.array([f0, 0.0, 0.0])
    status, nit, nfev, nrec = module._run(*vectors, ss, par, fk, ctl, best_x, best_g, tr_step,
                                          tr_x, tr_f, tr_gn, tr_en, tr_tot, tr_sc, res)
    status, F, best_f = int(status), float(res[0]), float(res[1])
    failed = status in (3, 4)
    state = {"x": vectors[0].copy(), "g": vectors[1].copy(), "f": float(fk[0]),
             "k": float(fk[1])}
    for name, vec in zip(names_v[2:], vectors[2:]):
        state[name] = vec.copy()
    for j, name in enumerate(names_s):
        state[name] = float(ss[j])
    order = ["x", "g", "f", "k", *[s.name for s in program.vectors],
             *[s.name for s in program.state_scalars]]
    state = {name: state[name] for name in dict.fromkeys(order + list(state))}
    trajectory = None
    if stride:
        m = int(nrec)
        trajectory = {"step": tr_step[:m].copy(), "x": tr_x[:m].copy(), "fun": tr_f[:m].copy(),
                      "grad_norm": tr_gn[:m].copy(), "potential": tr_f[:m].copy()}
        for j, name in enumerate(layout["energies"]):
            trajectory[name] = tr_en[:m, j].copy()
        trajectory.setdefault("kinetic", numpy.zeros(m))
        trajectory["total"] = tr_tot[:m].copy()
        for j, s in enumerate(layout["state_scalars"]):
            trajectory[s.name] = tr_sc[:m, j].copy()
    return {"x": vectors[0].copy(), "fun": F, "jac": best_g.copy() if failed else vectors[1].copy(),
            "nit": int(nit), "nfev": int(nfev), "status": status, "best_x": best_x.copy(),
            "best_fun": best_f, "state": state, "trajectory": trajectory}
