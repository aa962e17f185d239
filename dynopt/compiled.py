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
    if loop.get("initial_state"):
        return "options['compiled'] starts from the method's own state: no initial_state"
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
    """The compiled whole runs of every row of ``X0``, as ``minimize``'s result.

    One call of the backend's ``run_compiled_batch`` runs the members one after
    another inside compiled code (each member's run is the single run's, with its
    own hyperparameters and, for programs that draw noise, its own key from the
    run's seed, as the Python loop derives them).
    """
    reason = obstacle(be, program, name, jac, loop, callback)
    if reason is not None:
        raise ValueError(reason)
    fun = compiled_objective(fun, jac)
    from .backends._noise import member_keys
    from .program import uses_noise
    keys = None
    if uses_noise(program):  # the members' keys, as the Python loop draws them
        keys = member_keys(np.random.default_rng(loop["seed"]), X0.shape[0])[:, 0]
    r = be.run_compiled_batch(program, params, fun, X0, {**loop, "record": stride}, keys)
    integrator = getattr(integrator, "name", integrator)
    status = r["status"]
    failed = (status == 3) | (status == 4)
    if not batched:
        return _one(r, 0, name, be, integrator, params)
    messages = [_message(int(st), r["best_fun"][b]) for b, st in enumerate(status)]
    out = OptimizeResult(
        x=np.where(failed[:, None], r["best_x"], r["x"]),
        fun=np.where(failed, r["best_fun"], r["fun"]), jac=r["jac"], nit=r["nit"],
        nfev=r["nfev"], njev=r["nfev"].copy(), status=status, success=status == 0,
        best_x=r["best_x"], best_fun=r["best_fun"])
    out.message = messages
    out.update(method=name, backend=be.name, integrator=integrator,
               hyperparameters=dict(params), state=r["state"])
    if stride:
        out.trajectory = r["trajectory"]
    return out


def _message(status, best_fun) -> str:
    msg = STATUS_MESSAGES[status]
    if status in (3, 4):
        msg += f"; returning the best point seen (f = {float(best_fun):.6g})."
    return msg


def _one(r, b, name, be, integrator, params):
    """Member ``b`` of a batch result as the result of a lone run."""
    status = int(r["status"][b])
    failed = status in (3, 4)
    res = OptimizeResult(
        x=np.asarray(r["best_x"][b] if failed else r["x"][b]),
        fun=float(r["best_fun"][b] if failed else r["fun"][b]), jac=np.asarray(r["jac"][b]),
        nit=int(r["nit"][b]), nfev=int(r["nfev"][b]), njev=int(r["nfev"][b]), status=status,
        success=status == 0, message=_message(status, r["best_fun"][b]),
        best_x=np.asarray(r["best_x"][b]), best_fun=float(r["best_fun"][b]), method=name,
        backend=be.name, integrator=integrator, hyperparameters=dict(params),
        state={k: (v[b] if v.ndim == 2 else float(v[b])) for k, v in r["state"].items()})
    if r.get("trajectory") is not None:
        res.trajectory = r["trajectory"][b]
    return res
