"""A table of predicted and observed rates: :class:`RateTable`, written as CSV, JSON or HTML."""
from __future__ import annotations

import csv
import html
import json
import math

import numpy as np

__all__ = ["RateTable"]


class RateTable:
    """Rows of predicted and observed rates.

    Attributes
    ----------
    rows : list of dict
        One dict per run (coordinate or batch member); see :func:`compare_rates`
        for the keys.
    method : str
        The method's name.
    """

    #: columns shown by ``str`` and ``_repr_html_``
    display = ("eigenvalue", "damping_ratio", "regime", "predicted", "continuous", "observed",
               "rel_error", "linear_regime")

    def __init__(self, rows, method: str = "", meta: dict | None = None):
        self.rows = list(rows)
        self.method = method
        self.meta = dict(meta or {})

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def column(self, key) -> np.ndarray:
        """One column as an array."""
        if self.rows and key not in self.rows[0]:
            raise KeyError(f"no column {key!r}; columns: {list(self.rows[0])}")
        return np.asarray([row[key] for row in self.rows])

    @property
    def columns(self) -> list:
        return list(self.rows[0]) if self.rows else []

    def to_csv(self, path) -> None:
        """Write the rows as CSV (one header line)."""
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _plain(v) for k, v in row.items()})

    def to_json(self, path) -> None:
        """Write ``{'method', 'meta', 'rows'}`` as JSON (NaN and inf as null / strings)."""
        doc = {"method": self.method, "meta": {k: _plain(v) for k, v in self.meta.items()},
               "rows": [{k: _json(v) for k, v in row.items()} for row in self.rows]}
        with open(path, "w") as fh:
            json.dump(doc, fh, indent=1)

    def _cells(self):
        cols = [c for c in self.display if c in self.columns] or self.columns
        return cols, [[_fmt(row[c]) for c in cols] for row in self.rows]

    def __str__(self):
        cols, cells = self._cells()
        widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c)
                  for i, c in enumerate(cols)]
        lines = [f"RateTable {self.method!r} ({len(self.rows)} rows)",
                 "  ".join(c.rjust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        cols, cells = self._cells()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>"
                       for r in cells)
        return (f"<table><caption>{html.escape(self.method)}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _plain(v):
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _json(v):
    v = _plain(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _fmt(v):
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)
