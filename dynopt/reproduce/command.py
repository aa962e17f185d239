"""The command line's ``dynopt reproduce``: run the reproductions, print, write the files.

:func:`run_reproductions` checks that everything asked for can run, then runs
each reproduction in turn (:func:`dynopt.reproduce.reproduce`), prints its
table and the files written, and returns the exit status; an interrupted run
is resumed by the same command.
"""
from __future__ import annotations

import json
import sys

from .progress import OverallProgress, duration, paused

__all__ = ["run_reproductions"]


def _plan_line(names, size) -> str:
    """What the run will cost, in words: the default size's estimate and this size's."""
    def said(seconds):  # a no-break space keeps '3 min' on one line when wrapped
        return duration(seconds).replace(" ", "\u00a0")

    from . import estimate
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
    from .table import wrap
    stream = sys.stdout if stream is None else stream
    lines = []
    for k, line in enumerate(str(text).split("\n")):
        if k == 0:
            lines += [line] if first_whole else wrap(line, subsequent="  ")
        else:
            lines += wrap(line, initial="  ", subsequent="  ")
    with paused(progress):
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
    from . import REPRODUCTIONS
    from .runlog import OutputFolderError, check_out
    size = "quick" if args.quick else "full" if args.full else "default"
    options = {} if getattr(args, "criterion", None) is None else {"criterion": args.criterion}
    if options and list(names) != ["lj38"]:
        raise SystemExit("dynopt reproduce: --criterion applies to lj38 only")
    names = _runnable(names)
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


def _runnable(names) -> list:
    """The reproductions asked for whose optional requirements are installed, checked
    before any of them starts. One that was named alone and cannot run is an error;
    ``all`` leaves out those that cannot (the PyTorch ones without torch) and says so."""
    from . import REPRODUCTIONS
    if len(names) == 1:
        try:
            REPRODUCTIONS[names[0]].check_requirements()
        except ImportError as exc:
            raise SystemExit(f"dynopt reproduce: {exc}") from None
        return list(names)
    keep = []
    for name in names:
        try:
            REPRODUCTIONS[name].check_requirements()
        except ImportError as exc:
            _say(f"dynopt reproduce: {name} left out: {exc}", sys.stderr)
        else:
            keep.append(name)
    if not keep:
        raise SystemExit("dynopt reproduce: none of the reproductions can run here")
    return keep


def _run_each(names, args, size, options, resume, bar) -> int:
    from ..sweep import _SigtermAsInterrupt
    from . import reproduce
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
            with paused(bar):
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
