r"""A small classifier: KO, FANoS and Frankenstein against SGD and Adam.

The KO (arXiv:2505.14777), Frankenstein (arXiv:2503.02147) and FANoS
(arXiv:2601.00889) papers report on networks and data sets far larger than
two cores train in minutes, and none on this one; their qualitative claims
are measured on a ``64 -> 32 -> 10`` tanh network trained full batch on
scikit-learn's digits: each optimizer's rate chosen on a validation split,
then test accuracy and the diversity of the first weight matrix's rows, KO
paired with its base at the same rate, and KO's sensitivity to its
collision. The protocol, its sources and the results are on the
documentation page ``docs/reproduce/mlp.md``.

The modules: :mod:`.protocol` (rows, grids, plans, claims), :mod:`.tasks`
(one training run), :mod:`.statistics` (rate selection, rows, paired
differences), :mod:`.prose` (the notes), :mod:`.plots` (the figures),
:mod:`.files` (weights and sensitivity files). This module holds the run.
"""
from __future__ import annotations

import functools

from ..base import Reproduction, single_threaded_blas
from ..report import Report, plan_and_seeds, timed
from ..runlog import sweep
from .files import SENSITIVITY_COLUMNS, write_sensitivity, write_weights
from .plots import plot_results, plot_selection, plot_sensitivity
from .prose import measured_text, notes
from .protocol import (CLAIMS, GAMMA_C, HIDDEN, LR_GRIDS, PLANS, ROWS, SENSITIVITY,
                       SENSITIVITY_GAMMAS, SENSITIVITY_SCALES, TEST_FRACTION,
                       VALIDATION_FRACTION, _spec, grid_of, row_names, sensitivity_cells,
                       sensitivity_row, sensitivity_rows)
from .statistics import (paired, paired_differences, select_rates, sensitivity_summary,
                         summarize_rows)
from .tasks import make_problems, run_point

__all__ = ["ROWS", "LR_GRIDS", "PLANS", "GAMMA_C", "CLAIMS", "SENSITIVITY_GAMMAS",
           "SENSITIVITY_SCALES", "SENSITIVITY", "sensitivity_row", "sensitivity_cells",
           "sensitivity_summary", "sensitivity_rows", "row_names", "grid_of",
           "make_problems", "run_point", "sweep_task", "select_rates", "summarize_rows",
           "paired_differences", "run", "REPRODUCTION"]

#: the table's columns
COLUMNS = ["method", "lr", "acc_mean", "acc_std", "train_loss", "cos_W1", "cos_std",
           "erank_W1", "erank_std", "n", "diverged", "failed", "paper", "measured"]


def sweep_task(phase, method, lr, seed, *, steps, hidden):
    """The sweep's task (module level, so a process pool can carry it)."""
    return run_point(phase, method, lr, seed, steps=steps, hidden=hidden)


@timed
def run(config) -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report` (data files
    written, figures planned)."""
    plan, seeds = plan_and_seeds(PLANS, config)
    select_seeds = min(plan["select_seeds"], seeds)
    rows = row_names()
    grids = {r: grid_of(r, config.size) for r in rows}
    task = functools.partial(sweep_task, steps=plan["steps"], hidden=HIDDEN)
    select_points = [{"phase": "select", "method": r, "lr": lr, "seed": s}
                     for r in rows for lr in grids[r] for s in range(select_seeds)]
    selection = sweep(config, task, select_points)
    records = [dict(r) for r in selection.records]
    chosen = select_rates(records, rows)
    complete = selection.complete
    sens = sensitivity_rows(rows, config.size) if chosen.get("sgd") is not None else []
    table_rows = rows + sens
    table_chosen = {**chosen, **{r: chosen["sgd"] for r in sens}}
    table_grids = {**grids, **{r: grids["sgd"] for r in sens}}
    if complete:
        tests = sweep(config, task, _test_points(table_rows, table_chosen, seeds))
        complete = tests.complete
        records += [dict(r) for r in tests.records]
    thetas = {}
    for rec in records:
        theta = rec.pop("theta", None)
        if theta is not None:
            thetas[(rec["method"], rec["lr"], rec["seed"])] = theta
    table = summarize_rows(records, table_rows, table_chosen, table_grids)
    pairs = paired(records, table_rows, table_chosen)
    cells = (sensitivity_summary(records, chosen["sgd"], sensitivity_cells(config.size))
             if sens else [])
    for row in table:
        row["paired"] = pairs.get(row["method"])
        row["measured"] = measured_text(row["method"], pairs)
    weights = write_weights(thetas, config.out / "mlp_weights.npz")
    data_files = [weights]
    if cells:
        data_files.append(write_sensitivity(cells, config.out / "mlp_sensitivity.csv"))
    report = Report(
        name="mlp",
        title=(f"Digits MLP 64-{HIDDEN}-10 (tanh), {plan['steps']} full-batch steps, rate chosen "
               f"on a validation split: test accuracy and weight-row diversity (KO, FANoS, "
               f"Frankenstein vs SGD and Adam)"),
        columns=COLUMNS, rows=table, records=records, complete=complete,
        notes=notes(table, records, plan, seeds, select_seeds, grids, chosen, pairs,
                    selection.complete, cells),
        meta={"size": config.size, "seeds": seeds, "select_seeds": select_seeds,
              "steps": plan["steps"], "hidden": HIDDEN, "grids": grids, "chosen": chosen,
              "rows": rows, "test_fraction": TEST_FRACTION,
              "validation_fraction": VALIDATION_FRACTION, "gamma_c": GAMMA_C,
              "weights_file": weights.name, "sensitivity_rows": sens,
              "sensitivity": cells})
    report.figure(config.out, "results", plot_results, table, records)
    report.figure(config.out, "selection", plot_selection, records, rows, chosen)
    if cells:
        report.figure(config.out, "sensitivity", plot_sensitivity, cells)
    report.data_files = data_files
    return report


def _test_points(rows, chosen, seeds):
    """Each row at its chosen rate; KO rows also at their base's chosen rate (a generator)."""
    for row in rows:
        rates = [chosen[row]]
        base = _spec(row).get("base_row")
        if base is not None and base in chosen:
            rates.append(chosen[base])
        for lr in dict.fromkeys(r for r in rates if r is not None):
            for s in range(seeds):
                yield {"phase": "test", "method": row, "lr": lr, "seed": s}

REPRODUCTION = Reproduction(
    "mlp", "Digits MLP: KO, FANoS, Frankenstein vs SGD and Adam (accuracy, row diversity)", run,
    requires={"sklearn": "ml"})
