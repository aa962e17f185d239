"""The records of a sweep: JSON normalisation, point keys and :class:`SweepResult`.

A record is a dict: the point's entries, then ``'status'`` (one of :data:`STATUSES`), then the
task's results, then ``'error'``. :class:`SweepResult` holds the records of a sweep in point
order and reads and writes them as JSON (atomically) or CSV. :mod:`dynopt.sweep` re-exports it.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["STATUSES", "SweepResult"]

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_NOT_RUN = "not run"
#: The values a record's ``'status'`` can take.
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_NOT_RUN)

_RESERVED = ("status", "error")
_FILE_FORMAT = "dynopt-sweep"
_FILE_VERSION = 1


# ----------------------------------------------------------------------------
# JSON normalisation and point keys
# ----------------------------------------------------------------------------
def _jsonable(obj: Any, where: str) -> Any:
    """Return ``obj`` as plain JSON types (NumPy scalars/arrays converted).

    Raises
    ------
    TypeError
        If ``obj`` (or something inside it) has no JSON representation;
        the message names ``where``.
    """
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}; JSON keys must be str")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    text = repr(obj)
    if len(text) > 80:
        text = text[:77] + "..."
    raise TypeError(f"{where} is not JSON-serialisable: {type(obj).__name__} {text}")


def _point_key(point: Mapping[str, Any]) -> str:
    """Canonical text identifying a (normalised) point, independent of key order."""
    return json.dumps(point, sort_keys=True, allow_nan=True)


def _point_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The point part of a record: the keys that come before ``'status'``."""
    point = {}
    for k, v in record.items():
        if k == "status":
            return point
        point[k] = v
    raise ValueError(f"record {dict(record)!r} has no 'status' field")


def _error_text(exc: BaseException) -> str:
    message = str(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name



# ----------------------------------------------------------------------------
# SweepResult
# ----------------------------------------------------------------------------
class SweepResult:
    """Records of a sweep, one per point, in the order of the points.

    Each record is a dict: the point's entries, then ``'status'`` (one of
    ``'ok'``, ``'failed'``, ``'not run'``), then the task's results (``'ok'``
    records only), then ``'error'`` (``None`` unless failed).  The point part of
    a record is the set of keys before ``'status'``.

    Parameters
    ----------
    records : iterable of dict
        Records as described above (JSON-able values).
    complete : bool, optional
        ``False`` marks a result that lacks points which were never drawn
        (an interrupted sweep over a generator); ``None`` (the default) derives
        :attr:`complete` from the records alone.

    Raises
    ------
    TypeError
        If a record is not a mapping or holds a non-JSON-able value.
    ValueError
        If a record has no or an unknown ``'status'``.
    """

    def __init__(self, records: Iterable[Mapping[str, Any]], complete: bool | None = None):
        if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Iterable):
            raise TypeError(f"records must be an iterable of dicts, got {type(records).__name__}")
        checked = []
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                raise TypeError(f"record {i} must be a dict, got {type(rec).__name__}")
            rec = _jsonable(rec, f"record {i}")
            status = rec.get("status")
            if status not in STATUSES:
                raise ValueError(f"record {i} has status {status!r}; expected one of {STATUSES}")
            checked.append(rec)
        if complete is not None and not isinstance(complete, bool):
            raise TypeError(f"complete must be a bool or None, got {complete!r}")
        #: list of dict: the records, in point order.
        self.records: list[dict[str, Any]] = checked
        self._complete = complete

    # -- views ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __repr__(self) -> str:
        return (
            f"SweepResult({len(self.records)} records: {len(self.ok)} ok, "
            f"{len(self.failed)} failed, {len(self.not_run)} not run)"
        )

    def _with_status(self, status: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == status]

    @property
    def ok(self) -> list[dict[str, Any]]:
        """Records whose task returned results."""
        return self._with_status(STATUS_OK)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Records whose task raised (``'error'`` holds type and message)."""
        return self._with_status(STATUS_FAILED)

    @property
    def not_run(self) -> list[dict[str, Any]]:
        """Records of points left unfinished by an interruption."""
        return self._with_status(STATUS_NOT_RUN)

    @property
    def complete(self) -> bool:
        """``True`` when every point was run (failed points count as run).

        ``False`` when a record is ``'not run'``, or when the sweep stopped
        before drawing every point of a generator (those points have no record).
        """
        if self._complete is False:
            return False
        return not any(r["status"] == STATUS_NOT_RUN for r in self.records)

    @property
    def points(self) -> list[dict[str, Any]]:
        """The point of each record, in order."""
        return [_point_of(r) for r in self.records]

    # -- files ---------------------------------------------------------------
    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the records to a JSON file (atomically: temp file then rename).

        Non-finite floats are written as ``NaN``/``Infinity`` (read back by
        Python's :mod:`json`).  Returns the path written.
        """
        path = Path(path)
        payload = {
            "format": _FILE_FORMAT,
            "version": _FILE_VERSION,
            "complete": self.complete,
            "records": self.records,
        }
        text = json.dumps(payload, indent=1, allow_nan=True)
        _atomic_write(path, text)
        return path

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> SweepResult:
        """Read a file written by :meth:`to_json`.

        Raises
        ------
        ValueError
            If the file is not a dynopt sweep file.
        """
        with open(path, encoding="utf-8") as fh:
            payload = json.load(fh)
        if not isinstance(payload, dict) or payload.get("format") != _FILE_FORMAT:
            raise ValueError(f"path {str(path)!r} is not a {_FILE_FORMAT!r} JSON file")
        if payload.get("version") != _FILE_VERSION:
            raise ValueError(
                f"path {str(path)!r} has sweep file version {payload.get('version')!r}; "
                f"this reader understands version {_FILE_VERSION}"
            )
        complete = payload.get("complete")
        return cls(payload["records"], complete=complete if isinstance(complete, bool) else None)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the scalar fields of the records as CSV.

        Nested dicts are flattened to dotted column names (``metrics.loss``);
        list-valued fields are left out.  Columns appear in first-seen order,
        a field missing from a record (or ``None``) is an empty cell.  Returns
        the path written.
        """
        path = Path(path)
        rows = [_flatten_scalars(r) for r in self.records]
        columns: dict[str, None] = {}
        for row in rows:
            for k in row:
                columns.setdefault(k, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(columns))
            for row in rows:
                writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
        return path


def _flatten_scalars(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten_scalars(v, prefix=f"{name}."))
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[name] = v
    return out


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _make_record(point, status, results=None, error=None) -> dict[str, Any]:
    return {**point, "status": status, **(results or {}), "error": error}
