r"""The PINN warm-start protocol: problems, optimizers, rates, plans and the paper's claim.

The FANoS paper (N. Dhiman, arXiv:2601.00889, 2026) reports FANoS "unstable,
with high variance" on physics-informed neural network (PINN) warm-start
suites (Burgers, Allen--Cahn, five seeds); its sources here give neither the
networks, the budget nor how instability was measured. This protocol is a
small form of it, every choice named here and on ``docs/reproduce/pinn.md``:
a tanh network on one of three 1-D problems (:mod:`.problems`), a short Adam
pre-training from a seed (the warm start), then every optimizer continues
from the same warm start for the same number of gradient evaluations.
"""
from __future__ import annotations

from ..report import check_choice

__all__ = ["PROBLEM_NAMES", "ROWS", "LR_GRIDS", "PAPER_GRID", "PLANS", "WARM_LR", "WIDTH",
           "DEPTH", "LBFGS_HISTORY", "LINE_SEARCHES", "SPIKE", "VARIANCE_FACTOR", "CLAIM", "DIVERGED_LOSS",
           "row_names", "grid_of"]

#: the problems of :mod:`.problems`, in table order
PROBLEM_NAMES = ("poisson", "heat", "burgers")

#: hidden layers and their width of every network (tanh)
WIDTH = 20
DEPTH = 2

#: the warm start: torch.optim.Adam at this rate (its other settings PyTorch's defaults)
WARM_LR = 1e-2

#: row -> how the optimizer is made; 'lr' is swept on the row's grid (L-BFGS has none)
ROWS = {
    "fanos": {"kind": "dynopt", "label": "FANoS (dynopt.torch, method='fanos')",
              "paper": "FANoS"},
    "adamw": {"kind": "torch", "optimizer": "AdamW", "options": {},
              "label": "torch.optim.AdamW", "paper": "AdamW"},
    "sgd_momentum": {"kind": "torch", "optimizer": "SGD", "options": {"momentum": 0.9},
                     "label": "torch.optim.SGD(momentum=0.9)", "paper": "SGD + momentum 0.9"},
    "lbfgs": {"kind": "lbfgs", "label": "torch.optim.LBFGS", "paper": "L-BFGS"},
}

#: the paper's learning-rate grid (its Rosenbrock protocol; the 'full' size uses it)
PAPER_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
#: rates of each row at the default size, from the paper's grid: three around each
#: baseline's usual rate for fine-tuning, five for FANoS (its h is an integrator step:
#: the gradient moves the parameters by O(h^2); 1e-4 and 1e-3, below its default 3e-3,
#: so that its selection is not cut at the grid's lower edge)
LR_GRIDS = {"fanos": (1e-4, 1e-3, 3e-3, 1e-2, 3e-2), "adamw": (1e-4, 1e-3, 1e-2),
            "sgd_momentum": (1e-4, 1e-3, 1e-2), "lbfgs": (None,)}
#: the rate of each row at the quick size
QUICK_RATES = {"fanos": (1e-3,), "adamw": (1e-3,), "sgd_momentum": (1e-3,), "lbfgs": (None,)}

#: size -> seeds, problems, warm-start steps, gradient evaluations after it, grid
PLANS = {
    "quick": {"seeds": 2, "problems": ("poisson",), "warm_steps": 100, "evaluations": 100,
              "grid": "quick", "collocation": "small"},
    "default": {"seeds": 5, "problems": PROBLEM_NAMES, "warm_steps": 500, "evaluations": 300,
                "grid": "default", "collocation": "default"},
    "full": {"seeds": 5, "problems": PROBLEM_NAMES, "warm_steps": 1000, "evaluations": 3000,
             "grid": "paper", "collocation": "default"},
}

#: L-BFGS's memory; its line search is an option of the run (``line_search``)
LBFGS_HISTORY = 50
LINE_SEARCHES = ("strong_wolfe", "none")

#: FANoS's spread counts as "high variance" when its sd(log10 final loss) over seeds is
#: at least this many times every other optimizer's (a factor, not a mere ordering: with
#: five seeds an sd is itself uncertain by tens of percent)
VARIANCE_FACTOR = 2.0

#: a run "spiked" when the largest loss it evaluated exceeds the warm start's this many times
SPIKE = 10.0

#: what a diverged run counts as in a mean (the Rosenbrock protocol's rule)
DIVERGED_LOSS = 1e9

#: the paper's claim, beside the FANoS row of each problem
CLAIM = "FANoS unstable, with high variance across seeds, on PINN warm starts"


def row_names() -> list:
    """The optimizers, in table order."""
    return list(ROWS)


def grid_of(row: str, size: str) -> tuple:
    """The rates of ``row`` at ``size`` (``(None,)`` for L-BFGS)."""
    check_choice("row", row, ROWS)
    check_choice("size", size, PLANS)
    if row == "lbfgs":
        return (None,)
    grid = PLANS[size]["grid"]
    if grid == "quick":
        return QUICK_RATES[row]
    if grid == "paper":
        return PAPER_GRID
    return LR_GRIDS[row]
