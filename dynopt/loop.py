"""The loop of :func:`dynopt.minimize`, for one run or a batch of independent runs.

Per step: :meth:`Stepper.before <dynopt.stepper.Stepper.before>`, one
evaluation of the objective and its gradient at the new ``x`` of every active
member, :meth:`Stepper.after <dynopt.stepper.Stepper.after>`, then the stopping
tests, the record and the callback. Members of a batch stop on their own; once
stopped, their state is frozen. The single run's loop is here; the batch's is
in :mod:`dynopt.loop_batch`.

The tests cost what they must and no more: the gradient norm is one reduction
(its value is NaN or Inf exactly when the gradient holds one, so it is also the
finiteness test), the iterate is tested with one dot product (a finer test runs
only when that is not finite), and the best point is kept by reference when the
backend's kernels write new arrays (NumPy), or copied only on the steps that
improve it (in-place kernels).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import OptimizeResult

__all__ = ["run", "STATUS_MESSAGES", "gradient_norms"]

#: status code -> meaning
STATUS_MESSAGES = {
    0: "Optimization terminated successfully: the gradient norm fell below gtol.",
    1: "Maximum number of iterations has been exceeded.",
    2: "Maximum number of function evaluations has been exceeded.",
    3: "NaN or Inf met",
    4: "Diverged",
    5: "Stopped by the callback (StopIteration)",
    6: "Unbounded below: the objective fell without bound",
}

#: statuses whose result is the best point seen rather than the last one
FAILED = (3, 4)


def gradient_norms(G, norm):
    """Norm of each row of ``G``: ``inf``, ``1``, ``2`` or a callable on one gradient."""
    if callable(norm):
        return np.array([_user_norm(norm, row) for row in G])
    if norm == np.inf:
        if G.shape[1] <= _NARROW:  # a reduction along a short axis is slow in NumPy
            out = np.abs(G[:, 0])
            for j in range(1, G.shape[1]):
                out = np.maximum(out, np.abs(G[:, j]))
            return out
        return np.max(np.abs(G), axis=1)
    if norm == 2:
        return np.sqrt(np.square(G) @ np.ones(G.shape[1], dtype=G.dtype))
    return np.abs(G) @ np.ones(G.shape[1], dtype=G.dtype)


#: rows at most this wide take their extrema column by column
_NARROW = 16


def finite_rows(X, squares=None):
    """Whether each row of ``X`` is finite: one reduction per row (row sums, or the
    squared norms when given), then the exact test only where that is not finite
    (NaN, Inf or overflow)."""
    ok = np.isfinite(X @ np.ones(X.shape[1], dtype=X.dtype) if squares is None else squares)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        ok[bad] = np.isfinite(X[bad]).all(axis=1)
    return ok


def _user_norm(norm, g):
    value = norm(g)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"options['norm'] must return a number, got {value!r}") from None


#: coordinates from which norms take the passes without temporaries
_LONG = 4096


#: coordinates up to which the inf-norm is taken over Python floats (one array call)
_SHORT = 16


def _inf_norm(g):
    """max |g_i|: for short vectors over Python floats, for long ones two reductions
    and no temporary array (NaN propagates: ``g.max()`` is NaN whenever ``g.min()``
    is). Python's ``max`` skips a NaN that is not first: the sum of the values says
    whether one is there (or an Inf, or an overflow), and then NumPy decides."""
    n = g.size
    if 0 < n <= _SHORT:
        values = g.tolist()
        if math.isfinite(sum(values)):
            return max(map(abs, values))
        return float(abs(g).max())
    if n < _LONG:
        return float(abs(g).max())
    return max(float(g.max()), -float(g.min()))


def _norm_one(norm):
    """A fast norm of one gradient vector."""
    if callable(norm):
        return lambda g: _user_norm(norm, g)
    if norm == np.inf:
        return _inf_norm
    if norm == 1:
        return lambda g: float(abs(g).sum())
    return lambda g: math.sqrt(float(np.dot(g, g)))


class Recorder:
    """Keeps every ``stride``-th step: iterate, objective, gradient norm, energies, scalars."""

    def __init__(self, stride, stepper):
        self.stride = stride
        self.stepper = stepper
        self.scalars = stepper.scalars
        self.rows: dict = {}
        self.last = None

    def add(self, step, state, F, gnorm, force=False):
        if not self.stride or self.last == step or (step % self.stride and not force):
            return
        self.last = step
        to_numpy = self.stepper.to_numpy
        F = np.asarray(F, dtype=np.float64).reshape(-1)
        gnorm = np.asarray(gnorm, dtype=np.float64).reshape(-1)
        energies = {k: np.asarray(to_numpy(v), dtype=np.float64).reshape(-1).copy()
                    for k, v in self.stepper.energies(state).items()}
        row = {"step": step, "x": np.array(to_numpy(state.x)), "fun": F.copy(),
               "grad_norm": gnorm.copy(), "potential": F.copy(), **energies}
        row.setdefault("kinetic", np.zeros_like(F))
        row["total"] = F + sum(energies.values()) if energies else F.copy()
        for name in self.scalars:
            row[name] = np.asarray(to_numpy(state[name]), dtype=np.float64).reshape(-1).copy()
        for key, val in row.items():
            self.rows.setdefault(key, []).append(val)

    def result(self, batched):
        out = {}
        for key, vals in self.rows.items():
            arr = np.asarray(vals)
            if not batched and key != "step":
                arr = arr[:, 0]
            out[key] = arr
        return out


class Outcome:
    """Per-member bookkeeping of a run: status, counts, the best point, messages."""

    def __init__(self, dtype, F, G, X0, nfev, njev, own=True):
        B = len(F)
        self.status = np.full(B, -1)
        self.detail = [""] * B
        self.nit = np.zeros(B, dtype=np.int64)
        self.nfev, self.njev = nfev, njev
        self.F, self.G = F, G
        self.best_f = F.copy()
        # ``own=False`` (a lone run): the start's arrays themselves, which the loop
        # never writes (it keeps its own buffers for the best point where it copies)
        self.best_x = np.array(X0, dtype=dtype, copy=None if not own else True)
        self.best_g = np.array(G, dtype=dtype, copy=None if not own else True)

    def stop(self, i, status, detail=""):
        self.status[i] = status
        self.detail[i] = detail


def _thresholds(F, X0, divergence):
    """Per member: the objective's upper and lower bounds and the iterate's squared bound,
    :math:`f_0 \\pm d\\max(1, |f_0|)` and :math:`(d\\max(1, \\lVert x_0\\rVert))^2`
    (``None``, ``None``, ``inf`` without a divergence test)."""
    if divergence is None:
        return None, None, np.full(len(F), np.inf)
    scale = divergence * np.maximum(1.0, np.abs(F))
    far = divergence * np.maximum(1.0, np.linalg.norm(X0, axis=1))
    with np.errstate(over="ignore"):  # inf past the float range
        far2 = far * far
    return F + scale, F - scale, far2


def _diverged(f, upper, step):
    return f"f = {f:.6g} exceeded f0 + divergence*max(1, |f0|) = {upper:.6g} at step {step}"


def _unbounded(f, lower, step):
    return f"(f = {f:.6g} < f0 - divergence*max(1, |f0|) = {lower:.6g} at step {step})"


def _ran_off(squares, far2, step):
    return (f"|x| = {math.sqrt(squares):.6g} exceeded divergence*max(1, |x0|) = "
            f"{math.sqrt(far2):.6g} at step {step}")


def run(objective, X0, stepper, params, loop, callback, stride, batched, integrator=None):
    """Run ``stepper`` from ``X0`` (shape ``(batch, n)``) and return the result.

    A run whose objective raises keeps its best point: the exception propagates
    with attributes ``best_x``, ``best_fun`` and ``nit`` (and a note saying so).
    """
    B = X0.shape[0]
    F, G, nfev, njev = objective.rows(X0)
    nfev, njev = (np.full(B, c, dtype=np.int64) if np.ndim(c) == 0 else c for c in (nfev, njev))
    lone = B == 1 and not objective.vectorized
    state = stepper.init(X0, F, G, params, seed=loop["seed"], fuse=lone,
                         constant_params=loop.get("retune") is None)
    if loop.get("initial_state"):
        from .initial_state import apply_initial_state
        apply_initial_state(stepper, state, loop["initial_state"])
    out = Outcome(stepper.dtype, F, G, X0, nfev, njev, own=not lone)
    del G  # the loop and ``out`` hold the start's gradient while they need it
    rec = Recorder(stride, stepper)
    try:
        if lone:
            _loop_one(objective, stepper, state, out, loop, callback, rec, batched)
        else:
            from .loop_batch import _loop_batch
            _loop_batch(objective, stepper, state, out, loop, callback, rec, batched)
    except BaseException as exc:
        _attach_best(exc, out, batched)
        raise
    return _result(stepper, state, out, params, integrator, rec, stride, batched)


#: what Python's float arithmetic raises where NumPy's gives Inf or NaN: the single-member
#: NumPy kernels compute their scalar stages with Python floats and ``math``
_SCALAR_ERRORS = (OverflowError, ZeroDivisionError, ValueError)


def _scalar_failure(exc, out, step) -> int:
    """Status 3 for a scalar of the step that overflowed or left its domain at ``step``
    (``math.exp`` of a large number, a division by zero, ``math.sqrt`` of a negative
    number); any other ``ValueError`` is a bug and propagates."""
    if isinstance(exc, ValueError) and "math domain error" not in str(exc):
        raise exc
    out.detail[0] = f"in a scalar of the step at step {step} ({exc})"
    return 3


def _attach_best(exc, out, batched):
    best_x = out.best_x if batched else out.best_x[0]
    best_f = out.best_f if batched else float(out.best_f[0])
    try:
        exc.best_x, exc.best_fun = np.array(best_x), best_f
        exc.nit = out.nit if batched else int(out.nit[0])
        if hasattr(exc, "add_note"):
            exc.add_note("dynopt: the best point seen before this error is on the exception "
                         "as .best_x (f = .best_fun)")
    except (AttributeError, TypeError):  # an exception type that takes no attributes
        pass


def _initial_status(out, loop, gnorm):
    finite0 = np.isfinite(out.F) & np.isfinite(gnorm)
    for i in np.flatnonzero(~finite0):
        out.stop(i, 3, "in the objective or gradient at x0")
    if loop["gtol"] > 0:
        out.status[finite0 & (gnorm <= loop["gtol"])] = 0


# ------------------------------------------------------------------ one run
def _loop_one(objective, stepper, state, out, loop, callback, rec, batched):
    """The loop for a single member, with Python scalars for the per-step tests.

    The best point is kept without copies where the arrays allow it: the
    position by reference when the kernels leave the old one untouched
    (``state.fresh_x``), or by holding its buffer when they write out of place
    (``state.fused``: the loop hands them a buffer that is neither the current
    nor the best position), and copied on improving steps otherwise. The
    gradient is kept by reference to the array the objective returned; should
    the objective return that array (or a view of its memory) again, it
    overwrote the best gradient: from then on the best gradient is copied on
    improving steps, and a run that ends on its best point with the gradient
    overwritten evaluates the gradient there once more (counted).
    """
    norm = _norm_one(loop["norm"])
    gtol, maxiter, maxfev = loop["gtol"], loop["maxiter"], loop["maxfev"]
    retune, pause = _retune_pause(loop, maxiter)
    to_numpy, fresh = stepper.to_numpy, state.fresh_x
    g = out.G[0]
    f = float(out.F[0])
    gnorm = norm(g)
    if not (math.isfinite(f) and math.isfinite(gnorm)):
        out.stop(0, 3, "in the objective or gradient at x0")
    elif 0 < gtol and gnorm <= gtol:
        out.status[0] = 0
    upper, lower, far2 = _lone_thresholds(out, loop["divergence"])
    best_f = f
    best_x, best_g = out.best_x[0], out.best_g[0]  # the start's arrays (not written)
    # from here the loop's own names hold the start's gradient, and only while it is
    # the current or the best one (``_store_lone`` sets both fields again)
    out.G = out.best_g = None
    own_x = own_g = None  # the loop's own buffers for a best point it copies
    at_start = True       # the best point is still the start
    g_ref = False     # True: best_g is the objective's own array
    g_copy = False    # True: the objective reuses its gradient array (copy the best one)
    g_stale = False   # True: the objective overwrote the best gradient
    rec.add(0, state, f, gnorm, force=True)
    status = int(out.status[0])
    step = 0
    nfev0, njev0 = objective.nfev, objective.njev
    base_fev, base_jev = int(out.nfev[0]), int(out.njev[0])
    call = objective.__call__
    dtype = stepper.dtype
    inf_norm = not callable(loop["norm"]) and loop["norm"] == np.inf
    lower_scale = _norm_bound_scale(loop["norm"], g.size, rec.stride)
    bound = False  # True: gnorm is the lower bound, not the norm
    # the hot path binds the state's kernels (NumPy and Numba arrays are host arrays)
    S, P = state.arrays, state.params
    host, fused, k_before, k_after = _host_kernels(stepper, state)
    k_arr, f_arr = S["k"], S["f"]
    if fused:  # position buffers: the current one, the next one, a third when needed
        cur, spare, third, best_buf = S["x"], S["loop_xprev"], None, None
        xx_arr = S["loop_xx"]
    isfinite = math.isfinite
    try:
        while status < 0:
            if maxfev is not None and base_fev + objective.nfev - nfev0 >= maxfev:
                status = 2
                break
            if step >= pause:
                if step >= maxiter:
                    status = 1
                    break
                dfev, djev = retune(state, step, g, base_fev + objective.nfev - nfev0,
                                    to_numpy)
                base_fev, base_jev = base_fev + dfev, base_jev + djev
                pause = min(maxiter, step + retune.every)
                continue  # the maxfev test sees the evaluations spent
            if fused:
                k_arr[0, 0] = step
                if spare is best_buf:
                    if third is None:
                        third = np.empty_like(cur)
                    spare, third = third, spare
                S["loop_xprev"], S["x"] = cur, spare
                try:
                    k_before(S, P)
                except _SCALAR_ERRORS as exc:
                    status = _scalar_failure(exc, out, step + 1)
                    break
                cur, spare = spare, cur
                xrow = cur[0]
                d = float(xx_arr[0, 0])
            else:
                if host:
                    k_arr[0, 0] = step
                    try:
                        k_before(S, P)
                    except _SCALAR_ERRORS as exc:
                        status = _scalar_failure(exc, out, step + 1)
                        break
                    xrow = S["x"][0]
                else:
                    xrow = np.asarray(to_numpy(stepper.before(state, step)))[0]
                d = xrow.dot(xrow)
            step += 1
            if not isfinite(d) and not np.isfinite(xrow).all():
                nan_g = np.full((1, xrow.size), np.nan, dtype=dtype)
                stepper.after(state, np.array([np.nan]), nan_g)
                status = 3
                out.detail[0] = f"in the iterate at step {step}"
                break
            if d > far2:
                status = 4
                out.detail[0] = _ran_off(d, far2, step)
                break
            fv, gv = call(xrow)
            if g_ref and (gv is best_g or (gv.base is not None and gv.base is best_g.base)):
                # the objective writes its gradient into the array it returned before
                g_stale, g_copy, g_ref = True, True, False
            if host:
                S["g"] = gv.reshape(1, -1)
                f_arr[0, 0] = fv
                if k_after is not None:
                    try:
                        k_after(S, P)
                    except _SCALAR_ERRORS as exc:
                        f, g, out.nit[0] = fv, gv, step
                        status = _scalar_failure(exc, out, step)
                        break
            else:
                stepper.after(state, fv, gv.reshape(1, -1))
            if lower_scale is not None:
                gnorm = math.sqrt(gv.dot(gv) * lower_scale)
                bound = isfinite(gnorm) and gnorm > gtol
                if not bound:
                    gnorm = norm(gv)
            else:
                gnorm = _inf_norm(gv) if inf_norm else norm(gv)
            f, g = fv, gv
            out.nit[0] = step
            if not (isfinite(fv) and isfinite(gnorm)):
                status = 3
                out.detail[0] = f"in the objective or gradient at step {step}"
                break
            if fv < best_f:
                best_f, at_start = fv, False
                if fresh:
                    best_x = xrow
                elif fused:
                    best_x, best_buf = xrow, cur
                else:
                    if own_x is None:
                        own_x = np.empty_like(xrow)
                    best_x = own_x
                    best_x[...] = xrow
                if g_copy:
                    if own_g is None:
                        own_g = np.empty_like(gv)
                    best_g = own_g
                    best_g[...] = gv
                    g_stale = False
                else:
                    best_g, g_ref = gv, True
            if upper is not None and fv > upper:
                status = 4
                out.detail[0] = _diverged(fv, upper, step)
                break
            if lower is not None and fv < lower:
                status = 6
                out.detail[0] = _unbounded(fv, lower, step)
                break
            if rec.stride:
                rec.add(step, state, f, gnorm)
            if callback is not None:
                inter = OptimizeResult(x=np.array(to_numpy(state.x))[0], fun=float(f),
                                       jac=np.array(g), nit=step)
                if batched:
                    inter = OptimizeResult(x=inter.x[None, :], fun=np.array([f]),
                                           jac=inter.jac[None, :], nit=step)
                try:
                    callback(inter)
                except StopIteration:
                    status = 5
                    out.detail[0] = f"at step {step}"
                    break
            if gtol > 0 and gnorm <= gtol:
                status = 0
        if g_stale and status in (3, 4):  # the run returns its best point: its gradient
            best_g = np.array(call(np.array(best_x))[1], dtype=dtype)
    finally:  # also when fun raises: the exception then carries the best point
        _store_lone(out, status, base_fev + objective.nfev - nfev0,
                    base_jev + objective.njev - njev0, f, g, best_f, best_x, best_g,
                    at_start, dtype, norm(g) if bound else gnorm)
    rec.add(step, state, out.F, out.gnorm, force=True)


def _retune_pause(loop, maxiter):
    """``(retune, pause)``: ``options['tune_every']``'s :class:`dynopt.tuning.Retuner`
    (or ``None``) and the first step at which the loop pauses for it; without it the
    pause is ``maxiter`` (the same one test per step)."""
    retune = loop.get("retune")
    return retune, (maxiter if retune is None else min(maxiter, retune.every))


def _lone_thresholds(out, divergence):
    """:func:`_thresholds` of a lone run as Python floats ``(upper, lower, far2)``
    (``upper`` and ``lower`` ``None`` without a divergence test); ``far2`` is
    compared with the dot product of ``x``. Python arithmetic: past the float range
    the bound is ``inf``, as in NumPy."""
    if divergence is None:
        return None, None, math.inf
    f0, x0 = float(out.F[0]), out.best_x[0]
    scale = divergence * max(1.0, abs(f0))
    size = math.sqrt(float(x0.dot(x0)))
    if not math.isfinite(size):  # the dot product overflowed: the scaled norm
        size = float(np.linalg.norm(x0))
    far = divergence * max(1.0, size)
    return f0 + scale, f0 - scale, far * far


def _norm_bound_scale(norm, n, stride):
    """The factor :math:`s` of the lower bound :math:`\\sqrt{s\\,g^\\top g}` of a long
    gradient's norm, or ``None`` (the norm itself every step).

    A long gradient's inf- or 1-norm is needed only near convergence: its 2-norm
    (NumPy's dot product, the fastest pass there is) bounds it from below, by
    :math:`\\lVert g\\rVert_2/\\sqrt{n}` and :math:`\\lVert g\\rVert_2`, and says
    whether ``g`` is finite. Not when the run is recorded (the record holds norms).
    """
    if callable(norm) or norm not in (np.inf, 1) or n < _LONG or stride:
        return None
    return 1.0 / n if norm == np.inf else 1.0


def _host_kernels(stepper, state):
    """``(host, fused, before, after)``: whether the state's arrays are host arrays
    (NumPy, Numba), whether its kernels write the position out of place into the
    buffer the loop hands them, and the two kernels (``after`` ``None`` when the
    program has no stage after the gradient)."""
    host = stepper.backend.name in ("numpy", "numba")
    return (host, host and state.fused, state.kernels.before,
            state.kernels.after if stepper.has_after else None)


def _store_lone(out, status, nfev, njev, f, g, best_f, best_x, best_g, at_start, dtype,
                gnorm) -> None:
    """A lone run's final values into ``out`` (also when the objective raised)."""
    out.status[0] = status
    out.nfev[0] = nfev
    out.njev[0] = njev
    out.F[0], out.G = f, np.asarray(g).reshape(1, -1)
    out.best_f[0] = best_f
    # the best point by reference to the loop's arrays; the start's own x0 is copied
    out.best_x = np.array(best_x, dtype=dtype, copy=True if at_start else None).reshape(1, -1)
    out.best_g = np.asarray(best_g, dtype=dtype).reshape(1, -1)
    out.gnorm = np.array([gnorm])


# ------------------------------------------------------------------ result
def _message(status: int, detail: str, best_f) -> str:
    """The result's message for a member that ended with ``status``."""
    msg = STATUS_MESSAGES[status] + (f" {detail}" if detail else "")
    if status in FAILED:
        msg += f"; returning the best point seen (f = {best_f:.6g})."
    elif status in (5, 6):
        msg += "."
    return msg


def _result(stepper, state, out, params, integrator, rec, stride, batched):
    statuses = out.status.tolist()
    if batched or len(statuses) > 1:
        failed = (out.status == 3) | (out.status == 4)
        X = np.array(stepper.to_numpy(state.x))
        F, G = out.F, np.array(out.G)
        X[failed], F[failed], G[failed] = out.best_x[failed], out.best_f[failed], out.best_g[failed]
    elif statuses[0] in FAILED:  # a lone run returns its best point
        X, F, G = out.best_x, out.best_f.copy(), out.best_g
    else:  # the run's own arrays: the state is not stepped again
        X, F, G = np.asarray(stepper.to_numpy(state.x)), out.F, np.asarray(out.G)
    messages = [_message(st, out.detail[i], out.best_f[i]) for i, st in enumerate(statuses)]
    hyper = {k: (np.asarray(v).reshape(-1) if isinstance(v, np.ndarray) else v)
             for k, v in params.items()}
    common = dict(method=stepper.name, integrator=getattr(integrator, "name", integrator),
                  backend=stepper.backend.name, hyperparameters=hyper,
                  state=stepper.export(state, batched, copy=False))
    if batched:
        res = OptimizeResult(x=X, fun=F, jac=G, nit=out.nit, nfev=out.nfev, njev=out.njev,
                             status=out.status, success=out.status == 0, message=messages,
                             best_x=out.best_x, best_fun=out.best_f, **common)
    else:
        res = OptimizeResult(x=X[0], fun=float(F[0]), jac=G[0], nit=int(out.nit[0]),
                             nfev=int(out.nfev[0]), njev=int(out.njev[0]), status=statuses[0],
                             success=statuses[0] == 0, message=messages[0],
                             best_x=out.best_x[0], best_fun=float(out.best_f[0]), **common)
    if stride:
        res.trajectory = rec.result(batched)
    return res
