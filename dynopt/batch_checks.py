"""The batched loop's per-step tests, compiled: one pass over the members instead of a
dozen NumPy operations.

A batch of many small problems (10 000 two-dimensional ones, say) spends more
time in the loop's bookkeeping than in the update: each NumPy operation over
the batch costs a few microseconds, and the tests of a step (finiteness,
the iterate's bound, the gradient norms, the best points, the divergence
bounds) take about twenty. :func:`check_positions` and :func:`record_step`
do the same work in one compiled pass each, for the common case of a step in
which every member is still running; the loop in :mod:`dynopt.loop` keeps
the NumPy code for the rest (members that stopped, a member that failed).

Both return the number of members that need a message (a non-finite value, a
bound crossed), which the loop then writes from the per-member codes.
The kernels are compiled by Numba on first use (and cached on disk); without
a working Numba, :func:`kernels` returns ``None`` and the loop uses NumPy.
"""
from __future__ import annotations

__all__ = ["kernels", "NORM_CODES", "OK", "CONVERGED", "NONFINITE", "RAN_OFF", "DIVERGED",
           "UNBOUNDED", "MAX_NORM", "ONE_NORM", "TWO_NORM"]

#: per-member codes the kernels write. ``NONFINITE``, ``RAN_OFF``/``DIVERGED`` and
#: ``UNBOUNDED`` are also the loop's statuses of a member they stop (``RAN_OFF`` comes from
#: :func:`check_positions`, ``DIVERGED`` from :func:`record_step`: one status, two causes);
#: ``CONVERGED`` is not a status (the loop's is 0) and takes effect after the step's callback.
#: The kernels read these module globals as compile-time constants.
OK, CONVERGED, NONFINITE, RAN_OFF, DIVERGED, UNBOUNDED = 0, 1, 3, 4, 4, 6

#: the gradient norms the kernels take: the largest component, the 1-norm, the 2-norm
MAX_NORM, ONE_NORM, TWO_NORM = 0, 1, 2

#: ``options['norm']`` -> the kernels' code for it
NORM_CODES = {float("inf"): MAX_NORM, 1: ONE_NORM, 2: TWO_NORM}

_KERNELS: list = []


def kernels():
    """``(check_positions, record_step)``, compiled, or ``None`` without Numba."""
    if not _KERNELS:
        try:
            _KERNELS.append(_build())
        except ImportError:
            _KERNELS.append(None)
    return _KERNELS[0]


def _build():
    import math

    import numba

    @numba.njit(cache=True, nogil=True)
    def check_positions(X, far2, squares, codes):
        """Per member ``b``: ``squares[b] = |X_b|^2``; ``codes[b]`` = ``NONFINITE`` (a
        NaN or Inf in the row), ``RAN_OFF`` (``squares[b] > far2[b]``) or ``OK``.
        Returns the number of members that are not ``OK``."""
        bad = 0
        for b in range(X.shape[0]):
            s = 0.0
            finite = True
            for j in range(X.shape[1]):
                v = X[b, j]
                if not math.isfinite(v):
                    finite = False
                s += v * v
            squares[b] = s
            if not finite:
                codes[b] = NONFINITE
                bad += 1
            elif s > far2[b]:
                codes[b] = RAN_OFF
                bad += 1
            else:
                codes[b] = OK
        return bad

    @numba.njit(cache=True, nogil=True)
    def gradient_norms(Gv, norm_code, G, gnorm):
        """``G[:] = Gv`` and each row's norm into ``gnorm`` (NaN where a row has one)."""
        n = Gv.shape[1]
        for b in range(Gv.shape[0]):
            acc = 0.0
            total = 0.0  # NaN exactly where the row has a NaN (or both infinities)
            for j in range(n):
                v = Gv[b, j]
                G[b, j] = v
                total += v
                a = abs(v)
                if norm_code == MAX_NORM:
                    acc = a if a > acc else acc
                elif norm_code == ONE_NORM:
                    acc += a
                else:
                    acc += v * v
            if total != total:
                acc = math.nan
            gnorm[b] = math.sqrt(acc) if norm_code == TWO_NORM else acc

    @numba.njit(cache=True, nogil=True)
    def record_step(X, Fv, Gv, norm_code, F, G, gnorm, best_f, best_x, best_g,
                    upper, lower, gtol, codes):
        """Take the step's values of every member: ``F, G, gnorm`` set from ``Fv, Gv``,
        the best point updated where ``Fv`` improves on it. ``codes[b]``:
        ``NONFINITE`` (objective or gradient), ``DIVERGED`` (``Fv > upper``),
        ``UNBOUNDED`` (``Fv < lower``), ``CONVERGED`` (``gnorm <= gtol``, with
        ``gtol > 0``) or ``OK``. Returns the number not ``OK``."""
        gradient_norms(Gv, norm_code, G, gnorm)
        bad = 0
        n = X.shape[1]
        inf = math.inf
        for b in range(X.shape[0]):
            f = Fv[b]
            F[b] = f
            gn = gnorm[b]
            # finite: neither NaN (x != x) nor infinite
            if not (f == f and gn == gn and abs(f) < inf and gn < inf):
                codes[b] = NONFINITE
                bad += 1
                continue
            if f < best_f[b]:
                best_f[b] = f
                for j in range(n):
                    best_x[b, j] = X[b, j]
                    best_g[b, j] = Gv[b, j]
            if f > upper[b]:
                codes[b] = DIVERGED
                bad += 1
            elif f < lower[b]:
                codes[b] = UNBOUNDED
                bad += 1
            elif gtol > 0 and gn <= gtol:
                codes[b] = CONVERGED
                bad += 1
            else:
                codes[b] = OK
        return bad

    return check_positions, record_step
