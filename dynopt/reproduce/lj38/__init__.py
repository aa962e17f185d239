"""The Frankenstein paper's Lennard-Jones 38 benchmark: force calls to relax a cluster.

C.-W. Hsu et al., arXiv:2503.02147 (2025), Table 2: random LJ38 starts relaxed
until the force criterion :math:`10^{-2}` is met; mean, minimum and maximum
force calls per method. dynopt's methods, ASE's FIRE, BFGS and LBFGS and
SciPy's CG and L-BFGS-B, and dynopt's methods tuned without any grid from the
measured spectrum (:data:`TUNED_ROWS`), relax the same random starts (not the paper's own,
which are not available offline) in one run; a run over the cap, diverged,
stopped early or dissociated is a failure. The protocol, its sources and the
results are on the documentation page ``docs/reproduce/lj38.md``.

The modules: :mod:`.protocol` (criterion, cap, settings, references,
starts), :mod:`.runs` (one block of starts), :mod:`.rows` (records and the
table's rows), :mod:`.prose` (the notes), :mod:`.plots` (the figures). This
module holds the run.
"""
from __future__ import annotations

import functools

from ..base import Reproduction
from ..report import Report, plan_and_seeds, timed, write_npz
from ..runlog import sweep
from .plots import plot_calls, plot_energies
from .prose import notes
from .protocol import (ASE_METHODS, ASE_RC, BOND_CUTOFF, CAP, CRITERIA, DYNOPT_SETTINGS, FMAX,
                       GM_ENERGY, GM_TOL, L2_TOL, N_ATOMS, OPTBENCH, PAPER, PLANS,
                       SCIPY_METHODS, TUNE_EVERY, TUNED_ROWS, criterion_value, fragments,
                       lj_batch, start)
from .rows import aggregate, flatten
from .runs import run_block

__all__ = [
    "N_ATOMS", "FMAX", "L2_TOL", "CAP", "GM_ENERGY", "GM_TOL", "ASE_RC", "BOND_CUTOFF",
    "CRITERIA", "fragments",
    "DYNOPT_SETTINGS", "TUNED_ROWS", "TUNE_EVERY", "ASE_METHODS", "SCIPY_METHODS", "PAPER", "OPTBENCH", "PLANS",
    "start", "lj_batch", "criterion_value", "run_block", "sweep_task", "flatten",
    "aggregate", "run", "REPRODUCTION",
]

#: the table's columns
COLUMNS = ["method", "runs", "converged", "failures", "dissociated", "errors", "mean",
           "min", "max", "tune_calls",
           "E_mean", "E_min", "at_gm", "paper_mean", "paper_min", "paper_max", "paper_source"]


@timed
def run(config, criterion: str = "fmax") -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report`.

    Parameters
    ----------
    config : ReproConfig
        Size, seeds (starts), output folder, executor.
    criterion : {'fmax', 'l2'}
        ``'fmax'`` (the default, ASE's and the paper's): largest per-atom force
        below :math:`10^{-2}`; ``'l2'``: OptBench's norm of the whole force vector.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {sorted(CRITERIA)}, got {criterion!r}")
    plan, seeds = plan_and_seeds(PLANS, config)
    methods = list(plan["methods"])
    block = plan["block"]
    points = ({"method": m, "first_seed": b, "count": min(block, seeds - b)}
              for m in methods for b in range(0, seeds, block))
    task = functools.partial(sweep_task, cap=plan["cap"], criterion=criterion)
    result = sweep(config, task, points)
    records, positions = flatten(result.records)
    rows = aggregate(records, methods)
    name = "lj38" if criterion == "fmax" else f"lj38_{criterion}"
    report = Report(
        name=name,
        title=(f"LJ38, {seeds} random starts: force calls until {CRITERIA[criterion][0]}, "
               f"cap {plan['cap']} (Frankenstein paper, arXiv 2503.02147, Table 2)"),
        columns=COLUMNS, rows=rows, records=records, complete=result.complete,
        notes=notes(rows, records, plan, seeds, criterion),
        meta={"size": config.size, "seeds": seeds, "cap": plan["cap"], "criterion": criterion,
              "threshold": CRITERIA[criterion][1], "methods": methods,
              "dynopt_settings": {m: DYNOPT_SETTINGS[m] for m in methods
                                  if m in DYNOPT_SETTINGS},
              "tuned_rows": {m: {"method": TUNED_ROWS[m][0], "tune_every": TUNED_ROWS[m][1]}
                             for m in methods if m in TUNED_ROWS},
              "ase_rc": ASE_RC, "global_minimum": GM_ENERGY})
    pos_path = write_npz(config.out / f"{name}_final_positions.npz",
                         **{f"{m}|{s}": x for (m, s), x in positions.items()})
    report.meta["positions_file"] = pos_path.name
    report.data_files = [pos_path]
    report.figure(config.out, "force_calls", plot_calls, rows, records, cap=plan["cap"])
    report.figure(config.out, "energies", plot_energies, rows, records)
    return report


def sweep_task(method, first_seed, count, *, cap, criterion="fmax"):
    """The sweep's task (module level, so a process pool can carry it)."""
    return run_block(method, first_seed, count, cap=cap, criterion=criterion)


REPRODUCTION = Reproduction(
    "lj38", "LJ38 relaxations: force calls per method (Frankenstein paper's Table 2)", run,
    requires={"ase": "ase"})
