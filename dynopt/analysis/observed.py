r"""Observed convergence rates measured from recorded optimisation runs.

The analytic side of dynopt predicts, for a (system, integrator) pair on a quadratic, the
per-step contraction factor :math:`r` (the spectral radius of the linear one-step map) and the
damping regime (over-, critically or under-damped).  Yang et al. compare such analytic damping
ratios with the rates seen in actual runs [1]_.  This module provides the "observed" half of that
comparison: it fits

.. math::

    e_k \approx C\, r^{k}

to a recorded error sequence :math:`e_k \ge 0` (for instance
:math:`\lVert x_k - x^\star\rVert` or :math:`E_k - f^\star`) and reports :math:`r` together with
an uncertainty and diagnostics.  Everything operates on plain NumPy arrays, so it does not depend
on how the run was produced.

The fit proceeds in five stages.

1. **Round-off floor.**  The record is cut at the first index after which it never again exceeds
   a threshold :math:`\max(\text{floor},\ \rho\,\max_k e_k)` (:math:`\rho` = ``rel_floor``,
   default :math:`10^{-13}`).  The first non-finite value (overflow of a divergent run) also ends
   the record.
2. **Oscillation.**  Under-damped dynamics give :math:`e_k = C r^k \lvert\cos(\omega k + \varphi)
   \rvert`.  After removing a straight-line trend from :math:`\log e_k`, the deep dips of
   :math:`\log\lvert\cos\rvert` near the zeros of the cosine are located as troughs of
   topographic prominence at least ``osc_prominence`` (natural-log units).  With two or more
   regularly spaced troughs the record is treated as oscillating, and the fit uses one *crest*
   per inter-trough segment (its maximum; when the oscillation is resolved by at least six
   records per trough spacing, refined between samples by the parabola through the crest and its
   two neighbours).  The maxima of :math:`r^t\lvert\cos(\omega t+\varphi)\rvert` in continuous
   time are equally spaced by :math:`\pi/\omega` and all carry the same factor
   :math:`\lvert\cos\theta^\star\rvert` with :math:`\tan\theta^\star = \ln r / \omega`, so the
   logarithms of the crests lie on a line of slope :math:`\ln r`.  Dips of a noise floor come at
   irregular intervals (coefficient of variation of the spacings above ``max_gap_cv``) and are
   not taken for oscillation; if the crests show no trend, all records are fitted instead.
   Troughs confined to the start of the record (two modes of similar size cancelling during a
   transient, e.g. a decaying mode and a growing alternating one) are not an oscillation of
   the tail: when the smooth records after the last trough hold a linear regime spanning more
   steps than the crests' one, that tail is fitted instead.
3. **Linear regime.**  Over sliding windows of the (crest or full) series, local least-squares
   slopes :math:`b_i` of :math:`\log e` against the step are computed with standard errors
   :math:`s_i` (from the noise level estimated by the median absolute deviation of second
   differences, which a smooth transient does not inflate).  A window is *eligible* when
   :math:`\lvert b_i\rvert > 3 s_i` (a plateau or noise floor is not).  The candidate regime is
   the longest run of consecutive eligible windows with one sign whose slopes agree,
   :math:`\max b - \min b \le \tau \min\lvert b\rvert + 3\sqrt2 \max s`
   (:math:`\tau` = ``slope_tol``).  This is a test of the curvature of :math:`\log e` against
   :math:`k`: an initial transient, the approach to a floor and a sublinear decay all change the
   local slope and are excluded.  The run is accepted as a linear regime when it holds at least
   half of the series points up to its end, or when :math:`\log e` falls by at least
   ``min_decades`` decades across it.  A sublinear decay such as :math:`e_k = 1/k` has local slope
   :math:`-1/k`, so a run of nearly constant slope is a short tail spanning a small fraction of a
   decade, and the record is reported with ``linear_regime=False`` and ``rate = nan``.
4. **Fit.**  The edges of the run are refined point by point: a line is fitted to the central
   half of the run and the range is grown outwards from it while the running mean of
   :math:`m \le 50` residuals stays within :math:`z\sigma/\sqrt{m}` + ``resid_tol``, with
   :math:`z = 1 + \sqrt{2\ln(n/m)}` allowing for the :math:`n/m` averages tested.  This
   removes the few percent of slope change that the window tolerance admits at the edges.
   Ordinary least squares of :math:`\log e` against the step over the final range gives
   :math:`\ln r` and its standard error; :math:`r = \exp(\ln r)` and its standard error follows
   by the delta method.  Residuals of real records are correlated, so ``stderr`` is a nominal
   uncertainty.

5. **Repeated root.**  At a double root :math:`z` of the one-step map (critical damping:
   optimally tuned heavy ball, Nesterov's momentum at :math:`\mu`) the map has a Jordan block and
   the error is :math:`e_k = \lvert a + b k\rvert\, r^k`, not geometric: its local log-slope is
   :math:`\ln r + 1/(k + a/b)`.  The geometric fit starts where :math:`1/k` has become small
   compared with :math:`\lvert\ln r\rvert`, but over records :math:`[k_0, k_1]` a bias of about
   :math:`+\ln(k_1/k_0)/(k_1-k_0)` in :math:`\ln r` remains; recorded down to the round-off floor
   (:math:`k_1 \approx 30/\lvert\ln r\rvert`) that is some 4-5 % of :math:`1 - r`.  So the model

   .. math::

       \log e_k = \beta + k\ln r + p \log(k - k_0 + \tau), \qquad \tau > 0,

   (:math:`p = 1` for an amplitude, :math:`p = 2` for an energy, :math:`(a + bk)^2 r^{2k}`) is
   fitted as well: linear in :math:`(\beta, \ln r)` for each :math:`\tau`, the offset of the zero
   of :math:`a + bk` before the first record :math:`k_0`, and profiled over :math:`\log\tau`.
   It is used when the caller says the root is repeated (``double_root=True``: the comparison
   functions pass the flag of :meth:`~dynopt.analysis.discrete.LinearStep.repeated_root`), and
   otherwise only when, over the records of the geometric fit, its residual RMS is
   ``DOUBLE_ROOT_GAIN`` (30) times smaller than the geometric fit's (a clean double root gives a
   factor of :math:`10^3` or more; a geometric record with noise, or two well separated real
   roots after their transient, a factor near 1).  With it the range is re-chosen on the whole
   record after its last dip, trimmed by the residuals of this model as in stage 4.  On heavy
   ball at critical damping the fitted :math:`1 - r` then agrees with the analytic
   :math:`1 - \sqrt{\eta\lambda}` to about :math:`10^{-5}` relative.  Two real roots that are
   close but distinct (a momentum a relative :math:`10^{-4}` off the critical one) are neither
   geometric nor :math:`(a + bk) r^k` over the record: either fit is then off by up to a few
   percent of :math:`1 - r`.

References
----------
.. [1] L. F. Yang, R. Arora, V. Braverman, T. Zhao, "The Physical Systems Behind Optimization
   Algorithms", Advances in Neural Information Processing Systems 31 (NeurIPS 2018).
"""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

__all__ = [
    "RateFit",
    "fit_contraction",
    "fit_energy_decay",
    "order_of_convergence",
    "continuous_rate_to_per_step",
    "per_step_to_continuous",
]


@dataclass(frozen=True)
class RateFit:
    r"""Result of fitting :math:`e_k \approx C r^k` to a recorded sequence.

    Attributes
    ----------
    rate : float
        Per-step factor :math:`r` (``nan`` when no linear regime was found).  :math:`r < 1`
        contracts, :math:`r > 1` grows.
    stderr : float
        Nominal standard error of ``rate`` (delta method from ``log_rate_stderr``).
    log_rate : float
        :math:`\ln r`, the fitted slope of :math:`\log e` per step.
    log_rate_stderr : float
        Least-squares standard error of ``log_rate``.
    start, stop : int
        The fit used records ``errors[start:stop]`` (for an oscillating record: from the first to
        the last crest used).  Without a linear regime: the usable range that was examined.
    n_points : int
        Number of points in the regression (crests for an oscillating record).
    oscillating : bool
        Whether the record was treated as oscillating and the envelope fitted.
    linear_regime : bool
        Whether a regime of geometric decay or growth was found.
    converging : bool
        ``rate < 1``; without a linear regime, whether the overall trend of :math:`\log e`
        over the usable range is downward.
    period : float or None
        For an oscillating record, twice the median spacing of the troughs of :math:`e_k` in
        steps, i.e. :math:`2\pi/\omega` for :math:`e_k \propto \lvert\cos(\omega k+\varphi)
        \rvert`; ``None`` otherwise.  A rough diagnostic: sampling aliases :math:`\omega` into
        :math:`[0, \pi/2]` modulo :math:`\pi`, and shallow troughs of a fast oscillation may be
        missed, giving a multiple of the period.
    message : str
        Human-readable account of the trimming and any problem.
    double_root : bool
        Whether the fitted model is :math:`e_k \approx \lvert a + bk\rvert^p r^k` (a repeated
        root of the one-step map; :math:`p = 1` for an amplitude, 2 for an energy) rather than
        the geometric :math:`C r^k`.
    """

    rate: float
    stderr: float
    log_rate: float
    log_rate_stderr: float
    start: int
    stop: int
    n_points: int
    oscillating: bool
    linear_regime: bool
    converging: bool
    period: float | None
    message: str
    double_root: bool = False


# --------------------------------------------------------------------------------------------
# input checking
# --------------------------------------------------------------------------------------------


def _as_1d_float(values, name: str) -> np.ndarray:
    """Convert ``values`` to a 1-D float array or raise an error naming ``name``."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of real numbers, got {values!r}")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a sequence of real numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _check_positive_real(value, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    ok = value >= 0.0 if allow_zero else value > 0.0
    if not (math.isfinite(value) and ok):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return value


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# small numerical helpers
# --------------------------------------------------------------------------------------------


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
    """Longest run ``[i0, i1)`` of the series over which local slopes agree; ``None`` if none.

    See stage 3 of the module docstring.
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
    """
    length = i1 - i0
    if length < 8:
        return i0, i1
    c0, c1 = i0 + length // 4, i1 - length // 4
    if model is None:
        b, a, _ = _linfit(t[c0:c1], y[c0:c1])
        predicted = a + b * t
    else:
        predicted = model(t[c0:c1], y[c0:c1])(t)
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


#: automatic model choice: the (a + bk) r^k model is taken when its residual RMS over the
#: geometric fit's records is this many times smaller than the geometric fit's
DOUBLE_ROOT_GAIN = 30.0


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


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def fit_contraction(
    errors,
    *,
    steps=None,
    window=None,
    min_points: int = 10,
    floor: float | None = None,
    rel_floor: float = 1e-13,
    slope_tol: float = 0.1,
    min_decades: float = 2.0,
    osc_prominence: float = 1.0,
    max_gap_cv: float = 0.35,
    resid_tol: float = 1e-3,
    double_root: bool | None = None,
) -> RateFit:
    r"""Fit the per-step contraction factor :math:`r` in :math:`e_k \approx C r^k`.

    Parameters
    ----------
    errors : array_like, shape (n,)
        Recorded non-negative errors :math:`e_k`, e.g. :math:`\lVert x_k - x^\star\rVert` or
        :math:`E_k - f^\star`.  Zeros are allowed (they are skipped); a non-finite value ends the
        record (a diverged run).
    steps : array_like, shape (n,), optional
        Strictly increasing step numbers at which ``errors`` were recorded (strided records).
        Default ``arange(n)``.  ``rate`` is always per step.
    window : tuple of int, optional
        ``(start, stop)``: fit exactly the records ``errors[start:stop]`` with no automatic
        trimming of transient or floor (oscillation handling still applies).  Default: automatic.
    min_points : int, default 10
        Minimum number of usable (finite, positive, above-floor) records; fewer raises.
    floor : float, optional
        Absolute error level treated as the round-off floor.
    rel_floor : float, default 1e-13
        Floor relative to :math:`\max_k e_k`; the threshold is ``max(floor, rel_floor*max(e))``.
    slope_tol : float, default 0.1
        Relative tolerance :math:`\tau` on the agreement of local log-slopes inside the linear
        regime (see module docstring, stage 3).
    min_decades : float, default 2.0
        A constant-slope run shorter than half the record is still accepted as a linear regime
        if :math:`\log_{10} e` changes by at least this much across it.
    osc_prominence : float, default 1.0
        Minimum prominence (natural-log units) of a dip of the detrended :math:`\log e_k` to
        count as an oscillation trough.
    max_gap_cv : float, default 0.35
        With three or more troughs, the record counts as oscillating only if the coefficient of
        variation of the trough spacings is at most this (dips of a noise floor are irregular).
    resid_tol : float, default 1e-3
        Edge refinement: beyond the central half of the constant-slope run, records are kept
        while their (locally averaged) residual from the central line of :math:`\log e` stays
        within :math:`z\sigma/\sqrt{m}` plus this (see module docstring, stage 4).
    double_root : bool, optional
        The model at a repeated root of the one-step map (module docstring, stage 5):
        ``True`` fits :math:`e_k \approx \lvert a + bk\rvert\, r^k` (what
        :meth:`~dynopt.analysis.discrete.LinearStep.repeated_root` flags: optimally tuned heavy
        ball, critical damping), ``False`` the geometric :math:`C r^k` only, ``None``
        (default) chooses by comparing the two fits over the geometric fit's records.

    Returns
    -------
    RateFit
        See :class:`RateFit`.

    Raises
    ------
    ValueError
        If ``errors`` has negative entries, fewer than ``min_points`` usable records, or an
        argument is out of range.
    TypeError
        If an argument has the wrong type.

    Notes
    -----
    The algorithm, its assumptions and the behaviour at critical damping are described in the
    module docstring.
    """
    return _fit_contraction(errors, 1.0, steps=steps, window=window, min_points=min_points,
                            floor=floor, rel_floor=rel_floor, slope_tol=slope_tol,
                            min_decades=min_decades, osc_prominence=osc_prominence,
                            max_gap_cv=max_gap_cv, resid_tol=resid_tol,
                            double_root=double_root)


def _fit_contraction(errors, power, *, steps, window, min_points, floor, rel_floor, slope_tol,
                     min_decades, osc_prominence, max_gap_cv, resid_tol, double_root) -> RateFit:
    r""":func:`fit_contraction`; ``power`` is :math:`p` of the double-root model
    :math:`\lvert a + bk\rvert^p r^k` (1 for an amplitude, 2 for an energy)."""
    e = _as_1d_float(errors, "errors")
    if double_root is not None and not isinstance(double_root, (bool, np.bool_)):
        raise TypeError(f"double_root must be True, False or None, got {double_root!r}")
    min_points = _check_int(min_points, "min_points", 3)
    rel_floor = _check_positive_real(rel_floor, "rel_floor", allow_zero=True)
    if rel_floor >= 1.0:
        raise ValueError(f"rel_floor must be smaller than 1, got {rel_floor!r}")
    floor = 0.0 if floor is None else _check_positive_real(floor, "floor", allow_zero=True)
    slope_tol = _check_positive_real(slope_tol, "slope_tol")
    min_decades = _check_positive_real(min_decades, "min_decades")
    osc_prominence = _check_positive_real(osc_prominence, "osc_prominence")
    max_gap_cv = _check_positive_real(max_gap_cv, "max_gap_cv")
    resid_tol = _check_positive_real(resid_tol, "resid_tol")
    n_all = e.size

    if steps is None:
        t_all = np.arange(n_all, dtype=float)
    else:
        t_all = _as_1d_float(steps, "steps")
        if t_all.size != n_all:
            raise ValueError(
                f"steps must have the same length as errors ({n_all}), got {t_all.size}"
            )
        if not np.all(np.isfinite(t_all)) or np.any(np.diff(t_all) <= 0):
            raise ValueError("steps must be finite and strictly increasing")

    bad = np.flatnonzero(e < 0)
    if bad.size:
        raise ValueError(
            f"errors must be non-negative; errors[{bad[0]}] = {e[bad[0]]!r}"
        )
    notes = []
    nonfinite = np.flatnonzero(~np.isfinite(e))
    end = n_all
    if nonfinite.size:
        end = int(nonfinite[0])
        notes.append(f"record ends at the non-finite value errors[{end}]")

    if window is not None:
        if (
            not isinstance(window, (tuple, list))
            or len(window) != 2
            or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) for w in window)
        ):
            raise TypeError(f"window must be a (start, stop) pair of integers, got {window!r}")
        w0, w1 = int(window[0]), int(window[1])
        if not 0 <= w0 < w1 <= n_all:
            raise ValueError(f"window must satisfy 0 <= start < stop <= {n_all}, got {window!r}")
        if w1 > end:
            raise ValueError(f"window {window!r} contains the non-finite value errors[{end}]")
        lo, hi = w0, w1
    else:
        lo, hi = 0, end
        if end > 0:
            head = e[:end]
            threshold = max(floor, rel_floor * float(head.max()))
            tail_max = np.maximum.accumulate(head[::-1])[::-1]
            below = np.flatnonzero(tail_max <= threshold)
            if below.size:
                hi = int(below[0])
                notes.append(f"round-off floor {threshold:.3g} reached at record {hi}")

    t = t_all[lo:hi]
    with np.errstate(divide="ignore"):
        y = np.log(e[lo:hi])
    finite = np.isfinite(y)
    n_usable = int(finite.sum())
    if n_usable < min_points:
        raise ValueError(
            f"errors has only {n_usable} usable records (finite, positive, above the floor) "
            f"but min_points={min_points} are required"
        )

    b_all, _, _ = _linfit(t[finite], y[finite])
    trend_down = b_all < 0

    def no_regime(msg, oscillating, period):
        notes.append(msg)
        return RateFit(
            rate=math.nan, stderr=math.nan, log_rate=math.nan, log_rate_stderr=math.nan,
            start=lo, stop=hi, n_points=n_usable, oscillating=oscillating,
            linear_regime=False, converging=bool(trend_down), period=period,
            message="; ".join(notes),
        )

    # ---- oscillation: fit the crests of the envelope -------------------------------------
    troughs = _troughs(t, y, finite, osc_prominence)
    oscillating = troughs.size >= 2
    if troughs.size >= 3:
        # dynamics oscillate regularly; dips of a noisy floor come at random intervals
        gaps = np.diff(t[troughs])
        oscillating = bool(gaps.std() <= max_gap_cv * gaps.mean())
    period = None
    if oscillating:
        period = float(2.0 * np.median(np.diff(t[troughs])))
        idx = _crests(y, finite, troughs)
        few_crests = idx.size < 3
        min_width = 3
        ts, ys = t[idx], y[idx]
        if np.median(np.diff(troughs)) >= 6:
            # well-resolved oscillation: locate each crest between samples
            ts, ys = _parabolic_vertex(t, y, idx)
    else:
        idx = np.flatnonzero(finite)
        min_width = 5
        ts, ys = t[idx], y[idx]

    # ---- linear regime ----------------------------------------------------------------------
    def find_regime(ts, ys, min_width):
        m = ts.size
        if window is not None:
            return (0, m), True, "fit over the requested window"
        if m < 2 * min_width:
            b, _, se = _linfit(ts, ys)
            if not abs(b) > 3.0 * se:
                return None, False, f"the {m} points show no significant trend"
            return (0, m), True, f"only {m} points: fitted in full without a transient test"
        run = _constant_slope_run(
            ts, ys, width=max(min_width, m // 8), slope_tol=slope_tol
        )
        if run is None:
            return None, False, "no window shows a significant trend (plateau or noise floor)"
        i0, i1 = run
        b, _, _ = _linfit(ts[i0:i1], ys[i0:i1])
        coverage = (i1 - i0) / i1
        decades = abs(b) * (ts[i1 - 1] - ts[i0]) / math.log(10.0)
        accepted = coverage >= 0.5 or decades >= min_decades
        msg = (
            f"constant-slope run holds {coverage:.0%} of the series up to its end "
            f"and spans {decades:.2g} decades"
        )
        if not accepted:
            msg = "no linear regime (log e is curved, e.g. sublinear decay): " + msg
        return run, accepted, msg

    if oscillating and few_crests:
        run, accepted = None, False
        msg = (f"{troughs.size} oscillation troughs but only {idx.size} crests: "
               "too few to fit the envelope")
    else:
        run, accepted, msg = find_regime(ts, ys, min_width)
    if oscillating and window is None:
        # troughs confined to the start (two modes crossing during a transient) followed by
        # a smooth tail: the tail, not the crests of the transient, carries the rate
        tail = np.flatnonzero(finite & (np.arange(t.size) > troughs[-1]))
        if tail.size >= 10:
            run3, accepted3, msg3 = find_regime(t[tail], y[tail], 5)
            span_crests = ts[run[1] - 1] - ts[run[0]] if accepted else 0.0
            if accepted3 and t[tail][run3[1] - 1] - t[tail][run3[0]] > span_crests:
                notes.append(f"dips only before record {lo + int(tail[0])} (a transient); "
                             "fitted the smooth tail")
                oscillating, period = False, None
                idx, ts, ys = tail, t[tail], y[tail]
                run, accepted, msg = run3, accepted3, msg3
    if not accepted and oscillating:
        # dips without a decaying envelope (e.g. a noisy floor): retry on all points
        idx_all = np.flatnonzero(finite)
        run2, accepted2, msg2 = find_regime(t[idx_all], y[idx_all], 5)
        if accepted2:
            notes.append("dips found but their crests show no trend; fitted all points")
            oscillating, period = False, None
            idx, ts, ys = idx_all, t[idx_all], y[idx_all]
            run, accepted, msg = run2, accepted2, msg2
    if not accepted:
        return no_regime(msg, oscillating, period)
    notes.append(msg)

    i0, i1 = run
    if window is None:
        i0, i1 = _refine_run(ts, ys, i0, i1, resid_tol=resid_tol)
    b, a_, se = _linfit(ts[i0:i1], ys[i0:i1])
    double = False
    if double_root is None or double_root:
        # ---- stage 5: a repeated root, e_k = |a + b k|^p r^k ---------------------------------
        trial = _fit_double_root(ts[i0:i1], ys[i0:i1], power)
        if double_root is None and trial is not None:
            resid = ys[i0:i1] - a_ - b * ts[i0:i1]
            rss_geo = float(resid @ resid)
            double = (not trial.at_bound
                      and DOUBLE_ROOT_GAIN**2 * trial.rss < rss_geo)
        else:
            double = trial is not None
        if double:
            j0, j1 = i0, i1
            if window is None:
                # the whole record after its last dip, trimmed by the residuals of the model
                first = 0
                if not oscillating and troughs.size:
                    first = int(np.searchsorted(ts, t[troughs[-1]], side="right"))
                j0, j1 = _refine_run(ts, ys, first, ts.size, resid_tol=resid_tol,
                                     model=lambda tc, yc: _fit_double_root(tc, yc,
                                                                           power).predict)
                if j1 - j0 < i1 - i0:
                    j0, j1 = i0, i1
            fit_dr = _fit_double_root(ts[j0:j1], ys[j0:j1], power)
            if fit_dr is not None:
                i0, i1 = j0, j1
                b, se = fit_dr.slope, fit_dr.slope_se
                notes.append(f"fitted |a + b k|{'^2' if power == 2 else ''} r^k (a repeated "
                             f"root{'' if double_root else ', chosen by the fit'}): zero of "
                             f"a + b k {fit_dr.tau:.3g} steps before record "
                             f"{lo + int(idx[i0])}")
            else:
                double = False
    rate = math.exp(b)
    if oscillating:
        notes.append(f"oscillating (period ~{period:.3g} steps); fitted {i1 - i0} crests")
    return RateFit(
        rate=rate,
        stderr=rate * se,
        log_rate=b,
        log_rate_stderr=se,
        start=lo + int(idx[i0]),
        stop=lo + int(idx[i1 - 1]) + 1,
        n_points=i1 - i0,
        oscillating=bool(oscillating),
        linear_regime=True,
        converging=rate < 1.0,
        period=period,
        message="; ".join(notes),
        double_root=bool(double),
    )


#: the keyword defaults of fit_contraction, shared by fit_energy_decay
_FIT_DEFAULTS = {name: param.default for name, param in
                 inspect.signature(fit_contraction).parameters.items()
                 if param.kind is param.KEYWORD_ONLY}


def fit_energy_decay(energies, f_star: float = 0.0, **kw) -> RateFit:
    r"""Fit :math:`E_k - f^\star \approx C r^k` with :func:`fit_contraction`.

    Parameters
    ----------
    energies : array_like, shape (n,)
        Recorded energies (objective values, or total mechanical energy) :math:`E_k`.
    f_star : float, default 0.0
        The limit :math:`f^\star` (minimum value).
    **kw
        Passed to :func:`fit_contraction`.  The ``floor`` is raised to at least
        :math:`10^3\,\epsilon_{\text{mach}} \max(\lvert f^\star\rvert, \max_k\lvert E_k\rvert)`,
        the resolution of the subtraction :math:`E_k - f^\star` in floating point.

    Returns
    -------
    RateFit
        Per-step factor of the energy gap.  For a damped oscillator the energy is quadratic in
        the state, so this rate is about the square of the state's contraction factor.

    Raises
    ------
    ValueError
        If some :math:`E_k` lies below ``f_star`` by more than the round-off resolution.
    """
    E = _as_1d_float(energies, "energies")
    if (
        isinstance(f_star, bool)
        or not isinstance(f_star, numbers.Real)
        or not math.isfinite(f_star)
    ):
        raise ValueError(f"f_star must be a finite real number, got {f_star!r}")
    f_star = float(f_star)
    finite = np.isfinite(E)
    scale = max(abs(f_star), float(np.abs(E[finite]).max()) if finite.any() else 0.0)
    resolution = 1e3 * np.finfo(float).eps * scale
    gap = E - f_star
    low = np.flatnonzero(finite & (gap < -resolution))
    if low.size:
        k = int(low[0])
        raise ValueError(
            f"energies[{k}] = {E[k]!r} lies below f_star = {f_star!r} by more than round-off; "
            "is f_star the minimum?"
        )
    gap = np.where(finite, np.maximum(gap, 0.0), gap)
    floor = kw.pop("floor", None)
    floor = resolution if floor is None else max(
        _check_positive_real(floor, "floor", allow_zero=True), resolution
    )
    try:
        options = {**_FIT_DEFAULTS, **kw, "floor": floor}
        unknown = set(options) - set(_FIT_DEFAULTS)
        if unknown:
            raise TypeError(f"fit_energy_decay got unexpected keyword(s) {sorted(unknown)}")
        return _fit_contraction(gap, 2.0, **options)
    except ValueError as exc:
        raise ValueError(f"energy gap energies - f_star: {exc}") from None


def order_of_convergence(step_sizes, errors) -> tuple[float, float]:
    r"""Order :math:`p` in :math:`\text{err}(h) \approx C h^p` by least squares in log-log.

    Parameters
    ----------
    step_sizes : array_like, shape (n,)
        Positive step sizes :math:`h` (for example a step-halving sequence).
    errors : array_like, shape (n,)
        Positive errors obtained with those step sizes.

    Returns
    -------
    order : float
        Slope of :math:`\log \text{err}` against :math:`\log h`.
    stderr : float
        Its least-squares standard error (``nan`` for exactly two points).

    Raises
    ------
    ValueError
        Fewer than two points, mismatched lengths, non-positive or non-finite values, or all
        step sizes equal.
    """
    h = _as_1d_float(step_sizes, "step_sizes")
    err = _as_1d_float(errors, "errors")
    if h.size != err.size:
        raise ValueError(
            f"step_sizes and errors must have the same length, got {h.size} and {err.size}"
        )
    if h.size < 2:
        raise ValueError(f"step_sizes needs at least 2 points, got {h.size}")
    for arr, name in ((h, "step_sizes"), (err, "errors")):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
        if bad.size:
            raise ValueError(
                f"{name} must be finite and positive; {name}[{bad[0]}] = {arr[bad[0]]!r}"
            )
    if np.all(h == h[0]):
        raise ValueError(f"step_sizes must not all be equal, got {h[0]!r} everywhere")
    order, _, se = _linfit(np.log(h), np.log(err))
    return order, se


def continuous_rate_to_per_step(rate, h):
    r"""Per-step factor :math:`r = e^{-\lambda h}` of a continuous decay rate :math:`\lambda`.

    Parameters
    ----------
    rate : float or array_like
        Continuous-time decay rate :math:`\lambda` (negative for growth).
    h : float
        Time step, > 0.

    Returns
    -------
    float or ndarray
        :math:`\exp(-\lambda h)`.
    """
    h = _check_positive_real(h, "h")
    lam = np.asarray(rate, dtype=float)
    out = np.exp(-lam * h)
    return float(out) if out.ndim == 0 else out


def per_step_to_continuous(r, h):
    r"""Continuous decay rate :math:`\lambda = -\ln(r)/h` of a per-step factor :math:`r`.

    Parameters
    ----------
    r : float or array_like
        Per-step factor(s), > 0.
    h : float
        Time step, > 0.

    Returns
    -------
    float or ndarray
        :math:`-\ln(r)/h`; the inverse of :func:`continuous_rate_to_per_step`.
    """
    h = _check_positive_real(h, "h")
    r_arr = np.asarray(r, dtype=float)
    if np.any(~np.isfinite(r_arr) | (r_arr <= 0)):
        raise ValueError(f"r must be finite and positive, got {r!r}")
    out = -np.log(r_arr) / h
    return float(out) if out.ndim == 0 else out
