r"""The digits MLP protocol: the rows, their grids, the plan per size, the claims.

Each row is a registered method with its options and the grid it is tuned
on; KO's rows name their base (the row it is paired with). The KO-on-SGD
sensitivity adds rows at SGD's rate, one per (collision scale,
:math:`\gamma_c`). See ``docs/reproduce/mlp.md`` for the protocol in full.
"""
from __future__ import annotations

from ..report import check_choice

__all__ = ["HIDDEN", "TEST_FRACTION", "VALIDATION_FRACTION", "GAMMA_C", "ROWS",
           "SENSITIVITY_GAMMAS", "SENSITIVITY_SCALES", "SENSITIVITY", "LR_GRIDS", "PLANS",
           "CLAIMS", "sensitivity_row", "row_names", "sensitivity_rows", "grid_of",
           "sensitivity_cells"]

#: width of the hidden layer
HIDDEN = 32
#: fraction of each class held out for testing (of the whole data set)
TEST_FRACTION = 0.25
#: fraction of each class of the training split held out for validation
VALIDATION_FRACTION = 0.2
#: KO's collision coefficient (the method's default)
GAMMA_C = 0.1

#: row -> registered method, its options, the grid it uses, a label, KO's base row
ROWS = {
    "sgd": {"method": "gd", "options": {}, "grid": "sgd",
            "label": "SGD, full batch (gd)"},
    "momentum": {"method": "heavy_ball", "options": {"momentum": 0.9}, "grid": "momentum",
                 "label": "SGD + momentum 0.9 (heavy_ball)"},
    "adam": {"method": "adam", "options": {}, "grid": "adam", "label": "Adam"},
    "ko_sgd": {"method": "ko", "options": {"base": "sgd", "gamma_c": GAMMA_C}, "grid": "sgd",
               "label": "KO on SGD", "base_row": "sgd"},
    "ko_momentum": {"method": "ko", "options": {"base": "heavy_ball", "gamma_c": GAMMA_C},
                    "grid": "momentum", "label": "KO on SGD + momentum",
                    "base_row": "momentum"},
    "ko_adam": {"method": "ko", "options": {"base": "adam", "gamma_c": GAMMA_C}, "grid": "adam",
                "label": "KO on Adam", "base_row": "adam"},
    "fanos": {"method": "fanos", "options": {}, "grid": "fanos", "label": "FANoS"},
    "frankenstein": {"method": "frankenstein", "options": {}, "grid": "frankenstein",
                     "label": "Frankenstein"},
}

#: KO-on-SGD sensitivity: collision coefficients (all < 1, where the 'mean' scale
#: keeps a descent direction) and collision scales (``collision_scale`` of 'ko')
SENSITIVITY_GAMMAS = (0.1, 0.3, 0.9)
SENSITIVITY_SCALES = ("mean", "sum")


def sensitivity_row(scale: str, gamma: float) -> str:
    """The row key of one sensitivity cell; ``('mean', GAMMA_C)`` is ``'ko_sgd'``."""
    if scale not in SENSITIVITY_SCALES:
        raise ValueError(f"scale must be one of {SENSITIVITY_SCALES}, got {scale!r}")
    if scale == "mean" and gamma == GAMMA_C:
        return "ko_sgd"
    return f"ko_sgd_{scale}_g{gamma:g}"


#: the sensitivity's extra rows (every cell but ``ko_sgd``), trained at SGD's chosen rate
SENSITIVITY = {
    sensitivity_row(sc, gm): {
        "method": "ko", "options": {"base": "sgd", "gamma_c": gm, "collision_scale": sc},
        "grid": "sgd", "label": f"KO on SGD, gamma_c {gm:g}, {sc} scale", "base_row": "sgd",
        "gamma_c": gm, "collision_scale": sc}
    for sc in SENSITIVITY_SCALES for gm in SENSITIVITY_GAMMAS
    if sensitivity_row(sc, gm) != "ko_sgd"}

#: learning-rate grids (five rates sqrt(10) apart)
LR_GRIDS = {
    "sgd": (0.1, 0.3, 1.0, 3.0, 10.0),
    "momentum": (3e-3, 1e-2, 3e-2, 0.1, 0.3),
    "adam": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    "fanos": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    "frankenstein": (1e-3, 3e-3, 1e-2, 3e-2, 0.1),
}

#: size -> test seeds, selection seeds, steps, which part of each grid, the
#: sensitivity's extra cells (scale, gamma_c)
PLANS = {
    "quick": {"seeds": 2, "select_seeds": 1, "steps": 100, "grid": slice(1, 3),
              "sensitivity": (("sum", 0.1),)},
    "default": {"seeds": 5, "select_seeds": 3, "steps": 1000, "grid": slice(None),
                "sensitivity": tuple((s["collision_scale"], s["gamma_c"])
                                     for s in SENSITIVITY.values())},
    "full": {"seeds": 10, "select_seeds": 5, "steps": 3000, "grid": slice(None),
             "sensitivity": tuple((s["collision_scale"], s["gamma_c"])
                                  for s in SENSITIVITY.values())},
}

#: the papers' claims beside each row (none of them reports on this data set)
CLAIMS = {
    "sgd": "baseline", "momentum": "baseline", "adam": "baseline",
    "ko_sgd": "KO: more accurate, rows more diverse",
    "ko_momentum": "KO: more accurate, rows more diverse",
    "ko_adam": "KO: more accurate, rows more diverse",
    "fanos": "no classifier result",
    "frankenstein": "generalizes better than Adam, SGD",
    **{row: "KO: more accurate, rows more diverse" for row in SENSITIVITY},
}


def _spec(row: str) -> dict:
    return ROWS[row] if row in ROWS else SENSITIVITY[row]


def row_names() -> list:
    """The rows whose methods are registered at run time, in table order."""
    import dynopt
    return [r for r, spec in ROWS.items() if spec["method"] in dynopt.METHODS]


def sensitivity_rows(rows, size: str) -> list:
    """The sensitivity's extra rows at ``size``: none unless ``sgd`` and ``ko_sgd`` run."""
    if "sgd" not in rows or "ko_sgd" not in rows:
        return []
    return [sensitivity_row(sc, gm) for sc, gm in PLANS[size]["sensitivity"]]


def grid_of(row: str, size: str) -> tuple:
    """The learning rates of ``row`` at size ``size``."""
    check_choice("row", row, ROWS)
    check_choice("size", size, PLANS)
    return tuple(LR_GRIDS[ROWS[row]["grid"]][PLANS[size]["grid"]])


def sensitivity_cells(size: str) -> list:
    """The sensitivity's cells ``(scale, gamma_c)`` at ``size``, ``('mean', GAMMA_C)`` included,
    ordered by scale, then by ``gamma_c``."""
    check_choice("size", size, PLANS)
    cells = {("mean", GAMMA_C), *PLANS[size]["sensitivity"]}
    return sorted(cells, key=lambda c: (SENSITIVITY_SCALES.index(c[0]), c[1]))
