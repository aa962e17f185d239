"""Whole runs in compiled code: the adapter between ``minimize`` and a backend.

With ``backend='numba'`` and Numba-compiled callables the backend's
``run_compiled`` runs every step, the stopping tests and the recording without
returning to Python. Three conventions are accepted:

* ``fun(x) -> f`` with ``jac(x) -> g`` (both ``numba.njit``), SciPy's usual pair;
* ``fun(x) -> (f, g)`` with ``jac=True``;
* ``fun(x, grad_out) -> f`` with ``jac=True``, writing the gradient into
  ``grad_out`` (no allocation per step).

:func:`compiled_objective` turns the first two into the third with a small
compiled adapter. ``minimize`` chooses the compiled run by itself when the
callables are Numba dispatchers and the run needs nothing the compiled loop
lacks (a callback, ``maxfev``, a norm other than ``inf``, extra ``args``,
Python stages); ``options={'compiled': False}`` keeps the Python loop.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

from .loop import STATUS_MESSAGES

__all__ = ["run_compiled", "compiled_objective", "is_numba_function", "wants_compiled", "obstacle"]


def is_numba_function(fn) -> bool:
    """Whether ``fn`` is a Numba dispatcher (``numba.njit``), without importing Numba."""
    cls = type(fn)
    return cls.__module__.startswith("numba.") and hasattr(fn, "py_func")


def _positional_count(fn) -> int:
    import inspect
    try:
        params = inspect.signature(fn.py_func).parameters.values()
    except (TypeError, ValueError):
        return -1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


_ADAPTERS: dict = {}


def compiled_objective(fun, jac):
    """``fun(x, grad_out) -> f`` (a Numba function) for any of the three conventions."""
    if not is_numba_function(fun):
        raise TypeError(f"a compiled run needs fun compiled with numba.njit, got {fun!r}")
    if jac is True:
        if _positional_count(fun) == 2:
            return fun
        key = ("pair-returning", fun)
    elif is_numba_function(jac):
        key = ("separate", fun, jac)
    else:
        raise TypeError("a compiled run needs jac=True or jac compiled with numba.njit, "
                        f"got jac={jac!r}")
    if key not in _ADAPTERS:
        _ADAPTERS[key] = _make_adapter(fun, None if jac is True else jac)
    return _ADAPTERS[key]


def _make_adapter(fun, jac):
    import numba
    if jac is None:
        @numba.njit(fastmath=False)
        def objective(x, grad_out):
            f, g = fun(x)
            for i in range(x.shape[0]):
                grad_out[i] = g[i]
            return f
    else:
        @numba.njit(fastmath=False)
        def objective(x, grad_out):
            g = jac(x)
            for i in range(x.shape[0]):
                grad_out[i] = g[i]
            return fun(x)
    return objective


def obstacle(be, program, name, jac, loop, callback):
    """Why a run cannot be compiled, or ``None`` when it can."""
    if not hasattr(be, "run_compiled"):
        return f"options['compiled'] needs backend='numba', got backend={be.name!r}"
    if not (jac is True or is_numba_function(jac)):
        return ("options['compiled'] needs Numba-compiled callables: fun(x) with "
                "jac(x), fun(x) -> (f, g) with jac=True, or fun(x, grad_out) -> f with "
                f"jac=True; got jac={jac!r}")
    if callback is not None:
        return "options['compiled'] runs without Python per step: callback must be None"
    if callable(loop["norm"]) or loop["norm"] != np.inf:
        return "options['compiled'] supports only the inf-norm stopping test"
    if loop["maxfev"] is not None:
        return "options['compiled'] does not support maxfev; use maxiter"
    if not be.can_run_compiled(program):
        return f"method {name!r} has Python stages and cannot run compiled"
    return None


def wants_compiled(be, program, name, fun, jac, args, loop, callback) -> bool:
    """Whether ``minimize`` runs compiled when ``options['compiled']`` is not given:
    Numba callables, no extra ``args``, no vectorised objective, and no `obstacle`."""
    if args or loop["vectorized"] or not is_numba_function(fun):
        return False
    return obstacle(be, program, name, jac, loop, callback) is None


def run_compiled(be, program, params, name, fun, jac, X0, loop, stride, callback, batched,
                 integrator):
    reason = obstacle(be, program, name, jac, loop, callback)
    if reason is not None:
        raise ValueError(reason)
    fun = compiled_objective(fun, jac)
    runs = []
    from .backends._noise import member_keys
    from .program import uses_noise
    keys = None
    if uses_noise(program):  # the members' keys, as the Python loop draws them
        keys = member_keys(np.random.default_rng(loop["seed"]), X0.shape[0])[:, 0]
    for b in range(X0.shape[0]):
        member = {k: (float(v[b, 0]) if isinstance(v, np.ndarray) else v) for k, v in params.items()}
        compiled_loop = {**loop, "record": stride}
        if keys is not None:
            compiled_loop["noise_key"] = float(keys[b])
        runs.append(be.run_compiled(program, member, fun, X0[b].copy(), compiled_loop))
    results = [_one(r, name, be, integrator, params) for r in runs]
    if not batched:
        return results[0]
    keys = ("x", "fun", "jac", "nit", "nfev", "njev", "status", "success", "best_x", "best_fun")
    out = OptimizeResult({k: np.array([r[k] for r in results]) for k in keys})
    out.message = [r.message for r in results]
    out.update(method=name, backend=be.name, integrator=results[0].integrator,
               hyperparameters=results[0].hyperparameters,
               state={k: np.array([r.state[k] for r in results]) for k in results[0].state})
    if stride:
        out.trajectory = [r.trajectory for r in results]
    return out


def _one(r, name, be, integrator, params):
    status = int(r["status"])
    msg = STATUS_MESSAGES[status]
    if status in (3, 4):
        msg += f"; returning the best point seen (f = {float(r['best_fun']):.6g})."
    failed = status in (3, 4)
    res = OptimizeResult(
        x=np.asarray(r["best_x"] if failed else r["x"]),
        fun=float(r["best_fun"] if failed else r["fun"]), jac=np.asarray(r["jac"]),
        nit=int(r["nit"]), nfev=int(r["nfev"]), njev=int(r["nfev"]), status=status,
        success=status == 0, message=msg, best_x=np.asarray(r["best_x"]),
        best_fun=float(r["best_fun"]), method=name, backend=be.name,
        integrator=getattr(integrator, "name", integrator), hyperparameters=dict(params),
        state=dict(r.get("state") or {}))
    if r.get("trajectory") is not None:
        res.trajectory = r["trajectory"]
    return res
