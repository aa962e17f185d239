"""The papers' reproductions, run by ``dynopt reproduce NAME``.

``REPRODUCTIONS`` maps a name to its :class:`~dynopt.reproduce.base.Reproduction`;
modules are imported when first needed.
"""
from __future__ import annotations

import importlib
import json
import sys

from .base import Report, ReproConfig, Reproduction, SIZES

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


def reproduce(name: str, **config) -> Report:
    """Run one reproduction and write its files; ``config`` as :class:`ReproConfig`.

    The names of every file written (in ``cfg.out``) are in ``report.meta['files']``.
    """
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
    report = repro.run(cfg, **cfg.options)
    report.meta["files"] = [p.name for p in report.write(cfg.out)]
    return report


def run_reproductions(names, args) -> int:
    """The command line's ``reproduce``: run, print the tables, write the files."""
    size = "quick" if args.quick else "full" if args.full else "default"
    options = {} if getattr(args, "criterion", None) is None else {"criterion": args.criterion}
    if options and list(names) != ["lj38"]:
        raise SystemExit("dynopt reproduce: --criterion applies to lj38 only")
    try:  # everything asked for can run, before any of it starts
        for name in names:
            REPRODUCTIONS[name].check_requirements()
    except ImportError as exc:
        raise SystemExit(f"dynopt reproduce: {exc}") from None
    failed = False
    for name in names:
        report = reproduce(name, size=size, seeds=args.seeds, out=args.out,
                           workers=args.workers, progress=not args.no_progress, options=options)
        print(report)
        print(f"\nwritten to {args.out}/: " + ", ".join(report.meta["files"]))
        if args.json:
            json.dump(report.to_dict(), sys.stdout, indent=2, default=str)
            print()
        failed |= not report.complete
    return 1 if failed else 0


__all__ = ["REPRODUCTIONS", "Report", "ReproConfig", "Reproduction", "SIZES", "reproduce",
           "run_reproductions"]
