"""Benchmark of the step kernels (part of ``python -m dynopt.bench``).

An optimiser step is a streaming pass over a few arrays, so its cost is set by
memory bandwidth. The benchmark measures, in one run and on the same threads:

* the **streaming bound**: a fused triad :math:`a = b + s c` in a Numba
  ``prange`` loop over float64 arrays of the same size;
* the **per-step time** of the NumPy and Numba backends for ``heavy_ball``,
  ``fanos`` and ``adam`` (those registered), at each size :math:`N`, with the
  gradient held fixed (the objective is not timed), and the **effective
  bandwidth** :math:`B_\\text{eff} = \\text{bytes}/t`, where bytes counts
  every per-coordinate array of the state and ``g`` read by the step and every
  one written, once each (:math:`N \\times` itemsize each: the traffic of one
  ideal fused pass);
* the ratio to ``torch.optim.Adam(fused=True)`` when PyTorch is installed;
* a **whole run** (Rosenbrock-100D, 3000 steps, FANoS if registered, else
  heavy ball): the compiled whole run against the NumPy backend's loop;
* the **compile time** of the first call and the start-up with a warm on-disk
  cache, each in a fresh subprocess (the step kernels, then the first compiled
  whole run);
* the **targets**: each figure against its goal (Numba step at the largest N
  at least 0.8 of the bound and 3x NumPy, Adam no slower than torch's fused
  Adam, the compiled whole run 50x the NumPy loop, a warm start under 1 s).

Options: ``--sizes 1e3,1e5,1e7`` (default), ``--quick`` (sizes 1e3 and 1e5,
fewer repeats, a shorter whole run), ``--threads N`` (Numba threads, for the
bound and the kernels alike), ``--part kernels|engine|batched|torch|all``
(what to measure; ``batched`` is the engine's batch rows alone, ``torch``
:mod:`dynopt.torch` against torch's fused Adam, :mod:`.torch_optim`),
``--json PATH`` (write the figures).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

__all__ = ["main", "streaming_bound", "step_time", "step_bytes", "whole_run", "compile_times",
           "torch_adam_time", "check_targets"]

METHODS = ("heavy_ball", "fanos", "adam")

#: the command line's description: plain text (argparse prints it as it is, so no markup)
DESCRIPTION = ("The dynopt performance benchmark: the step kernels against a streaming bound "
               "and the whole minimize call against hand-written loops, PyTorch and JAX.")


def _best_time(fn, min_time=0.2, repeats=5):
    """Per-call time: the smallest mean over ``repeats`` batches of calls."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / once / repeats))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def _triad():
    import numba

    @numba.njit(parallel=True, fastmath=False, cache=True)
    def triad(a, b, c, s):
        for i in numba.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]
    return triad


def streaming_bound(n: int, repeats=5) -> dict:
    """Bandwidth of the triad ``a = b + s*c`` (float64, 24 bytes per element)."""
    triad = _triad()
    rng = np.random.default_rng(0)
    a, b, c = np.empty(n), rng.random(n), rng.random(n)
    t = _best_time(lambda: triad(a, b, c, 0.5), repeats=repeats)
    return {"n": n, "time": t, "bytes": 24 * n, "bandwidth": 24 * n / t}


def step_bytes(program, n: int, itemsize: int = 8) -> int:
    """Bytes one ideal fused step moves: state arrays and ``g`` read, state arrays written."""
    from ..backends.codegen import carried
    from ..program import Custom, Elementwise, Reduce, g
    vectors = {*program.state_vectors, g}
    per_coordinate = program.elementwise_symbols()
    written = {s for s in carried(program) if s in per_coordinate}
    read = set()
    for st in program.stages:
        if isinstance(st, Elementwise):
            for t, e in st.assignments:
                read |= e.free_symbols & vectors
                if t in vectors:
                    written.add(t)
        elif isinstance(st, Reduce):
            read |= st.expr.free_symbols & vectors
        elif isinstance(st, Custom):
            read |= set(st.reads) & vectors
            written |= set(st.writes) & vectors
    return (len(read) + len(written)) * n * itemsize


def _state(stepper, n, seed=0):
    """A state of one member of ``n`` coordinates at random ``x`` and ``g``."""
    rng = np.random.default_rng(seed)
    X0, G0 = rng.standard_normal((1, n)), rng.standard_normal((1, n))
    return stepper.init(X0, 1.0, G0, stepper.program.param_defaults(), seed=seed)


def step_time(program, backend, n: int, repeats=5) -> float:
    """Seconds per step of the backend's kernels (``before`` then ``after``, gradient fixed)."""
    from ..stepper import Stepper
    stepper = Stepper(program, backend)
    state = _state(stepper, n)
    S, P = state.arrays, state.params
    before, after = stepper.kernels.before, stepper.kernels.after

    def step():
        before(S, P)
        after(S, P)
    return _best_time(step, repeats=repeats)


def torch_adam_time(n: int, repeats=5):
    """Seconds per ``torch.optim.Adam(fused=True)`` step on CPU, or ``None`` without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    import numba
    torch.set_num_threads(numba.get_num_threads())  # the threads the Numba kernels use
    p = torch.nn.Parameter(torch.randn(n, dtype=torch.float64))
    p.grad = torch.randn(n, dtype=torch.float64)
    try:
        opt = torch.optim.Adam([p], lr=1e-3, fused=True)
        opt.step()
    except (RuntimeError, TypeError):  # fused not available for this device/dtype
        return None
    return _best_time(opt.step, repeats=repeats)


def whole_run(method: str, n: int = 100, steps: int = 3000, repeats=3) -> dict:
    """Rosenbrock-nD, ``steps`` steps: compiled whole run vs the NumPy backend's loop."""
    from .. import minimize
    from .._minimize import build_program
    from ..backends.numba_backend import NumbaBackend
    from ..problems import rosenbrock_fun_and_grad, rosenbrock_fun_and_grad_nb
    x0 = np.random.default_rng(0).uniform(-2.0, 2.0, n)
    opts = {"lr": 3e-2} if method == "fanos" else {"lr": 1e-4}
    loop = {"maxiter": steps, "gtol": 0.0}
    program, params, _ = build_program(method, None, dict(opts))
    be = NumbaBackend()
    run = lambda: be.run_compiled(program, params, rosenbrock_fun_and_grad_nb, x0, loop)  # noqa: E731
    t0 = time.perf_counter()
    first = run()
    t_first = time.perf_counter() - t0
    t_compiled = min(_timed(run) for _ in range(repeats))
    t_minimize = min(_timed(lambda: minimize(
        rosenbrock_fun_and_grad_nb, x0, jac=True, method=method, backend="numba",
        options={**opts, **loop, "compiled": True})) for _ in range(repeats))
    t_numpy = min(_timed(lambda: minimize(rosenbrock_fun_and_grad, x0, jac=True, method=method,
                                          options={**opts, **loop})) for _ in range(max(1, repeats - 1)))
    return {"method": method, "n": n, "steps": steps, "compiled": t_compiled,
            "compiled_first_call": t_first, "compiled_via_minimize": t_minimize,
            "numpy": t_numpy, "speedup": t_numpy / t_compiled,
            "speedup_via_minimize": t_numpy / t_minimize, "final_f": first["fun"]}


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


_PROBE = """
import sys, time, json
t0 = time.perf_counter()
import numpy as np
import dynopt
from dynopt.backends.numba_backend import NumbaBackend
from dynopt.methods import get_method
t_import = time.perf_counter() - t0
t1 = time.perf_counter()
program = get_method(sys.argv[1]).program()
t_program = time.perf_counter() - t1
t1 = time.perf_counter()
from dynopt.stepper import Stepper
stepper = Stepper(program, NumbaBackend(cache_dir=sys.argv[2]))
n = 1000
state = stepper.init(np.ones((1, n)), 1.0, np.ones((1, n)), program.param_defaults(), seed=0)
stepper.kernels.before(state.arrays, state.params)
stepper.kernels.after(state.arrays, state.params)
t_ready = time.perf_counter() - t1
t_run = None
if be.can_run_compiled(program):
    from dynopt.problems import rosenbrock_fun_and_grad_nb
    t1 = time.perf_counter()
    be.run_compiled(program, P, rosenbrock_fun_and_grad_nb, np.full(100, 0.5),
                    {"maxiter": 10, "gtol": 0.0})
    t_run = time.perf_counter() - t1
print(json.dumps({"import": t_import, "program": t_program, "compile_and_first_step": t_ready,
                  "compiled_run": t_run, "process": time.perf_counter() - t0}))
"""


def compile_times(method: str) -> dict:
    """First-call compile time and warm-cache start-up, each in a fresh subprocess.

    Parameters
    ----------
    method : str
        A registered method name.

    Returns
    -------
    dict
        ``cold`` and ``warm``: seconds of ``compile()`` plus the first
        ``before``/``after`` call at N = 1000 with an empty and a warm cache
        directory; ``cold_run`` and ``warm_run``: the first compiled whole run
        (10 steps of Rosenbrock-100D, ``None`` for programs with Custom stages);
        ``import`` and ``program``: ``import dynopt`` and building the SymPy
        program in the warm process; ``warm_process``: the warm process's wall
        time from interpreter start to the end of the whole run (``python -c``
        start-up included).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _PROBE, method, tmp], capture_output=True,
                                  text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            out[label]["wall"] = time.perf_counter() - t0
    return {"method": method, "cold": out["cold"]["compile_and_first_step"],
            "warm": out["warm"]["compile_and_first_step"],
            "cold_run": out["cold"]["compiled_run"], "warm_run": out["warm"]["compiled_run"],
            "import": out["warm"]["import"], "program": out["warm"]["program"],
            "warm_process": out["warm"]["wall"]}


def check_targets(report: dict) -> list:
    """The targets of the benchmark against the figures of ``report``.

    Parameters
    ----------
    report : dict
        What :func:`main` returns.

    Returns
    -------
    list of dict
        One entry per target: ``target`` (text), ``value`` (the measured
        figure, ``None`` when not measured), ``goal`` and ``met`` (``None``
        when not measured).
    """
    out = []

    def add(text, value, goal, met):
        out.append({"target": text, "value": value, "goal": goal,
                    "met": None if value is None else bool(met)})

    big = 10**7
    rows = {row["method"]: row for row in report["steps"] if row["n"] == big}
    for name in METHODS:
        row = rows.get(name)
        add(f"{name} N=1e7: Numba step / streaming bound",
            row and row["of_bound"], 0.8, row and row["of_bound"] >= 0.8)
        add(f"{name} N=1e7: NumPy step time / Numba step time",
            row and row["speedup"], 3.0, row and row["speedup"] >= 3.0)
    ratios = {r["n"]: r["ratio"] for r in report.get("torch") or []}
    for n in report["sizes"]:
        add(f"adam N={n:.0e}: torch fused Adam time / dynopt Adam time", ratios.get(n), 1.0,
            ratios.get(n, 0.0) >= 1.0)
    w = report.get("whole_run")
    full = bool(w) and (w["n"], w["steps"], w["method"]) == (100, 3000, "fanos")
    add("whole run FANoS Rosenbrock-100D x 3000: NumPy / compiled",
        w["speedup"] if full else None, 50.0, full and w["speedup"] >= 50.0)
    for c in report.get("compile", []):
        add(f"{c['method']}: warm-cache compile() + first step, new process (s)", c["warm"], 1.0,
            c["warm"] < 1.0)
        if c.get("warm_run") is not None:
            add(f"{c['method']}: warm-cache first compiled whole run, new process (s)",
                c["warm_run"], 1.0, c["warm_run"] < 1.0)
        add(f"{c['method']}: whole warm process, start to first compiled run (s)",
            c["warm_process"], 1.0, c["warm_process"] < 1.0)
    return out


def _fmt_t(t):
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:7.3g} {unit}"
    return f"{t / 1e-9:7.3g} ns"


def _arguments(argv):
    """``(args, sizes, repeats)`` from the command line; sets Numba's threads."""
    parser = argparse.ArgumentParser(prog="python -m dynopt.bench", description=DESCRIPTION)
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH")
    parser.add_argument("--sizes", help="comma-separated N, e.g. 1e3,1e5,1e7")
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    parser.add_argument("--threads", type=int, help="Numba threads (default: Numba's default)")
    parser.add_argument("--part", choices=("all", "kernels", "engine", "batched", "torch"),
                        default="all",
                        help="the step kernels, the whole minimize call against its "
                             "references, only the engine's batched rows, "
                             "dynopt.torch.Optimizer against torch's fused Adam, or all "
                             "(default; without the torch part)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(float(s)) for s in (args.sizes or ("1e3,1e5" if args.quick else "1e3,1e5,1e7")).split(",")]
    except ValueError:
        parser.error(f"--sizes must be comma-separated numbers, got {args.sizes!r}")
    if any(s < 1 for s in sizes):
        parser.error(f"--sizes must be positive, got {sizes}")
    import numba
    if args.threads is not None:
        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            parser.error(f"--threads must be in 1..{numba.config.NUMBA_NUM_THREADS}, "
                         f"got {args.threads}")
        numba.set_num_threads(args.threads)
    return args, sizes, 3 if args.quick else 5


def _other_part(args, sizes, repeats) -> dict:
    """The report of ``--part torch``, ``engine`` or ``batched``."""
    if args.part == "torch":
        from .torch_optim import measure as measure_torch
        from .torch_optim import print_report as print_torch
        torch_report = measure_torch([s for s in sizes if s >= 10**5] or sizes,
                                     rounds=repeats + 2)
        print_torch(torch_report)
        return {"torch_optimizer": torch_report,
                "targets": [] if torch_report is None else torch_report["targets"]}
    from .engine import measure, print_report
    report = {"engine": measure(args.quick, parts=("batched",) if args.part == "batched"
                                else None)}
    print_report(report["engine"])
    report["targets"] = report["engine"]["targets"]
    return report


def _machine_header() -> dict:
    import numba
    machine = {"python": platform.python_version(), "numpy": np.__version__,
               "numba": numba.__version__, "cpus": os.cpu_count(),
               "numba_threads": numba.get_num_threads(),
               "processor": platform.processor() or platform.machine(),
               "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    load = machine["load_average"]
    print(f"dynopt benchmark: numpy {np.__version__}, numba {numba.__version__}, "
          f"{numba.get_num_threads()} Numba threads, {os.cpu_count()} CPUs"
          + (f", load average {load[0]:.1f}" if load else ""))
    if load and load[0] > 0.5 * (os.cpu_count() or 1):
        print("  (the machine is busy: parallel loops wait for their threads to be scheduled; "
              "try --threads 1 or a quiet machine)")
    return machine


def _kernel_rows(report, methods, registry, sizes, repeats) -> None:
    """The streaming bound and every method's step on both backends, into ``report``."""
    from ..backends import get_backend
    print("\nstreaming bound (Numba prange triad a = b + s*c, float64, 24 bytes per element;")
    print("  the best of two measurements, before and after the kernels)")
    bounds = {n: streaming_bound(n, repeats) for n in sizes}
    numpy_be, numba_be = get_backend("numpy"), get_backend("numba")
    rows = []
    for name in methods:
        program = registry[name].program()
        for n in sizes:
            t_np = step_time(program, numpy_be, n, repeats)
            t_nb = step_time(program, numba_be, n, repeats)
            nbytes = step_bytes(program, n)
            rows.append({"method": name, "n": n, "numpy": t_np, "numba": t_nb, "bytes": nbytes,
                         "speedup": t_np / t_nb, "numba_bandwidth": nbytes / t_nb,
                         "numpy_bandwidth": nbytes / t_np})
    for n in sizes:
        again = streaming_bound(n, repeats)
        if again["bandwidth"] > bounds[n]["bandwidth"]:
            bounds[n] = again
        b = bounds[n]
        report["bound"].append(b)
        print(f"  N = {n:>11,d}: {_fmt_t(b['time'])}  {b['bandwidth'] / 1e9:6.2f} GB/s")
    print("\nper-step time, gradient fixed (bytes: state arrays and g, read + written once)")
    print(f"  {'method':<11}{'N':>11} {'numpy':>11} {'numba':>11} {'speedup':>8} "
          f"{'numba GB/s':>11} {'of bound':>9}")
    for row in rows:
        row["of_bound"] = row["numba_bandwidth"] / bounds[row["n"]]["bandwidth"]
        report["steps"].append(row)
        print(f"  {row['method']:<11}{row['n']:>11,d} {_fmt_t(row['numpy']):>11} "
              f"{_fmt_t(row['numba']):>11} {row['speedup']:7.1f}x "
              f"{row['numba_bandwidth'] / 1e9:11.2f} {row['of_bound']:8.2f}x")


def _torch_adam_rows(report, sizes, repeats) -> None:
    """The Adam kernel against torch's fused Adam, into ``report['torch']``."""
    torch_rows = []
    for n in sizes:
        t = torch_adam_time(n, repeats)
        if t is None:
            break
        nb = next(r["numba"] for r in report["steps"] if r["method"] == "adam" and r["n"] == n)
        torch_rows.append({"n": n, "torch_fused_adam": t, "numba_adam": nb, "ratio": t / nb})
    if not torch_rows:
        print("\nPyTorch not installed (or no fused Adam on this CPU): torch comparison skipped")
        return
    report["torch"] = torch_rows
    print("\nAdam: dynopt Numba vs torch.optim.Adam(fused=True), CPU float64")
    for r in torch_rows:
        print(f"  N = {r['n']:>9,d}: torch {_fmt_t(r['torch_fused_adam'])}, numba "
              f"{_fmt_t(r['numba_adam'])}, torch/numba = {r['ratio']:.2f}")


def _whole_run_rows(report, registry, quick) -> None:
    run_method = "fanos" if "fanos" in registry else "heavy_ball"
    steps = 300 if quick else 3000
    w = whole_run(run_method, 100, steps, repeats=2 if quick else 3)
    report["whole_run"] = w
    print(f"\nwhole run: Rosenbrock-100D, {steps} steps of {run_method}")
    print(f"  NumPy backend loop      {_fmt_t(w['numpy'])}")
    print(f"  compiled whole run      {_fmt_t(w['compiled'])}   {w['speedup']:6.1f}x  "
          f"(first call {_fmt_t(w['compiled_first_call'])})")
    print(f"  via minimize(compiled)  {_fmt_t(w['compiled_via_minimize'])}   "
          f"{w['speedup_via_minimize']:6.1f}x  (includes building the program)")


def _compile_rows(report, methods, quick) -> None:
    report["compile"] = []
    print("\ncompile time, fresh subprocess (compile() + first before/after call, N = 1000)")
    for name in (["heavy_ball"] if quick else methods):
        c = compile_times(name)
        report["compile"].append(c)
        print(f"  {name:<11} cold cache {_fmt_t(c['cold'])}   warm cache {_fmt_t(c['warm'])}   "
              f"(import dynopt {_fmt_t(c['import'])}, SymPy program {_fmt_t(c['program'])})")
        if c["warm_run"] is not None:
            print(f"  {'':<11} first compiled whole run: cold {_fmt_t(c['cold_run'])}   "
                  f"warm {_fmt_t(c['warm_run'])}   (whole warm process {_fmt_t(c['warm_process'])})")


def main(argv=None) -> dict:
    args, sizes, repeats = _arguments(argv)
    if args.part in ("engine", "batched", "torch"):
        report = _other_part(args, sizes, repeats)
        _print_targets(report["targets"])
        _write(args.json, report)
        return report
    from ..methods import METHODS as REGISTRY
    methods = [m for m in METHODS if m in REGISTRY]
    report = {"machine": _machine_header(), "sizes": sizes, "bound": [], "steps": [],
              "torch": None}
    _kernel_rows(report, methods, REGISTRY, sizes, repeats)
    if "adam" in methods:
        _torch_adam_rows(report, sizes, repeats)
    _whole_run_rows(report, REGISTRY, args.quick)
    _compile_rows(report, methods, args.quick)
    report["targets"] = check_targets(report)
    if args.part == "all":
        from .engine import measure, print_report
        report["engine"] = measure(args.quick)
        print_report(report["engine"])
        report["targets"] += report["engine"]["targets"]
    _print_targets(report["targets"])
    _write(args.json, report)
    return report


def _print_targets(targets):
    print("\ntargets")
    for t in targets:
        state = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        print(f"  {t['target']:<72} {value:>8} (goal {t['goal']:g})  {state}")


def _write(path, report):
    if path:
        with open(path, "w") as fh:
            json.dump(report, fh, indent=2, default=float)
        print(f"\nfigures written to {path}")


if __name__ == "__main__":
    main()
