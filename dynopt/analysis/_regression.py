r"""Least-squares primitives on a logarithmic error series :math:`y_i = \log e(t_i)`.

The building blocks of :func:`~dynopt.analysis.observed.fit_contraction`: a line fit with its
standard error, a noise level that a smooth transient does not inflate, the longest run of
windows whose slopes agree, the trimming of a run by point residuals, the oscillation troughs
and crests of an under-damped record, and the model :math:`\lvert a + bk\rvert^p r^k` of a
repeated root. The algorithm that combines them is described on the analysis page of the
documentation ("How a rate is fitted").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

def _linfit(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line ``y = a + b t``; return ``(b, a, se_b)`` (``se_b`` nan if n < 3)."""
    n = t.size
    t_mean = t.mean()
    y_mean = y.mean()
    tc = t - t_mean
    sxx = float(tc @ tc)
    b = float(tc @ (y - y_mean)) / sxx
    a = y_mean - b * t_mean
    if n < 3:
        return b, a, math.nan
    resid = y - y_mean - b * tc
    rss = float(resid @ resid)
    return b, a, math.sqrt(rss / (n - 2) / sxx)


def _constant_slope_run(t, y, *, width, slope_tol, max_windows=100):
    r"""Longest run ``[i0, i1)`` of the series over which local slopes agree; ``None`` if none.

    The test of the linear regime (stage 3 of the fit): windows of ``width`` points, their
    slopes and standard errors, eligible where the slope is significant; the run is the longest
    stretch of consecutive eligible windows of one sign whose slopes agree within
    ``slope_tol`` times the smallest plus :math:`3\sqrt2` standard errors.
    """
    n = t.size
    width = min(width, n)
    step = max(1, (n - width) // max_windows)
    starts = list(range(0, n - width + 1, step))
    if starts[-1] != n - width:
        starts.append(n - width)
    slopes = np.empty(len(starts))
    ses = np.empty(len(starts))
    for i, s0 in enumerate(starts):
        tw, yw = t[s0 : s0 + width], y[s0 : s0 + width]
        slopes[i], _, ses[i] = _linfit(tw, yw)
        if width >= 7:
            # noise level from second differences: insensitive to the smooth curvature of a
            # transient, which would otherwise inflate the residual scatter and the slack
            tc = tw - tw.mean()
            ses[i] = _robust_noise(yw) / math.sqrt(float(tc @ tc))
    eligible = (np.abs(slopes) > 3.0 * ses) & (slopes != 0.0)
    slack = 3.0 * math.sqrt(2.0)
    best, best_len = None, 0
    for i in range(len(starts)):
        if not eligible[i]:
            continue
        sign = math.copysign(1.0, slopes[i])
        lo = hi = slopes[i]
        s_max = ses[i]
        a_min = abs(slopes[i])
        for j in range(i, len(starts)):
            if not eligible[j] or math.copysign(1.0, slopes[j]) != sign:
                break
            lo, hi = min(lo, slopes[j]), max(hi, slopes[j])
            s_max, a_min = max(s_max, ses[j]), min(a_min, abs(slopes[j]))
            if hi - lo > slope_tol * a_min + slack * s_max:
                break
            length = starts[j] + width - starts[i]
            if length > best_len:
                best, best_len = (starts[i], starts[j] + width), length
    return best


def _robust_noise(y: np.ndarray) -> float:
    """Noise level of ``y`` from the median absolute deviation of its second differences."""
    d2 = np.diff(y, 2)
    return 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / math.sqrt(6.0)


def _refine_run(t, y, i0, i1, *, resid_tol, model=None):
    """Trim curved edges off (or extend) the run ``[i0, i1)`` using point residuals.

    A line is fitted to the central half of the run; the range is the contiguous block around
    the centre where a running mean of ``m`` residuals stays within
    ``z sigma / sqrt(m) + resid_tol`` (``sigma`` from :func:`_robust_noise`, ``z`` allowing for
    the number of averages tested).  The central half is always kept.  This removes the last
    few percent of slope change that the window-level tolerance admits at the edges of the run
    (tails of a transient, approach to a floor).

    ``model(t, y)``, if given, replaces the line: it returns the predictor ``t -> y`` fitted to
    the central half, or ``None`` when that half is too short for it (the run is then kept).
    """
    length = i1 - i0
    if length < 8:
        return i0, i1
    c0, c1 = i0 + length // 4, i1 - length // 4
    if model is None:
        b, a, _ = _linfit(t[c0:c1], y[c0:c1])
        predicted = a + b * t
    else:
        predictor = model(t[c0:c1], y[c0:c1])
        if predictor is None:  # the central half is too short to fit the model on
            return i0, i1
        predicted = predictor(t)
    m = max(1, min(50, length // 20))
    with np.errstate(invalid="ignore"):
        resid = np.where(np.isfinite(predicted), y - predicted, np.inf)
    smooth = np.convolve(np.where(np.isfinite(resid), resid, 1e300), np.ones(m) / m, mode="same")
    # about t.size / m independent averages are tested: allow for the largest of them
    z = 1.0 + math.sqrt(2.0 * math.log(max(t.size / m, 2.0)))
    ok = np.abs(smooth) <= z * _robust_noise(y[i0:i1]) / math.sqrt(m) + resid_tol
    ok &= np.isfinite(resid)
    j0 = c0
    while j0 > 0 and ok[j0 - 1]:
        j0 -= 1
    j1 = c1
    while j1 < t.size and ok[j1]:
        j1 += 1
    return j0, j1


@dataclass(frozen=True)
class _DoubleRootFit:
    """``y ~ intercept + slope t + power log(t - t[0] + tau)`` (see :func:`_fit_double_root`)."""

    slope: float
    intercept: float
    slope_se: float
    tau: float
    t0: float
    power: float
    rss: float
    at_bound: bool

    def predict(self, t):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.intercept + self.slope * t
                    + self.power * np.log(np.where(t - self.t0 + self.tau > 0,
                                                   t - self.t0 + self.tau, np.nan)))


#: the offset tau of the zero of a + bk before the first record, searched on a log grid from
#: this fraction of a step to this multiple of the span (beyond it a + bk is constant to within
#: 1e-4 over the records: the record cannot tell the model from a geometric one)
_TAU_MIN, _TAU_SPAN = 1e-3, 1e4


def _fit_double_root(t, y, power: float = 1.0) -> "_DoubleRootFit | None":
    r"""Least squares of :math:`\log e_k = \beta + k \ln r + p\log(k - k_0 + \tau)`.

    This is :math:`e_k = \lvert a + bk\rvert^p r^k` with the zero :math:`-a/b` of
    :math:`a + bk` at :math:`k_0 - \tau`, before the first record :math:`k_0`. For each
    :math:`\tau > 0` the model is linear in :math:`(\beta, \ln r)`; the residual sum of squares
    is profiled over :math:`\log\tau` (grid, then Brent's bounded search about the best grid
    point). ``slope_se`` is the least-squares standard error of :math:`\ln r` at the optimal
    :math:`\tau` (conditional on it: nominal).
    """
    from scipy.optimize import minimize_scalar
    if t.size < 5:
        return None
    t0 = float(t[0])
    span = max(float(t[-1] - t0), 1.0)
    lo_, hi_ = math.log(_TAU_MIN), math.log(_TAU_SPAN * span)

    def solve(log_tau):
        u = y - power * np.log(t - t0 + math.exp(log_tau))
        b, a, se = _linfit(t, u)
        r = u - a - b * t
        return float(r @ r), b, a, se

    grid = np.linspace(lo_, hi_, 90)
    vals = np.array([solve(g_)[0] for g_ in grid])
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    best = minimize_scalar(lambda g_: solve(g_)[0], bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-8})
    log_tau = float(best.x) if best.fun <= vals[i] else float(grid[i])
    rss, b, a, se = solve(log_tau)
    return _DoubleRootFit(slope=b, intercept=a, slope_se=se, tau=math.exp(log_tau), t0=t0,
                          power=power, rss=rss, at_bound=log_tau > hi_ - 0.5)


def _troughs(t, y, finite, prominence):
    """Indices of prominent dips of ``y`` after removing its least-squares trend."""
    b, a, _ = _linfit(t[finite], y[finite])
    z = y - (a + b * t)
    if not finite.all():
        # exact zeros of the record are the deepest possible dips
        z = np.where(finite, z, z[finite].min() - 5.0 * max(prominence, 1.0))
    idx, _ = find_peaks(-z, prominence=prominence)
    return idx


def _crests(y, finite, troughs):
    """One maximum of ``y`` per segment between troughs (edge segments only if interior)."""
    n = y.size
    bounds = [0, *troughs.tolist(), n - 1]
    crests = []
    for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        seg = np.arange(lo, hi + 1)
        seg = seg[finite[seg]]
        if seg.size == 0:
            continue
        c = int(seg[np.argmax(y[seg])])
        if (k == 0 and c == 0) or (k == len(bounds) - 2 and c == n - 1):
            continue  # the maximum sits on the record edge: not a crest
        if c in (lo, hi) and 0 < k < len(bounds) - 2:
            continue
        crests.append(c)
    return np.unique(np.asarray(crests, dtype=int))


def _parabolic_vertex(t, y, idx):
    """Sub-sample crest positions and heights from the parabola through each crest's neighbours.

    Crests whose neighbours are missing, non-finite or do not bracket a concave maximum keep
    their sampled position and value.
    """
    tc = t[idx].astype(float)
    yc = y[idx].astype(float)
    for n, i in enumerate(idx):
        if i == 0 or i == t.size - 1:
            continue
        ym, y0, yp = y[i - 1], y[i], y[i + 1]
        if not (np.isfinite(ym) and np.isfinite(yp)):
            continue
        d1, d2 = t[i] - t[i - 1], t[i + 1] - t[i]
        s1, s2 = (y0 - ym) / d1, (yp - y0) / d2
        curv = (s2 - s1) / (d1 + d2)
        if not curv < 0.0:
            continue
        slope = s1 + curv * d1
        shift = -slope / (2.0 * curv)
        if -d1 <= shift <= d2:
            tc[n] = t[i] + shift
            yc[n] = y0 - slope * slope / (4.0 * curv)
    return tc, yc
