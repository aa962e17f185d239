"""What the comparison functions of :mod:`dynopt.analysis.compare` share: the test quadratics,
the fit of one record, the row of a :class:`~dynopt.analysis.table.RateTable` and the checks of
their arguments."""
from __future__ import annotations

import math

import numpy as np

from ._checks import _is_integer
from .continuous import classify_damping
from .observed import continuous_rate_to_per_step, fit_contraction

#: default ``divergence`` option of the comparison runs: far above dynopt.minimize's 1e12, so
#: that a growing run is recorded over many decades (its growth rate is fitted too) before it
#: is stopped; ``options['divergence']`` overrides it
DIVERGENCE = 1e100


def _diagonal_quadratic(lams):
    def fun(x):
        return 0.5 * float(np.dot(lams * x, x)), lams * x
    return fun


def _batched_quadratic(lams):
    def fun(X):
        return 0.5 * np.sum(lams * X * X, axis=1), lams * X
    return fun


def _double_root_option(repeated) -> bool | None:
    """``double_root`` of the fit: the (a + bk) r^k model where the analysis flags a repeated
    root of the one-step map, else the automatic choice."""
    return True if repeated else None


def _fit_or_none(err, steps, repeated=False):
    """A fit, or the reason there is none."""
    try:
        return fit_contraction(err, steps=steps, double_root=_double_root_option(repeated)), ""
    except ValueError as exc:
        return None, str(exc)


def _growing(fit, err):
    if fit is not None and fit.linear_regime:
        return fit.rate > 1.0
    finite = err[np.isfinite(err)]
    return (not np.all(np.isfinite(err))) or (finite.size > 1 and finite[-1] > 1e3 * finite[0])


def _row(lam_, zeta, sigma, hh, predicted, fit, note, status, ran, repeated=False):
    continuous = continuous_rate_to_per_step(sigma, float(hh)) if math.isfinite(sigma) else math.nan
    observed = fit.rate if fit is not None else math.nan
    row = {
        "eigenvalue": float(lam_), "damping_ratio": float(zeta),
        "regime": str(classify_damping(zeta)) if not math.isnan(zeta) else "unknown",
        "predicted": float(predicted), "continuous": float(continuous),
        "observed": float(observed),
        "stderr": float(fit.stderr) if fit is not None else math.nan,
        "rel_error": abs(observed - predicted) / predicted if predicted > 0 else math.nan,
        "linear_regime": bool(fit.linear_regime) if fit is not None else False,
        "oscillating": bool(fit.oscillating) if fit is not None else False,
        "converging": bool(fit.converging) if fit is not None else False,
        "predicted_stable": bool(predicted < 1.0),
        "repeated_root": bool(repeated),
        "double_root_fit": bool(fit.double_root) if fit is not None else False,
        "status": int(status), "steps": int(ran),
        "note": note or (fit.message if fit is not None else ""),
    }
    return row


def _check_positive_array(values, name):
    if isinstance(values, (bool, np.bool_)) or np.asarray(values).dtype.kind == "b" or (
            isinstance(values, (list, tuple)) and any(isinstance(v, (bool, np.bool_))
                                                    for v in values)):
        raise TypeError(f"{name} must be an array of numbers, got the boolean(s) {values!r}")
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {values!r}") from None
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {values!r}")
    return arr


def _check_steps(steps):
    if not _is_integer(steps) or steps < 10:
        raise ValueError(f"steps must be an integer >= 10, got {steps!r}")
    return int(steps)
