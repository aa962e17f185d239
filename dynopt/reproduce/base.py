"""What a reproduction is: a configured run that yields a report.

Each reproduction module (``rosenbrock.py``, ``quadratic.py``, ``lj38.py``,
``mlp.py``) defines ``REPRODUCTION = Reproduction(name, title, run)`` where
``run(config) -> Report``. Runs go through :func:`dynopt.sweep.run_sweep`, so
any :class:`concurrent.futures.Executor` (local processes, a Dask client's
executor) can carry them and a failing or interrupted run loses nothing.

Nothing finished is lost: :func:`open_run` picks the output folder (checked
before anything runs) and its run log, ``<label>_runlog.jsonl``, to which
:func:`sweep` appends every run as it finishes (one fsync'd JSON line each,
keyed by the reproduction, the task's configuration and the point: method,
hyperparameters, seed). A rerun with the same settings resumes from the log;
a folder holding another run is never overwritten, the new run goes to a
numbered sibling (``results-2``). :meth:`Report.write` writes the tables and
JSON before drawing any figure.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["Reproduction", "ReproConfig", "Report", "SIZES", "RunLog", "OutputFolderError",
           "check_out", "open_run", "sweep", "RUNLOG_SUFFIX", "WIDTH", "fit_table", "wrap"]

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
    resume
        ``True`` (the default): if ``out`` holds an earlier run of the same
        reproduction and settings, keep its finished runs and run only the
        missing ones. ``False``: start afresh, beside any earlier run (in the
        first numbered sibling folder, ``results-2``, ``results-3`` ..., that
        holds none). An earlier run is never overwritten either way.
    runlog
        The :class:`RunLog` the sweeps append to (set by
        :func:`dynopt.reproduce.reproduce`; ``None``: no log).
    on_record
        Called with each run's record as it finishes (after the run log has
        it), e.g. to drive an overall progress bar; ``None``: nothing.
    """

    size: str = "default"
    seeds: int | None = None
    out: Path = Path("results")
    workers: int | None = None
    executor: object = None
    progress: bool = True
    options: dict = field(default_factory=dict)
    resume: bool = True
    runlog: object = field(default=None, repr=False, compare=False)
    on_record: Callable | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {self.size!r}")
        if self.seeds is not None and (isinstance(self.seeds, bool)
                                       or not isinstance(self.seeds, int) or self.seeds < 1):
            raise ValueError(f"seeds must be a positive integer, got {self.seeds!r}")
        if self.workers is not None and (isinstance(self.workers, bool)
                                         or not isinstance(self.workers, int) or self.workers < 1):
            raise ValueError(f"workers must be a positive integer or None, got {self.workers!r}")
        if not isinstance(self.resume, bool):
            raise TypeError(f"resume must be True or False, got {self.resume!r}")
        if not isinstance(self.options, dict):
            raise TypeError(f"options must be a dict, got {type(self.options).__name__}")
        if self.on_record is not None and not callable(self.on_record):
            raise TypeError(f"on_record must be callable or None, got {self.on_record!r}")
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
        import csv
        import io
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        json_path = out / f"{self.name}.json"
        paths = [json_path]
        _atomic_text(json_path, json.dumps(self.to_dict(), indent=2, default=_jsonable))
        for fname, rows, cols in ((f"{self.name}.csv", self.rows, self.columns),
                                  (f"{self.name}_runs.csv", self.records, None)):
            path = out / fname
            cols = cols or sorted({k for r in rows for k, v in r.items()
                                   if not isinstance(v, (list, dict))})
            buffer = io.StringIO(newline="")
            writer = csv.DictWriter(buffer, fieldnames=cols, extrasaction="ignore")
            writer.writeheader()
            for r in rows:
                writer.writerow({k: _jsonable(r.get(k)) for k in cols})
            _atomic_text(path, buffer.getvalue())
            paths.append(path)
        path = out / f"{self.name}.txt"
        _atomic_text(path, str(self) + "\n")
        paths.append(path)
        if self.pending_figures:
            self.draw_figures()
            _atomic_text(json_path, json.dumps(self.to_dict(), indent=2, default=_jsonable))
        return paths + [Path(p) for p in (*self.figures, *self.data_files)]


def _atomic_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


# --------------------------------------------------------------------------- terminal text
#: the widest line a report prints (columns of a terminal)
WIDTH = 100


def wrap(text, width: int = WIDTH, initial: str = "", subsequent: str = "") -> list:
    """``text`` as lines of at most ``width`` columns (:func:`textwrap.wrap`).

    Each line of ``text`` is wrapped on its own; words (numbers, paths) are
    never broken, so a single word longer than ``width`` stays whole; a
    no-break space (U+00A0) joins two words on one line and prints as a space.
    ``initial`` starts the first line, ``subsequent`` every other one.
    """
    import textwrap
    lines = []
    for k, paragraph in enumerate(str(text).split("\n")):
        first = initial if k == 0 else subsequent
        lines += textwrap.wrap(paragraph, width, initial_indent=first,
                               subsequent_indent=subsequent, break_long_words=False,
                               break_on_hyphens=False) or [first.rstrip()]
    return [line.replace("\u00a0", " ") for line in lines]


@dataclass
class _Column:
    """One column of a table as printed: its width, header, rule and each row's lines."""

    width: int
    header: str
    rule: str
    cells: list  # one list of padded lines per row


def _is_text(values) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, str) for v in present)


def _key_columns(rows, columns) -> list:
    """The columns naming a row: the leading ones up to the end of the first run of
    text columns (at most three), e.g. ``kappa, method`` or ``starts, method, swept``."""
    key, in_text = [], False
    for c in columns[:3]:
        text = _is_text([r.get(c) if hasattr(r, "get") else None for r in rows])
        if in_text and not text:
            break
        in_text = in_text or text
        key.append(c)
    if not in_text or len(key) == len(columns):
        return list(columns[:1])
    return key


def fit_table(rows, columns, width: int = WIDTH, key_columns=None) -> str:
    """A :func:`dynopt.stats.format_table` table in at most ``width`` columns, every cell kept.

    The table as :func:`~dynopt.stats.format_table` prints it when it fits;
    else with one space between columns if that fits; else as blocks stacked
    one under the other, each repeating the columns that name a row
    (``key_columns``, by default the leading columns up to the first run of text
    columns, such as ``method``) and holding as many of the other columns, in
    order, as fit. A text column too wide even alone beside the key has its
    cells wrapped onto several lines.

    Parameters
    ----------
    rows : list of dict
        The table's rows.
    columns : list of str
        Column names, in order (also the headers).
    width : int
        The widest line allowed.
    key_columns : list of str, optional
        Columns repeated in every block.

    Returns
    -------
    str
        The table's lines joined by newlines.
    """
    from ..stats import format_table
    rows, columns = list(rows), list(columns)
    whole = format_table(rows, columns)
    if not columns or max(len(line) for line in whole.split("\n")) <= width:
        return whole
    printed = {}
    for c in columns:
        lines = format_table(rows, [c]).split("\n")
        printed[c] = _Column(len(lines[0]), lines[0], lines[1], [[x] for x in lines[2:]])
    if sum(col.width for col in printed.values()) + len(columns) - 1 <= width:
        return _render([printed[c] for c in columns], " ")
    key = list(key_columns) if key_columns is not None else _key_columns(rows, columns)
    unknown = [c for c in key if c not in printed]
    if unknown:
        raise ValueError(f"key_columns {unknown} are not columns of the table {columns}")
    key_width = sum(printed[c].width for c in key) + 2 * (len(key) - 1)
    if key_width > width // 2:
        key = columns[:1]
        key_width = printed[key[0]].width
    rest = [c for c in columns if c not in key]
    avail = max(width - key_width - 2, 10)
    blocks, current, used = [], [], key_width
    for c in rest:
        col = printed[c]
        if col.width > avail and _is_text([r.get(c) for r in rows]):
            col = _wrapped(col, avail)
        if current and used + 2 + col.width > width:
            blocks.append(current)
            current, used = [], key_width
        current.append(col)
        used += 2 + col.width
    if current:
        blocks.append(current)
    return "\n\n".join(_render([printed[c] for c in key] + block, "  ") for block in blocks)


def _wrapped(col: _Column, width: int) -> _Column:
    """A text column with its cells wrapped to ``width`` (header and rule cut to match)."""
    cells = [wrap(lines[0].rstrip(), width) or [""] for lines in col.cells]
    wide = max([len(col.header.rstrip())] + [len(x) for c in cells for x in c])
    wide = min(wide, max(width, len(col.header.rstrip())))
    return _Column(wide, col.header.rstrip().ljust(wide), "-" * wide,
                   [[x.ljust(wide) for x in c] for c in cells])


def _render(cols: list, sep: str) -> str:
    out = [sep.join(c.header for c in cols).rstrip(), sep.join(c.rule for c in cols)]
    for i in range(len(cols[0].cells)):
        height = max(len(c.cells[i]) for c in cols)
        for j in range(height):
            out.append(sep.join(c.cells[i][j] if j < len(c.cells[i]) else " " * c.width
                                for c in cols).rstrip())
    return "\n".join(out)


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


# --------------------------------------------------------------------------- output folder
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
