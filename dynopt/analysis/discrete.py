r"""Discrete time: the one-step map of a step program on :math:`f = \tfrac12\lambda\|x\|^2`.

A method whose step is linear maps the per-coordinate state :math:`s_k = (x_k, v_k, \dots)` by
a fixed matrix, :math:`s_{k+1} = M(h\lambda, \text{hyperparameters})\, s_k`, and
:math:`\|x_k\| \sim \rho(M)^k`: the per-step contraction factor a run should show. This module
gathers the discrete-time analysis, which lives in four modules by idea:

* :mod:`.derivation` — resolving a method to its step program and deriving :math:`M` from it
  (:func:`resolve_program`, :class:`NonlinearStepError`);
* :mod:`.onestep` — :class:`LinearStep`, :func:`step_matrix`, :func:`predicted_rate`;
* :mod:`.correspondence` — the continuous system :math:`m\ddot x + c\dot x + \lambda x = 0` a
  method corresponds to (:func:`continuous_equivalent`, :func:`continuous_model`, ...);
* :mod:`.stability` — Jury's conditions and the stable intervals of :math:`\lambda`.

The derivation, the correspondence and its conventions are described on the analysis page of
the documentation.
"""
from __future__ import annotations

from .correspondence import (continuous_equivalent, continuous_model, continuous_numeric,
                             continuous_rate, continuous_symbolic, critical_hyperparameter)
from .derivation import NonlinearStepError, _plain_options, h, resolve_program  # noqa: F401
from .onestep import (LinearStep, _check_eigenvalues, predicted_rate,  # noqa: F401
                      predicted_rates, step_matrix, z)
from .stability import stability_conditions, stability_interval

__all__ = [
    "LinearStep", "NonlinearStepError", "step_matrix", "predicted_rate", "predicted_rates",
    "continuous_equivalent", "continuous_symbolic", "continuous_model", "continuous_numeric",
    "continuous_rate", "critical_hyperparameter", "stability_conditions",
    "stability_interval", "resolve_program", "z",
]
