"""What users run, against what they would use instead.

Every figure is the whole :func:`dynopt.minimize` call (setup, the loop, the
stopping tests, the result) timed in the same interleaved rounds
(:func:`~dynopt.bench.timing.interleaved`) as its reference:

* **small n** (2, 10, 100; SciPy's ``rosen``/``rosen_der``): per step against
  the :mod:`~dynopt.bench.handwritten` NumPy loop with the same update and the
  same objective calls, both backends, for heavy ball, Adam, FANoS and FIRE;
* **per call**: a warm ``minimize`` with ``maxiter=0`` (everything but the steps);
* **large n** (Numba backend): per step of ``minimize`` on a diagonal quadratic
  (a run of ``steps`` steps less a run of none, which is reported as the setup
  and result) against the step kernel plus the same gradient, and PyTorch's
  ``SGD(momentum, foreach=True)`` and ``Adam(fused=True)`` loops with that
  gradient when PyTorch is installed, and the same methods in optax (a Python
  loop over a ``jax.jit`` step, :func:`~dynopt.bench.jax_loops.step_loop`) when
  JAX and optax are; peak memory of the run over the size of ``x``
  (``tracemalloc``, which sees NumPy's allocations);
* **batched**: 10 000 two-dimensional Rosenbrock problems, heavy ball, per step:
  ``minimize`` with a vectorised objective (the batched Python loop, on the NumPy
  and on the Numba backend) and the
  compiled whole run of every member (``options={'compiled': True}`` with a
  ``numba.njit`` objective) against a hand-vectorised NumPy loop, and against
  ``jax.jit(jax.vmap(...))`` of an optax run
  (:func:`~dynopt.bench.jax_loops.batched_heavy_ball`) when JAX is installed.

Rows that need JAX are ``None`` without it, and the report prints
``jax not installed`` in their place.
"""
from __future__ import annotations

import time
import tracemalloc

import numpy as np

from . import jax_loops
from .handwritten import HANDWRITTEN
from .timing import interleaved, ratio

__all__ = ["SMALL_SETTINGS", "BATCHED_SETTINGS", "PARTS", "measure", "small_n", "per_call", "large_n", "batched",
           "batched_start", "rosen2_rows", "rosen2_rows_grad", "engine_targets"]

#: method -> hyperparameters for the small-n comparison (stable on Rosenbrock)
SMALL_SETTINGS = {"heavy_ball": {"lr": 1e-4, "momentum": 0.9}, "adam": {"lr": 1e-3},
                  "fanos": {}, "fire": {"dt": 1e-3, "dtmax": 1e-2}}


def small_n(sizes=(2, 10, 100), steps=2000, rounds=5, methods=tuple(SMALL_SETTINGS)) -> list:
    """Per step of ``minimize`` (NumPy and Numba backends) against the hand loop."""
    import scipy.optimize as so

    from .. import minimize
    rows = []
    for n in sizes:
        x0 = np.linspace(-1.2, 1.2, n)
        for m in methods:
            opts = SMALL_SETTINGS[m]
            hand = HANDWRITTEN[m]
            c = {"hand": lambda: hand(so.rosen, so.rosen_der, x0, steps, gtol=1e-12, **opts)}
            for be in ("numpy", "numba"):
                c[be] = (lambda be=be: minimize(so.rosen, x0, jac=so.rosen_der, method=m,
                                                backend=be, options={**opts, "maxiter": steps,
                                                                     "gtol": 1e-12}))
            t = interleaved(c, rounds=rounds)
            rows.append({"method": m, "n": n, "steps": steps,
                         "hand_step": t["hand"]["min"] / steps,
                         "numpy_over_hand": ratio(t, "numpy", "hand"),
                         "numba_over_hand": ratio(t, "numba", "hand")})
    return rows


def per_call(methods=tuple(SMALL_SETTINGS), rounds=20) -> list:
    """A warm call with ``maxiter=0``: setup, the evaluation at ``x0`` and the result.

    The evaluation of ``rosen`` and ``rosen_der`` at ``x0``, which every method
    (SciPy's too) makes, is timed in the same rounds; ``overhead`` is the call
    beyond it.
    """
    import scipy.optimize as so

    from .. import minimize
    x0 = np.linspace(-1.2, 1.2, 10)
    rows = []
    for m in methods:
        for be in ("numpy", "numba"):
            t = interleaved({"call": lambda: minimize(so.rosen, x0, jac=so.rosen_der, method=m,
                                                      backend=be, options={"maxiter": 0}),
                             "x0": lambda: (so.rosen(x0), so.rosen_der(x0))},
                            rounds=rounds)
            rows.append({"method": m, "backend": be, "call": t["call"]["min"],
                         "evaluation": t["x0"]["min"],
                         "overhead": t["call"]["min"] - t["x0"]["min"],
                         "median": t["call"]["median"] - t["x0"]["median"]})
    return rows


def _diagonal(n, seed=0):
    """The diagonal of the large-n quadratic."""
    return np.random.default_rng(seed).uniform(0.5, 2.0, n)


def _quadratic(n, seed=0):
    """``fun, jac`` of :math:`f = \\tfrac12 \\sum_i d_i x_i^2`, ``d`` from :func:`_diagonal`."""
    d = _diagonal(n, seed)

    def fun(x):
        return 0.5 * float(np.dot(d * x, x))

    def jac(x):
        return d * x
    return fun, jac


def large_n(n=10**7, steps=20, rounds=3, methods=("heavy_ball", "adam", "fanos")) -> list:
    """Per step at large ``n`` on the Numba backend against kernel + gradient (and torch,
    and optax under ``jax.jit``)."""
    from .. import minimize
    from ..stepper import get_stepper
    fun, jac = _quadratic(n)
    libs = jax_loops.load()
    x0 = np.random.default_rng(1).standard_normal(n)
    rows = []
    for m in methods:
        opts = {"lr": 1e-3} if m != "heavy_ball" else {"lr": 1e-3, "momentum": 0.9}
        stepper = get_stepper(m, backend="numba")
        state = stepper.init(x0[None, :], [fun(x0)], jac(x0)[None, :], {
            **stepper.program.param_defaults(), **opts})

        def kernel_and_gradient():
            for k in range(steps):
                X = stepper.before(state, k)
                g = jac(X[0])
                stepper.after(state, fun(X[0]), g[None, :])

        c = {"minimize": lambda: minimize(fun, x0, jac=jac, method=m, backend="numba",
                                          options={**opts, "maxiter": steps, "gtol": 0}),
             "setup": lambda: minimize(fun, x0, jac=jac, method=m, backend="numba",
                                       options={**opts, "maxiter": 0}),
             "kernel+gradient": kernel_and_gradient}
        torch_loop = _torch_loop(m, x0, steps, opts)
        if torch_loop is not None:
            c["torch"] = torch_loop
        jax_loop = None if libs is None else jax_loops.step_loop(m, x0, _diagonal(n), steps,
                                                                 opts, libs)
        if jax_loop is not None:
            c["jax"] = jax_loop
        t = interleaved(c, rounds=rounds)
        per_step = {q: (t["minimize"][q] - t["setup"][q]) / steps for q in ("min", "median")}
        kg = {q: t["kernel+gradient"][q] / steps for q in ("min", "median")}
        row = {"method": m, "n": n, "steps": steps,
               "minimize_step": per_step["min"], "kernel_gradient_step": kg["min"],
               "setup_and_result": t["setup"]["min"],
               "setup_over_step": t["setup"]["min"] / max(per_step["min"], 1e-12),
               "minimize_over_kernel_gradient": {q: per_step[q] / kg[q] for q in kg}}
        if "torch" in t:
            row["torch_step"] = t["torch"]["min"] / steps
            row["minimize_over_torch"] = ratio(t, "minimize", "torch")
        if libs is None and m in jax_loops.STEP_METHODS:
            row["jax_step"] = row["minimize_over_jax"] = None
        elif "jax" in t:
            row["jax_step"] = t["jax"]["min"] / steps
            row["minimize_over_jax"] = {q: per_step[q] / (t["jax"][q] / steps) for q in per_step}
        tracemalloc.start()
        minimize(fun, x0, jac=jac, method=m, backend="numba",
                 options={**opts, "maxiter": 3, "gtol": 0})
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        row["peak_memory_over_x"] = peak / x0.nbytes
        row["state_arrays"] = len(stepper.program.state_vectors)
        rows.append(row)
    return rows


def _torch_loop(method, x0, steps, opts):
    """A PyTorch loop with the same gradient (SGD momentum foreach, Adam fused), or None."""
    try:
        import torch
    except ImportError:
        return None
    d = torch.from_numpy(np.random.default_rng(0).uniform(0.5, 2.0, x0.size))
    p = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    if method == "heavy_ball":
        opt = torch.optim.SGD([p], lr=opts["lr"], momentum=opts["momentum"], foreach=True)
    elif method == "adam":
        try:
            opt = torch.optim.Adam([p], lr=opts["lr"], fused=True)
        except (RuntimeError, TypeError):
            return None
    else:
        return None

    def loop():
        with torch.no_grad():
            for _ in range(steps):
                p.grad = d * p
                _ = 0.5 * float(torch.dot(p.grad, p))
                opt.step()
    return loop


def rosen2_rows(X):
    """The two-dimensional Rosenbrock function of each row of ``X`` (shape ``(batch, 2)``)."""
    return 100.0 * (X[:, 1] - X[:, 0] ** 2) ** 2 + (1.0 - X[:, 0]) ** 2


def rosen2_rows_grad(X):
    """The gradient of :func:`rosen2_rows`, row by row."""
    G = np.empty_like(X)
    r = X[:, 1] - X[:, 0] ** 2
    G[:, 0] = -400.0 * r * X[:, 0] - 2.0 * (1.0 - X[:, 0])
    G[:, 1] = 200.0 * r
    return G


#: heavy ball on the batch: step and momentum (PyTorch's meaning)
BATCHED_SETTINGS = {"lr": 1e-4, "momentum": 0.9}


def batched_start(batch, seed=0):
    """The batch's starting points, uniform in :math:`[-1.5, 1.5]^2`."""
    return np.random.default_rng(seed).uniform(-1.5, 1.5, (batch, 2))


def batched(batch=10000, steps=2000, rounds=3) -> dict:
    """``batch`` two-dimensional Rosenbrock problems, heavy ball, per step of the batch:
    the batched Python loop (vectorised objective), the compiled whole run of every
    member, a hand-vectorised NumPy loop and, with JAX, ``jit(vmap)`` of an optax run."""
    from .. import minimize
    from ..problems import rosenbrock_fun_and_grad_nb
    X0 = batched_start(batch)
    lr, mu = BATCHED_SETTINGS["lr"], BATCHED_SETTINGS["momentum"]
    fun, jac = rosen2_rows, rosen2_rows_grad

    def hand():
        X, V = X0.copy(), np.zeros_like(X0)
        G = jac(X)
        fun(X)
        for _ in range(steps):
            V = mu * V - lr * G
            X = X + V
            fun(X)
            G = jac(X)
        return X

    opts = {"lr": lr, "momentum": mu, "maxiter": steps, "gtol": 0}
    c = {"hand": hand,
         "minimize": lambda: minimize(fun, X0, jac=jac, method="heavy_ball",
                                      options={**opts, "vectorized": True}),
         "minimize_numba": lambda: minimize(fun, X0, jac=jac, method="heavy_ball",
                                            backend="numba",
                                            options={**opts, "vectorized": True}),
         "compiled": lambda: minimize(rosenbrock_fun_and_grad_nb, X0, jac=True,
                                      method="heavy_ball", backend="numba",
                                      options={**opts, "compiled": True})}
    jax_run = jax_loops.batched_heavy_ball(X0, steps, lr, mu)
    if jax_run is not None:
        c["jax"] = jax_run
    t = interleaved(c, rounds=rounds)
    out = {"batch": batch, "steps": steps}
    for name in c:
        out[name] = t[name]["min"]
        out[f"{name}_step"] = t[name]["min"] / steps
    for a, b in (("minimize", "hand"), ("minimize_numba", "hand"), ("compiled", "hand"),
                 ("minimize", "jax"), ("minimize_numba", "jax"), ("compiled", "jax")):
        out[f"{a}_over_{b}"] = ratio(t, a, b) if b in t else None
    if jax_run is None:
        out["jax"] = out["jax_step"] = None
    return out


def engine_targets(report: dict) -> list:
    """The run engine's targets against the measured figures (``None``: not measured)."""
    out = []

    def add(text, value, goal, met):
        out.append({"target": text, "value": value, "goal": goal,
                    "met": None if value is None else bool(met)})

    for row in report.get("small_n", []):
        for be in ("numpy", "numba"):
            r = row[f"{be}_over_hand"]["min"]
            add(f"{row['method']} n={row['n']}: minimize ({be}) / hand loop, per step", r, 1.15,
                r <= 1.15)
    for row in report.get("per_call", []):
        add(f"{row['method']} ({row['backend']}): warm call beyond f, g at x0 (ms)",
            row["overhead"] * 1e3, 0.3, row["overhead"] <= 3e-4)
    for row in report.get("large_n", []):
        r = row["minimize_over_kernel_gradient"]["min"]
        add(f"{row['method']} n={row['n']:.0e}: minimize / (kernel + gradient), per step", r,
            1.3, r <= 1.3)
        add(f"{row['method']} n={row['n']:.0e}: setup + result / one step",
            row["setup_over_step"], 2.0, row["setup_over_step"] <= 2.0)
        limit = row["state_arrays"] + 3
        # arrays count; the loop's few kilobytes of Python objects (0.01 x at n = 10^5) do not
        add(f"{row['method']} n={row['n']:.0e}: peak memory / size of x", row["peak_memory_over_x"],
            limit, row["peak_memory_over_x"] <= limit + 0.01)
    start = report.get("startup")
    if start:
        r = start["imports"]["ratio"]["min"]
        add("import dynopt / import scipy.optimize (fresh processes)", r, 1.2, r <= 1.2)
        for row in start["first_call"]:
            add(f"{row['method']}: first minimize of a fresh process, warm cache (s)",
                row["min"], 0.3, row["min"] <= 0.3 and not row["sympy_imported"])
    b = report.get("batched")
    if b:
        for key, label in (("minimize", "NumPy"), ("minimize_numba", "Numba")):
            r = b[f"{key}_over_hand"]["min"]
            add(f"{b['batch']} x 2-D Rosenbrock, heavy ball: minimize ({label}) / "
                "hand-vectorised loop", r, 1.3, r <= 1.3)
        r = b.get("compiled_over_jax")
        add(f"{b['batch']} x 2-D Rosenbrock, heavy ball: compiled run / optax jit(vmap)",
            None if r is None else r["min"], 2.0, r is not None and r["min"] <= 2.0)
    return out


#: the parts of :func:`measure`, in the order they run
PARTS = ("small_n", "per_call", "startup", "large_n", "batched")


def measure(quick=False, parts=None) -> dict:
    """The engine figures of ``parts`` (names from :data:`PARTS`; ``None``: all of them),
    at smaller sizes with ``quick``."""
    parts = PARTS if parts is None else tuple(parts)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"parts must be among {PARTS}, got {unknown!r}")
    report = {}
    t0 = time.perf_counter()
    if "small_n" in parts:
        report["small_n"] = small_n(steps=300 if quick else 2000, rounds=3 if quick else 5)
    if "per_call" in parts:
        report["per_call"] = per_call(rounds=5 if quick else 20)
    if "startup" in parts:
        from . import startup
        report["startup"] = startup.measure(quick)
    if "large_n" in parts:
        report["large_n"] = large_n(n=10**5 if quick else 10**7, steps=5 if quick else 20,
                                    rounds=2 if quick else 3)
    if "batched" in parts:
        report["batched"] = batched(batch=1000 if quick else 10000, steps=200 if quick else 2000,
                                    rounds=2 if quick else 3)
    report["targets"] = engine_targets(report)
    report["seconds"] = time.perf_counter() - t0
    return report


def print_report(report: dict) -> None:
    if "small_n" in report:  # only the parts measured (``measure(parts=...)``)
        print("\nminimize against a hand-written NumPy loop (SciPy rosen/rosen_der; ratio of "
              "the")
        print("  minima over interleaved rounds, median ratio in brackets)")
    for row in report.get("small_n", []):
        a, b = row["numpy_over_hand"], row["numba_over_hand"]
        print(f"  {row['method']:<11} n={row['n']:<4d} hand {row['hand_step'] * 1e6:7.1f} us/step"
              f"   numpy {a['min']:.2f} ({a['median']:.2f})   numba {b['min']:.2f} "
              f"({b['median']:.2f})")
    if "per_call" in report:
        print("\nwarm call, maxiter=0 (setup and result; the whole call, and beyond the "
              "evaluation of f and g at x0)")
    for row in report.get("per_call", []):
        print(f"  {row['method']:<11} {row['backend']:<6} {row['call'] * 1e3:6.3f} ms"
              f"   beyond f, g at x0 {row['overhead'] * 1e3:6.3f} ms")
    if "startup" in report:
        imp = report["startup"]["imports"]
        print("\na fresh process (timed inside it; minima, medians in brackets)")
        print(f"  import dynopt {imp['dynopt']['min'] * 1e3:7.1f} ms   import scipy.optimize "
              f"{imp['scipy.optimize']['min'] * 1e3:7.1f} ms   ratio {imp['ratio']['min']:.2f} "
              f"({imp['ratio']['median']:.2f})")
        for row in report["startup"]["first_call"]:
            print(f"  first minimize, {row['method']:<11} {row['min'] * 1e3:7.1f} ms "
                  f"({row['median'] * 1e3:.1f})   SymPy imported: {row['sympy_imported']}")
    if "large_n" in report:
        print("\nlarge n, Numba backend, diagonal quadratic")
    for row in report.get("large_n", []):
        r = row["minimize_over_kernel_gradient"]
        extra = ""
        if "torch_step" in row:
            extra = (f"   torch {row['torch_step'] * 1e3:.2f} ms, minimize/torch "
                     f"{row['minimize_over_torch']['min']:.2f}")
        if row.get("minimize_over_jax") is not None:
            extra += (f"   optax jit {row['jax_step'] * 1e3:.2f} ms, minimize/optax "
                      f"{row['minimize_over_jax']['min']:.2f} "
                      f"({row['minimize_over_jax']['median']:.2f})")
        elif "minimize_over_jax" in row:
            extra += f"   optax: {jax_loops.MISSING}"
        print(f"  {row['method']:<11} n={row['n']:.0e} minimize {row['minimize_step'] * 1e3:.2f} "
              f"ms/step (setup + result {row['setup_and_result'] * 1e3:.0f} ms), "
              f"/ (kernel+gradient) {r['min']:.2f} ({r['median']:.2f}), peak memory "
              f"{row['peak_memory_over_x']:.1f} x{extra}")
    b = report.get("batched")
    if b:
        print(f"\nbatched: {b['batch']} x 2-D Rosenbrock, heavy ball, {b['steps']} steps, per "
              "step of the batch (ratios: minima, medians in brackets)")
        for name, label in (("hand", "hand-vectorised NumPy"), ("minimize", "minimize, vectorised"),
                            ("minimize_numba", "  the same, Numba"),
                            ("compiled", "minimize, compiled"), ("jax", "optax jit(vmap)")):
            if b.get(f"{name}_step") is None:
                print(f"  {label:<22} {jax_loops.MISSING}")
                continue
            line = f"  {label:<22} {b[name + '_step'] * 1e6:8.1f} us/step"
            for ref in ("hand", "jax"):
                r = b.get(f"{name}_over_{ref}")
                if r is not None:
                    line += f"   / {ref} {r['min']:.2f} ({r['median']:.2f})"
            print(line)
