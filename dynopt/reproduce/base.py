"""What a reproduction is: a configured run that yields a report.

Each reproduction (``rosenbrock``, ``quadratic``, ``lj38``, ``mlp``) defines
``REPRODUCTION = Reproduction(name, title, run)`` where ``run(config) ->
Report``: a protocol (its plan per size) and the rows it measures. The
shared parts live beside this module: :mod:`~dynopt.reproduce.report` (the
report and the files it writes), :mod:`~dynopt.reproduce.runlog` (the output
folder, the run log and the sweep that appends to it),
:mod:`~dynopt.reproduce.table` (text in 100 columns). They are re-exported
here. Runs go through :func:`dynopt.sweep.run_sweep`, so any
:class:`concurrent.futures.Executor` can carry them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .report import Report
from .runlog import RUNLOG_SUFFIX, OutputFolderError, RunLog, check_out, open_run, sweep
from .table import WIDTH, fit_table, wrap

__all__ = ["Reproduction", "ReproConfig", "Report", "SIZES", "RunLog", "OutputFolderError",
           "check_out", "open_run", "sweep", "RUNLOG_SUFFIX", "WIDTH", "fit_table", "wrap",
           "DIVERGED_STATUSES", "single_threaded_blas", "prebuilt"]

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
                + " (`[reproduce]` has what every reproduction but the PyTorch ones needs; "
                "`[reproduce,torch]` adds those)")


# --------------------------------------------------------------------------- shared by the runs
#: dynopt status codes of a diverged run: NaN/Inf met, diverged
DIVERGED_STATUSES = (3, 4)


def single_threaded_blas():
    """A context limiting BLAS to one thread (``threadpoolctl`` if installed).

    The runs are small; a multi-threaded BLAS on a busy machine made SciPy's
    L-BFGS-B a hundred times slower, and the sweep already uses the cores.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@functools.lru_cache(maxsize=None)
def prebuilt(name: str):
    """The registered method ``name`` with its default step program built once per process.

    Building a program runs SymPy (a noticeable part of a short run); the
    program does not change between runs, so every point of a sweep that a
    process runs reuses it.
    """
    import dataclasses

    import dynopt
    spec = dynopt.METHODS[name]
    program = spec.program()

    def build(integrator, **flags):
        return program

    return dataclasses.replace(spec, build=build)
