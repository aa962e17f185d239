"""The loop of :func:`dynopt.minimize` over a batch of independent runs.

Each step takes the members still running, steps them with the batch kernels,
evaluates the objective of all of them at once (vectorised) or member by member,
and runs the stopping tests of every member in compiled passes
(:mod:`dynopt.batch_checks`): members stop on their own, and a stopped member's
state is frozen. :func:`dynopt.loop.run` calls :func:`_loop_batch`; the single run,
the records and the result are in :mod:`dynopt.loop`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import OptimizeResult

from .batch_checks import CONVERGED, DIVERGED, NONFINITE, OK, RAN_OFF, UNBOUNDED
from .loop import (_diverged, _initial_status, _ran_off, _thresholds, _unbounded, finite_rows,
                   gradient_norms)


def _take(S, rows, vectors):
    return {k: (v[rows] if k in vectors else v) for k, v in S.items()}


def _put(S, sub, rows, vectors):
    for k in vectors:
        if k in sub:
            S[k][rows] = sub[k]


def _params_for(P, rows):
    return {k: (v[rows] if getattr(v, "ndim", 0) == 2 else v) for k, v in P.items()}


def _loop_batch(objective, stepper, state, out, loop, callback, rec, batched):
    """The loop for a batch: members stop on their own, stopped ones are frozen."""
    B = state.batch
    dtype = stepper.dtype
    to_numpy = stepper.to_numpy
    norm, gtol = loop["norm"], loop["gtol"]
    maxiter, maxfev = loop["maxiter"], loop["maxfev"]
    F, G = out.F, out.G
    gnorm = gradient_norms(G, norm)
    _initial_status(out, loop, gnorm)
    upper, lower, far2 = _thresholds(F, out.best_x, loop["divergence"])
    S = state.arrays
    arrays = {k for k in S if k not in ("N", "rng")}
    status, nfev, njev, nit = out.status, out.nfev, out.njev, out.nit
    rec.add(0, state, F, gnorm, force=True)
    all_rows = np.arange(B)
    step = 0
    # the compiled tests for steps in which every member runs (None: NumPy's tests only)
    fast = _fast_tests(stepper, out, norm, gtol, rec.stride, upper, lower, far2)
    stale = None  # members whose gradient norm the compiled tests have still to take
    if fast is not None:
        (check_positions, record_step, norm_code, squares, codes, up, low, far2,
         every_norm) = fast
        if not every_norm:
            stale = np.zeros(B, dtype=bool)
        G = out.G
    running = False  # True: every member was running after the last step (no test needed)
    # counts of the steps every member ran (each member's objective once per step, the
    # counts one number), added to the per-member arrays when they are next read
    pend = [0, 0, 0]  # evaluations, gradients, the last such step
    behind = False  # the last steps left every member's norm to be taken

    def flush():
        if pend[2]:
            np.add(nfev, pend[0], out=nfev)
            np.add(njev, pend[1], out=njev)
            nit[:] = pend[2]
            pend[:] = [0, 0, 0]

    try:
        while True:
            if running and step < maxiter:
                whole, rows, idx, sub = True, slice(None), all_rows, state
            else:
                flush()
                active = status < 0
                if maxfev is not None:
                    over = active & (nfev >= maxfev)
                    status[over] = 2
                    active &= ~over
                if step >= maxiter:
                    status[active] = 1
                    break
                if not active.any():
                    break
                whole = bool(active.all())
                rows = slice(None) if whole else np.flatnonzero(active)
                idx = all_rows if whole else all_rows[rows]
                sub = state if whole else stepper.substate(state, _take(S, rows, arrays),
                                                            _params_for(state.params, rows))
            converged = None
            X = np.asarray(to_numpy(stepper.before(sub, step)))
            step += 1
            if (fast is not None and whole and X.flags.c_contiguous
                    and check_positions(X, far2, squares, codes) == 0):
                Fv, Gv, nf, nj = objective.rows(X)
                if np.ndim(nf) == 0 and np.ndim(nj) == 0:
                    pend[0] += nf
                    pend[1] += nj
                    pend[2] = step
                else:
                    flush()
                    nfev += nf
                    njev += nj
                    nit[:] = step
                stepper.after(sub, Fv, Gv)
                flagged = record_step(X, Fv, np.ascontiguousarray(Gv), norm_code, F, G, gnorm,
                                      out.best_f, out.best_x, out.best_g, up, low, gtol, codes,
                                      every_norm)
                running = not flagged and maxfev is None
                if stale is not None:
                    behind = not flagged
                    if flagged:  # a flagged step took every member's norm
                        stale[:] = False
                if flagged:
                    _stop_flagged(out, codes, all_rows, step, Fv=Fv, upper=up, lower=low)
                    converged = codes == CONVERGED
            else:
                running = False
                flush()
                if behind:
                    stale[:], behind = True, False
                updated = _step_rows(objective, stepper, state, sub, out, gnorm, X, whole, rows, idx,
                                     arrays, norm, far2, upper, lower, step, dtype)
                if stale is not None:
                    stale[updated] = False
            rec.add(step, state, F, gnorm)
            if callback is not None:
                X_all = np.array(to_numpy(S["x"]))
                inter = OptimizeResult(x=X_all if batched else X_all[0],
                                       fun=F.copy() if batched else float(F[0]),
                                       jac=G.copy() if batched else G[0].copy(), nit=step)
                try:
                    callback(inter)
                except StopIteration:
                    live = status < 0
                    for i in np.flatnonzero(live):
                        out.stop(i, 5, f"at step {step}")
                    break
            if converged is not None:
                status[(status < 0) & converged] = 0
            elif gtol > 0 and not running:
                status[(status < 0) & (gnorm <= gtol)] = 0
    finally:  # also when fun raises: the exception carries the counts (nit)
        flush()
    if behind:
        stale[:] = True
    if stale is not None and stale.any():
        _late_norms(G, gnorm, stale, fast.norm_code)
    out.gnorm = gnorm
    rec.add(step, state, F, gnorm, force=True)


class _FastTests(NamedTuple):
    """The compiled tests of :mod:`dynopt.batch_checks` and their buffers, for a batch."""

    check_positions: Any  # positions: finite, within the bound (writes squares, codes)
    record_step: Any      # values: norms, the best point, stops (writes codes)
    norm_code: int        # the norm, as NORM_CODES numbers it
    squares: np.ndarray   # (B,) squared norms of the positions
    codes: np.ndarray     # (B,) int8 stop codes
    up: np.ndarray        # (B,) upper bounds of the objective (inf: none)
    low: np.ndarray       # (B,) lower bounds (-inf: none)
    far2: np.ndarray      # (B,) squared bounds of the positions, float64, C order
    every_norm: bool      # every step's norms are needed (gtol, the record, not inf)


def _fast_tests(stepper, out, norm, gtol, stride, upper, lower, far2):
    """:class:`_FastTests` for a batch on host arrays with a built-in norm, else ``None``.

    The gradient norms of every step are needed for gtol, the record and norms
    other than inf; otherwise the compiled tests may skip them. ``out.G``,
    ``out.best_x`` and ``out.best_g`` are made C-contiguous (the kernels' flat
    passes need it).
    """
    if callable(norm) or stepper.backend.name not in ("numpy", "numba"):
        return None
    from .batch_checks import NORM_CODES, kernels
    compiled = kernels()
    if compiled is None:  # no Numba: the NumPy tests
        return None
    check_positions, record_step = compiled
    B = len(out.F)
    norm_code = NORM_CODES[norm]
    up = np.full(B, np.inf) if upper is None else np.ascontiguousarray(upper, np.float64)
    low = np.full(B, -np.inf) if lower is None else np.ascontiguousarray(lower, np.float64)
    every_norm = bool(gtol > 0 or stride or norm_code != NORM_CODES[np.inf])
    for name in ("G", "best_x", "best_g"):
        if not getattr(out, name).flags.c_contiguous:
            setattr(out, name, np.ascontiguousarray(getattr(out, name)))
    return _FastTests(check_positions, record_step, norm_code, np.empty(B),
                      np.zeros(B, dtype=np.int8), up, low,
                      np.ascontiguousarray(far2, np.float64), every_norm)


def _late_norms(G, gnorm, stale, norm_code) -> None:
    """The gradient norms the compiled tests skipped (members ``stale``), into ``gnorm``."""
    from .batch_checks import norms
    late = np.flatnonzero(stale)
    sub_g = np.ascontiguousarray(G[late])
    taken = np.empty(len(late))
    norms()(sub_g, norm_code, np.empty_like(sub_g), taken)
    gnorm[late] = taken


def _step_rows(objective, stepper, state, sub, out, gnorm, X, whole, rows, idx, arrays, norm,
               far2, upper, lower, step, dtype):
    """The tests and bookkeeping of one batched step, in NumPy, for any set of running
    members (``rows``; ``whole``: all of them), after the stages before the gradient
    gave their positions ``X``. Returns the members whose values (and gradient norms)
    were taken: those evaluated."""
    S, F, G = state.arrays, out.F, out.G
    nfev, njev, nit = out.nfev, out.njev, out.nit
    squares = np.einsum("ij,ij->i", X, X)
    ok = finite_rows(X, squares)
    far = ok & (squares > (far2 if whole else far2[rows]))
    if far.any():  # the iterate ran off: no evaluation there
        ok &= ~far
    all_ok = bool(ok.all())
    if all_ok:
        Fv, Gv, nf, nj = objective.rows(X)
        nfev[rows] += nf
        njev[rows] += nj
    else:
        codes = np.where(far, RAN_OFF, np.where(ok, OK, NONFINITE)).astype(np.int8)
        _stop_flagged(out, codes, idx, step, squares=squares, far2=far2)
        Fv = np.full(X.shape[0], np.nan)
        Gv = np.full(X.shape, np.nan, dtype=dtype)
        if ok.any():
            Fv[ok], Gv[ok], nf, nj = objective.rows(X[ok])
            nfev[idx[ok]] += nf
            njev[idx[ok]] += nj
    stepper.after(sub, Fv, Gv)
    if not whole:
        _put(S, sub.arrays, rows, arrays)
    if callable(norm):
        gv = np.full(len(Fv), np.nan)
        gv[ok] = gradient_norms(Gv[ok], norm)
        finite = ok & np.isfinite(Fv) & finite_rows(Gv)
    else:
        gv = gradient_norms(Gv, norm)
        finite = np.isfinite(Fv) & np.isfinite(gv)
    if whole and all_ok:
        nit[:] = step
        F[:] = Fv
        G[...] = Gv
        gnorm[:] = gv
        better = finite & (Fv < out.best_f)
        if better.any():
            np.copyto(out.best_f, Fv, where=better)
            np.copyto(out.best_x, X, where=better[:, None])
            np.copyto(out.best_g, Gv, where=better[:, None])
    else:
        nit[idx[ok]] = step
        F[idx[ok]], G[idx[ok]] = Fv[ok], Gv[ok]
        gnorm[idx[ok]] = gv[ok]
        better = finite & (Fv < out.best_f[rows])
        if better.any():
            bi = idx[better]
            out.best_f[bi], out.best_x[bi], out.best_g[bi] = Fv[better], X[better], Gv[better]
    codes = None
    if not finite.all():
        codes = np.where(ok & ~finite, NONFINITE, OK).astype(np.int8)
    if upper is not None:
        up, low = (upper, lower) if whole else (upper[rows], lower[rows])
        above, below = finite & (Fv > up), finite & (Fv < low)
        if above.any() or below.any():
            if codes is None:
                codes = np.zeros(len(Fv), dtype=np.int8)
            codes[above] = DIVERGED
            codes[below & ~above] = UNBOUNDED
    if codes is not None:
        _stop_flagged(out, codes, idx, step, Fv=Fv, upper=upper, lower=lower)
    return idx[ok]


def _stop_flagged(out, codes, idx, step, Fv=None, upper=None, lower=None, squares=None,
                  far2=None):
    """Stop the members that ``codes`` flags, with their statuses and messages.

    ``codes[j]`` (a code of :mod:`dynopt.batch_checks`) is member ``idx[j]``'s. With
    ``squares`` and ``far2`` (:math:`\\lVert x\\rVert^2` of the step's positions and the
    members' squared bounds) the codes are those of the positions, before any
    evaluation (``NONFINITE`` in the iterate, ``RAN_OFF``); otherwise those of the
    step's values ``Fv`` against the members' bounds ``upper`` and ``lower``
    (``NONFINITE`` in the objective or gradient, ``DIVERGED``, ``UNBOUNDED``).
    ``OK`` and ``CONVERGED`` stop nothing here (convergence takes effect after the
    step's callback). Each code that stops a member is its status.
    """
    positions = squares is not None
    for j in np.flatnonzero(codes):
        code, i = int(codes[j]), idx[j]
        if code == NONFINITE:
            where = "iterate" if positions else "objective or gradient"
            out.stop(i, NONFINITE, f"in the {where} at step {step}")
        elif positions and code == RAN_OFF:
            out.stop(i, RAN_OFF, _ran_off(squares[j], far2[i], step))
        elif not positions and code == DIVERGED:
            out.stop(i, DIVERGED, _diverged(Fv[j], upper[i], step))
        elif not positions and code == UNBOUNDED:
            out.stop(i, UNBOUNDED, _unbounded(Fv[j], lower[i], step))
        elif code != CONVERGED:
            raise ValueError(f"unknown {'position' if positions else 'value'} code {code} "
                             f"for member {i}")
