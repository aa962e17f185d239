r"""Parameter condensation: do KO's collisions keep the rows of a weight matrix diverse?

The KO paper (M. Feng et al., arXiv:2505.14777, 2025) claims that its
collisions keep network parameters diverse, against "parameter
condensation" (the rows of a weight matrix collapsing onto a few
directions), at accuracy as good as or better than Adam's and SGD's. This
reproduction measures it in an ordinary PyTorch training loop with
minibatches: a ``64 -> H -> 10`` tanh network on scikit-learn's digits,
``torch.optim.SGD`` and ``torch.optim.Adam`` against KO on each of them
(:class:`dynopt.torch.Optimizer`, ``method='ko'``), every pair at the same
rates and seeds; the test accuracy and the diversity of the hidden layer's
weight rows at the end, mean and bootstrap interval over seeds, KO minus its
base paired by seed. The protocol and the results are on the documentation
page ``docs/reproduce/condensation.md``. Needs PyTorch (the ``[torch]``
extra) and scikit-learn (``[ml]``).

The modules: :mod:`.protocol` (rows, grids, plans, the claim), :mod:`.tasks`
(one training run), :mod:`.statistics` (intervals, the table's rows, the
verdict), :mod:`.prose` (the notes), :mod:`.plots` (the figures). This
module holds the run.
"""
from __future__ import annotations

import functools

from ..base import Reproduction
from ..report import Report, plan_and_seeds, timed
from ..runlog import sweep
from .plots import plot_differences, plot_epochs
from .prose import notes
from .protocol import (BATCH, CLAIM, CLAIM_SHORT, COMPARABLE_PP, GAMMA_C, LR_GRIDS,
                       MATERIAL_PERCENT, PLANS, ROWS, STRONG_GAMMA_C, TEST_FRACTION, grid_of,
                       pairs, row_names)
from .statistics import interval, judge, paired_difference, summarize_rows
from .tasks import import_torch, make_problem, run_point, train

__all__ = ["ROWS", "LR_GRIDS", "PLANS", "GAMMA_C", "STRONG_GAMMA_C", "CLAIM", "CLAIM_SHORT",
           "COMPARABLE_PP", "MATERIAL_PERCENT",
           "BATCH", "TEST_FRACTION", "row_names", "grid_of", "pairs", "make_problem", "train",
           "run_point", "interval", "judge", "paired_difference", "summarize_rows",
           "sweep_task", "run", "REPRODUCTION", "COLUMNS"]

#: the table's columns
COLUMNS = ["method", "lr", "acc", "acc_ci", "cos_W1", "cos_ci", "erank_W1", "erank_ci",
           "d_acc_pp", "d_acc_ci", "d_cos", "d_cos_ci", "d_erank", "d_erank_ci", "undone",
           "n", "diverged", "held", "paper"]


def sweep_task(method, lr, seed, *, hidden, epochs, batch):
    """The sweep's task (module level, so a process pool can carry it)."""
    return run_point(method, lr, seed, hidden=hidden, epochs=epochs, batch=batch)


@timed
def run(config) -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report` (data files
    written, figures planned).

    Raises
    ------
    ImportError
        Naming the ``[torch]`` extra when PyTorch is missing.
    """
    import_torch()
    plan, seeds = plan_and_seeds(PLANS, config)
    rows = row_names()
    grids = {r: grid_of(r, config.size) for r in rows}
    task = functools.partial(sweep_task, hidden=plan["hidden"], epochs=plan["epochs"],
                             batch=BATCH)
    points = [{"method": r, "lr": lr, "seed": s}
              for r in rows for lr in grids[r] for s in range(seeds)]
    result = sweep(config, task, points)
    records = [dict(r) for r in result.records]
    table = summarize_rows(records, rows, grids)
    report = Report(
        name="condensation",
        title=(f"Parameter condensation, digits MLP 64-{plan['hidden']}-10 (tanh) in PyTorch, "
               f"{plan['epochs']} epochs of minibatches of {BATCH}: KO (dynopt.torch) against "
               f"torch.optim SGD and Adam at the same rates, test accuracy and the diversity of "
               f"the hidden layer's weight rows"),
        columns=COLUMNS, rows=table, records=records, complete=result.complete,
        notes=notes(table, records, plan, seeds, grids, result.complete),
        meta={"size": config.size, "seeds": seeds, "hidden": plan["hidden"],
              "epochs": plan["epochs"], "batch": BATCH, "grids": grids, "rows": rows,
              "gamma_c": {r: ROWS[r]["options"]["gamma_c"] for r in rows
                          if ROWS[r]["kind"] == "ko"},
              "test_fraction": TEST_FRACTION, "comparable_pp": COMPARABLE_PP,
              "material_percent": MATERIAL_PERCENT,
              "claim": CLAIM})
    report.figure(config.out, "epochs", plot_epochs, records, rows, grids)
    if any(r.get("paired") for r in table):
        report.figure(config.out, "differences", plot_differences, table)
    return report


REPRODUCTION = Reproduction(
    "condensation", "Parameter condensation: KO (dynopt.torch) vs torch.optim SGD and Adam "
    "(accuracy, row diversity)", run, requires={"torch": "torch", "sklearn": "ml"})
