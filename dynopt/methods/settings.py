r"""Settings with which every registered method solves two standard problems.

The problems:

* ``'quadratic'``: :math:`f(x) = \tfrac12 (x - x^*)^\top A (x - x^*)` in
  :math:`n = 10` dimensions, :math:`A` a Haar-rotated diagonal with eigenvalues
  spread geometrically over :math:`[1, 10]` (condition number 10), rotation seed
  0, :math:`x^* = \operatorname{linspace}(-1, 1, 10)`, from :math:`x_0 = 0`
  (:meth:`dynopt.problems.quadratic.Quadratic.with_condition`);
* ``'rosenbrock'``: SciPy's 5-D Rosenbrock function
  (:func:`scipy.optimize.rosen`) from SciPy's example start
  :math:`x_0 = (1.3, 0.7, 0.8, 1.9, 1.2)`, minimum at :math:`\mathbf 1`.

:data:`EXAMPLE_SETTINGS` maps each method to, per problem, ``(options, maxiter,
atol)``: the hyperparameters, the step budget, and the distance
:math:`\max_i |x_i - x^*_i|` the final iterate reaches. The run stops at
``gtol`` (:data:`GTOL`) or ``maxiter``. The test suite runs every entry
(``tests/test_every_method.py``) and fails on a registered method without one;
the documentation prints the table.

Where a tolerance is looser than the others it is the method's nature, not a
tuning shortfall: Nesterov's ODE has the damping :math:`3/t`, which fades, so it
converges sublinearly; RMSprop with a constant step settles in a band whose width
scales with ``lr``.
"""
from __future__ import annotations

__all__ = ["EXAMPLE_SETTINGS", "GTOL", "PROBLEMS"]

#: the two problems, as described above
PROBLEMS = ("quadratic", "rosenbrock")

#: gradient-norm (max-abs) stopping tolerance per problem
GTOL = {"quadratic": 1e-8, "rosenbrock": 1e-6}

#: method -> problem -> (options, maxiter, atol on max|x - x*|)
EXAMPLE_SETTINGS = {
    "gd": {"quadratic": ({"lr": 0.1}, 1000, 1e-8),
           "rosenbrock": ({"lr": 1e-3}, 30000, 1e-5)},
    "heavy_ball": {"quadratic": ({"lr": 0.05, "momentum": 0.5}, 1000, 1e-8),
                   "rosenbrock": ({"lr": 1e-3, "momentum": 0.9}, 5000, 1e-5)},
    "nesterov": {"quadratic": ({"lr": 0.05, "momentum": 0.5}, 1000, 1e-8),
                 "rosenbrock": ({"lr": 5e-4, "momentum": 0.9}, 10000, 1e-5)},
    "damped_oscillator": {
        "quadratic": ({"dt": 0.1, "mass": 1.0, "damping": 4.0}, 2000, 1e-8),
        "rosenbrock": ({"dt": 0.02, "mass": 1.0, "damping": 5.0}, 10000, 1e-5)},
    "gradient_flow": {"quadratic": ({"dt": 0.1, "damping": 1.0}, 1000, 1e-8),
                      "rosenbrock": ({"dt": 1e-3, "damping": 1.0}, 30000, 1e-5)},
    "nesterov_ode": {"quadratic": ({"dt": 0.05}, 20000, 1e-4),
                     "rosenbrock": ({"dt": 0.01}, 30000, 3e-3)},
    "nose_hoover": {
        "quadratic": ({"dt": 0.05, "Q": 1.0, "temperature": 0.0}, 3000, 1e-8),
        "rosenbrock": ({"dt": 0.02, "Q": 10.0, "temperature": 0.0}, 25000, 1e-5)},
    "adam": {"quadratic": ({"lr": 0.1}, 1000, 1e-8),
             "rosenbrock": ({"lr": 0.03}, 12000, 1e-5)},
    # decoupled weight decay moves the fixed point off x*: switched off here
    "adamw": {"quadratic": ({"lr": 0.1, "weight_decay": 0.0}, 1000, 1e-8),
              "rosenbrock": ({"lr": 0.03, "weight_decay": 0.0}, 12000, 1e-5)},
    "rmsprop": {"quadratic": ({"lr": 3e-4, "momentum": 0.9}, 2000, 1e-8),
                "rosenbrock": ({"lr": 1e-4, "momentum": 0.9}, 20000, 1e-4)},
    "fanos": {"quadratic": ({"lr": 0.03}, 3000, 1e-8),
              "rosenbrock": ({}, 15000, 1e-5)},
    # lr = 0.9 converges at the same step (12841) from starts moved by 1e-10 in every
    # coordinate; at 0.5, 0.7, 0.8 and 1.1 such a move (or a rounding) decides whether
    # the run reaches the minimum within 25000 steps
    "frankenstein": {"quadratic": ({"lr": 0.1}, 1000, 1e-8),
                     "rosenbrock": ({"lr": 0.9}, 25000, 1e-5)},
    "fire": {"quadratic": ({"dt": 0.05}, 1000, 1e-8),
             "rosenbrock": ({"dt": 0.01, "dtmax": 0.1}, 8000, 1e-5)},
    "fire2": {"quadratic": ({"dt": 0.05}, 1000, 1e-8),
              "rosenbrock": ({"dt": 0.003}, 3000, 1e-5)},
    "fire2_ase": {"quadratic": ({}, 1000, 1e-8),
                  "rosenbrock": ({"dt": 0.01, "dtmax": 0.1}, 8000, 1e-5)},
    # at temperature 0 a light second thermostat drains the first's friction (zeta_2 zeta_1
    # in its equation): a heavy one (large Q_chain) lets the friction build up
    "nose_hoover_chain": {
        "quadratic": ({"dt": 0.05, "Q": 1.0, "Q_chain": 1000.0, "temperature": 0.0}, 4000,
                      1e-8),
        "rosenbrock": ({"dt": 0.02, "Q": 10.0, "Q_chain": 1e6, "temperature": 0.0}, 6000,
                       1e-5)},
    # p = 2 is Nesterov's ODE: its fading damping 3/t converges sublinearly, as there
    "bregman_lagrangian": {"quadratic": ({"dt": 0.05}, 20000, 1e-4),
                           "rosenbrock": ({"dt": 0.01}, 30000, 3e-3)},
    "ko": {"quadratic": ({"lr": 0.05, "momentum": 0.5}, 1000, 1e-8),
           "rosenbrock": ({"lr": 1e-3, "momentum": 0.9}, 5000, 1e-5)},
    "ko_dsmc": {"quadratic": ({"dt": 0.1, "damping": 4.0, "seed": 0}, 2000, 2e-8),
                "rosenbrock": ({"dt": 0.03, "damping": 5.0, "seed": 0}, 15000, 1e-5)},
    # the sampler at T = 0 is damped Verlet; annealing cools to T = 0 by step anneal_steps
    "langevin_baoab": {
        "quadratic": ({"temperature": 0.0, "dt": 0.3, "gamma": 3.0}, 1000, 1e-8),
        "rosenbrock": ({"temperature": 0.0, "dt": 0.03, "gamma": 1.0}, 5000, 1e-5)},
    "langevin_annealed": {
        "quadratic": ({"temperature": 0.01, "dt": 0.3, "gamma": 3.0, "schedule": "linear",
                       "anneal_steps": 300, "seed": 0}, 2000, 1e-8),
        "rosenbrock": ({"temperature": 1e-3, "dt": 0.03, "gamma": 1.0, "schedule": "linear",
                        "anneal_steps": 2000, "seed": 0}, 10000, 1e-5)},
    "ko_bgk": {"quadratic": ({"dt": 0.1, "damping": 4.0}, 2000, 1e-8),
               "rosenbrock": ({"dt": 0.02}, 5000, 1e-5)},
    # under dynopt.minimize the metric stays at its initial value 1: the heavy ball's
    # settings; minimize_preconditioned sets it (tests/test_preconditioned.py)
    "preconditioned_heavy_ball": {
        "quadratic": ({"lr": 0.05, "momentum": 0.5}, 1000, 1e-8),
        "rosenbrock": ({"lr": 1e-3, "momentum": 0.9}, 5000, 1e-5)},
}
