"""The papers' reproductions, run by ``dynopt reproduce NAME``.

``REPRODUCTIONS`` maps a name to its :class:`~dynopt.reproduce.base.Reproduction`;
modules are imported when first needed. :func:`reproduce` runs one and writes
its files; :data:`ESTIMATES` says how long each takes.

Where things are: each reproduction is a subpackage (``rosenbrock``,
``quadratic``, ``lj38``, ``mlp``) holding its protocol, runs, rows, notes and
figures; :mod:`~dynopt.reproduce.base` says what a reproduction is,
:mod:`~dynopt.reproduce.report` writes every report,
:mod:`~dynopt.reproduce.runlog` keeps every finished run,
:mod:`~dynopt.reproduce.command` is the command line's ``dynopt reproduce``
and :mod:`~dynopt.reproduce.progress` its overall progress bar.
"""
from __future__ import annotations

import importlib

from .base import OutputFolderError, Report, ReproConfig, Reproduction, SIZES
from .command import run_reproductions
from .progress import OverallProgress, duration

#: name -> module defining ``REPRODUCTION``
_MODULES = {"rosenbrock": "rosenbrock", "quadratic": "quadratic", "lj38": "lj38", "mlp": "mlp",
            "condensation": "condensation", "pinn": "pinn"}

#: name -> size -> seconds of wall time on two idle cores (``--workers 2``), ``None``
#: where not measured. 'default' from the measurements on each reproduction's
#: documentation page (docs/reproduce/NAME.md); 'quick' measured with one worker;
#: 'full' where that page gives it (rosenbrock twice the default, lj38 ten times).
ESTIMATES = {
    "rosenbrock": {"quick": 10, "default": 60, "full": 120},
    "quadratic": {"quick": 6, "default": 50, "full": None},
    "lj38": {"quick": 18, "default": 180, "full": 1800},
    "mlp": {"quick": 15, "default": 180, "full": None},
    "condensation": {"quick": 15, "default": 120, "full": None},
    "pinn": {"quick": 20, "default": 240, "full": None},
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


__all__ = ["REPRODUCTIONS", "ESTIMATES", "OutputFolderError", "OverallProgress", "Report",
           "ReproConfig", "Reproduction", "SIZES", "duration", "estimate", "reproduce",
           "run_reproductions"]
