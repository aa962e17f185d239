"""The engine of :func:`dynopt.sweep.run_sweep`: drawing points, running them, collecting records.

Points are drawn lazily (:class:`_Points`), run serially or through an executor with at most
``window`` in flight (:func:`_run_serial`, :func:`_run_pool`), and stored as they finish
(:class:`_Collector`, which also drives the progress bar and ``on_result``). A pool created here
is stopped on interruption, and SIGTERM is turned into ``KeyboardInterrupt`` while a sweep runs
(:class:`_SigtermAsInterrupt`).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._sweep_records import (_RESERVED, STATUS_FAILED, STATUS_OK, _error_text, _jsonable,
                             _make_record, _point_key)


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

    def total_to_run(self) -> int | None:
        """Points of a sequence not reused from ``previous`` (``None`` for a generator)."""
        if not self.sequence:
            return None
        return len(self._seen) - sum(1 for k in self._seen if k in self.done)

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
