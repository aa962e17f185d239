"""What a reproduction is: a configured run that yields a report.

Each reproduction module (``rosenbrock.py``, ``quadratic.py``, ``lj38.py``,
``mlp.py``) defines ``REPRODUCTION = Reproduction(name, title, run)`` where
``run(config) -> Report``. Runs go through :func:`dynopt.sweep.run_sweep`, so
any :class:`concurrent.futures.Executor` (local processes, a Dask client's
executor) can carry them and a failing or interrupted run loses nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["Reproduction", "ReproConfig", "Report", "SIZES"]

#: the sizes a reproduction knows: CI's, the default (minutes on 2 cores), the papers'
SIZES = ("quick", "default", "full")


@dataclass
class ReproConfig:
    """How to run a reproduction.

    Attributes
    ----------
    size
        ``'quick'`` (what CI runs), ``'default'`` (minutes on 2 cores) or
        ``'full'`` (the paper's protocol at full size).
    seeds
        Number of seeds, overriding the size's default.
    out
        Folder for the table, JSON, CSV and PNG files.
    workers
        Worker processes for the sweep (``None``: all cores; 1: in-process).
    executor
        Any ``concurrent.futures.Executor`` (overrides ``workers``), e.g.
        ``distributed.Client(...).get_executor()``.
    progress
        Show a progress bar.
    options
        Options of one reproduction, passed to its ``run`` as keywords (e.g.
        ``{'criterion': 'l2'}`` for ``lj38``).
    """

    size: str = "default"
    seeds: int | None = None
    out: Path = Path("results")
    workers: int | None = None
    executor: object = None
    progress: bool = True
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {self.size!r}")
        if self.seeds is not None and (not isinstance(self.seeds, int) or self.seeds < 1):
            raise ValueError(f"seeds must be a positive integer, got {self.seeds!r}")
        self.out = Path(self.out)


@dataclass
class Report:
    """A reproduction's outcome: the table beside the paper's, and the raw records.

    Attributes
    ----------
    name, title
        Which reproduction.
    columns, rows
        The table: measured figures with the paper's beside them.
    notes
        Plain-words remarks: protocol, starts used, what matches or not.
    records
        Every run's record (the sweep's), failed ones marked.
    complete
        False when the sweep was interrupted.
    figures
        PNG files written.
    data_files
        Other files the run wrote itself (final weights, positions ...).
    """

    name: str
    title: str
    columns: list
    rows: list
    notes: list = field(default_factory=list)
    records: list = field(default_factory=list)
    complete: bool = True
    figures: list = field(default_factory=list)
    data_files: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def table(self) -> str:
        from ..stats import format_table
        return format_table(self.rows, self.columns)

    def __str__(self) -> str:
        lines = [self.title, "", self.table()]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        if not self.complete:
            lines += ["", "INCOMPLETE: the sweep was interrupted; unfinished runs are marked 'not run'."]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "columns": self.columns,
                "rows": self.rows, "notes": self.notes, "complete": self.complete,
                "figures": [str(p) for p in self.figures],
                "data_files": [str(p) for p in self.data_files], "meta": self.meta,
                "records": self.records}

    def write(self, out: Path) -> list:
        """Write ``<name>.json``, ``<name>.csv``, ``<name>_runs.csv`` and ``<name>.txt``.

        Returns every file of the report: those four, then its figures and data files.
        """
        import csv
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        path = out / f"{self.name}.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, default=_jsonable))
        paths.append(path)
        for fname, rows, cols in ((f"{self.name}.csv", self.rows, self.columns),
                                  (f"{self.name}_runs.csv", self.records, None)):
            path = out / fname
            cols = cols or sorted({k for r in rows for k, v in r.items()
                                   if not isinstance(v, (list, dict))})
            with path.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
                writer.writeheader()
                for r in rows:
                    writer.writerow({k: _jsonable(r.get(k)) for k in cols})
            paths.append(path)
        path = out / f"{self.name}.txt"
        path.write_text(str(self) + "\n")
        paths.append(path)
        return paths + [Path(p) for p in (*self.figures, *self.data_files)]


def _jsonable(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class Reproduction:
    """A named reproduction: ``run(config, **options) -> Report``.

    ``requires`` maps the optional modules it needs to the extra that installs
    them; :meth:`check_requirements` names what is missing before anything runs.
    """

    name: str
    title: str
    run: Callable
    requires: dict = field(default_factory=dict)

    def check_requirements(self) -> None:
        """Raise :class:`ImportError` naming the extras to install for what is missing."""
        import importlib.util
        missing = {mod: extra for mod, extra in self.requires.items()
                   if importlib.util.find_spec(mod) is None}
        if missing:
            extras = sorted(set(missing.values()))
            raise ImportError(
                f"the {self.name} reproduction needs {', '.join(sorted(missing))}: run "
                + " or ".join(f"`pip install 'dynopt-physics[{e}]'`" for e in extras)
                + " (`[reproduce]` has everything every reproduction needs)")
