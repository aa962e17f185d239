"""The ``dynopt`` command line: ``demo``, ``methods``, ``reproduce``, ``bench``.

Every help text is plain words (no reStructuredText markup), and every line of
``dynopt reproduce`` fits 100 columns.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys

__all__ = ["main", "build_parser", "version"]

#: what ``dynopt --help`` says first
DESCRIPTION = ("Optimizers as continuous dynamical systems. Commands: demo (every method on "
               "Rosenbrock 5-D), methods (the registered methods), reproduce (the papers' "
               "tables), bench (the performance benchmark).")


def version() -> str:
    """The installed distribution's name and version, e.g. ``'dynopt-physics 0.1.0'``.

    Read with :mod:`importlib.metadata` from the distribution that holds the
    ``dynopt`` package; without one (a checkout on ``sys.path``, not
    installed) ``dynopt.__version__``.
    """
    from importlib import metadata
    try:
        names = metadata.packages_distributions().get("dynopt") or []
    except Exception:  # a broken distribution's metadata must not stop --version
        names = []
    for dist in [*names, "dynopt-physics"]:
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    import dynopt
    found = getattr(dynopt, "__version__", None)
    return f"dynopt {found}" if found else "dynopt (version unknown: not installed)"


class _VersionAction(argparse.Action):
    """``--version``: print :func:`version` and exit 0 (looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the installed version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(version() + "\n")
        sys.stdout.flush()
        parser.exit(0)


def _demo(args) -> int:
    import numpy as np
    import scipy.optimize as so

    import dynopt
    from dynopt.methods.settings import EXAMPLE_SETTINGS, GTOL
    from dynopt.stats import format_table

    x0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    rows = []
    for name in dynopt.METHODS:
        opts, maxiter, _ = EXAMPLE_SETTINGS[name]["rosenbrock"]
        maxiter = min(maxiter, args.maxiter)
        res = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method=name,
                              options={**opts, "maxiter": maxiter, "gtol": GTOL["rosenbrock"]})
        rows.append({"method": name,
                     "settings": ", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults",
                     "f": res.fun, "|x-1|": float(np.abs(res.x - 1).max()), "steps": res.nit,
                     "status": res.status})
    ref = so.minimize(so.rosen, x0, jac=so.rosen_der, method="L-BFGS-B",
                      options={"gtol": GTOL["rosenbrock"], "maxiter": args.maxiter})
    rows.append({"method": "scipy L-BFGS-B", "settings": "", "f": ref.fun,
                 "|x-1|": float(np.abs(ref.x - 1).max()), "steps": ref.nit, "status": ref.status})
    print(f"Rosenbrock 5-D from x0 = {x0.tolist()}, stop at max|grad| <= {GTOL['rosenbrock']} "
          f"(status 0 = converged, 1 = step budget spent); settings from "
          f"dynopt.methods.settings.EXAMPLE_SETTINGS")
    print(format_table(rows, ["method", "settings", "f", "|x-1|", "steps", "status"]))
    return 0


def _methods(args) -> int:
    import dynopt
    listing = dynopt.describe_methods()
    if args.json:
        print(json.dumps(listing, indent=2, default=str))
        return 0
    from dynopt.reproduce.base import wrap
    indent = " " * 21
    for name, info in listing.items():
        hyper = ", ".join(f"{k}={v!r}" for k, v in info["hyperparameters"].items())
        integ = info["integrator"] or "discrete rule"
        lines = wrap(f"{name:18s} [{integ}] {info['summary']}", subsequent=indent)
        lines += wrap(hyper, initial=indent, subsequent=indent)
        print("\n".join(lines))
    return 0


def _reproduce(args) -> int:
    from dynopt.reproduce import REPRODUCTIONS, run_reproductions
    names = list(REPRODUCTIONS) if args.name == "all" else [args.name]
    return run_reproductions(names, args)


def _positive_int(text: str) -> int:
    """``--seeds``/``--workers``: a whole number >= 1 (argparse names the flag)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _one_line_error(parser: argparse.ArgumentParser, message: str):
    """A bad ``reproduce`` argument: one line naming it, exit status 2."""
    parser.exit(2, f"{parser.prog}: error: {message}\n")


def _bench(args, rest) -> int:
    from dynopt import bench
    bench.main(rest)  # returns the report; the command's status is 0 when it ran
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``dynopt`` (every option has a help text in plain words)."""
    parser = argparse.ArgumentParser(prog="dynopt", description=DESCRIPTION)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one of: demo, methods, reproduce, bench")
    demo = sub.add_parser("demo", help="run every method on Rosenbrock 5-D and print a table",
                          description="Run every method on SciPy's 5-D Rosenbrock function "
                                      "with its example settings; SciPy's L-BFGS-B beside.")
    demo.add_argument("--maxiter", type=int, default=30000,
                      help="cap on each run's steps (default: 30000)")
    meth = sub.add_parser("methods", help="list the registered methods and their defaults",
                          description="List the registered methods, their integrators and "
                                      "hyperparameters with their defaults.")
    meth.add_argument("--json", action="store_true",
                      help="print the listing as JSON instead of text")
    rep = sub.add_parser("reproduce", help="reproduce a paper's table",
                         description="Reproduce a paper's table: run the sweep, print the "
                                     "table with the paper's figures beside the measured "
                                     "ones, write the files. 'all' runs every reproduction "
                                     "in turn under one progress bar.")
    try:
        from dynopt.reproduce import REPRODUCTIONS
        choices = [*REPRODUCTIONS, "all"]
    except ImportError:
        choices = ["all"]
    rep.error = functools.partial(_one_line_error, rep)
    rep.add_argument("name", choices=choices,
                     help="which reproduction: " + ", ".join(choices[:-1])
                          + ", or all (every one, in that order)")
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="the reduced size CI runs (seconds each)")
    size.add_argument("--full", action="store_true", help="the papers' full size (long)")
    rep.add_argument("--seeds", type=_positive_int, default=None,
                     help="number of seeds (default: the size's)")
    rep.add_argument("--out", default="results",
                     help="output folder (tables, JSON, CSV, PNG, the run log); checked before "
                          "anything runs (default: results)")
    rep.add_argument("--json", action="store_true", help="also print the results as JSON")
    rep.add_argument("--workers", type=_positive_int, default=None,
                     help="worker processes (default: cores)")
    rep.add_argument("--no-progress", action="store_true",
                     help="show no progress bar (nor the overall one of 'all')")
    again = rep.add_mutually_exclusive_group()
    again.add_argument("--resume", dest="fresh", action="store_false", default=False,
                       help="the default: if --out holds a run of the same settings, keep its "
                            "finished runs (from its run log) and run only the missing ones")
    again.add_argument("--fresh", dest="fresh", action="store_true",
                       help="start afresh: an earlier run in --out is kept as it is and the files "
                            "go to the first numbered sibling folder holding none (results-2 ...)")
    rep.add_argument("--criterion", choices=["fmax", "l2"], default=None,
                     help="lj38 only: stop at the largest per-atom force (fmax, ASE's and the "
                          "paper's, default) or at the L2 norm of all forces (l2, OptBench's)")
    sub.add_parser("bench", help="performance benchmark (dynopt bench --help for its options)",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(None, argv[1:])
    args = build_parser().parse_args(argv)
    return {"demo": _demo, "methods": _methods, "reproduce": _reproduce}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
