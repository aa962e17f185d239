"""The data files the digits MLP writes beside its report: final weights, the sensitivity."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import write_csv, write_npz
from .protocol import HIDDEN

__all__ = ["SENSITIVITY_COLUMNS", "write_weights", "write_sensitivity"]

SENSITIVITY_COLUMNS = ["collision_scale", "gamma_c", "row", "lr", "n", "diverged", "acc_mean",
                       "acc_std", "d_acc", "d_acc_se", "cos_W1", "cos_std", "d_cos", "d_cos_se",
                       "erank_W1", "erank_std", "d_erank", "d_erank_se", "train_loss",
                       "d_train_loss"]


def write_sensitivity(cells, path) -> Path:
    """The sensitivity cells as a CSV file (paired differences to SGD as ``d_*``)."""
    rows = []
    for c in cells:
        d = c["paired"]
        rows.append({
            **{k: c[k] for k in SENSITIVITY_COLUMNS if k in c},
            "d_acc": d["counted_accuracy"]["mean"], "d_acc_se": d["counted_accuracy"]["se"],
            "d_cos": d["cos_W1"]["mean"], "d_cos_se": d["cos_W1"]["se"],
            "d_erank": d["erank_W1"]["mean"], "d_erank_se": d["erank_W1"]["se"],
            "d_train_loss": d["train_loss"]["mean"]})
    return write_csv(path, rows, SENSITIVITY_COLUMNS)


def write_weights(thetas, path) -> Path:
    """The final parameters of every test run: ``theta`` (runs, dim), ``method``, ``lr``,
    ``seed`` and the layer ``sizes``."""
    keys = sorted(thetas, key=lambda k: (k[0], k[1], k[2]))
    dim = len(next(iter(thetas.values()))) if thetas else 0
    return write_npz(
        path, theta=np.array([thetas[k] for k in keys], dtype=float).reshape(len(keys), dim),
        method=np.array([k[0] for k in keys], dtype=str),
        lr=np.array([k[1] for k in keys], dtype=float),
        seed=np.array([k[2] for k in keys], dtype=int),
        sizes=np.array([64, HIDDEN, 10]))
