r"""The condensation protocol: the rows, the rate of each pair, the plan per size, the claim.

Each row is an optimizer of a PyTorch training loop: ``torch.optim.SGD`` and
``torch.optim.Adam`` (the baselines), and KO on each of them through
:class:`dynopt.torch.Optimizer` (``method='ko'``, ``base='sgd'`` or
``'adam'``). A KO row names its base row: both run at every rate of the
pair's grid, on the same seeds (split, initial weights, minibatch order), so
that they differ only by the collision. See ``docs/reproduce/condensation.md``.
"""
from __future__ import annotations

from ..report import check_choice

__all__ = ["TEST_FRACTION", "BATCH", "GAMMA_C", "STRONG_GAMMA_C", "ROWS", "LR_GRIDS", "PLANS",
           "CLAIM", "CLAIM_SHORT", "COMPARABLE_PP", "MATERIAL_PERCENT", "row_names", "grid_of",
           "pairs"]

#: fraction of each class held out for testing
TEST_FRACTION = 0.25
#: minibatch size
BATCH = 64
#: KO's collision coefficient (the method's default) ...
GAMMA_C = 0.1
#: ... and the strongest one of the 'mean' scale that keeps a descent direction tried here
STRONG_GAMMA_C = 0.9

#: row -> optimizer ('torch': a torch.optim class; 'ko': dynopt.torch.Optimizer with
#: method='ko'), its options, the grid it runs on, a label, KO's base row
ROWS = {
    "sgd": {"kind": "torch", "optimizer": "SGD", "options": {}, "grid": "sgd",
            "label": "torch.optim.SGD"},
    "ko_sgd": {"kind": "ko", "options": {"base": "sgd", "gamma_c": GAMMA_C}, "grid": "sgd",
               "label": f"KO on SGD, gamma_c {GAMMA_C:g}", "base_row": "sgd"},
    "ko_sgd_strong": {"kind": "ko", "options": {"base": "sgd", "gamma_c": STRONG_GAMMA_C},
                      "grid": "sgd", "label": f"KO on SGD, gamma_c {STRONG_GAMMA_C:g}",
                      "base_row": "sgd"},
    "adam": {"kind": "torch", "optimizer": "Adam", "options": {}, "grid": "adam",
             "label": "torch.optim.Adam"},
    "ko_adam": {"kind": "ko", "options": {"base": "adam", "gamma_c": GAMMA_C}, "grid": "adam",
                "label": f"KO on Adam, gamma_c {GAMMA_C:g}", "base_row": "adam"},
    "ko_adam_strong": {"kind": "ko", "options": {"base": "adam", "gamma_c": STRONG_GAMMA_C},
                       "grid": "adam", "label": f"KO on Adam, gamma_c {STRONG_GAMMA_C:g}",
                       "base_row": "adam"},
}

#: learning rates of each pair (three rates sqrt(10) apart around the usual minibatch rates)
LR_GRIDS = {"sgd": (0.03, 0.1, 0.3), "adam": (3e-4, 1e-3, 3e-3)}

#: size -> seeds, hidden width, epochs, which part of each grid
PLANS = {
    "quick": {"seeds": 2, "hidden": 16, "epochs": 3, "grid": slice(1, 2)},
    "default": {"seeds": 5, "hidden": 32, "epochs": 30, "grid": slice(None)},
    "full": {"seeds": 10, "hidden": 64, "epochs": 100, "grid": slice(None)},
}

#: the paper's claim beside each KO row
CLAIM = ("KO: collisions keep the rows diverse (lower mean |cos|, higher effective rank) at "
         "comparable or better accuracy")

#: ... and in the table's 'paper' column
CLAIM_SHORT = "rows more diverse, accuracy comparable"

#: a KO row's accuracy counts as comparable to its base's when the lower end of the
#: interval of the paired difference is above minus this many percentage points
COMPARABLE_PP = 1.0

#: a resolved diversity gain counts as keeping the rows diverse ('held': 'yes') when KO takes
#: back at least this percentage of the condensation its base shows (the rise of cos_W1 over
#: initialisation); below it the verdict is 'direction only'
MATERIAL_PERCENT = 10.0


def row_names() -> list:
    """The rows, in table order."""
    return list(ROWS)


def grid_of(row: str, size: str) -> tuple:
    """The learning rates of ``row`` at ``size``."""
    check_choice("row", row, ROWS)
    check_choice("size", size, PLANS)
    return tuple(LR_GRIDS[ROWS[row]["grid"]][PLANS[size]["grid"]])


def pairs(rows) -> list:
    """``(ko_row, base_row)`` for every KO row of ``rows`` whose base is in ``rows``."""
    return [(r, ROWS[r]["base_row"]) for r in rows
            if ROWS[r].get("base_row") in rows]
