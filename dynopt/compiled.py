"""Whole runs in compiled code: the adapter between ``minimize`` and a backend.

With ``backend='numba'``, ``jac=True`` and ``options={'compiled': True}``,
``fun`` is a Numba-compiled ``fun(x, grad_out) -> f`` that writes the gradient
into ``grad_out``; the backend's ``run_compiled`` then runs every step, the
stopping tests and the recording without returning to Python.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

from .loop import STATUS_MESSAGES

__all__ = ["run_compiled"]


def run_compiled(be, program, params, name, fun, jac, X0, loop, stride, callback, batched,
                 integrator):
    if not hasattr(be, "run_compiled"):
        raise ValueError(f"options['compiled'] needs backend='numba', got backend={be.name!r}")
    if jac is not True:
        raise ValueError("options['compiled'] needs jac=True and fun(x, grad_out) -> f "
                         f"compiled with Numba, got jac={jac!r}")
    if callback is not None:
        raise ValueError("options['compiled'] runs without Python per step: callback must be None")
    if callable(loop["norm"]) or loop["norm"] != np.inf:
        raise ValueError("options['compiled'] supports only the inf-norm stopping test")
    if loop["maxfev"] is not None:
        raise ValueError("options['compiled'] does not support maxfev; use maxiter")
    if not be.can_run_compiled(program):
        raise ValueError(f"method {name!r} has Python stages and cannot run compiled")
    runs = []
    for b in range(X0.shape[0]):
        member = {k: (float(v[b, 0]) if isinstance(v, np.ndarray) else v) for k, v in params.items()}
        compiled_loop = {**loop, "record": stride}
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
