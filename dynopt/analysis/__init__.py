"""Analysis: damping ratios and convergence rates, predicted and observed.

* :mod:`.continuous` — a system linearised about a minimum (SymPy) into a
  :class:`~dynopt.analysis.linear_system.LinearSystem` (:mod:`.linear_system`): eigenvalues,
  damping ratio, regime, decay rates, critical and optimal damping.
* :mod:`.discrete` — the one-step map read from a method's step program, gathered from
  :mod:`.derivation` (program to matrix), :mod:`.onestep` (:func:`step_matrix`,
  :func:`predicted_rate`), :mod:`.correspondence` (the continuous system it corresponds to)
  and :mod:`.stability`.
* :mod:`.observed` — rates fitted from recorded runs; the fit itself, stage by stage, is in
  :mod:`.fitting`.
* :mod:`.compare` — predicted against observed, from vectorised runs, into a
  :class:`~dynopt.analysis.table.RateTable` (:mod:`.table`).
* :mod:`.plots` — figures (imported on demand: ``dynopt.analysis.plots``).
"""
from .compare import RateTable, compare_rates, compare_spectrum, observed_rate, sweep_rates
from .continuous import (LinearSystem, OptimalDamping, classify_damping, continuous_eigenvalues,
                         critical_damping, damping_ratio, damping_regime, decay_rate,
                         energy_decay_rate, lam, linearize_system, optimal_damping)
from .discrete import (LinearStep, NonlinearStepError, continuous_equivalent, continuous_model,
                       continuous_rate, critical_hyperparameter, predicted_rate,
                       predicted_rates, stability_conditions, stability_interval, step_matrix)
from .observed import (RateFit, continuous_rate_to_per_step, fit_contraction, fit_energy_decay,
                       order_of_convergence, per_step_to_continuous)

__all__ = [
    # continuous time
    "lam", "LinearSystem", "OptimalDamping", "linearize_system", "continuous_eigenvalues",
    "damping_ratio", "damping_regime", "classify_damping", "decay_rate", "energy_decay_rate",
    "critical_damping", "optimal_damping",
    # discrete time
    "LinearStep", "NonlinearStepError", "step_matrix", "predicted_rate", "predicted_rates",
    "continuous_equivalent", "continuous_model", "continuous_rate", "critical_hyperparameter",
    "stability_conditions",
    "stability_interval",
    # observed
    "RateFit", "fit_contraction", "fit_energy_decay", "order_of_convergence",
    "continuous_rate_to_per_step", "per_step_to_continuous", "observed_rate",
    # comparison
    "RateTable", "compare_rates", "compare_spectrum", "sweep_rates",
]
