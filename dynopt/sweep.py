r"""Parallel parameter sweeps through any :class:`concurrent.futures.Executor`.

A sweep evaluates ``task(**p)`` at every point :math:`p` of a grid
:math:`A_1 \times \dots \times A_k` and collects one record per point, in the order of
the points and depending only on them (a task draws its randomness from a ``seed``
entry of its point), so serial, process-pool and Dask runs give the same records. A
failed task gives a ``'failed'`` record, an interruption (Ctrl-C, SIGTERM) keeps the
finished ones, ``on_result`` sees each record as it finishes and ``previous=`` re-runs
only what an earlier result lacks; the usage page ("Sweeps on any executor") has the
details and examples. The records and :class:`SweepResult` live in
``dynopt._sweep_records``, the engine in ``dynopt._sweep_engine``; this module holds
the entry points.

Examples
--------
>>> def task(lr, seed):                        # doctest: +SKIP
...     rng = np.random.default_rng(seed)
...     return {"final_loss": float(lr * rng.random())}
>>> result = run_sweep(task, grid(lr=[1e-3, 1e-2], seed=range(3)))  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ._sweep_engine import (_check_picklable, _check_positive, _Collector, _Points,  # noqa: F401
                            _resolve_executor, _run_point, _run_pool, _run_serial,
                            _SigtermAsInterrupt, _stop_owned_pool, _worker_init)
from ._sweep_records import (_RESERVED, STATUS_FAILED, STATUS_NOT_RUN, STATUS_OK,  # noqa: F401
                             STATUSES, SweepResult, _error_text, _jsonable, _make_record,
                             _point_key, _point_of)

__all__ = ["STATUSES", "SweepResult", "grid", "run_sweep"]


# ----------------------------------------------------------------------------
# grid
# ----------------------------------------------------------------------------
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
# run_sweep
# ----------------------------------------------------------------------------
def run_sweep(task: Callable[..., Mapping[str, Any]], points: Iterable[Mapping[str, Any]], *,
              executor: cf.Executor | str | None = None, max_workers: int | None = None,
              progress: bool = False, on_result: Callable[[dict[str, Any]], Any] | None = None,
              previous: SweepResult | None = None, window: int | None = None) -> SweepResult:
    """Run ``task(**point)`` for every point and collect one record per point.

    Parameters
    ----------
    task : callable
        ``task(**point) -> dict`` of JSON-able results (NumPy scalars and arrays are converted).
        Result keys must not repeat the point's keys nor be ``'status'``/``'error'``.  For a
        process pool the task must pickle by reference: a module-level function, or
        :func:`functools.partial` of one. The task must take its randomness from the point (e.g.
        a ``seed`` entry) so that records do not depend on the executor.
    points : iterable of dict
        The points, e.g. from :func:`grid`; JSON-able values, no duplicates. A list or tuple is
        checked whole before anything runs.  Any other iterable (a generator) is drawn from only
        as workers free up, so a sweep over millions of points holds only the points in flight
        and the records finished; its points are checked as they are drawn.
    executor : None, 'serial', 'process' or Executor, optional
        ``None`` / ``'process'``: a local :class:`~concurrent.futures.ProcessPoolExecutor`
        created and shut down here (``None`` with ``max_workers=1`` runs serially).
        ``'serial'``: run in this process, no pool.  Any object with an Executor-style
        ``submit`` (e.g. ``distributed.Client.get_executor()``) is used as given and not shut
        down.
    max_workers : int, optional
        Size of the default process pool (``None``: one per CPU, capped at the number of points
        to run).
    progress : bool, optional
        Show a :mod:`tqdm` progress bar.
    on_result : callable, optional
        Called with (a copy of) each new record as it finishes, e.g. to checkpoint.  Records
        reused from ``previous`` are not passed.
    previous : SweepResult, optional
        An earlier result of the same sweep: points whose record there is ``'ok'`` are not run
        again; their records are reused as they are.
    window : int, optional
        Most points submitted and not yet collected at any time (``None``: twice the pool's
        workers, or 256 for an external executor).

    Returns
    -------
    SweepResult
        One record per point drawn, in the order of ``points``.  After a ``KeyboardInterrupt``
        (or a SIGTERM, handled the same way) the unfinished points are ``'not run'`` (for a
        generator, the points not yet drawn have no record), ``.complete`` is ``False`` and a
        :class:`RuntimeWarning` is issued.

    Notes
    -----
    On interruption, pending points are cancelled.  Workers of the default pool are stopped
    (their running points count as not run); an external executor keeps running what it had
    already started.  While the sweep runs in the main thread, SIGTERM (``kill``, a batch
    scheduler) is turned into a ``KeyboardInterrupt`` unless the caller has a handler of their
    own; the workers of the default pool ignore Ctrl-C, which the parent handles. Exceptions
    raised by ``on_result`` itself (other than ``KeyboardInterrupt``) propagate after the
    pending points have been cancelled, as does an error in a point drawn from a generator.

    Raises
    ------
    TypeError, ValueError
        On malformed arguments (named in the message).
    """
    _check_run_arguments(task, on_result, previous, progress, window)
    mode, external = _resolve_executor(executor, max_workers)
    stream = _Points(points, _reusable_records(previous))
    if mode == "owned":
        _check_picklable(task)
    collector = _Collector(stream, on_result, progress, total=stream.total_to_run())
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
    return _sweep_result(stream, finished)


def _check_run_arguments(task, on_result, previous, progress, window) -> None:
    if not callable(task):
        raise TypeError(f"task must be callable, got {type(task).__name__}")
    if on_result is not None and not callable(on_result):
        raise TypeError(f"on_result must be callable or None, got {type(on_result).__name__}")
    if previous is not None and not isinstance(previous, SweepResult):
        raise TypeError(f"previous must be a SweepResult or None, got {type(previous).__name__}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {progress!r}")
    _check_positive("window", window)


def _reusable_records(previous: SweepResult | None) -> dict[str, dict[str, Any]]:
    """The ``'ok'`` records of an earlier result, by point key."""
    if previous is None:
        return {}
    return {_point_key(_point_of(r)): r for r in previous.records if r["status"] == STATUS_OK}


def _sweep_result(stream: _Points, finished: bool) -> SweepResult:
    """The records in point order (unfinished points ``'not run'``); warns if interrupted."""
    out = [
        r if r is not None else _make_record(stream.waiting[i], STATUS_NOT_RUN)
        for i, r in enumerate(stream.records)
    ]
    result = SweepResult(out, complete=finished and stream.exhausted)
    if not finished:
        unfinished = len(result.not_run)
        more = "" if stream.exhausted else " (and the points not yet drawn)"
        warnings.warn(
            f"sweep interrupted: {unfinished} of {len(out)} points not run{more}; "
            "pass this result as previous= to run_sweep to finish it",
            RuntimeWarning,
            stacklevel=3,  # the caller of run_sweep
        )
    return result
