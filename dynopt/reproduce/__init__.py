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


def run_reproductions(names, args) -> int:
    """The command line's ``reproduce``: run, print the tables, write the files.

    Returns the exit status: 0 when every reproduction finished, 1 when one
    was interrupted (the ones after it are not started), 2 for an unusable
    ``--out``, 130 (143 for SIGTERM) when interrupted outside a sweep.
    """
    from ..sweep import _SigtermAsInterrupt
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
    with _SigtermAsInterrupt() as signals:
        for k, name in enumerate(names):
            try:
                report = reproduce(name, size=size, seeds=args.seeds, out=args.out,
                                   workers=args.workers, progress=not args.no_progress,
                                   options=options, resume=resume, announce=print)
            except KeyboardInterrupt:
                print(f"\ndynopt reproduce: {name} interrupted; every finished run is in its "
                      f"run log: the same command resumes it", file=sys.stderr)
                return 143 if signals.received else 130
            print(report)
            print(f"\nwritten to {report.meta['out']}/: " + ", ".join(report.meta["files"]))
            if args.json:
                json.dump(report.to_dict(), sys.stdout, indent=2, default=str)
                print()
            if not report.complete:
                rest = names[k + 1:]
                print(f"dynopt reproduce: {name} was interrupted; the same command resumes it"
                      + (f" ({', '.join(rest)} not started)" if rest else ""), file=sys.stderr)
                return 1
    return 0


__all__ = ["REPRODUCTIONS", "OutputFolderError", "Report", "ReproConfig", "Reproduction", "SIZES",
           "reproduce", "run_reproductions"]
