"""The report every reproduction writes, and the writing it shares.

A reproduction's ``run`` builds one :class:`Report` (table, notes, records,
meta) and plans its figures; :meth:`Report.write` puts the tables and the
JSON on disk before drawing any figure, each file written whole and renamed
(:func:`write_text`, :func:`write_csv`, :func:`write_npz`), so a file present
is never a torn one. :func:`save_figure` ends every plot the same way,
:func:`timed` records a run's wall time, :func:`plan_and_seeds` reads the
size's plan, :func:`na` prints a missing figure.
"""
from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .table import WIDTH, fit_table, wrap

__all__ = ["Report", "write_text", "write_csv", "write_npz", "save_figure", "timed",
           "plan_and_seeds", "check_choice", "na", "DPI"]

#: resolution of every figure (dots per inch)
DPI = 110


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
    pending_figures
        Figures planned by :meth:`plan_figure` and not drawn yet, as
        ``(path, draw)`` pairs; :meth:`write` draws them after the tables.
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
    pending_figures: list = field(default_factory=list, repr=False)

    def plan_figure(self, path, draw: Callable) -> None:
        """Draw a figure later: ``draw(path)`` writes it and returns its path.

        The figures are drawn by :meth:`write` once the tables and the JSON are
        on disk, so an interrupted plot loses nothing computed.
        """
        if not callable(draw):
            raise TypeError(f"draw must be callable, got {type(draw).__name__}")
        self.pending_figures.append((Path(path), draw))

    def figure(self, out, suffix: str, draw: Callable, *args, **kwargs) -> None:
        """Plan the figure ``<out>/<name>_<suffix>.png``: ``draw(*args, path, **kwargs)``."""
        self.plan_figure(Path(out) / f"{self.name}_{suffix}.png",
                         functools.partial(draw, *args, **kwargs))

    def draw_figures(self) -> list:
        """Draw the planned figures (each one leaves the list once drawn); return them."""
        drawn = []
        while self.pending_figures:
            path, draw = self.pending_figures[0]
            result = Path(draw(path) or path)
            self.pending_figures.pop(0)
            self.figures.append(result)
            drawn.append(result)
        return drawn

    def table(self, width: int | None = None) -> str:
        """The table in at most ``width`` columns (default :data:`WIDTH`), see :func:`fit_table`."""
        return fit_table(self.rows, self.columns, WIDTH if width is None else width)

    def text(self, width: int | None = None) -> str:
        """Title, table, notes and the incomplete mark in at most ``width`` columns.

        The title and the notes are wrapped by :mod:`textwrap` (a word longer
        than the width, such as a long path, stays whole on its own line).
        """
        width = WIDTH if width is None else width
        lines = [*wrap(self.title, width), "", self.table(width)]
        if self.notes:
            lines.append("")
            for note in self.notes:
                lines += wrap(str(note), width, initial="- ", subsequent="  ")
        if not self.complete:
            lines += ["", *wrap("INCOMPLETE: the sweep was interrupted; unfinished runs are "
                                "marked 'not run'.", width)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "columns": self.columns,
                "rows": self.rows, "notes": self.notes, "complete": self.complete,
                "figures": [str(p) for p in self.figures],
                "data_files": [str(p) for p in self.data_files], "meta": self.meta,
                "records": self.records}

    def write(self, out: Path) -> list:
        """Write ``<name>.json``, ``<name>.csv``, ``<name>_runs.csv`` and ``<name>.txt``,
        then draw the planned figures.

        Each file is written whole to a temporary name and renamed, so a file
        present is never a torn one; the tables and the JSON are on disk before
        the first figure is drawn (the JSON is written again afterwards, to list
        the figures). Returns every file of the report: those four, then its
        figures and data files.
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        json_path = out / f"{self.name}.json"
        paths = [json_path]
        _atomic_text(json_path, json.dumps(self.to_dict(), indent=2, default=_jsonable))
        paths.append(write_csv(out / f"{self.name}.csv", self.rows, self.columns))
        paths.append(write_csv(out / f"{self.name}_runs.csv", self.records))
        path = out / f"{self.name}.txt"
        _atomic_text(path, str(self) + "\n")
        paths.append(path)
        if self.pending_figures:
            self.draw_figures()
            _atomic_text(json_path, json.dumps(self.to_dict(), indent=2, default=_jsonable))
        return paths + [Path(p) for p in (*self.figures, *self.data_files)]


def _atomic_write(path: Path, binary: bool, write) -> None:
    """``write(fh)`` into a temporary file in ``path``'s folder, synced, then renamed onto
    ``path``: a reader never sees a partial file (the temporary is removed on failure)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        text = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, "wb" if binary else "w", **text) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    _atomic_write(path, False, lambda fh: fh.write(text))


def _jsonable(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` whole (a temporary file and a rename); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_text(path, text)
    return path


def write_csv(path, rows, columns=None) -> Path:
    """Write ``rows`` (dicts) as CSV, columns ``columns`` (default: every key of a plain
    value, sorted), each value as :func:`_jsonable` makes it; written whole and renamed."""
    import csv
    import io
    rows = list(rows)
    columns = columns or sorted({k for r in rows for k, v in r.items()
                                 if not isinstance(v, (list, dict))})
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _jsonable(r.get(k)) for k in columns})
    return write_text(path, buffer.getvalue())


def write_npz(path, **arrays) -> Path:
    """:func:`numpy.savez_compressed` of ``arrays`` to ``path``, written whole and renamed."""
    import numpy as np
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, True, lambda fh: np.savez_compressed(fh, **arrays))
    return path


def save_figure(fig, path) -> Path:
    """Lay out ``fig``, save it to ``path`` at :data:`DPI` and return the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return Path(path)


def timed(run: Callable) -> Callable:
    """``run(config, ...) -> Report`` that also records its wall time,
    ``report.meta['wall_time_s']`` (seconds, two decimals)."""
    @functools.wraps(run)
    def timed_run(config, *args, **kwargs):
        t0 = time.perf_counter()
        report = run(config, *args, **kwargs)
        report.meta["wall_time_s"] = round(time.perf_counter() - t0, 2)
        return report
    return timed_run


def plan_and_seeds(plans: dict, config) -> tuple:
    """A copy of the plan of ``config.size`` and the number of seeds: ``config.seeds``,
    else the plan's ``'seeds'``."""
    plan = dict(plans[config.size])
    return plan, (config.seeds if config.seeds is not None else plan["seeds"])


def check_choice(name: str, value, choices) -> None:
    """ValueError naming the argument ``name`` unless ``value`` is one of ``choices``
    (a protocol's rows, its sizes)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


def na(value, spec: str = ".3g") -> str:
    """``value`` formatted by ``spec``, ``'n/a'`` for ``None``."""
    return "n/a" if value is None else format(value, spec)
