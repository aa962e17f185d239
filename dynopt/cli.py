"""The ``dynopt`` command line: ``demo``, ``methods``, ``reproduce``, ``bench``."""
from __future__ import annotations

import argparse
import functools
import json
import sys

__all__ = ["main"]


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
    for name, info in listing.items():
        hyper = ", ".join(f"{k}={v!r}" for k, v in info["hyperparameters"].items())
        integ = info["integrator"] or "discrete rule"
        print(f"{name:18s} [{integ}] {info['summary']}\n{'':18s}   {hyper}")
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
    parser = argparse.ArgumentParser(prog="dynopt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run every method on Rosenbrock 5-D and print a table")
    demo.add_argument("--maxiter", type=int, default=30000, help="cap on each run's steps")
    meth = sub.add_parser("methods", help="list the registered methods and their defaults")
    meth.add_argument("--json", action="store_true")
    rep = sub.add_parser("reproduce", help="reproduce a paper's table")
    try:
        from dynopt.reproduce import REPRODUCTIONS
        choices = [*REPRODUCTIONS, "all"]
    except ImportError:
        choices = ["all"]
    rep.error = functools.partial(_one_line_error, rep)
    rep.add_argument("name", choices=choices)
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the reduced size CI runs")
    size.add_argument("--full", action="store_true", help="the papers' full size (long)")
    rep.add_argument("--seeds", type=_positive_int, default=None, help="number of seeds")
    rep.add_argument("--out", default="results",
                     help="output folder (tables, JSON, CSV, PNG, the run log); checked before "
                          "anything runs")
    rep.add_argument("--json", action="store_true", help="also print the results as JSON")
    rep.add_argument("--workers", type=_positive_int, default=None,
                     help="worker processes (default: cores)")
    rep.add_argument("--no-progress", action="store_true")
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
    sub.add_parser("bench", help="performance benchmark (see python -m dynopt.bench --help)",
                   add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(None, argv[1:])
    args = build_parser().parse_args(argv)
    return {"demo": _demo, "methods": _methods, "reproduce": _reproduce}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
