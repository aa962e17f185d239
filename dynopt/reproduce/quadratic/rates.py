r"""Analytic rates on a quadratic: the per-step contraction a linear step predicts.

For ``gd``, ``heavy_ball`` and ``nesterov`` the step is a fixed linear map;
the worst spectral radius of that map over the spectrum is the predicted
contraction of the error (:func:`dynopt.analysis.discrete.predicted_rates`,
closed forms when that module is not available). The forms and their
sources are on ``docs/reproduce/quadratic.md``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .protocol import TARGET

__all__ = ["closed_form_rates", "predicted_rate", "steps_to_target"]


def closed_form_rates(method: str, lr: float, eigenvalues, momentum: float = 0.9) -> np.ndarray:
    r"""Spectral radius of the one-step map at each eigenvalue (closed forms).

    ``method`` in ``'gd'``, ``'heavy_ball'``, ``'nesterov'`` (the matrices on
    ``docs/reproduce/quadratic.md``); ``momentum`` is :math:`\beta`.
    """
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    a = lr * lam
    if method == "gd":
        return np.abs(1.0 - a)
    if method == "heavy_ball":
        mats = [[[1.0 + momentum - ai, -momentum], [1.0, 0.0]] for ai in a]
    elif method == "nesterov":
        mats = [[[1.0 - (1.0 + momentum) * ai, momentum**2], [-ai, momentum]] for ai in a]
    else:
        raise ValueError(f"no closed-form rate for method {method!r}; "
                         "valid: 'gd', 'heavy_ball', 'nesterov'")
    return np.abs(np.linalg.eigvals(np.array(mats))).max(axis=1)


def predicted_rate(method: str, lr: float, eigenvalues) -> tuple:
    """Worst per-step contraction over ``eigenvalues`` at rate ``lr`` and its source.

    Returns ``(rate, source)``; ``rate`` is ``None`` for a method whose step
    is not a fixed linear map (Adam's bias correction, FANoS's thermostat).
    ``source`` says where it came from: ``'dynopt.analysis'`` (the one-step
    map derived from the method's own step program) or ``'closed form'`` (when
    :mod:`dynopt.analysis.discrete` is not available).
    """
    step = _linear_step(method)
    if step is _UNAVAILABLE:
        if method in ("gd", "heavy_ball", "nesterov"):
            import dynopt
            momentum = float(dynopt.METHODS[method].hyperparameters().get("momentum", 0.0))
            return float(closed_form_rates(method, lr, eigenvalues, momentum).max()), "closed form"
        return None, "closed form"
    if step is None:
        return None, "dynopt.analysis"
    rates = step.spectral_radius(np.asarray(eigenvalues, dtype=float), lr=float(lr))
    return float(np.max(rates)), "dynopt.analysis"


_UNAVAILABLE = object()


@functools.lru_cache(maxsize=None)
def _linear_step(method: str):
    """The one-step map of ``method`` (derived once), ``None`` if not linear."""
    try:
        from ...analysis.discrete import NonlinearStepError, step_matrix
    except ImportError:
        return _UNAVAILABLE
    try:
        return step_matrix(method)
    except NonlinearStepError:
        return None


def steps_to_target(rate, target: float = TARGET):
    r"""Steps for :math:`f - f^*` to shrink by ``target`` at error contraction ``rate``.

    :math:`\lceil \ln(\mathrm{target}) / (2\ln\rho) \rceil`; ``None`` when
    ``rate`` is ``None`` or not below 1.
    """
    if rate is None or not rate < 1.0:
        return None
    if rate <= 0.0:
        return 1
    return int(math.ceil(math.log(target) / (2.0 * math.log(rate))))
