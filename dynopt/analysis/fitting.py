r"""How :func:`~dynopt.analysis.observed.fit_contraction` fits :math:`e_k \approx C r^k`.

The fit is a chain of small stages, one function each: the options are checked
(``_FitOptions``), the record is cut to its usable range (``_usable_record``), an oscillating
record is replaced by the crests of its envelope (``_series``), the linear regime is found
(``_choose_regime``), a line is fitted over its trimmed range (``_geometric_fit``) and, at a
repeated root of the one-step map, the model :math:`\lvert a + bk\rvert^p r^k` replaces it
(``_repeated_root_fit``). The least-squares primitives are in :mod:`._regression`; the
reasoning behind each stage and the measured accuracy are on the analysis page of the
documentation ("How a rate is fitted").
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._checks import _as_1d_float, _check_int, _check_positive_real
from ._regression import (_constant_slope_run, _crests, _fit_double_root, _linfit,
                          _parabolic_vertex, _refine_run, _troughs)

__all__ = ["RateFit", "DOUBLE_ROOT_GAIN"]

#: automatic model choice: the (a + bk) r^k model is taken when its residual RMS over the
#: geometric fit's records is this many times smaller than the geometric fit's
DOUBLE_ROOT_GAIN = 30.0


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


@dataclass(frozen=True)
class _FitOptions:
    """The keyword options of :func:`fit_contraction`, checked, and the exponent ``power``
    :math:`p` of the repeated-root model (1 for an amplitude, 2 for an energy).

    ``window`` is checked against the record by :func:`_usable_range`.
    """

    power: float
    window: tuple | None
    min_points: int
    floor: float | None
    rel_floor: float
    slope_tol: float
    min_decades: float
    osc_prominence: float
    max_gap_cv: float
    resid_tol: float
    double_root: bool | None

    def __post_init__(self):
        dr = self.double_root
        if dr is not None and not isinstance(dr, (bool, np.bool_)):
            raise TypeError(f"double_root must be True, False or None, got {dr!r}")
        checked = {"min_points": _check_int(self.min_points, "min_points", 3),
                   "rel_floor": _check_positive_real(self.rel_floor, "rel_floor",
                                                     allow_zero=True)}
        if checked["rel_floor"] >= 1.0:
            raise ValueError(f"rel_floor must be smaller than 1, got {checked['rel_floor']!r}")
        checked["floor"] = 0.0 if self.floor is None else _check_positive_real(
            self.floor, "floor", allow_zero=True)
        for name in ("slope_tol", "min_decades", "osc_prominence", "max_gap_cv", "resid_tol"):
            checked[name] = _check_positive_real(getattr(self, name), name)
        for name, value in checked.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class _Record:
    """The usable part ``errors[start:stop]`` of a record: steps ``t``, :math:`y = \\log e`
    (``-inf`` at an exact zero), where ``y`` is finite, and the oscillation troughs of ``y``."""

    t: np.ndarray
    y: np.ndarray
    finite: np.ndarray
    start: int
    stop: int
    troughs: np.ndarray


@dataclass(frozen=True)
class _Series:
    """The points searched for a linear regime and fitted: indices ``idx`` into the
    :class:`_Record`, their steps ``ts`` and log-errors ``ys`` (for an oscillating record the
    crests, located between samples when the oscillation is well resolved)."""

    idx: np.ndarray
    ts: np.ndarray
    ys: np.ndarray
    oscillating: bool
    period: float | None
    min_width: int  #: the smallest window of the regime test


class _Fit(NamedTuple):
    """A fitted slope over ``series[start:stop]``."""

    start: int
    stop: int
    slope: float
    intercept: float
    slope_se: float
    double_root: bool = False


def _fit_contraction(errors, power, *, steps, **options) -> RateFit:
    r""":func:`fit_contraction`; ``power`` is :math:`p` of the double-root model
    :math:`\lvert a + bk\rvert^p r^k` (1 for an amplitude, 2 for an energy)."""
    e = _as_1d_float(errors, "errors")
    opts = _FitOptions(power=power, **options)
    t_all = _record_steps(steps, e.size)
    notes: list[str] = []
    record = _usable_record(e, t_all, opts, notes)
    series, run, msg = _choose_regime(record, opts, notes)
    notes.append(msg)
    if run is None:
        return _no_regime(record, series, notes)
    fit = _geometric_fit(series, run, opts)
    fit = _repeated_root_fit(record, series, fit, opts, notes)
    return _rate_fit(record, series, fit, notes)


# ---- stage 1: the usable record ------------------------------------------------------------


def _record_steps(steps, n: int) -> np.ndarray:
    """The step numbers of the ``n`` records: ``arange(n)`` or the checked ``steps``."""
    if steps is None:
        return np.arange(n, dtype=float)
    t_all = _as_1d_float(steps, "steps")
    if t_all.size != n:
        raise ValueError(f"steps must have the same length as errors ({n}), got {t_all.size}")
    if not np.all(np.isfinite(t_all)) or np.any(np.diff(t_all) <= 0):
        raise ValueError("steps must be finite and strictly increasing")
    return t_all


def _usable_range(e: np.ndarray, opts: _FitOptions, notes: list) -> tuple[int, int]:
    """``(lo, hi)``: the requested window, or the records before the first non-finite value
    and the round-off floor (the last index after which the record never again exceeds
    ``max(floor, rel_floor * max(e))``)."""
    bad = np.flatnonzero(e < 0)
    if bad.size:
        raise ValueError(f"errors must be non-negative; errors[{bad[0]}] = {e[bad[0]]!r}")
    nonfinite = np.flatnonzero(~np.isfinite(e))
    end = e.size
    if nonfinite.size:
        end = int(nonfinite[0])
        notes.append(f"record ends at the non-finite value errors[{end}]")
    if opts.window is not None:
        return _checked_window(opts.window, e.size, end)
    hi = end
    if end > 0:
        head = e[:end]
        threshold = max(opts.floor, opts.rel_floor * float(head.max()))
        tail_max = np.maximum.accumulate(head[::-1])[::-1]
        below = np.flatnonzero(tail_max <= threshold)
        if below.size:
            hi = int(below[0])
            notes.append(f"round-off floor {threshold:.3g} reached at record {hi}")
    return 0, hi


def _checked_window(window, n: int, end: int) -> tuple[int, int]:
    if (
        not isinstance(window, (tuple, list))
        or len(window) != 2
        or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) for w in window)
    ):
        raise TypeError(f"window must be a (start, stop) pair of integers, got {window!r}")
    w0, w1 = int(window[0]), int(window[1])
    if not 0 <= w0 < w1 <= n:
        raise ValueError(f"window must satisfy 0 <= start < stop <= {n}, got {window!r}")
    if w1 > end:
        raise ValueError(f"window {window!r} contains the non-finite value errors[{end}]")
    return w0, w1


def _usable_record(e, t_all, opts: _FitOptions, notes: list) -> _Record:
    """The :class:`_Record` of the usable range; too few usable records raise."""
    lo, hi = _usable_range(e, opts, notes)
    t = t_all[lo:hi]
    with np.errstate(divide="ignore"):
        y = np.log(e[lo:hi])
    finite = np.isfinite(y)
    n_usable = int(finite.sum())
    if n_usable < opts.min_points:
        raise ValueError(
            f"errors has only {n_usable} usable records (finite, positive, above the floor) "
            f"but min_points={opts.min_points} are required"
        )
    return _Record(t, y, finite, lo, hi, _troughs(t, y, finite, opts.osc_prominence))


# ---- stage 2: oscillation ------------------------------------------------------------------


def _all_points(record: _Record) -> _Series:
    idx = np.flatnonzero(record.finite)
    return _Series(idx, record.t[idx], record.y[idx], False, None, 5)


def _series(record: _Record, opts: _FitOptions) -> _Series:
    """The crests of the envelope if the record oscillates regularly, else all its points."""
    t, y, troughs = record.t, record.y, record.troughs
    oscillating = troughs.size >= 2
    if troughs.size >= 3:
        # dynamics oscillate regularly; dips of a noisy floor come at random intervals
        gaps = np.diff(t[troughs])
        oscillating = bool(gaps.std() <= opts.max_gap_cv * gaps.mean())
    if not oscillating:
        return _all_points(record)
    period = float(2.0 * np.median(np.diff(t[troughs])))
    idx = _crests(y, record.finite, troughs)
    ts, ys = t[idx], y[idx]
    if np.median(np.diff(troughs)) >= 6:
        # well-resolved oscillation: locate each crest between samples
        ts, ys = _parabolic_vertex(t, y, idx)
    return _Series(idx, ts, ys, True, period, 3)


# ---- stage 3: the linear regime ------------------------------------------------------------


def _find_regime(ts, ys, min_width: int, opts: _FitOptions):
    """``(run, accepted, message)``: the constant-slope run of a series and whether it is
    accepted as a linear regime (it holds half the series up to its end, or spans
    ``min_decades``)."""
    m = ts.size
    if opts.window is not None:
        return (0, m), True, "fit over the requested window"
    if m < 2 * min_width:
        b, _, se = _linfit(ts, ys)
        if not abs(b) > 3.0 * se:
            return None, False, f"the {m} points show no significant trend"
        return (0, m), True, f"only {m} points: fitted in full without a transient test"
    run = _constant_slope_run(ts, ys, width=max(min_width, m // 8), slope_tol=opts.slope_tol)
    if run is None:
        return None, False, "no window shows a significant trend (plateau or noise floor)"
    i0, i1 = run
    b, _, _ = _linfit(ts[i0:i1], ys[i0:i1])
    coverage = (i1 - i0) / i1
    decades = abs(b) * (ts[i1 - 1] - ts[i0]) / math.log(10.0)
    accepted = coverage >= 0.5 or decades >= opts.min_decades
    msg = (
        f"constant-slope run holds {coverage:.0%} of the series up to its end "
        f"and spans {decades:.2g} decades"
    )
    if not accepted:
        msg = "no linear regime (log e is curved, e.g. sublinear decay): " + msg
    return run, accepted, msg


def _choose_regime(record: _Record, opts: _FitOptions, notes: list):
    """``(series, run, message)``: the series fitted and its linear regime (``run`` is
    ``None`` when none is accepted)."""
    series = _series(record, opts)
    if series.oscillating and series.idx.size < 3:
        found = (None, False, f"{record.troughs.size} oscillation troughs but only "
                              f"{series.idx.size} crests: too few to fit the envelope")
    else:
        found = _find_regime(series.ts, series.ys, series.min_width, opts)
    if series.oscillating and opts.window is None:
        series, found = _prefer_smooth_tail(record, series, found, opts, notes)
    if not found[1] and series.oscillating:
        # dips without a decaying envelope (e.g. a noisy floor): retry on all points
        retry = _all_points(record)
        found2 = _find_regime(retry.ts, retry.ys, 5, opts)
        if found2[1]:
            notes.append("dips found but their crests show no trend; fitted all points")
            series, found = retry, found2
    run, accepted, msg = found
    return series, (run if accepted else None), msg


def _prefer_smooth_tail(record: _Record, series: _Series, found, opts, notes):
    """Troughs confined to the start (two modes crossing during a transient) followed by a
    smooth tail: the tail, not the crests of the transient, carries the rate when its linear
    regime spans more steps than the crests' one."""
    t, y = record.t, record.y
    tail = np.flatnonzero(record.finite & (np.arange(t.size) > record.troughs[-1]))
    if tail.size < 10:
        return series, found
    run3, accepted3, msg3 = _find_regime(t[tail], y[tail], 5, opts)
    run, accepted, _ = found
    span_crests = series.ts[run[1] - 1] - series.ts[run[0]] if accepted else 0.0
    if accepted3 and t[tail][run3[1] - 1] - t[tail][run3[0]] > span_crests:
        notes.append(f"dips only before record {record.start + int(tail[0])} (a transient); "
                     "fitted the smooth tail")
        return _Series(tail, t[tail], y[tail], False, None, 5), (run3, accepted3, msg3)
    return series, found


# ---- stage 4: the geometric fit ------------------------------------------------------------


def _geometric_fit(series: _Series, run, opts: _FitOptions) -> _Fit:
    """Least squares of :math:`\\log e` against the step over the run, its edges trimmed by
    the point residuals (not for a requested window)."""
    i0, i1 = run
    if opts.window is None:
        i0, i1 = _refine_run(series.ts, series.ys, i0, i1, resid_tol=opts.resid_tol)
    b, a, se = _linfit(series.ts[i0:i1], series.ys[i0:i1])
    return _Fit(i0, i1, b, a, se)


# ---- stage 5: a repeated root, e_k = |a + b k|^p r^k ---------------------------------------


def _repeated_root_fit(record: _Record, series: _Series, fit: _Fit, opts: _FitOptions,
                       notes: list) -> _Fit:
    """The fit of :math:`\\lvert a + bk\\rvert^p r^k` where it is asked for
    (``double_root=True``) or, by default, where it beats the geometric fit by
    :data:`DOUBLE_ROOT_GAIN` in residual RMS; else ``fit`` unchanged."""
    if not (opts.double_root is None or opts.double_root):
        return fit
    ts, ys = series.ts, series.ys
    i0, i1 = fit.start, fit.stop
    trial = _fit_double_root(ts[i0:i1], ys[i0:i1], opts.power)
    if opts.double_root is None and trial is not None:
        resid = ys[i0:i1] - fit.intercept - fit.slope * ts[i0:i1]
        double = not trial.at_bound and DOUBLE_ROOT_GAIN**2 * trial.rss < float(resid @ resid)
    else:
        double = trial is not None
    if not double:
        return fit
    j0, j1 = i0, i1
    if opts.window is None:
        j0, j1 = _repeated_root_range(record, series, fit, opts)
    fit_dr = _fit_double_root(ts[j0:j1], ys[j0:j1], opts.power)
    if fit_dr is None:
        return fit
    notes.append(f"fitted |a + b k|{'^2' if opts.power == 2 else ''} r^k (a repeated "
                 f"root{'' if opts.double_root else ', chosen by the fit'}): zero of "
                 f"a + b k {fit_dr.tau:.3g} steps before record "
                 f"{record.start + int(series.idx[j0])}")
    return _Fit(j0, j1, fit_dr.slope, fit_dr.intercept, fit_dr.slope_se, True)


def _repeated_root_range(record: _Record, series: _Series, fit: _Fit, opts) -> tuple[int, int]:
    """The whole series after the record's last dip, trimmed by the residuals of the
    repeated-root model; the geometric fit's range if that is longer."""
    ts, ys = series.ts, series.ys
    first = 0
    if not series.oscillating and record.troughs.size:
        first = int(np.searchsorted(ts, record.t[record.troughs[-1]], side="right"))
    j0, j1 = _refine_run(ts, ys, first, ts.size, resid_tol=opts.resid_tol,
                         model=lambda tc, yc: _double_root_predictor(tc, yc, opts.power))
    if j1 - j0 < fit.stop - fit.start:
        return fit.start, fit.stop
    return j0, j1


def _double_root_predictor(t, y, power):
    """The prediction of the repeated-root model fitted to ``(t, y)``; ``None`` if too short."""
    fit = _fit_double_root(t, y, power)
    return None if fit is None else fit.predict


# ---- the result ----------------------------------------------------------------------------


def _no_regime(record: _Record, series: _Series, notes: list) -> RateFit:
    """The result without a linear regime: ``rate = nan``, the overall trend as ``converging``."""
    finite = record.finite
    b_all, _, _ = _linfit(record.t[finite], record.y[finite])
    return RateFit(
        rate=math.nan, stderr=math.nan, log_rate=math.nan, log_rate_stderr=math.nan,
        start=record.start, stop=record.stop, n_points=int(finite.sum()),
        oscillating=series.oscillating, linear_regime=False, converging=bool(b_all < 0),
        period=series.period, message="; ".join(notes),
    )


def _rate_fit(record: _Record, series: _Series, fit: _Fit, notes: list) -> RateFit:
    """The :class:`RateFit` of a fitted slope; ``rate`` and its standard error by the delta
    method."""
    rate = math.exp(fit.slope)
    if series.oscillating:
        notes.append(f"oscillating (period ~{series.period:.3g} steps); "
                     f"fitted {fit.stop - fit.start} crests")
    return RateFit(
        rate=rate,
        stderr=rate * fit.slope_se,
        log_rate=fit.slope,
        log_rate_stderr=fit.slope_se,
        start=record.start + int(series.idx[fit.start]),
        stop=record.start + int(series.idx[fit.stop - 1]) + 1,
        n_points=fit.stop - fit.start,
        oscillating=bool(series.oscillating),
        linear_regime=True,
        converging=rate < 1.0,
        period=series.period,
        message="; ".join(notes),
        double_root=bool(fit.double_root),
    )
