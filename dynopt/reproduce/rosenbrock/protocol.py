r"""The Rosenbrock-100D protocol: budget, grid, starts, methods and the paper's figures.

See ``docs/reproduce/rosenbrock.md`` for the protocol in full and its sources.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

__all__ = ["DIM", "EVALUATIONS", "LR_GRID", "CLIP_NORM", "DTMAX_RATIO", "ADAMW_CLIP", "LBFGS",
           "PAPER", "PAPER_NAMES", "PLANS", "CURVE_POINTS", "paper_starts", "fresh_starts",
           "start_points", "step_parameter", "tied_parameters", "method_names",
           "clipped_rosenbrock", "TUNED", "TUNE_EVERY", "tuned_name", "tuned_spec"]

#: dimension of the problem
DIM = 100
#: gradient evaluations per run (the evaluation at x0 included)
EVALUATIONS = 3000
#: the paper's learning-rate grid
LR_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
#: the gradient-norm bound of the clipped AdamW row
CLIP_NORM = 1.0
#: a method's largest time step ``dtmax`` (FIRE) is this multiple of the swept ``dt``
DTMAX_RATIO = 10.0
ADAMW_CLIP = "adamw+clip"
LBFGS = "scipy L-BFGS-B"
#: the paper's figures (mean final loss), keyed by the row they compare with
PAPER = {"fanos": 1.74e-2, "adamw": 48.50, "heavy_ball": 90.76, ADAMW_CLIP: 1.87e-3,
         LBFGS: 4.4e-10}
#: the paper's name of each of those rows
PAPER_NAMES = {"fanos": "FANoS (RMS mass)", "adamw": "AdamW",
               "heavy_ball": "SGD + momentum 0.9", ADAMW_CLIP: "AdamW + grad-norm clip 1.0",
               LBFGS: "L-BFGS"}
#: the methods of the tuned rows (every one :func:`dynopt.tuning.tune` supports)
TUNED = ("gd", "heavy_ball", "nesterov", "gradient_flow", "damped_oscillator")
#: steps between two estimates of the spectrum in the retuned rows (one rule for every start)
TUNE_EVERY = 300
#: size -> seeds per section, evaluations, learning rates, sections, the tuned rows
#: (``tuned``: methods tuned at x0 only; ``retuned``: methods tuned at x0 and every
#: ``tune_every`` steps; ``tuned_sections``: the sections with tuned rows, default all)
PLANS = {
    "quick": {"seeds": 2, "evaluations": 300, "lrs": (1e-3, 1e-2, 1e-1),
              "sections": ("paper", "fresh"), "tuned": ("heavy_ball",),
              "retuned": ("heavy_ball",), "tune_every": 100, "tuned_sections": ("paper",)},
    "default": {"seeds": 10, "evaluations": EVALUATIONS, "lrs": LR_GRID, "sections": ("paper",),
                "tuned": TUNED, "retuned": ("heavy_ball", "nesterov"),
                "tune_every": TUNE_EVERY},
    "full": {"seeds": 10, "evaluations": EVALUATIONS, "lrs": LR_GRID,
             "sections": ("paper", "fresh"), "tuned": TUNED,
             "retuned": ("heavy_ball", "nesterov"), "tune_every": TUNE_EVERY},
}
#: points of the stored convergence curves (log-spaced evaluation counts)
CURVE_POINTS = 100

_DATA = Path(__file__).resolve().parent.parent / "data"


# --------------------------------------------------------------------------- starts
def paper_starts() -> np.ndarray:
    """The paper's ten starting points, shape ``(10, 100)``, entries in :math:`[-2, 2)`.

    The float32 uniform(-2, 2) vectors PyTorch's generator gives after
    ``torch.manual_seed(s)``, :math:`s = 0..9`, as the paper's runner drew them
    (reference section 2), stored as float64.
    """
    return np.load(_DATA / "rosenbrock100_paper_starts.npy")


def fresh_starts(count: int, dim: int = DIM) -> np.ndarray:
    """``count`` new starts, row s: ``numpy.random.default_rng(s).uniform(-2, 2, dim)``."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    return np.stack([np.random.default_rng(s).uniform(-2.0, 2.0, dim) for s in range(int(count))])


def start_points(starts: str, seeds: int) -> np.ndarray:
    """The first ``seeds`` starts of a section, ``starts`` in ``'paper'``, ``'fresh'``."""
    if starts == "paper":
        table = paper_starts()
        if not 1 <= seeds <= len(table):
            raise ValueError(f"seeds must lie in [1, {len(table)}] for the paper's starts, "
                             f"got {seeds!r}")
        return table[:seeds].copy()
    if starts == "fresh":
        return fresh_starts(seeds)
    raise ValueError(f"starts must be 'paper' or 'fresh', got {starts!r}")


# --------------------------------------------------------------------------- methods
@functools.lru_cache(maxsize=None)
def step_parameter(name: str) -> str | None:
    """The hyperparameter swept as the learning rate: ``'lr'``, else ``'dt'``, else ``None``."""
    import dynopt
    if name == ADAMW_CLIP:
        name = "adamw"
    hyper = dynopt.METHODS[name].hyperparameters()
    for key in ("lr", "dt"):
        if key in hyper:
            return key
    return None


def tied_parameters(name: str, value, dtmax_ratio=DTMAX_RATIO) -> dict:
    """Hyperparameters set with the swept one: ``{'dtmax': dtmax_ratio * dt}`` for a method
    that sweeps ``dt`` and has a ``dtmax`` (FIRE), else nothing.

    ``dtmax_ratio=None`` keeps the method's own ``dtmax`` (ASE's 1.0 for FIRE).
    """
    import dynopt
    if name == ADAMW_CLIP:
        name = "adamw"
    if dtmax_ratio is None or step_parameter(name) != "dt" \
            or "dtmax" not in dynopt.METHODS[name].hyperparameters():
        return {}
    if isinstance(dtmax_ratio, bool) or not isinstance(dtmax_ratio, (int, float)) \
            or not (math.isfinite(dtmax_ratio) and dtmax_ratio >= 1):
        raise ValueError(f"dtmax_ratio must be a number >= 1 or None, got {dtmax_ratio!r}")
    return {"dtmax": float(dtmax_ratio) * float(value)}


def method_names() -> list:
    """Every registered method with a step to sweep, then ``adamw+clip`` and L-BFGS-B."""
    import dynopt
    names = [m for m in dynopt.METHODS if step_parameter(m) is not None]
    if "adamw" in dynopt.METHODS:
        names.append(ADAMW_CLIP)
    return names + [LBFGS]


def tuned_name(method: str, every=None) -> str:
    """The row of ``method`` tuned at :math:`x_0` (``every=None``) or also every ``every`` steps."""
    return f"{method} (tuned)" if every is None else f"{method} (tuned every {int(every)})"


def tuned_spec(name: str):
    """``(method, every)`` of a tuned row's name (:func:`tuned_name`), else ``None``."""
    if not isinstance(name, str) or not name.endswith(")") or " (tuned" not in name:
        return None
    method, _, rest = name.partition(" (tuned")
    rest = rest[:-1]
    if rest == "":
        return method, None
    if rest.startswith(" every ") and rest[7:].isdigit():
        return method, int(rest[7:])
    return None


def clipped_rosenbrock(X, max_norm: float = CLIP_NORM):
    r"""Rosenbrock value and gradient with each row's gradient clipped in norm.

    .. math:: g \leftarrow g \min\Big(1, \frac{c}{\lVert g\rVert_2 + 10^{-6}}\Big)

    as ``torch.nn.utils.clip_grad_norm_(params, max_norm=c)`` does before a step.
    """
    from ...problems import rosenbrock_fun_and_grad
    F, G = rosenbrock_fun_and_grad(X)
    norm = np.linalg.norm(G, axis=-1, keepdims=True)
    return F, G * np.minimum(1.0, max_norm / (norm + 1e-6))
