r"""Parallel parameter sweeps through any :class:`concurrent.futures.Executor`.

A sweep evaluates a task function at every point of a parameter grid,

.. math::

    \mathcal{G} = A_1 \times A_2 \times \dots \times A_k,
    \qquad r(p) = \mathrm{task}(**p) \quad \forall p \in \mathcal{G},

and collects one record per point.  The engine knows nothing about optimizers:
``task`` is any picklable callable that takes the point's values as keyword
arguments and returns a ``dict`` of JSON-able results.

Records are ordered like the points and depend only on the points (a task must
draw its randomness from a ``seed`` entry of its point, never from global
state), so a sweep gives the same records serially, on a local process pool or
on a Dask cluster (``distributed.Client(...).get_executor()``).

Failures and interruptions never lose finished work:

* a task that raises gives a record with ``status='failed'`` and the error
  text ``"<ExceptionType>: <message>"``; the other points still run;
* ``KeyboardInterrupt`` (and SIGTERM, handled the same way) cancels the
  pending points, ends the workers of the default pool and returns the finished
  records, the others marked ``status='not run'`` (``SweepResult.complete`` is
  then ``False``);
* ``on_result`` sees every record as it finishes, e.g. to append it to a log;
* points are drawn lazily from a generator, at most ``window`` of them in
  flight, so the size of a sweep does not bound its memory;
* ``run_sweep(..., previous=result)`` re-runs only the points whose record in
  ``result`` is not ``'ok'``.

Examples
--------
>>> def task(lr, seed):                        # doctest: +SKIP
...     rng = np.random.default_rng(seed)
...     return {"final_loss": float(lr * rng.random())}
>>> result = run_sweep(task, grid(lr=[1e-3, 1e-2], seed=range(3)))  # doctest: +SKIP
>>> result.to_json("results/lr_sweep.json")    # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import itertools
import json
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["STATUSES", "SweepResult", "grid", "run_sweep"]

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
# grid
# ----------------------------------------------------------------------------
def grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    r"""Cartesian product of named axes, in a deterministic order.

    The points are ordered like nested ``for`` loops over the axes in the order
    they are given, the last axis varying fastest::

        grid(method=["gd", "adam"], seed=[0, 1])
        == [{"method": "gd", "seed": 0}, {"method": "gd", "seed": 1},
            {"method": "adam", "seed": 0}, {"method": "adam", "seed": 1}]

    Parameters
    ----------
    **axes : iterable
        One keyword per axis; each value is a list, tuple, range or 1-D array of
        the axis values.  NumPy scalars are converted to Python scalars.

    Returns
    -------
    list of dict
        :math:`\prod_i |A_i|` points, each a dict with one entry per axis.

    Raises
    ------
    ValueError
        If no axis is given, an axis is empty, or an axis is named ``'status'``
        or ``'error'`` (reserved for records).
    TypeError
        If an axis is a string, a mapping or not iterable (wrap a single value
        in a list).
    """
    if not axes:
        raise ValueError("grid() needs at least one axis, e.g. grid(seed=[0, 1, 2])")
    names, values = [], []
    for name, axis in axes.items():
        if name in _RESERVED:
            raise ValueError(f"grid axis name {name!r} is reserved for sweep records")
        if isinstance(axis, (str, bytes, Mapping)) or not isinstance(axis, Iterable):
            raise TypeError(
                f"grid axis {name!r} must be a list/tuple/range/array of values, "
                f"got {axis!r}; wrap a single value in a list"
            )
        vals = [v.item() if isinstance(v, np.generic) else v for v in axis]
        if not vals:
            raise ValueError(f"grid axis {name!r} is empty")
        names.append(name)
        values.append(vals)
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


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


# ----------------------------------------------------------------------------
# running one point (executed in the worker)
# ----------------------------------------------------------------------------
def _run_point(task: Callable[..., Mapping[str, Any]], point: dict[str, Any]):
    """Call ``task(**point)``; return ``(status, results, error)``.

    Exceptions become a ``'failed'`` status; ``KeyboardInterrupt`` and other
    non-``Exception`` signals propagate.
    """
    try:
        raw = task(**point)
        if not isinstance(raw, Mapping):
            raise TypeError(f"task must return a dict of results, got {type(raw).__name__}")
        clash = [k for k in raw if k in point or k in _RESERVED]
        if clash:
            raise ValueError(
                f"task result keys {clash} clash with the point's keys or the "
                f"reserved fields {_RESERVED}"
            )
        results = _jsonable(raw, "task result")
    except Exception as exc:  # a failing point must not stop the sweep
        return STATUS_FAILED, None, _error_text(exc)
    return STATUS_OK, results, None


def _make_record(point, status, results=None, error=None) -> dict[str, Any]:
    return {**point, "status": status, **(results or {}), "error": error}


# ----------------------------------------------------------------------------
# run_sweep
# ----------------------------------------------------------------------------
def _normalise_point(i: int, point: Any) -> tuple[dict[str, Any], str]:
    """Check one point and return it as JSON types with its canonical key."""
    if not isinstance(point, Mapping):
        raise TypeError(f"points[{i}] must be a dict, got {type(point).__name__}")
    bad = [k for k in point if k in _RESERVED]
    if bad:
        raise ValueError(f"points[{i}] uses reserved key(s) {bad}")
    p = _jsonable(point, f"points[{i}]")
    return p, _point_key(p)


class _Points:
    """The points of a sweep, drawn one at a time.

    A list or tuple (any :class:`~collections.abc.Sequence`) is checked whole
    before anything runs, as it is in memory already; any other iterable
    (a generator, :func:`itertools.product` ...) is checked as it is drawn,
    so a sweep of a billion points holds only the ones drawn so far.
    Drawing yields the index of each point to run; points whose record is
    reused from ``previous`` get it at once.
    """

    def __init__(self, points, done: Mapping[str, dict[str, Any]]):
        if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Iterable):
            raise TypeError(
                "points must be an iterable of dicts (e.g. from grid() or a generator), "
                f"got {type(points).__name__}"
            )
        self.done = done
        self.records: list[dict[str, Any] | None] = []
        self.waiting: dict[int, dict[str, Any]] = {}  # index -> point, until its record
        self._seen: dict[str, int] = {}
        self.sequence = isinstance(points, Sequence)
        if self.sequence:  # in memory already: every bad point is named before any work
            self._source = iter([self._check(i, p) for i, p in enumerate(points)])
        else:
            self._source = (self._check(i, p) for i, p in enumerate(points))
        self.exhausted = False

    def _check(self, i, point):
        p, key = _normalise_point(i, point)
        if key in self._seen:
            raise ValueError(f"points[{i}] = {p!r} repeats points[{self._seen[key]}]")
        self._seen[key] = i
        return p, key

    def draw(self) -> int | None:
        """Index of the next point to run (``None`` when there is none left)."""
        for p, key in self._source:
            i = len(self.records)
            if key in self.done:
                self.records.append(dict(self.done[key]))
                continue
            self.records.append(None)
            self.waiting[i] = p
            return i
        self.exhausted = True
        return None

    def remaining_of_sequence(self) -> None:
        """Give the undrawn points of a sequence a record (reused or ``'not run'``)."""
        if not self.sequence:
            return
        for p, key in self._source:
            i = len(self.records)
            self.records.append(dict(self.done[key]) if key in self.done else None)
            if key not in self.done:
                self.waiting[i] = p
        self.exhausted = True


def _check_picklable(task) -> None:
    try:
        pickle.dumps(task)
    except Exception as exc:
        raise TypeError(
            f"task {task!r} cannot be pickled for a process pool ({_error_text(exc)}); "
            "use a module-level function (or functools.partial of one), "
            "executor='serial', or a Dask executor"
        ) from exc


def _check_positive(name, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")


def _resolve_executor(executor, max_workers):
    """Return ``('serial', None)``, ``('owned', None)`` or ``('external', executor)``."""
    _check_positive("max_workers", max_workers)
    if executor is None:
        return ("serial", None) if max_workers == 1 else ("owned", None)
    if isinstance(executor, str):
        if executor == "serial":
            if max_workers not in (None, 1):
                raise ValueError(
                    f"executor='serial' runs one point at a time; got max_workers={max_workers!r}"
                )
            return "serial", None
        if executor == "process":
            return "owned", None
        raise ValueError(
            f"executor must be None, 'serial', 'process' or an Executor, got {executor!r}"
        )
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(
            "executor must be None, 'serial', 'process' or a concurrent.futures.Executor "
            f"(e.g. distributed.Client(...).get_executor()), got {type(executor).__name__}"
        )
    if max_workers is not None:
        raise ValueError(
            "max_workers applies to the default process pool only; size the given "
            f"executor instead (got max_workers={max_workers!r})"
        )
    return "external", executor


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


def _worker_init() -> None:
    """Signals in a worker of a pool this module owns.

    Ctrl-C reaches every process of the terminal's group: the workers ignore
    it and the parent, which handles it, ends them.  SIGTERM gets its default
    action back (the parent's handler is inherited on ``fork``), so that
    stopping a worker ends it at once.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_owned_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel queued work and stop the workers of a pool this module created."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if callable(terminate):
        terminate()  # also shuts the pool down
        return
    # Older Pythons have no public way to stop running workers; the pool is
    # ours and about to be discarded, so end its processes directly (taken
    # before shutdown(), which forgets them).
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5.0)


class _SigtermAsInterrupt:
    """While active, SIGTERM raises :class:`KeyboardInterrupt` in the main thread.

    So ``kill`` or a batch scheduler's stop takes the path of Ctrl-C: the
    workers are ended, the finished records kept.  Installed only from the main
    thread and only over the default action (a handler of the caller's, or an
    ignored SIGTERM, is left alone); the previous handler is restored on exit.
    """

    def __init__(self):
        self.previous = None
        self.received = False

    def _handle(self, signum, frame):
        self.received = True
        raise KeyboardInterrupt("SIGTERM")

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            import signal

            signal.signal(signal.SIGTERM, self.previous)
            self.previous = None
        return False


def run_sweep(
    task: Callable[..., Mapping[str, Any]],
    points: Iterable[Mapping[str, Any]],
    *,
    executor: cf.Executor | str | None = None,
    max_workers: int | None = None,
    progress: bool = False,
    on_result: Callable[[dict[str, Any]], Any] | None = None,
    previous: SweepResult | None = None,
    window: int | None = None,
) -> SweepResult:
    """Run ``task(**point)`` for every point and collect one record per point.

    Parameters
    ----------
    task : callable
        ``task(**point) -> dict`` of JSON-able results (NumPy scalars and arrays
        are converted).  Result keys must not repeat the point's keys nor be
        ``'status'``/``'error'``.  For a process pool the task must pickle by
        reference: a module-level function, or :func:`functools.partial` of one.
        The task must take its randomness from the point (e.g. a ``seed``
        entry) so that records do not depend on the executor.
    points : iterable of dict
        The points, e.g. from :func:`grid`; JSON-able values, no duplicates.
        A list or tuple is checked whole before anything runs.  Any other
        iterable (a generator) is drawn from only as workers free up, so a
        sweep over millions of points holds only the points in flight and the
        records finished; its points are checked as they are drawn.
    executor : None, 'serial', 'process' or Executor, optional
        ``None`` / ``'process'``: a local :class:`~concurrent.futures.ProcessPoolExecutor`
        created and shut down here (``None`` with ``max_workers=1`` runs
        serially).  ``'serial'``: run in this process, no pool.  Any object with
        an Executor-style ``submit`` (e.g. ``distributed.Client.get_executor()``)
        is used as given and not shut down.
    max_workers : int, optional
        Size of the default process pool (``None``: one per CPU, capped at the
        number of points to run).
    progress : bool, optional
        Show a :mod:`tqdm` progress bar.
    on_result : callable, optional
        Called with (a copy of) each new record as it finishes, e.g. to
        checkpoint.  Records reused from ``previous`` are not passed.
    previous : SweepResult, optional
        An earlier result of the same sweep: points whose record there is
        ``'ok'`` are not run again; their records are reused as they are.
    window : int, optional
        Most points submitted and not yet collected at any time (``None``:
        twice the pool's workers, or 256 for an external executor).

    Returns
    -------
    SweepResult
        One record per point drawn, in the order of ``points``.  After a
        ``KeyboardInterrupt`` (or a SIGTERM, handled the same way) the
        unfinished points are ``'not run'`` (for a generator, the points not
        yet drawn have no record), ``.complete`` is ``False`` and a
        :class:`RuntimeWarning` is issued.

    Notes
    -----
    On interruption, pending points are cancelled.  Workers of the default
    pool are stopped (their running points count as not run); an external
    executor keeps running what it had already started.  While the sweep runs
    in the main thread, SIGTERM (``kill``, a batch scheduler) is turned into a
    ``KeyboardInterrupt`` unless the caller has a handler of their own; the
    workers of the default pool ignore Ctrl-C, which the parent handles.
    Exceptions raised by ``on_result`` itself (other than
    ``KeyboardInterrupt``) propagate after the pending points have been
    cancelled, as does an error in a point drawn from a generator.

    Raises
    ------
    TypeError, ValueError
        On malformed arguments (named in the message).
    """
    if not callable(task):
        raise TypeError(f"task must be callable, got {type(task).__name__}")
    if on_result is not None and not callable(on_result):
        raise TypeError(f"on_result must be callable or None, got {type(on_result).__name__}")
    if previous is not None and not isinstance(previous, SweepResult):
        raise TypeError(f"previous must be a SweepResult or None, got {type(previous).__name__}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {progress!r}")
    _check_positive("window", window)
    mode, external = _resolve_executor(executor, max_workers)

    done = {}
    if previous is not None:
        done = {
            _point_key(_point_of(r)): r for r in previous.records if r["status"] == STATUS_OK
        }
    stream = _Points(points, done)
    if mode == "owned":
        _check_picklable(task)

    total = None
    if stream.sequence:
        total = len(stream._seen) - sum(1 for k in stream._seen if k in done)
    collector = _Collector(stream, on_result, progress, total=total)
    with _SigtermAsInterrupt():
        try:
            if mode == "serial":
                finished = _run_serial(task, collector)
            else:
                finished = _run_pool(task, collector, mode, external, max_workers, window)
        finally:
            collector.close()
        if not finished:
            stream.remaining_of_sequence()

    out = [
        r if r is not None else _make_record(stream.waiting[i], STATUS_NOT_RUN)
        for i, r in enumerate(stream.records)
    ]
    complete = finished and stream.exhausted
    result = SweepResult(out, complete=complete)
    if not finished:
        unfinished = len(result.not_run)
        more = "" if stream.exhausted else " (and the points not yet drawn)"
        warnings.warn(
            f"sweep interrupted: {unfinished} of {len(out)} points not run{more}; "
            "pass this result as previous= to run_sweep to finish it",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


class _Collector:
    """Stores finished records, drives the progress bar and ``on_result``."""

    def __init__(self, stream: _Points, on_result, progress, total):
        self.stream = stream
        self.on_result = on_result
        self.n_failed = 0
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="sweep", unit="point")
        else:
            self.bar = _NoBar()

    def point(self, i) -> dict[str, Any]:
        return self.stream.waiting[i]

    def store(self, i, status, results, error, *, notify=True) -> None:
        rec = _make_record(self.stream.waiting.pop(i), status, results, error)
        self.stream.records[i] = rec
        if status == STATUS_FAILED:
            self.n_failed += 1
            self.bar.set_postfix(failed=self.n_failed)
        self.bar.update(1)
        if notify and self.on_result is not None:
            self.on_result(dict(rec))

    def close(self) -> None:
        self.bar.close()


def _run_serial(task, collector: _Collector) -> bool:
    try:
        while (i := collector.stream.draw()) is not None:
            status, results, error = _run_point(task, collector.point(i))
            collector.store(i, status, results, error)
    except KeyboardInterrupt:
        return False
    return True


def _run_pool(task, collector: _Collector, mode, external, max_workers, window) -> bool:
    stream = collector.stream
    ahead: list[int] = []  # points drawn before the pool exists
    futures: dict[cf.Future, int] = {}
    pool = external
    clean = False
    try:
        if mode == "owned":
            wanted = max_workers or os.cpu_count() or 1
            while len(ahead) < wanted and (i := stream.draw()) is not None:
                ahead.append(i)
            if not ahead:
                clean = True
                return True
            n_workers = min(wanted, len(ahead))
            pool = cf.ProcessPoolExecutor(max_workers=n_workers, initializer=_worker_init)
            limit = window or 2 * n_workers
        else:
            limit = window or 256

        def fill():
            while len(futures) < limit:
                i = ahead.pop(0) if ahead else stream.draw()
                if i is None:
                    return
                futures[pool.submit(_run_point, task, collector.point(i))] = i

        fill()
        while futures:
            finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                i = futures.pop(fut)
                try:
                    status, results, error = fut.result()
                except Exception as exc:  # transport failure: broken pool, pickling ...
                    status, results, error = STATUS_FAILED, None, _error_text(exc)
                collector.store(i, status, results, error)
            fill()
        clean = True
        return True
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()
        # keep the points that finished but were not collected yet, and report
        # them (a checkpoint must hold them too) until on_result itself fails
        notify = True
        for fut, i in futures.items():
            if stream.records[i] is None and fut.done() and not fut.cancelled():
                if fut.exception() is None:
                    status, results, error = fut.result()
                    try:
                        collector.store(i, status, results, error, notify=notify)
                    except BaseException:  # noqa: BLE001 - a second interrupt, a failing hook
                        notify = False
        return False
    finally:
        if not clean:
            for fut in futures:
                fut.cancel()
            if mode == "owned" and pool is not None:
                _stop_owned_pool(pool)
        elif mode == "owned" and pool is not None:
            pool.shutdown(wait=True)
