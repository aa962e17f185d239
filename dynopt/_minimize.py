"""The one loop: evaluate the gradient, run the compiled step, stop, record, call back.

``minimize`` follows :func:`scipy.optimize.minimize`'s conventions and returns
a :class:`scipy.optimize.OptimizeResult`.
"""
from __future__ import annotations

import inspect

import numpy as np
from scipy.optimize import OptimizeResult

from .backends import get_backend
from .methods import METHODS, Method, check_value, get_method, system_method
from .objective import Objective
from .systems.base import System

__all__ = ["minimize", "LOOP_OPTIONS", "STATUS_MESSAGES", "build_program"]

#: options of the loop itself (everything else in ``options`` is a hyperparameter)
LOOP_OPTIONS = {
    "maxiter": 10000,
    "gtol": 1e-5,
    "norm": np.inf,
    "maxfev": None,
    "record": False,
    "divergence": 1e12,
    "dtype": None,
    "disp": False,
    "eps": None,
    "seed": None,
}

#: status code -> meaning
STATUS_MESSAGES = {
    0: "Optimization terminated successfully: the gradient norm fell below gtol.",
    1: "Maximum number of iterations has been exceeded.",
    2: "Maximum number of function evaluations has been exceeded.",
    3: "NaN or Inf met",
    4: "Diverged",
    5: "Stopped by the callback (StopIteration)",
}


def build_program(method, integrator=None, options=None):
    """Resolve ``method`` (a name, a :class:`Method` or a system object) to a program.

    Returns ``(program, params, name)`` where ``params`` are the hyperparameter
    values (defaults updated by ``options``, validated).
    """
    options = dict(options or {})
    if isinstance(method, System):
        program = system_method(method, "symplectic_euler" if integrator is None else integrator)
        spec = Method(method.name, None, integrator="symplectic_euler")
        flags = {}
        name = method.name
    else:
        spec = get_method(method)
        flags = {k: options.pop(k) for k in list(options) if k in spec.flags}
        program = spec.program(integrator, **flags)
        name = spec.name
    defaults = program.param_defaults()
    unknown = set(options) - set(defaults)
    if unknown:
        valid = sorted(set(defaults) | set(spec.flags) | set(LOOP_OPTIONS) | {"record_stride"})
        raise TypeError(f"unknown option(s) {sorted(unknown)} for method {name!r}; valid: {valid}")
    params = {**defaults, **options}
    for sym in program.params:
        value = params[sym.name]
        if value is None:
            raise TypeError(f"method {name!r} needs the hyperparameter {sym.name!r}")
        check_value(f"method {name!r}", sym, value, spec.bounds.get(sym.name))
    return program, params, name


def _check_x0(x0):
    try:
        arr = np.asarray(x0)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"x0 could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x0 must be numeric, got dtype {arr.dtype} ({x0!r:.80})")
    if arr.size == 0:
        raise ValueError(f"x0 must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("x0 contains NaN or Inf")
    if arr.ndim > 2:
        raise ValueError(f"x0 must be 1-D (n,) or a batch (batch, n), got shape {arr.shape}")
    return arr


def _wrap_callback(callback):
    """Both SciPy styles: ``callback(intermediate_result)`` and ``callback(xk)``."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    if hasattr(callback, "stop_iteration"):  # already wrapped by scipy.optimize.minimize
        return callback
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = set()
    if params == {"intermediate_result"}:
        return lambda res: callback(intermediate_result=res)
    return lambda res: callback(np.copy(res.x))


def minimize(fun, x0, args=(), method="heavy_ball", jac=None, integrator=None, backend="numpy",
             tol=None, callback=None, options=None):
    """Minimise ``fun`` by running a dynamical system.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``; with ``jac=True`` it returns ``(f, g)``.
    x0 : array_like, shape (n,)
        Starting point.
    args : tuple
        Extra arguments of ``fun`` and ``jac``.
    method : str, Method or System
        A registered name (see :data:`dynopt.methods`) or a system object, which
        then runs under ``integrator``.
    jac : callable, True, None, '2-point' or '3-point'
        The gradient. ``None`` means forward differences, costing ``n + 1``
        evaluations of ``fun`` per step ('3-point': central, ``2n + 1``).
    integrator : str or Integrator, optional
        Overrides the method's default integrator (discrete rules take none).
    backend : {'numpy', 'numba', 'cupy'}
        Where the generated step kernels run.
    tol : float, optional
        Same as ``options['gtol']``.
    callback : callable, optional
        ``callback(intermediate_result)`` with an :class:`~scipy.optimize.OptimizeResult`
        holding ``x``, ``fun``, ``jac``, ``nit``, or ``callback(xk)``. Raising
        :class:`StopIteration` ends the run with ``success=False`` (status 5).
    options : dict, optional
        Loop options — ``maxiter`` (10000), ``gtol`` (1e-5; the run stops when
        the gradient's ``norm`` (``inf`` (default), ``1``, ``2`` or a callable
        ``g -> float`` such as the largest per-atom force) is at most ``gtol``; with
        ``gtol=0`` exactly ``maxiter`` steps run), ``maxfev``, ``record``
        (``True`` or a stride: keep a trajectory), ``divergence`` (stop when
        :math:`f > f_0 + \\text{divergence}\\cdot\\max(1, |f_0|)`), ``dtype``
        (float64 or float32), ``eps`` (finite-difference step), ``seed`` (of
        the generator ``S['rng']`` that stochastic stages draw from) — and the
        method's hyperparameters (e.g. ``lr``, ``momentum``, ``dt``, ``mass``).
        An unknown name raises :class:`TypeError`.

    Returns
    -------
    OptimizeResult
        ``x, fun, jac, nit, nfev, njev, status, success, message`` and
        ``best_x, best_fun`` (the lowest objective seen), ``state`` (the
        optimiser's final state), ``hyperparameters`` and, when recorded,
        ``trajectory`` (a dict of arrays: ``step``, ``x``, ``fun``,
        ``grad_norm``, ``kinetic``, ``potential``, ``total`` and the scalar
        state such as a thermostat's ``zeta``). When a NaN/Inf is met or the run
        diverges, ``x`` is the best point seen.

    Notes
    -----
    Status codes: 0 converged, 1 ``maxiter`` reached, 2 ``maxfev`` reached,
    3 NaN/Inf met, 4 diverged, 5 stopped by the callback.
    """
    options = dict(options or {})
    loop = {name: options.pop(name, default) for name, default in LOOP_OPTIONS.items()}
    record_stride = options.pop("record_stride", None)
    if tol is not None:
        loop["gtol"] = tol
    _check_loop_options(loop)
    x0 = _check_x0(x0)
    if x0.ndim == 2:
        from .batch import minimize_batch
        return minimize_batch(fun, x0, args=args, method=method, jac=jac, integrator=integrator,
                              backend=backend, loop=loop, options=options)
    program, params, name = build_program(method, integrator, options)
    be = get_backend(backend)
    kernels = be.compile(program)
    dtype = np.dtype(loop["dtype"] or (np.float32 if x0.dtype == np.float32 else np.float64))
    objective = Objective(fun, jac, args, n=x0.size, eps=loop["eps"], dtype=dtype)
    callback = _wrap_callback(callback)
    stride = _stride(loop["record"], record_stride)
    return _run(objective, x0.astype(dtype), program, params, name, be, kernels, loop,
                callback, stride, integrator)


def _check_loop_options(loop):
    maxiter = loop["maxiter"]
    if not isinstance(maxiter, (int, np.integer)) or isinstance(maxiter, bool) or maxiter < 0:
        raise ValueError(f"options['maxiter'] must be a non-negative integer, got {maxiter!r}")
    gtol = loop["gtol"]
    if not isinstance(gtol, (int, float, np.floating, np.integer)) or not gtol >= 0:
        raise ValueError(f"options['gtol'] (or tol) must be a non-negative number, got {gtol!r}")
    mf = loop["maxfev"]
    if mf is not None and (not isinstance(mf, (int, np.integer)) or mf < 1):
        raise ValueError(f"options['maxfev'] must be a positive integer, got {mf!r}")
    if not callable(loop["norm"]) and loop["norm"] not in (np.inf, 1, 2):
        raise ValueError(f"options['norm'] must be inf, 1, 2 or a callable g -> float, "
                         f"got {loop['norm']!r}")
    if loop["dtype"] is not None and np.dtype(loop["dtype"]) not in (np.float32, np.float64):
        raise ValueError(f"options['dtype'] must be float32 or float64, got {loop['dtype']!r}")
    div = loop["divergence"]
    if div is not None and not div > 0:
        raise ValueError(f"options['divergence'] must be positive or None, got {div!r}")


def _gnorm(g, norm):
    return float(norm(g)) if callable(norm) else float(np.linalg.norm(g, ord=norm))


def _stride(record, record_stride):
    if record_stride is not None:
        if not isinstance(record_stride, (int, np.integer)) or record_stride < 1:
            raise ValueError(f"options['record_stride'] must be a positive integer, got {record_stride!r}")
        return int(record_stride) if record else 0
    if record is True:
        return 1
    if record is False or record is None or record == 0:
        return 0
    if isinstance(record, (int, np.integer)) and record > 0:
        return int(record)
    raise ValueError(f"options['record'] must be True, False or a positive stride, got {record!r}")


class _Recorder:
    def __init__(self, stride, kernels, program):
        self.stride = stride
        self.kernels = kernels
        self.scalars = [s.name for s in program.state_scalars]
        self.rows: dict = {}

    def maybe(self, step, S, P, f, gnorm, force=False):
        if not self.stride or (step % self.stride and not force):
            return
        if self.rows.get("step") and self.rows["step"][-1] == step:
            return
        energies = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in self.kernels.energies(S, P).items()}
        row = {"step": step, "x": np.array(S["x"][0]), "fun": f, "grad_norm": gnorm,
               "potential": f, **energies}
        row["kinetic"] = energies.get("kinetic", 0.0)
        row["total"] = f + sum(energies.values())
        for name in self.scalars:
            row[name] = float(np.asarray(S[name]).reshape(-1)[0])
        for key, val in row.items():
            self.rows.setdefault(key, []).append(val)

    def result(self):
        return {k: np.asarray(v) for k, v in self.rows.items()}


def _run(objective, x0, program, params, name, be, kernels, loop, callback, stride, integrator):
    xp = be.xp
    n = x0.size
    f0, g0 = objective(x0)
    P = {k: v for k, v in params.items()}
    S = {"x": xp.asarray(x0[None, :].copy()), "g": xp.asarray(g0[None, :]),
         "f": xp.asarray(np.full((1, 1), f0, dtype=x0.dtype)),
         "k": xp.asarray(np.zeros((1, 1), dtype=x0.dtype)), "N": float(n),
         "rng": np.random.default_rng(loop["seed"])}
    kernels.init(S, P)
    norm = loop["norm"]
    best_f, best_x, best_g = f0, x0.copy(), g0.copy()
    gnorm = _gnorm(g0, norm)
    rec = _Recorder(stride, kernels, program)
    threshold = None
    if loop["divergence"] is not None and np.isfinite(f0):
        threshold = f0 + loop["divergence"] * max(1.0, abs(f0))
    status, detail, nit = None, "", 0
    if not (np.isfinite(f0) and np.all(np.isfinite(g0))):
        status, detail = 3, "in the objective or gradient at x0"
    elif loop["gtol"] > 0 and gnorm <= loop["gtol"]:
        status = 0
    rec.maybe(0, S, P, f0, gnorm, force=True)
    f, g = f0, g0
    maxiter = loop["maxiter"]
    while status is None:
        if nit >= maxiter:
            status = 1
            break
        if loop["maxfev"] is not None and objective.nfev >= loop["maxfev"]:
            status = 2
            break
        S["k"][...] = nit
        kernels.before(S, P)
        x = be.to_numpy(S["x"][0])
        if not np.all(np.isfinite(x)):
            status, detail = 3, f"in the iterate at step {nit + 1}"
            nit += 1
            break
        f, g = objective(x)
        S["g"] = xp.asarray(g[None, :])
        S["f"][...] = f
        kernels.after(S, P)
        nit += 1
        finite = np.isfinite(f) and np.all(np.isfinite(g))
        if finite and f < best_f:
            best_f, best_x, best_g = f, x.copy(), g.copy()
        if not finite:
            status, detail = 3, f"in the objective or gradient at step {nit}"
            break
        if threshold is not None and f > threshold:
            status, detail = 4, (f"f = {f:.6g} exceeded f0 + divergence*max(1, |f0|) = "
                                 f"{threshold:.6g} at step {nit}")
            break
        gnorm = _gnorm(g, norm)
        rec.maybe(nit, S, P, f, gnorm)
        if callback is not None:
            inter = OptimizeResult(x=x.copy(), fun=f, jac=g.copy(), nit=nit)
            try:
                callback(inter)
            except StopIteration:
                status, detail = 5, f"at step {nit}"
                break
        if loop["gtol"] > 0 and gnorm <= loop["gtol"]:
            status = 0
    if stride and status in (0, 1, 2, 5):
        rec.maybe(nit, S, P, f, gnorm, force=True)
    message = STATUS_MESSAGES[status] + (f" {detail}" if detail else "")
    if status in (3, 4):
        message += f"; returning the best point seen (f = {best_f:.6g})."
        x_out, f_out, g_out = best_x, best_f, best_g
    else:
        x_out, f_out, g_out = be.to_numpy(S["x"][0]).copy(), f, g
        if status == 5:
            message += "."
    vectors = {sym.name for sym in program.state_vectors} | {"g"}
    state = {}
    for key, val in S.items():
        if key not in ("N", "rng"):
            arr = np.array(be.to_numpy(val))[0]
            state[key] = arr if key in vectors else arr.item()
    res = OptimizeResult(
        x=x_out, fun=float(f_out), jac=np.asarray(g_out), nit=nit, nfev=objective.nfev,
        njev=objective.njev, status=status, success=status == 0, message=message,
        best_x=best_x, best_fun=float(best_f), method=name,
        integrator=getattr(integrator, "name", integrator), backend=be.name,
        hyperparameters=dict(params), state=state)
    if stride:
        res.trajectory = rec.result()
    return res
