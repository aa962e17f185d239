r"""Observed convergence rates measured from recorded optimisation runs.

The analytic side of dynopt predicts, for a method on a quadratic, the per-step contraction
factor :math:`r` (the spectral radius of its one-step map). This module measures it: it fits

.. math::

    e_k \approx C\, r^{k}

to a recorded error sequence :math:`e_k \ge 0` (:math:`\lVert x_k - x^\star\rVert`,
:math:`E_k - f^\star`, ...) and reports :math:`r` with a nominal uncertainty and diagnostics
(:class:`RateFit`). The fits take plain NumPy arrays, whatever produced the run.

* :func:`fit_contraction` and :func:`fit_energy_decay` fit a rate (the stages of the fit are
  in :mod:`dynopt.analysis.fitting`, their reasoning on the analysis page of the documentation);
* :func:`order_of_convergence` fits :math:`\text{err}(h) \approx C h^p`;
* :func:`continuous_rate_to_per_step` and :func:`per_step_to_continuous` convert rates;
* :func:`observed_rate` fits the distance or energy of a run recorded by :func:`dynopt.minimize`.
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from ._checks import _as_1d_float, _check_positive_real, _is_integer
from ._regression import _linfit
from .fitting import DOUBLE_ROOT_GAIN, RateFit, _fit_contraction  # noqa: F401 (re-exported)

__all__ = [
    "RateFit",
    "fit_contraction",
    "fit_energy_decay",
    "order_of_convergence",
    "continuous_rate_to_per_step",
    "per_step_to_continuous",
    "observed_rate",
]


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
        regime (stage 3 of the fit).
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
        within :math:`z\sigma/\sqrt{m}` plus this (stage 4 of the fit).
    double_root : bool, optional
        The model at a repeated root of the one-step map (stage 5 of the fit):
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
    The fit runs in five stages: the usable range is cut at the round-off floor
    (``max(floor, rel_floor * max(e))``) or the first non-finite value; an oscillating record is
    replaced by the crests of its envelope; the linear regime is the longest run of windows
    whose log-slopes agree; its edges are trimmed by point residuals before the final least
    squares; and at a repeated root the model :math:`\lvert a + bk\rvert\, r^k` is fitted
    instead. The analysis page of the documentation ("How a rate is fitted") gives each stage,
    its assumptions and the measured accuracy at critical damping.
    """
    return _fit_contraction(errors, 1.0, steps=steps, window=window, min_points=min_points,
                            floor=floor, rel_floor=rel_floor, slope_tol=slope_tol,
                            min_decades=min_decades, osc_prominence=osc_prominence,
                            max_gap_cv=max_gap_cv, resid_tol=resid_tol,
                            double_root=double_root)


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


def observed_rate(result, x_star=0.0, quantity: str = "distance", *, coordinate=None,
                  member=None, f_star: float = 0.0, **fit_options) -> RateFit:
    r"""Per-step rate fitted from a recorded run.

    Parameters
    ----------
    result : OptimizeResult
        From :func:`dynopt.minimize` with ``options={'record': True}`` (or a stride).
    x_star : float or array_like
        The minimiser.
    quantity : {'distance', 'energy'}
        ``'distance'``: :math:`\|x_k - x^\star\|_2` (or :math:`|x_{k,i} - x^\star_i|`
        for one ``coordinate``), whose rate is the spectral radius of the
        one-step map. ``'energy'``: the recorded total energy minus ``f_star``
        (kinetic + potential + thermostat terms), which decays at about the
        square of that rate.
    coordinate : int, optional
        Fit one coordinate only (the diagonal-quadratic trick of :func:`compare_rates`).
    member : int, optional
        The member of a batched run (required for one).
    f_star : float
        The minimum value, for ``'energy'``.
    **fit_options
        Passed to :func:`~dynopt.analysis.observed.fit_contraction`. At a repeated root of
        the one-step map (optimally tuned heavy ball, critical damping; see
        :meth:`~dynopt.analysis.discrete.LinearStep.repeated_root`) the error is
        :math:`(a + bk)\,r^k`, not :math:`C r^k`: pass ``double_root=True`` to fit that
        model. By default the fit chooses it only where it is clearly better.

    Returns
    -------
    RateFit
        ``linear_regime=False`` and ``rate=nan`` when the record shows no
        geometric decay or growth (a plateau, a sublinear decay).

    Raises
    ------
    ValueError
        If the run was not recorded, ``quantity`` is unknown, or the record is
        too short to fit.
    """
    traj = getattr(result, "trajectory", None) if not isinstance(result, dict) else \
        result.get("trajectory")
    if traj is None:
        raise ValueError("observed_rate needs a recorded run: call dynopt.minimize(..., "
                         "options={'record': True}); this result has no 'trajectory'")
    if quantity not in ("distance", "energy"):
        raise ValueError(f"quantity must be 'distance' or 'energy', got {quantity!r}")
    steps = np.asarray(traj["step"])
    X = np.asarray(traj["x"], dtype=float)
    batched = X.ndim == 3
    if batched and member is None:
        raise ValueError(f"this run is a batch of {X.shape[1]} members; pass member=")
    if not batched and member is not None:
        raise ValueError(f"member={member!r} given, but the run is not batched")
    if batched:
        if not (_is_integer(member) and 0 <= member < X.shape[1]):
            raise ValueError(f"member must be an integer in [0, {X.shape[1]}), got {member!r}")
        X = X[:, member, :]
    nit = np.asarray(result["nit"])
    last = int(nit[member] if batched else nit)
    keep = steps <= last  # a stopped member's record is frozen afterwards
    if quantity == "energy":
        E = np.asarray(traj["total"], dtype=float)
        E = E[:, member] if batched else E
        return fit_energy_decay(E[keep], f_star=f_star, steps=steps[keep], **fit_options)
    diff = X - np.asarray(x_star, dtype=float)
    if coordinate is not None:
        if not (_is_integer(coordinate) and 0 <= coordinate < X.shape[1]):
            raise ValueError(f"coordinate must be an integer in [0, {X.shape[1]}), "
                             f"got {coordinate!r}")
        err = np.abs(diff[:, coordinate])
    else:
        err = np.linalg.norm(diff, axis=1)
    return fit_contraction(err[keep], steps=steps[keep], **fit_options)
