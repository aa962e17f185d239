"""The run log and the output folder: nothing finished is lost, nothing earlier overwritten.

:func:`open_run` picks the output folder (checked before anything runs) and
its run log, ``<label>_runlog.jsonl``, to which :func:`sweep` appends every
run as it finishes (one fsync'd JSON line each, keyed by the reproduction,
the task's configuration and the point: method, hyperparameters, seed). A
rerun with the same settings resumes from the log; a folder holding another
run is never overwritten, the new run goes to a numbered sibling
(``results-2``).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path

from .report import _jsonable

__all__ = ["RUNLOG_SUFFIX", "OutputFolderError", "check_out", "RunLog", "open_run", "sweep"]

#: the run log's file name: ``<label>`` + this
RUNLOG_SUFFIX = "_runlog.jsonl"
_RUNLOG_FORMAT = "dynopt-runlog"
_RUNLOG_VERSION = 1


class OutputFolderError(ValueError):
    """The output folder cannot be used: ``path`` and the ``reason`` in words."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"out={str(path)!r} {reason}")


def check_out(path) -> Path:
    """Make sure ``path`` is a folder this process can write to, creating it if needed.

    Raises
    ------
    OutputFolderError
        If ``path`` is a file, cannot be created (a parent is a file, no
        permission ...) or is not writable; the message names the path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(path, "is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(path, f"cannot be created: {exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OutputFolderError(path, f"is not writable: {exc.strerror or exc}") from None
    return path


def _canonical(value) -> str:
    from ..sweep import _jsonable as sweep_jsonable
    return json.dumps(sweep_jsonable(value, "run log entry"), sort_keys=True, allow_nan=True)


class RunLog:
    """The run log of one reproduction in one folder: JSON lines, one per finished run.

    The first line is a header (``format``, ``version``, ``reproduction``,
    ``label``, ``settings``: size, seeds, options); each further line is
    ``{"task": {"reproduction", "config", "point"}, "record": {...}}``, written
    and fsync'd as the run finishes. ``config`` is what the task was built
    with beside its point (steps, rates, cap ...), ``point`` the run's method,
    hyperparameters and seed: together a stable identity of the run.

    Use :func:`open_run` to get one; a log stays locked (POSIX ``flock``) while
    open, so a second process does not write into the same run.
    """

    def __init__(self, path: Path, header: dict, handle):
        self.path = Path(path)
        self.header = header
        self._fh = handle
        #: config key -> point key -> the last record logged for it
        self.entries: dict = {}
        #: lines read back from an earlier run, lines appended by this one
        self.read_back = 0
        self.appended = 0
        #: records of this run taken from the log instead of being run again
        self.reused = 0

    @property
    def settings(self) -> dict:
        return self.header.get("settings")

    # -- opening -------------------------------------------------------------
    @classmethod
    def create(cls, path, header: dict) -> "RunLog":
        """Start a new log at ``path`` (which must not exist) with ``header``."""
        path = Path(path)
        fh = open(path, "xb")
        log = cls(path, header, fh)
        if not log._lock():  # pragma: no cover - a file created an instant ago
            fh.close()
            raise OutputFolderError(path.parent, f"is in use: {path.name} is locked")
        log._write_line(header)
        return log

    @classmethod
    def open_existing(cls, path) -> "RunLog | None":
        """Open an existing log for reading and appending; ``None`` if the file is no
        run log. Raises :class:`BlockingIOError` if another process holds it."""
        path = Path(path)
        fh = open(path, "r+b")
        try:
            first = fh.readline()
            try:
                header = json.loads(first)
            except (ValueError, UnicodeDecodeError):
                header = None
            if not (isinstance(header, dict) and header.get("format") == _RUNLOG_FORMAT
                    and header.get("version") == _RUNLOG_VERSION):
                fh.close()
                return None
            log = cls(path, header, fh)
            if not log._lock():
                fh.close()
                raise BlockingIOError(f"{path} is locked by another process")
            log._read_entries(len(first))
            return log
        except BaseException:
            fh.close()
            raise

    def _lock(self) -> bool:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return True
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _read_entries(self, start: int) -> None:
        self._fh.seek(start)
        data = self._fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a line torn by a kill while it was written
            warnings.warn(f"{self.path}: dropping an unfinished last line "
                          f"({len(data) - end} bytes)", RuntimeWarning, stacklevel=3)
            self._fh.truncate(start + end)
        bad = 0
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                task, record = entry["task"], entry["record"]
                ckey = _canonical([task["reproduction"], task["config"]])
                pkey = _canonical(task["point"])
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            self.entries.setdefault(ckey, {})[pkey] = record
            self.read_back += 1
        if bad:
            warnings.warn(f"{self.path}: skipped {bad} unreadable line(s)", RuntimeWarning,
                          stacklevel=3)
        self._fh.seek(0, os.SEEK_END)

    # -- use -----------------------------------------------------------------
    def finished(self, config) -> int:
        """Number of runs logged with ``status == 'ok'`` for the task configuration."""
        key = _canonical([self.header["reproduction"], config])
        return sum(r.get("status") == "ok" for r in self.entries.get(key, {}).values())

    def previous(self, config):
        """The logged records of a task configuration, as a :class:`~dynopt.sweep.SweepResult`."""
        from ..sweep import SweepResult
        key = _canonical([self.header["reproduction"], config])
        return SweepResult(list(self.entries.get(key, {}).values()))

    def append(self, config, point: dict, record: dict) -> None:
        """Append one finished run and fsync it before returning."""
        task = {"reproduction": self.header["reproduction"], "config": config, "point": point}
        self._write_line({"task": task, "record": record})
        self.entries.setdefault(_canonical([task["reproduction"], config]), {})[
            _canonical(point)] = record
        self.appended += 1

    def _write_line(self, obj) -> None:
        line = json.dumps(obj, allow_nan=True, default=_jsonable) + "\n"
        self._fh.write(line.encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _describe(settings) -> str:
    if not isinstance(settings, dict):
        return "unknown settings"
    seeds = settings.get("seeds")
    parts = [f"size {settings.get('size')}",
             "the size's seeds" if seeds is None else f"{seeds} seeds"]
    parts += [f"{k}={v}" for k, v in sorted((settings.get("options") or {}).items())]
    return ", ".join(parts)


def _siblings(out: Path):
    yield out
    base = out.resolve()
    k = 2
    while True:
        yield base.with_name(f"{base.name}-{k}")
        k += 1


def open_run(out, name: str, label: str, settings: dict, *, resume: bool = True):
    """Choose the folder of a run and open its run log; never overwrite an earlier run.

    ``out`` itself is used if it holds no run of ``label`` (no run log, no
    ``<label>.json``) or, with ``resume``, a run log of the same ``settings``,
    which is then resumed. Otherwise the first numbered sibling
    (``<out>-2``, ``<out>-3`` ...) that qualifies is used.

    Returns
    -------
    folder : Path
        Where the run writes.
    log : RunLog
        Open (and locked) run log, ready to append to.
    message : str
        Which folder, and whether the run is new or resumed: its first line says
        so, a second one (for a resumed run or one beside an earlier run) why.

    Raises
    ------
    OutputFolderError
        If ``out`` (or the sibling chosen) is not a writable folder.
    """
    from ..sweep import _jsonable as sweep_jsonable
    out = check_out(out)
    settings = sweep_jsonable(settings, "settings")
    header = {"format": _RUNLOG_FORMAT, "version": _RUNLOG_VERSION, "reproduction": name,
              "label": label, "settings": settings,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    why = None
    for folder in _siblings(out):
        if folder.exists() and not folder.is_dir():
            continue
        folder = check_out(folder)
        path = folder / f"{label}{RUNLOG_SUFFIX}"
        if path.exists():
            try:
                log = RunLog.open_existing(path)
            except BlockingIOError:
                why = why or f"{path.name} is in use by another process"
                continue
            if log is None:
                why = why or f"{path.name} is not a dynopt run log"
                continue
            if log.settings == settings and resume:
                done = sum(r.get("status") == "ok" for c in log.entries.values()
                           for r in c.values())
                return folder, log, (
                    f"{name}: resuming the run in {_show(folder)}\n"
                    f"{done} finished runs in {path.name} are kept, only the missing ones run "
                    f"(--fresh: start afresh beside it)")
            log.close()
            if why is None:
                why = ("--fresh: it is kept as it is" if log.settings == settings else
                       f"of other settings: {_describe(log.settings)}")
            continue
        if (folder / f"{label}.json").exists():
            why = why or f"{label}.json without a run log"
            continue
        log = RunLog.create(path, header)
        if folder == out:
            return folder, log, f"{name}: writing to {_show(folder)} (run log {path.name})"
        return folder, log, (f"{name}: an earlier run is kept; writing beside it to "
                             f"{_show(folder)}\n"
                             f"{_show(out)} holds an earlier {label} run ({why})")
    raise AssertionError("unreachable")  # pragma: no cover


def _show(folder: Path) -> str:
    return f"{folder}{os.sep}"


def sweep(config, task, points, *, identity=None):
    """Run a reproduction's sweep through :func:`dynopt.sweep.run_sweep`, with its run log.

    With ``config.runlog`` set, runs logged there (same reproduction, task
    configuration and point) are not run again, and every run that finishes
    is appended to the log at once.

    Parameters
    ----------
    config : ReproConfig
        Executor, workers, progress bar, run log and ``on_record``.
    task : callable
        The sweep's task, usually :func:`functools.partial` of a module-level function.
    points : iterable of dict
        The points (a generator keeps a large sweep lazy).
    identity : dict, optional
        The task's configuration in the log (default: the partial's function
        name and keywords).
    """
    import functools

    from ..sweep import run_sweep
    kwargs = ({"executor": config.executor} if config.executor is not None
              else {"max_workers": config.workers})
    log = config.runlog
    tell = config.on_record
    if log is None:
        return run_sweep(task, points, progress=config.progress, on_result=tell, **kwargs)
    if identity is None:
        func, keywords = task, {}
        if isinstance(task, functools.partial):
            func, keywords = task.func, dict(task.keywords)
        identity = {"task": f"{func.__module__}.{func.__qualname__}", **keywords}
    from ..sweep import _jsonable as sweep_jsonable
    from ..sweep import _point_of
    identity = sweep_jsonable(identity, "identity")
    previous = log.previous(identity)

    def keep(record):
        log.append(identity, _point_of(record), record)
        if tell is not None:
            tell(record)

    before = log.appended
    result = run_sweep(task, points, progress=config.progress, on_result=keep,
                       previous=previous if len(previous) else None, **kwargs)
    new = log.appended - before
    log.reused += sum(r["status"] != "not run" for r in result.records) - new
    return result
