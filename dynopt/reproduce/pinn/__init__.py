r"""The FANoS paper's PINN warm-start suite in small form: FANoS, AdamW, SGD and L-BFGS.

The FANoS paper (N. Dhiman, arXiv:2601.00889, 2026) reports FANoS unstable,
with high variance, on physics-informed neural network warm starts. This
reproduction measures that on three small 1-D problems (Poisson, heat,
viscous Burgers; :mod:`.problems`): a tanh network pre-trained briefly with
Adam from a seed, then FANoS (:class:`dynopt.torch.Optimizer`),
``torch.optim.AdamW``, ``torch.optim.SGD(momentum=0.9)`` and
``torch.optim.LBFGS`` each continue from the same warm start under the same
number of gradient evaluations. Per problem and optimizer: the final loss
(mean and bootstrap interval over seeds), the spread across seeds, the
relative L2 error against the exact or reference solution and the fraction
of runs that diverged or ended worse than the warm start, beside the claim.
The protocol and the results are on ``docs/reproduce/pinn.md``. Needs
PyTorch (the ``[torch]`` extra).

The modules: :mod:`.protocol` (rows, grids, plans, the claim),
:mod:`.problems` (the PDEs, losses, solutions), :mod:`.runs` (the warm start
and one run), :mod:`.rows` (the table's rows and the verdict), :mod:`.prose`
(the notes), :mod:`.plots` (the figures). This module holds the run.
"""
from __future__ import annotations

import functools

from ..base import Reproduction
from ..report import Report, plan_and_seeds, timed
from ..runlog import sweep
from .plots import plot_curves, plot_final
from .problems import PROBLEMS, burgers_reference, make_network, problem
from .prose import notes
from .protocol import (CLAIM, LINE_SEARCHES, PLANS, PROBLEM_NAMES, ROWS, grid_of, row_names)
from .rows import summarize_rows, verdicts
from .runs import import_torch, run_point, warm_start

__all__ = ["PROBLEMS", "PROBLEM_NAMES", "ROWS", "PLANS", "CLAIM", "COLUMNS", "problem",
           "make_network", "burgers_reference", "warm_start", "run_point", "grid_of",
           "row_names", "summarize_rows", "verdicts", "sweep_task", "run", "REPRODUCTION"]

#: the table's columns
COLUMNS = ["problem", "method", "lr", "loss", "loss_ci", "median", "sd_log10", "rel_l2",
           "warm_loss", "diverged", "worse", "spiked", "n", "held", "paper"]


def sweep_task(problem, method, lr, seed, *, warm_steps, evaluations, collocation,
               line_search, backend):
    """The sweep's task (module level, so a process pool can carry it)."""
    return run_point(problem, method, lr, seed, warm_steps=warm_steps,
                     evaluations=evaluations, collocation=collocation,
                     line_search=line_search, backend=backend)


def _problems(value, plan) -> tuple:
    if value is None:
        return tuple(plan["problems"])
    names = tuple(p.strip() for p in value.split(",")) if isinstance(value, str) else None
    if not names or any(p not in PROBLEMS for p in names) or len(set(names)) != len(names):
        raise ValueError(f"problems must be a comma-separated list of distinct names from "
                         f"{sorted(PROBLEMS)}, got {value!r}")
    return names


@timed
def run(config, problems=None, line_search="strong_wolfe", backend="auto") -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report`.

    Parameters
    ----------
    config : ReproConfig
    problems : str, optional
        Comma-separated problems (default: the size's; ``'poisson'`` at quick,
        all three otherwise).
    line_search : {'strong_wolfe', 'none'}
        L-BFGS's line search (``'none'``: torch's fixed step ``lr = 1``).
    backend : {'auto', 'numba', 'torch'}
        How ``dynopt.torch.Optimizer`` steps FANoS (the same numbers either way,
        to rounding).

    Raises
    ------
    ImportError
        Naming the ``[torch]`` extra when PyTorch is missing.
    """
    import_torch()
    plan, seeds = plan_and_seeds(PLANS, config)
    names = _problems(problems, plan)
    if line_search not in LINE_SEARCHES:
        raise ValueError(f"line_search must be one of {LINE_SEARCHES}, got {line_search!r}")
    if backend not in ("auto", "numba", "torch"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'torch', got {backend!r}")
    rows = row_names()
    grids = {r: grid_of(r, config.size) for r in rows}
    task = functools.partial(sweep_task, warm_steps=plan["warm_steps"],
                             evaluations=plan["evaluations"],
                             collocation=plan["collocation"], line_search=line_search,
                             backend=backend)
    points = [{"problem": p, "method": m, "lr": lr, "seed": s}
              for p in names for s in range(seeds) for m in rows for lr in grids[m]]
    result = sweep(config, task, points)
    records = [dict(r) for r in result.records]
    table = summarize_rows(records, names, rows)
    verdict = verdicts(table, names)
    for row in table:
        if row["method"] == "fanos":
            v = verdict.get(row["problem"])
            row["held"] = None if v is None else v["held"]
            row["paper"] = "unstable, high variance"
        else:
            row["held"] = None
            row["paper"] = None
    report = Report(
        name="pinn",
        title=(f"PINN warm starts ({', '.join(names)}): FANoS (dynopt.torch) against "
               f"torch.optim AdamW, SGD + momentum 0.9 and L-BFGS, {plan['evaluations']} "
               f"gradient evaluations after {plan['warm_steps']} Adam steps, {seeds} seeds"),
        columns=COLUMNS, rows=table, records=records, complete=result.complete,
        notes=notes(table, verdict, plan, seeds, names, grids, line_search, result.complete),
        meta={"size": config.size, "seeds": seeds, "problems": list(names),
              "warm_steps": plan["warm_steps"], "evaluations": plan["evaluations"],
              "collocation": plan["collocation"], "grids": grids, "rows": rows,
              "line_search": line_search, "backend": backend, "claim": CLAIM,
              "verdicts": verdict})
    report.figure(config.out, "final", plot_final, table, records, names, rows)
    report.figure(config.out, "curves", plot_curves, table, records, names, rows)
    return report


REPRODUCTION = Reproduction(
    "pinn", "PINN warm starts: FANoS (dynopt.torch) vs AdamW, SGD + momentum, L-BFGS "
    "(stability, spread over seeds)", run, requires={"torch": "torch"})
