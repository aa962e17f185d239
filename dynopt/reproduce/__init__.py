"""The papers' reproductions, run by ``dynopt reproduce NAME``.

``REPRODUCTIONS`` maps a name to its :class:`~dynopt.reproduce.base.Reproduction`;
modules are imported when first needed.
"""
from __future__ import annotations

import importlib
import json
import sys

from .base import OutputFolderError, Report, ReproConfig, Reproduction, SIZES

#: name -> module defining ``REPRODUCTION``
_MODULES = {"rosenbrock": "rosenbrock", "quadratic": "quadratic", "lj38": "lj38", "mlp": "mlp"}

#: name -> size -> seconds of wall time on two idle cores (``--workers 2``), ``None``
#: where not measured. 'default' from the measurements on each reproduction's
#: documentation page (docs/reproduce/NAME.md); 'quick' measured with one worker;
#: 'full' where that page gives it (rosenbrock twice the default, lj38 ten times).
ESTIMATES = {
    "rosenbrock": {"quick": 10, "default": 60, "full": 120},
    "quadratic": {"quick": 6, "default": 50, "full": None},
    "lj38": {"quick": 18, "default": 180, "full": 1800},
    "mlp": {"quick": 15, "default": 180, "full": None},
}


def estimate(name: str, size: str = "default"):
    """Seconds of wall time ``name`` takes at ``size`` on two idle cores, or ``None``.

    Raises
    ------
    KeyError
        For an unknown reproduction; ``ValueError`` for an unknown size.
    """
    if name not in _MODULES:
        raise KeyError(f"unknown reproduction {name!r}; valid: {sorted(_MODULES)}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    return ESTIMATES.get(name, {}).get(size)


def duration(seconds) -> str:
    """``seconds`` in words a person reads at a glance: '45 s', '3 min', '1 h 05 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    minutes = (seconds + 30) // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class _Registry(dict):
    """name -> Reproduction, importing each module on first access."""

    def __missing__(self, name):
        if name not in _MODULES:
            raise KeyError(f"unknown reproduction {name!r}; valid: {sorted(_MODULES)}")
        module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
        self[name] = module.REPRODUCTION
        return self[name]

    def __iter__(self):
        return iter(_MODULES)

    def __len__(self):
        return len(_MODULES)

    def __contains__(self, name):
        return name in _MODULES

    def keys(self):
        return list(_MODULES)


REPRODUCTIONS = _Registry()


def _label(name: str, repro: Reproduction, options: dict) -> str:
    """The stem of a run's files: the name, then each option that is not its default."""
    import inspect
    params = inspect.signature(repro.run).parameters
    extra = [str(v) for k, v in sorted(options.items()) if params[k].default != v]
    return "_".join([name, *extra])


def reproduce(name: str, *, announce=None, **config) -> Report:
    """Run one reproduction and write its files; ``config`` as :class:`ReproConfig`.

    The output folder is checked (created if needed, writable) before anything
    runs. Every run is appended to the run log ``<name>_runlog.jsonl`` as it
    finishes; with ``resume=True`` (the default) a folder holding a run of the
    same settings is resumed, only the missing runs running; a folder holding
    any other run is left as it is and the files go to the first numbered
    sibling that holds none (``results-2`` ...). The tables and the JSON are
    written before the figures.

    Parameters
    ----------
    name : str
        A key of :data:`REPRODUCTIONS`.
    announce : callable, optional
        Called with one line saying where the files go and whether the run is
        new, resumed or written beside an earlier one (e.g. ``print``).
    **config
        The fields of :class:`ReproConfig`.

    Returns
    -------
    Report
        ``report.meta`` holds ``files`` (every file written, in the folder
        ``meta['out']``), ``run_log``, ``reused_runs`` (taken from the log),
        ``new_runs`` and ``output`` (the announced line).

    Raises
    ------
    OutputFolderError
        If ``out`` is a file, cannot be created or is not writable.
    """
    import dataclasses

    from .base import open_run
    cfg = ReproConfig(**config)
    repro = REPRODUCTIONS[name]
    repro.check_requirements()
    if cfg.options:
        import inspect
        accepted = set(inspect.signature(repro.run).parameters) - {"config"}
        unknown = sorted(set(cfg.options) - accepted)
        if unknown:
            raise ValueError(f"reproduction {name!r} takes no option(s) {unknown}; "
                             f"its options: {sorted(accepted) or 'none'}")
    settings = {"size": cfg.size, "seeds": cfg.seeds, "options": cfg.options}
    folder, log, message = open_run(cfg.out, name, _label(name, repro, cfg.options), settings,
                                    resume=cfg.resume)
    if announce is not None:
        announce(message)
    try:
        run_cfg = dataclasses.replace(cfg, out=folder, runlog=log)
        report = repro.run(run_cfg, **cfg.options)
    finally:
        log.close()
    report.meta.update({"out": str(folder), "run_log": log.path.name,
                        "reused_runs": log.reused, "new_runs": log.appended,
                        "output": message})
    files = report.write(folder)
    report.meta["files"] = [p.name for p in files] + [log.path.name]
    return report


class OverallProgress:
    """One progress bar over several reproductions, as plain text on a stream.

    On a terminal the line is redrawn in place (``\\r``) twice a second;
    elsewhere (a file, a pipe, CI's log) a full line is written when each
    reproduction starts and every ``interval`` seconds (30 by default). The
    line names the reproduction running and gives an ETA from
    :data:`ESTIMATES`, rescaled by how long the finished reproductions
    actually took against their estimates.

    Parameters
    ----------
    names : list of str
        The reproductions, in the order they run.
    size : str
        Their size (one of :data:`SIZES`).
    stream : file, optional
        Where the bar goes (default ``sys.stderr``).
    interval : float, optional
        Seconds between redraws (default 0.5 on a terminal, 30 elsewhere).
    """

    def __init__(self, names, size, stream=None, interval=None):
        import threading
        import time
        self.names = list(names)
        self.size = size
        self.stream = sys.stderr if stream is None else stream
        self.tty = _is_terminal(self.stream)
        self.interval = (0.5 if self.tty else 30.0) if interval is None else float(interval)
        #: the size's estimates, else the default size's as relative weights only
        own = [estimate(n, size) for n in self.names]
        self.calibrated = all(w is not None for w in own)
        weights = own if self.calibrated else [estimate(n, "default") for n in self.names]
        self.weights = [float(w or 1.0) for w in weights]
        self.taken: list = []
        self.current = -1
        self.runs = 0
        self._clock = time.monotonic
        self.started = self._clock()
        self._current_started = self.started
        self._width = 0
        self._paused = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dynopt-progress", daemon=True)
        self._thread.start()

    # -- the figures -----------------------------------------------------------
    def _scale(self):
        """Measured seconds per estimated second, ``None`` while nothing tells."""
        if self.taken:
            return sum(self.taken) / sum(self.weights[:len(self.taken)])
        return 1.0 if self.calibrated else None

    def remaining(self):
        """Predicted seconds left (``None`` when unknown), and the fraction done."""
        done = len(self.taken)
        total = sum(self.weights)
        scale = self._scale()
        if scale is None or done >= len(self.names):
            return (0.0 if done >= len(self.names) else None), done / len(self.names)
        elapsed = self._clock() - self._current_started if self.current >= done else 0.0
        predicted = max(self.weights[done] * scale, elapsed * 1.05)
        left = predicted - elapsed + sum(self.weights[done + 1:]) * scale
        fraction = (sum(self.weights[:done]) + self.weights[done] * elapsed / predicted) / total
        return left, min(fraction, 1.0)

    def line(self) -> str:
        """The bar as one line of at most 100 columns."""
        left, fraction = self.remaining()
        filled = int(round(20 * fraction))
        k = min(max(self.current, 0), len(self.names) - 1)
        name = self.names[k] if len(self.taken) < len(self.names) else "done"
        eta = "?" if left is None else f"~{duration(left)}"
        text = (f"all [{'#' * filled}{'.' * (20 - filled)}] {100 * fraction:3.0f}%  "
                f"{min(len(self.taken) + 1, len(self.names))}/{len(self.names)} {name}  "
                f"{duration(self._clock() - self.started)} elapsed, ETA {eta}  "
                f"({self.runs} runs)")
        return text[:100]

    # -- events ----------------------------------------------------------------
    def start(self, k: int) -> None:
        """Reproduction ``k`` (an index of ``names``) starts."""
        with self._lock:
            self.current = k
            self.runs = 0
            self._current_started = self._clock()
            self.draw()

    def record(self, record=None) -> None:
        """One run finished (usable as :attr:`ReproConfig.on_record`)."""
        self.runs += 1

    def finish(self, k: int) -> None:
        """Reproduction ``k`` finished."""
        with self._lock:
            if len(self.taken) == k:
                self.taken.append(self._clock() - self._current_started)

    def close(self) -> None:
        """Stop redrawing and leave no bar on the screen."""
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            self.clear()

    # -- drawing ---------------------------------------------------------------
    def draw(self) -> None:
        """Redraw the line on a terminal; elsewhere write it as a line of its own."""
        with self._lock:
            if self._stop.is_set() or self.current < 0 or self._paused:
                return
            text = self.line()
            if self.tty:
                self.stream.write("\r" + text.ljust(self._width))
                self._width = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def clear(self) -> None:
        """Blank the bar's line on a terminal (before other text is printed)."""
        with self._lock:
            if self.tty and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def pause(self):
        """A context in which the bar is cleared and not redrawn (to print beside it)."""
        import contextlib

        @contextlib.contextmanager
        def paused():
            with self._lock:
                self.clear()
                self._paused += 1
                try:
                    yield
                finally:
                    self._paused -= 1
                if self.tty and not self._paused:
                    self.draw()
        return paused()


def _plan_line(names, size) -> str:
    """What the run will cost, in words: the default size's estimate and this size's."""
    def said(seconds):  # a no-break space keeps '3 min' on one line when wrapped
        return duration(seconds).replace(" ", "\u00a0")

    default = [estimate(n, "default") for n in names]
    parts = ", ".join(f"{n} {said(w)}" for n, w in zip(names, default) if w is not None)
    line = (f"dynopt reproduce: the default size takes about {said(sum(filter(None, default)))} "
            f"on 2 idle cores ({parts})")
    if size != "default":
        own = [estimate(n, size) for n in names]
        missing = [n for n, w in zip(names, own) if w is None]
        line += (f"; this run ({size}): about {said(sum(own))}" if not missing
                 else f"; the {size} size is not estimated for {', '.join(missing)}")
    return line


def _say(text: str, stream=None, progress=None, first_whole: bool = False) -> None:
    """Print ``text`` wrapped to 100 columns, later lines indented (words and paths whole).

    With ``first_whole`` the first line is printed as it is (the line naming
    the output folder, which ends with its path).
    """
    from .base import wrap
    stream = sys.stdout if stream is None else stream
    lines = []
    for k, line in enumerate(str(text).split("\n")):
        if k == 0:
            lines += [line] if first_whole else wrap(line, subsequent="  ")
        else:
            lines += wrap(line, initial="  ", subsequent="  ")
    with _paused(progress):
        print("\n".join(lines), file=stream)
        stream.flush()


def run_reproductions(names, args) -> int:
    """The command line's ``reproduce``: run, print the tables, write the files.

    With more than one reproduction (``all``) and the progress bar on, one
    overall bar (:class:`OverallProgress`, on stderr) replaces the sweeps' own,
    after a line saying how long the default size takes.

    Returns the exit status: 0 when every reproduction finished, 1 when one
    was interrupted (the ones after it are not started), 2 for an unusable
    ``--out``, 130 (143 for SIGTERM) when interrupted outside a sweep.
    """
    from .base import OutputFolderError, check_out
    size = "quick" if args.quick else "full" if args.full else "default"
    options = {} if getattr(args, "criterion", None) is None else {"criterion": args.criterion}
    if options and list(names) != ["lj38"]:
        raise SystemExit("dynopt reproduce: --criterion applies to lj38 only")
    try:  # everything asked for can run, before any of it starts
        for name in names:
            REPRODUCTIONS[name].check_requirements()
    except ImportError as exc:
        raise SystemExit(f"dynopt reproduce: {exc}") from None
    try:
        check_out(args.out)
    except OutputFolderError as exc:
        print(f"dynopt reproduce: --out {exc.path} {exc.reason}", file=sys.stderr)
        return 2
    resume = not getattr(args, "fresh", False)
    overall = len(names) > 1 and not args.no_progress
    if len(names) > 1:
        _say(_plan_line(names, size), sys.stderr)
    bar = OverallProgress(names, size) if overall else None
    try:
        return _run_each(names, args, size, options, resume, bar)
    finally:
        if bar is not None:
            bar.close()


def _run_each(names, args, size, options, resume, bar) -> int:
    from ..sweep import _SigtermAsInterrupt
    with _SigtermAsInterrupt() as signals:
        for k, name in enumerate(names):
            if bar is not None:
                bar.start(k)
            try:
                report = reproduce(
                    name, size=size, seeds=args.seeds, out=args.out, workers=args.workers,
                    progress=not args.no_progress and bar is None, options=options,
                    resume=resume, on_record=None if bar is None else bar.record,
                    announce=lambda line: _say(line, progress=bar, first_whole=True))
            except KeyboardInterrupt:
                if bar is not None:
                    bar.close()
                print(file=sys.stderr)
                _say(f"dynopt reproduce: {name} interrupted; every finished run is in its "
                     f"run log: the same command resumes it", sys.stderr)
                return 143 if signals.received else 130
            if bar is not None:
                bar.finish(k)
            with _paused(bar):
                print(report)  # already in 100 columns (Report.text)
                print()
                # wrapped at the commas like every line (a script joins the lines and
                # splits at ", ")
                _say(f"written to {report.meta['out']}/: " + ", ".join(report.meta["files"]))
                if args.json:
                    json.dump(report.to_dict(), sys.stdout, indent=2, default=str)
                    print()
                sys.stdout.flush()
            if not report.complete:
                rest = names[k + 1:]
                _say(f"dynopt reproduce: {name} was interrupted; the same command resumes it"
                     + (f" ({', '.join(rest)} not started)" if rest else ""), sys.stderr,
                     progress=bar)
                return 1
    return 0


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _paused(bar):
    """``bar.pause()``, or a context doing nothing without a bar."""
    import contextlib
    return contextlib.nullcontext() if bar is None else bar.pause()


__all__ = ["REPRODUCTIONS", "ESTIMATES", "OutputFolderError", "OverallProgress", "Report",
           "ReproConfig", "Reproduction", "SIZES", "duration", "estimate", "reproduce",
           "run_reproductions"]
