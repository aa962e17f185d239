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
bound crossed), which the loop then writes from the per-member codes; the codes
are written when that number is not zero (a step in which every member is ``OK``
leaves them as they were, and the loop reads them only after a flagged step).
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


def norms():
    """The compiled ``gradient_norms(Gv, norm_code, G, gnorm)`` of :func:`kernels`
    (``G[:] = Gv`` and each row's norm into ``gnorm``), or ``None`` without Numba."""
    return None if kernels() is None else _NORMS[0]


_NORMS: list = []


def _build():
    """Compile the kernels (``ImportError`` without Numba).

    Each kernel is built by a function of its own, which takes the decorator and the
    compiled kernels it calls (Numba freezes them into the caller).
    """
    import numba

    jit = numba.njit(cache=True, nogil=True)
    gradient_norms = _gradient_norms_kernel(jit)
    finite_norms = _finite_norms_kernel(jit)
    keep_best = _keep_best_kernel(jit)
    record_members = _record_members_kernel(jit, gradient_norms)
    record_step = _record_step_kernel(jit, finite_norms, record_members, keep_best)
    _NORMS.append(gradient_norms)
    return _check_positions_kernel(jit), record_step


def _check_positions_kernel(jit):
    import math

    @jit
    def check_positions(X, far2, squares, codes):
        """Per member ``b``: ``squares[b] = |X_b|^2``; ``codes[b]`` = ``NONFINITE`` (a
        NaN or Inf in the row), ``RAN_OFF`` (``squares[b] > far2[b]``) or ``OK``.
        Returns the number of members that are not ``OK`` (``codes`` is written only
        when that is not zero).

        The squares are summed column by column (the same order of additions as a
        row's own loop, so the same numbers), which keeps the passes long; a row
        whose square is not below ``far2`` and finite is then tested element by
        element (NaN and Inf make the square NaN or Inf, and so does an overflow of
        finite coordinates, which is no NaN but may cross the bound)."""
        B, n = X.shape
        inf = math.inf
        for b in range(B):
            v = X[b, 0]
            squares[b] = v * v
        for j in range(1, n):
            for b in range(B):
                v = X[b, j]
                squares[b] += v * v
        bad = 0
        for b in range(B):
            s = squares[b]
            bad += not (s < inf and s <= far2[b])
        if bad == 0:
            return 0
        bad = 0
        for b in range(B):
            s = squares[b]
            if s < inf and s <= far2[b]:
                codes[b] = OK
                continue
            finite = True
            for j in range(n):
                if not math.isfinite(X[b, j]):
                    finite = False
            if not finite:
                codes[b] = NONFINITE
                bad += 1
            elif s > far2[b]:
                codes[b] = RAN_OFF
                bad += 1
            else:
                codes[b] = OK
        return bad

    return check_positions


def _gradient_norms_kernel(jit):
    import math

    @jit
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

    return gradient_norms


def _finite_norms_kernel(jit):
    import math

    @jit
    def finite_norms(Gv, norm_code, gnorm):
        """Each row's norm into ``gnorm`` for a finite ``Gv``, column by column: the
        additions and comparisons of :func:`gradient_norms` in its order (each row
        starts from ``0.0``), in long passes over the members."""
        B, n = Gv.shape
        for b in range(B):
            v = Gv[b, 0]
            gnorm[b] = v * v if norm_code == TWO_NORM else abs(v)
        for j in range(1, n):
            if norm_code == MAX_NORM:
                for b in range(B):
                    a, acc = abs(Gv[b, j]), gnorm[b]
                    gnorm[b] = a if a > acc else acc
            elif norm_code == ONE_NORM:
                for b in range(B):
                    gnorm[b] += abs(Gv[b, j])
            else:
                for b in range(B):
                    v = Gv[b, j]
                    gnorm[b] += v * v
        if norm_code == TWO_NORM:
            for b in range(B):
                gnorm[b] = math.sqrt(gnorm[b])

    return finite_norms


def _record_members_kernel(jit, gradient_norms):
    import math

    @jit
    def _record_members(X, Fv, Gv, norm_code, F, G, gnorm, best_f, best_x, best_g,
                        upper, lower, gtol, codes):
        """:func:`record_step` member by member: every case, every code."""
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

    return _record_members


def _keep_best_kernel(jit):
    import numpy as np

    @jit
    def keep_best(X, Fv, Gv, best_f, best_x, best_g):
        """The best points of a step in which no member is flagged: ``best_f``,
        ``best_x`` and ``best_g`` take the step's values where ``Fv`` improves on
        ``best_f``. The members that improve are listed without a branch per member
        (which of them improve is as good as random on an oscillating batch), then
        copied; the arrays are C-contiguous, copied whole when every member improved."""
        B = X.shape[0]
        improved = np.empty(B, dtype=np.int64)
        better = 0
        for b in range(B):
            f, old = Fv[b], best_f[b]
            w = f < old
            improved[better] = b
            better += w
            best_f[b] = f if w else old
        x1, g1 = X.reshape(-1), Gv.reshape(-1)
        bx1, bg1 = best_x.reshape(-1), best_g.reshape(-1)
        if better == B:
            for i in range(x1.shape[0]):
                bx1[i] = x1[i]
                bg1[i] = g1[i]
        else:
            n = X.shape[1]
            for k in range(better):
                o = improved[k] * n
                for j in range(o, o + n):
                    bx1[j] = x1[j]
                    bg1[j] = g1[j]

    return keep_best


def _record_step_kernel(jit, finite_norms, record_members, keep_best):
    import math

    @jit
    def record_step(X, Fv, Gv, norm_code, F, G, gnorm, best_f, best_x, best_g,
                    upper, lower, gtol, codes, norms):
        """Take the step's values of every member: ``F, G`` set from ``Fv, Gv``,
        ``gnorm`` their norms (with ``norms``, ``gtol > 0`` or a norm other than the
        largest component; otherwise ``gnorm`` is left as it was unless a member is
        flagged: the max-norm of a finite gradient is finite), the best point updated where ``Fv`` improves on
        it. ``codes[b]``: ``NONFINITE`` (objective or gradient), ``DIVERGED``
        (``Fv > upper``), ``UNBOUNDED`` (``Fv < lower``), ``CONVERGED`` (``gnorm <=
        gtol``, with ``gtol > 0``) or ``OK``. Returns the number not ``OK``
        (``codes`` is written only when that is not zero).

        ``X``, ``Gv``, ``G``, ``best_x`` and ``best_g`` are C-contiguous. The common
        step, in which no member is flagged, takes a few long passes (values and
        bounds; the gradient's copy and finiteness over the flat array; the norms
        column by column; the best points, copied whole when every member improved);
        a step that flags any member is taken member by member (``gnorm`` then always
        set), with the same results."""
        B = X.shape[0]
        inf = math.inf
        bad = 0
        for b in range(B):
            f = Fv[b]
            F[b] = f
            bad += not (f <= upper[b] and f >= lower[b] and abs(f) < inf)
        g1, G1 = Gv.reshape(-1), G.reshape(-1)
        for i in range(g1.shape[0]):
            v = g1[i]
            G1[i] = v
            bad += not (abs(v) < inf)
        if bad == 0 and (norms or gtol > 0 or norm_code != MAX_NORM):
            # the 1- and 2-norms of a finite gradient can overflow: that is NONFINITE
            finite_norms(Gv, norm_code, gnorm)
            for b in range(B):
                gn = gnorm[b]
                bad += not (gn < inf) or (gtol > 0 and gn <= gtol)
        if bad:
            return record_members(X, Fv, Gv, norm_code, F, G, gnorm, best_f, best_x, best_g,
                                  upper, lower, gtol, codes)
        keep_best(X, Fv, Gv, best_f, best_x, best_g)
        return 0

    return record_step
