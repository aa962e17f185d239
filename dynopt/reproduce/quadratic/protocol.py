r"""The quadratics' protocol: condition numbers, methods, grid, problems and starts.

See ``docs/reproduce/quadratic.md`` for the protocol in full and its sources.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KAPPAS", "METHODS", "TUNED_METHODS", "TUNED", "LR_GRID", "TARGET", "PLANS",
           "CURVE_POINTS", "make_problem", "start", "curve_grid", "tuned_name", "base_method"]

#: condition numbers
KAPPAS = (1e2, 1e4, 1e6)
#: the methods compared, those registered at run time
METHODS = ("fanos", "heavy_ball", "gd", "nesterov", "adam", "adamw")
#: the methods of METHODS with a tuned row (those dynopt.tuning.TUNABLE supports)
TUNED_METHODS = ("gd", "heavy_ball", "nesterov")
#: suffix of a tuned row's method name, e.g. ``'heavy_ball (tuned)'``
TUNED = " (tuned)"
#: the paper's grid extended by 0.3 and 1
LR_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
#: reduction of f - f* the step counts are given for
TARGET = 1e-6
#: size -> dimension, seeds, steps, learning rates
PLANS = {
    "quick": {"dim": 10, "seeds": 2, "steps": 200, "lrs": (1e-2, 1e-1, 1.0)},
    "default": {"dim": 50, "seeds": 10, "steps": 3000, "lrs": LR_GRID},
    "full": {"dim": 100, "seeds": 20, "steps": 10000, "lrs": LR_GRID},
}
#: points of the stored convergence curves (log-spaced steps)
CURVE_POINTS = 100


# --------------------------------------------------------------------------- problems
def make_problem(dim: int, kappa: float, seed: int):
    """The quadratic of seed ``seed``: log-spaced spectrum in [1/kappa, 1], Haar rotation."""
    from ...problems import Quadratic
    return Quadratic.with_condition(dim, kappa, rotate=True,
                                    seed=np.random.default_rng([int(seed), 0]))


def start(dim: int, seed: int) -> np.ndarray:
    """The start of seed ``seed``: :math:`x_0 \\sim U(-1, 1)^n`."""
    return np.random.default_rng([int(seed), 1]).uniform(-1.0, 1.0, dim)


def curve_grid(steps: int) -> np.ndarray:
    """Step 0 and log-spaced steps in ``[1, steps]``: where the curves are kept."""
    return np.unique(np.concatenate(
        [[0], np.round(np.geomspace(1, steps, CURVE_POINTS)).astype(int)]))


def tuned_name(method: str) -> str:
    """The name of ``method``'s tuned row, e.g. ``'heavy_ball (tuned)'``."""
    return f"{method}{TUNED}"


def base_method(name: str):
    """The method of a tuned row's name, ``None`` for a grid row's."""
    return name[:-len(TUNED)] if name.endswith(TUNED) else None
