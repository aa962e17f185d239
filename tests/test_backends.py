"""The Numba (and CuPy) backends against the NumPy reference.

The kernels are compiled once per program and cached on disk (the default
cache directory), so a second session runs warm. Serial kernels (the ones used
below 262144 coordinates), in float64 and float32, and compiled whole runs are
checked for every registered method and integrator; the ``prange`` twins,
which are the same code with ``prange`` for ``range`` and take three times
longer to compile, for a subset that covers fused reductions, several passes,
values carried over the gradient, Custom stages and in-place conflicts.
"""
import importlib
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt._minimize import build_program
from dynopt.backends import get_backend
from dynopt.backends._noise import member_keys
from dynopt.backends._schedule import plan_part
from dynopt.backends.codegen import program_key
from dynopt.backends.numba_backend import NumbaBackend
from dynopt.integrators import INTEGRATORS
from dynopt.methods import Method
from dynopt.program import (Custom, Elementwise, Gradient, Reduce, Scalar, StepProgram, g,
                            uses_noise, x)
from dynopt.problems import rosenbrock_fun_and_grad, rosenbrock_fun_and_grad_nb

X0 = np.random.default_rng(7).uniform(-1.5, 1.5, 7)
# small_threshold=0: the Numba kernels even for a single run of 7 coordinates (by
# default such a run steps with the NumPy single-member kernels)
SERIAL = NumbaBackend(parallel=False, small_threshold=0)
PARALLEL = NumbaBackend(parallel_threshold=0, small_threshold=0)  # prange kernels, 7 coordinates


def _cases():
    out = []
    for name, method in dynopt.METHODS.items():
        integrators = [None] if method.integrator is None else list(INTEGRATORS)
        for integ in integrators:
            try:
                method.program(integ)
            except ValueError:  # e.g. velocity Verlet on a first-order flow
                continue
            out.append((name, integ))
    return out


CASES = _cases()


def _options(name, integ, **extra):
    hp = dynopt.METHODS[name].hyperparameters(integ)
    opts = {"maxiter": 50, "gtol": 0.0, "seed": 3, "record": True, **extra}
    if "lr" in hp:
        opts["lr"] = 1e-4
    if "dt" in hp:
        opts["dt"] = 0.01
    return opts


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _same_run(ref, res, rtol):
    assert res.status == ref.status and res.nit == ref.nit and res.nfev == ref.nfev
    assert _rel(res.trajectory["x"], ref.trajectory["x"]) <= rtol
    for key, val in ref.state.items():
        assert np.allclose(res.state[key], val, rtol=rtol, atol=1e-300, equal_nan=True), key


@pytest.mark.parametrize("name,integ", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_numba_matches_numpy_every_method(name, integ):
    opts = _options(name, integ)
    ref = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name, integrator=integ,
                          options=dict(opts))
    res = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name, integrator=integ,
                          backend=SERIAL, options=dict(opts))
    assert res.trajectory["x"].shape == (51, 7) or ref.status != 1
    _same_run(ref, res, 1e-12)


PARALLEL_CASES = [c for c in [("heavy_ball", None), ("nose_hoover", "velocity_verlet"),
                              ("fanos", None), ("fire", None), ("adam", None), ("ko_dsmc", None)]
                  if c[0] in dynopt.METHODS]


@pytest.mark.parametrize("name,integ", PARALLEL_CASES, ids=[c[0] for c in PARALLEL_CASES])
def test_parallel_kernels_match_numpy(name, integ):
    opts = _options(name, integ)
    ref = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name, integrator=integ,
                          options=dict(opts))
    res = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name, integrator=integ,
                          backend=PARALLEL, options=dict(opts))
    _same_run(ref, res, 1e-12)
    assert "prange" in PARALLEL.compile(build_program(name, integ)[0]).source


# ---------------------------------------------------------------- a synthetic program
w = sp.Symbol("w", real=True)
u = sp.Symbol("u", real=True)
big = sp.Symbol("big", real=True)
small = sp.Symbol("small", real=True)
lr = sp.Symbol("lr", positive=True)


def _jitter(S, P):
    """Custom stage: multiply w by random signs drawn from the run's generator."""
    S["w"] = S["w"] * S["rng"].choice([-1.0, 1.0], size=S["w"].shape)


def _synthetic(custom=True):
    """Reductions max/min, an assignment reading the old x placed in a pass after the
    one that overwrites x (an in-place conflict), a value carried over the gradient,
    Piecewise, Max/Min, sign and (optionally) a Custom stage."""
    stages = [
        Reduce(big, sp.Abs(x * g), "max"),
        Elementwise([(u, x * g / (1 + big)), (x, x - lr * g)]),
        Reduce(small, w * u, "min"),
        Scalar([(small, sp.Piecewise((small, small > -1), (-1, True)))]),
    ]
    if custom:
        stages.append(Custom(_jitter, reads=(w,), writes=(w,), label="jitter"))
    stages += [
        Elementwise([(w, sp.Max(-2, sp.Min(2, w + small * sp.sign(u))))]),
        Gradient(),
        Elementwise([(w, w + lr * sp.Abs(g) * (x - u))]),
    ]
    return StepProgram("synthetic" + ("_custom" if custom else ""), vectors={w: 1},
                       scalars={}, params={lr: 1e-3}, stages=stages)


@pytest.mark.parametrize("custom", [False, True])
def test_synthetic_program_serial_and_parallel(custom):
    program = _synthetic(custom)
    method = Method(program.name, lambda integ: program)
    opts = {"maxiter": 30, "gtol": 0.0, "seed": 11, "record": True}
    ref = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=method, options=dict(opts))
    for be in (SERIAL, PARALLEL):
        res = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=method, backend=be,
                              options=dict(opts))
        _same_run(ref, res, 1e-12)
    plan = plan_part(program, "before")
    assert plan.has_custom is custom
    if not custom:
        # big is fused into the first pass, the old x is read after x is overwritten
        (seg,) = plan.segments
        assert [len(lv.reduces) for lv in seg.levels if lv.has_pass] == [1, 1, 0]
        assert "_w_x_1" in SERIAL.compile(program).source  # work array + copy back


def test_schedule_fuses_reductions_and_hoists_scalars():
    program = dynopt.METHODS["nose_hoover"].program()
    (seg,) = plan_part(program, "before").segments
    passes = [lv for lv in seg.levels if lv.has_pass]
    assert len(passes) == 1 and len(passes[0].reduces) == 1  # T_inst fused with v, x
    assert [it.target.name for it in seg.levels[-1].scalars] == ["zeta_1", "eta_1"]
    # a CSE temporary of hyperparameters only becomes scalar code (out of the loop)
    a, b = sp.symbols("a b", positive=True)
    prog = StepProgram("hoist", vectors={}, scalars={}, params={a: 1.0, b: 2.0},
                       stages=[Elementwise([(u, g * sp.exp(a * b)), (x, x - x * sp.exp(a * b))]),
                               Gradient(),
                               Elementwise([(u, u)])])
    (seg,) = plan_part(prog, "before").segments
    hoisted = [it for it in seg.levels[0].scalars if it.temp]
    assert hoisted and all(not (it.expr.free_symbols & {x, g}) for it in hoisted)


# ---------------------------------------------------------------- dtype, batch
@pytest.mark.parametrize("name,integ", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_float32_within_its_precision(name, integ):
    opts = _options(name, integ, record=False)
    run = lambda **kw: dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name,  # noqa: E731
                                       integrator=integ, **kw)
    ref64 = run(options=dict(opts))
    np32 = run(options=dict(opts, dtype="float32"))
    nb32 = run(backend=SERIAL, options=dict(opts, dtype="float32"))
    assert nb32.x.dtype == np.float32 and nb32.state["x"].dtype == np.float32
    assert nb32.nit == ref64.nit
    # float32 differs from float64 by rounding, as much as the NumPy float32 run does
    err_nb, err_np = _rel(nb32.x, ref64.x), _rel(np32.x, ref64.x)
    assert err_nb <= 10 * err_np + 50 * np.finfo(np.float32).eps


@pytest.mark.parametrize("name", [m for m in ("fanos", "adam") if m in dynopt.METHODS])
def test_float32_parallel_kernels(name):
    opts = _options(name, None, record=False)
    ref64 = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name, options=dict(opts))
    np32 = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name,
                           options=dict(opts, dtype="float32"))
    nb32 = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name, backend=PARALLEL,
                           options=dict(opts, dtype="float32"))
    assert nb32.x.dtype == np.float32
    assert _rel(nb32.x, ref64.x) <= 10 * _rel(np32.x, ref64.x) + 50 * np.finfo(np.float32).eps


def test_batched_kernels_equal_per_member_runs():
    program = dynopt.METHODS["nose_hoover"].program()
    P_batch = {**program.param_defaults(), "dt": np.array([[0.01], [0.02], [0.005]]),
               "Q": np.array([[1.0], [0.5], [2.0]])}
    X = np.random.default_rng(1).uniform(-1.5, 1.5, (3, 7))

    def run(backend, X, P, steps=25):
        kernels = backend.compile(program)
        F, G = rosenbrock_fun_and_grad(X)
        S = {"x": X.copy(), "g": G, "f": F.reshape(-1, 1), "k": np.zeros((len(X), 1)),
             "N": 7.0, "rng": np.random.default_rng(0)}
        kernels.init(S, P)
        for step in range(steps):
            S["k"][...] = step
            kernels.before(S, P)
            F, G = rosenbrock_fun_and_grad(S["x"])
            S["g"], S["f"] = G, F.reshape(-1, 1)
            kernels.after(S, P)
        return S

    for be in (SERIAL, PARALLEL):
        batch = run(be, X, P_batch)
        for b in range(3):
            P_one = {k: (float(v[b, 0]) if isinstance(v, np.ndarray) else v)
                     for k, v in P_batch.items()}
            one = run(get_backend("numpy"), X[b:b + 1], P_one)
            for key in ("x", "v", "zeta", "eta"):
                assert _rel(batch[key][b], one[key][0]) <= 1e-12, (key, b)


def test_batched_minimize_with_per_member_hyperparameters():
    X = np.random.default_rng(2).uniform(-1.5, 1.5, (3, 7))
    lrs = np.array([1e-4, 3e-4, 2e-2])  # the last one diverges
    opts = {"maxiter": 40, "gtol": 0.0, "lr": lrs, "divergence": 1e3}
    ref = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method="heavy_ball",
                          options=dict(opts))
    assert 4 in ref.status
    for b in range(3):  # the NumPy batch is the runs one by one
        one = dynopt.minimize(rosenbrock_fun_and_grad, X[b], jac=True, method="heavy_ball",
                              options=dict(opts, lr=float(lrs[b])))
        assert (ref.status[b], ref.nit[b]) == (one.status, one.nit)
        assert _rel(ref.x[b], one.x) <= 1e-12
    for be in (SERIAL, PARALLEL):
        res = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method="heavy_ball",
                              backend=be, options=dict(opts))
        assert res.x.shape == (3, 7) and res.fun.shape == (3,)
        assert list(res.status) == list(ref.status) and list(res.nit) == list(ref.nit)
        assert _rel(res.x, ref.x) <= 1e-12


def test_batched_compiled_runs_equal_runs_one_by_one():
    X = np.random.default_rng(4).uniform(-1.5, 1.5, (3, 7))
    lrs = np.array([1e-4, 3e-4, 2e-2])
    opts = {"maxiter": 40, "gtol": 0.0, "lr": lrs, "divergence": 1e3}
    res = dynopt.minimize(rosenbrock_fun_and_grad_nb, X, jac=True, method="heavy_ball",
                          backend="numba", options={**opts, "compiled": True})
    ref = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method="heavy_ball",
                          options=dict(opts))
    assert res.x.shape == (3, 7) and res.nit.shape == (3,) and res.state["v"].shape == (3, 7)
    assert list(res.status) == list(ref.status) and 4 in res.status
    assert list(res.nit) == list(ref.nit) and _rel(res.x, ref.x) <= 1e-12
    for b in range(3):
        one = dynopt.minimize(rosenbrock_fun_and_grad_nb, X[b], jac=True, method="heavy_ball",
                              backend="numba",
                              options={**opts, "lr": float(lrs[b]), "compiled": True})
        assert one.status == res.status[b] and np.array_equal(one.x, res.x[b])


def _flat_methods():
    from dynopt.backends._numba_source import flat_applies
    out = []
    for name in sorted(dynopt.METHODS):
        program = build_program(name, None, {})[0]
        for part in ("before", "after"):
            plan = plan_part(program, part)
            if not plan.has_custom and any(flat_applies(seg) for seg in plan.segments):
                out.append(name)
                break
    return out


FLAT_METHODS = _flat_methods()


@pytest.mark.parametrize("name", FLAT_METHODS)
def test_flat_batch_kernels_equal_member_by_member(name, monkeypatch):
    # hyperparameters as plain numbers: the whole batch in one pass (the flat kernels);
    # the same values given per member: the member-by-member kernels. The same bits.
    assert {"heavy_ball", "adam", "nesterov", "rmsprop"} <= set(FLAT_METHODS)
    X = np.random.default_rng(8).uniform(-1.5, 1.5, (3, 4))
    opts = _options(name, None, record=False)
    hyper = {k: v for k, v in opts.items() if k in ("lr", "dt")}
    per_member = {k: np.full(3, v) for k, v in hyper.items()}
    if not per_member:  # a method without lr or dt: one of its own hyperparameters
        first, value = next(iter(dynopt.METHODS[name].hyperparameters().items()))
        per_member = {first: np.full(3, float(value))}
    be = NumbaBackend()
    module = be.compile(build_program(name, None, {})[0]).extras["module"]
    calls = []
    for fname in [a for a in dir(module) if a.endswith("_f") and a.startswith("_")]:
        kernel = getattr(module, fname)
        monkeypatch.setattr(module, fname,
                            lambda *a, _k=kernel, _n=fname: calls.append(_n) or _k(*a))
    flat = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method=name, backend=be,
                           options={**opts, "compiled": False})
    assert calls, "the flat kernels did not run"
    calls.clear()
    rows = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method=name, backend=be,
                           options={**opts, **per_member, "compiled": False})
    assert not calls
    ref = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method=name, options=opts)
    assert np.array_equal(flat.x, rows.x) and np.array_equal(flat.nit, rows.nit)
    for key in flat.state:
        assert np.array_equal(flat.state[key], rows.state[key]), key
    assert _rel(flat.x, ref.x) <= 1e-12


def test_batched_compiled_run_splits_members_among_threads(monkeypatch):
    # members x coordinates x maxiter reaches a threshold of 0: the parallel loop, with
    # every member's bits those of the serial loop
    import dynopt.backends.numba_backend as nb
    X = np.random.default_rng(6).uniform(-1.5, 1.5, (5, 3))
    opts = {"maxiter": 60, "gtol": 1e-3, "lr": 2e-3, "momentum": 0.8, "compiled": True}
    used = []
    execute = nb._execute_batch

    def spy(module, batch_run, *args):
        used.append(batch_run.py_func.__name__)
        return execute(module, batch_run, *args)

    monkeypatch.setattr(nb, "_execute_batch", spy)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    runs = {}
    for label, be in (("parallel", NumbaBackend(parallel_threshold=0)),
                      ("serial", NumbaBackend(parallel=False)),
                      ("above the threshold", NumbaBackend(parallel_threshold=5 * 3 * 61))):
        runs[label] = dynopt.minimize(rosenbrock_fun_and_grad_nb, X, jac=True,
                                      method="heavy_ball", backend=be, options=dict(opts))
    assert used == ["_run_batch_parallel", "_run_batch", "_run_batch"]
    for key in ("x", "fun", "jac", "nit", "status"):
        assert np.array_equal(runs["parallel"][key], runs["serial"][key]), key
    assert np.array_equal(runs["parallel"].state["v"], runs["serial"].state["v"])


# ---------------------------------------------------------------- compiled whole runs
def _py_objective(x):
    """The Numba objective's own Python code: the same arithmetic, in the Python loop."""
    grad = np.empty_like(x)
    return rosenbrock_fun_and_grad_nb.py_func(x, grad), grad


@numba.njit(cache=True)
def _nan_after_one(x, out):
    """Gradient pushes x up; the value turns NaN once x[0] > 1."""
    total = 0.0
    for i in range(x.shape[0]):
        out[i] = -1.0
        total -= x[i]
    return np.nan if x[0] > 1.0 else total


COMPILED = [(m, o) for m, o in [("heavy_ball", {"lr": 1e-4}), ("nose_hoover", {"dt": 0.01}),
                                ("fanos", {"lr": 3e-2})] if m in dynopt.METHODS]


@pytest.mark.parametrize("name,opts", COMPILED, ids=[c[0] for c in COMPILED])
def test_compiled_whole_run_equals_python_loop(name, opts):
    be = get_backend("numba")
    program, params, _ = build_program(name, None, dict(opts))
    assert be.can_run_compiled(program)
    # The second loop stops on the gradient test (status 0) within 400 to 2700 steps.
    # At gtol = 0.1 FANoS runs its 5000 steps through the thermostat's wandering near
    # the minimum, where a difference of one rounding in a sum (the NumPy kernels sum
    # by dot products, the compiled run by a loop) grows about 1e4-fold per 300 steps
    # (2e-14 after 200 steps, 4e-10 after 500, 2e-3 after 1000): no longer a test of
    # equal arithmetic.
    for loop in ({"maxiter": 200, "gtol": 0.0, "record": 7},
                 {"maxiter": 5000, "gtol": 1.0, "record": 0}):
        ref = dynopt.minimize(_py_objective, X0, jac=True, method=name,
                              options={**opts, **loop, "record": loop["record"] or False})
        r = be.run_compiled(program, params, rosenbrock_fun_and_grad_nb, X0, loop)
        assert (r["status"], r["nit"], r["nfev"]) == (ref.status, ref.nit, ref.nfev)
        assert _rel(r["x"], ref.x) <= 1e-12 and abs(r["fun"] - ref.fun) <= 1e-12 * abs(ref.fun)
        assert list(r["state"]) == list(ref.state)
        if loop["record"]:
            assert list(r["trajectory"]) == list(ref.trajectory)
            for key, val in ref.trajectory.items():
                assert _rel(r["trajectory"][key], val) <= 1e-12, key
        else:
            assert r["trajectory"] is None
    via = dynopt.minimize(rosenbrock_fun_and_grad_nb, X0, jac=True, method=name, backend="numba",
                          options={**opts, "maxiter": 200, "gtol": 0.0, "compiled": True})
    assert via.nit == 200 and np.isfinite(via.fun)


COMPILED_CASES = [(n, i) for n, i in CASES
                  if NumbaBackend().can_run_compiled(build_program(n, i)[0])]


@pytest.mark.parametrize("name,integ", COMPILED_CASES, ids=[f"{n}-{i}" for n, i in COMPILED_CASES])
def test_compiled_whole_run_every_method(name, integ):
    opts = _options(name, integ, record=5)
    program, params, _ = build_program(name, integ, {k: v for k, v in opts.items()
                                                     if k in ("lr", "dt")})
    loop = {"maxiter": opts["maxiter"], "gtol": 0.0, "record": 5}
    if uses_noise(program):  # the compiled run draws with the key the Python loop derives
        opts["seed"] = 4
        loop["noise_key"] = float(member_keys(np.random.default_rng(4), 1)[0, 0])
    ref = dynopt.minimize(_py_objective, X0, jac=True, method=name, integrator=integ,
                          options=dict(opts))
    r = get_backend("numba").run_compiled(program, params, rosenbrock_fun_and_grad_nb, X0, loop)
    assert (r["status"], r["nit"], r["nfev"]) == (ref.status, ref.nit, ref.nfev)
    for key, val in ref.trajectory.items():
        assert _rel(r["trajectory"][key], val) <= 1e-12, key
    # the whole state, temporaries carried across the gradient evaluation included
    assert sorted(r["state"]) == sorted(ref.state)
    for key, val in ref.state.items():
        assert np.shape(r["state"][key]) == np.shape(val), key
        assert np.allclose(r["state"][key], val, rtol=1e-12, atol=1e-300), key


def test_compiled_run_failures_match_python_loop():
    be = get_backend("numba")
    program, params, _ = build_program("heavy_ball", None, {"lr": 0.1, "momentum": 0.5})
    # NaN met: status 3, best point returned
    loop = {"maxiter": 100, "gtol": 0.0, "record": 1}
    r = be.run_compiled(program, params, _nan_after_one, np.zeros(4), loop)

    def py(x):
        grad = np.empty_like(x)
        return _nan_after_one.py_func(x, grad), grad
    ref = dynopt.minimize(py, np.zeros(4), jac=True, method="heavy_ball",
                          options={"lr": 0.1, "momentum": 0.5, **loop})
    assert r["status"] == ref.status == 3 and r["nit"] == ref.nit
    assert np.array_equal(r["best_x"], ref.best_x) and r["best_fun"] == ref.best_fun
    assert np.array_equal(r["trajectory"]["step"], ref.trajectory["step"])
    # divergence: status 4
    program, params, _ = build_program("heavy_ball", None, {"lr": 1e-2, "momentum": 0.99})
    loop = {"maxiter": 100, "gtol": 0.0, "divergence": 1e3}
    r = be.run_compiled(program, params, rosenbrock_fun_and_grad_nb, X0, loop)
    ref = dynopt.minimize(_py_objective, X0, jac=True, method="heavy_ball",
                          options={"lr": 1e-2, "momentum": 0.99, **loop})
    assert r["status"] == ref.status == 4 and r["nit"] == ref.nit
    assert r["best_fun"] == ref.best_fun


def test_compiled_run_rejects_bad_input():
    be = get_backend("numba")
    program, params, _ = build_program("heavy_ball")
    with pytest.raises(TypeError, match="Numba-compiled"):
        be.run_compiled(program, params, rosenbrock_fun_and_grad, X0, {})
    with pytest.raises(ValueError, match="inf-norm"):
        be.run_compiled(program, params, rosenbrock_fun_and_grad_nb, X0, {"norm": 2})
    with pytest.raises(ValueError, match="one value per hyperparameter"):
        be.run_compiled(program, {**params, "lr": np.ones(3)}, rosenbrock_fun_and_grad_nb, X0, {})
    assert not be.can_run_compiled(_synthetic(custom=True))
    with pytest.raises(ValueError, match="Custom"):
        be.run_compiled(_synthetic(custom=True), {"lr": 1e-3}, rosenbrock_fun_and_grad_nb, X0, {})
    with pytest.raises(TypeError, match="parallel"):
        NumbaBackend(parallel="yes")
    with pytest.raises(ValueError, match="parallel_threshold"):
        NumbaBackend(parallel_threshold=-1)
    kernels = SERIAL.compile(program)
    S = {"x": np.ones((1, 3)), "g": np.ones((1, 3)), "f": np.ones((1, 1)),
         "k": np.zeros((1, 1)), "N": 3.0}
    kernels.init(S, params)
    with pytest.raises(KeyError, match="momentum"):
        kernels.before(S, {"lr": 1e-3})
    with pytest.raises(ValueError, match="shape"):
        kernels.before(S, {"lr": np.ones((2, 1)), "momentum": 0.9})


# ---------------------------------------------------------------- source and cache
def test_source_file_and_warm_cache_in_a_new_process(tmp_path):
    program = dynopt.METHODS["heavy_ball"].program()
    be = NumbaBackend(cache_dir=tmp_path, parallel=False)
    kernels = be.compile(program)
    path = kernels.extras["path"]
    assert path.startswith(str(tmp_path)) and kernels.extras["key"] in path
    assert kernels.extras["key"] == program_key(program, "numba", *kernels.extras["key_parts"])
    with open(path) as fh:
        assert fh.read() == kernels.source
    assert "@numba.njit(parallel=False, fastmath=False, cache=True" in kernels.source
    code = (
        "import sys, numpy as np, dynopt\n"
        "from dynopt.backends.numba_backend import NumbaBackend\n"
        "k = NumbaBackend(cache_dir=sys.argv[1], parallel=False).compile("
        "dynopt.METHODS['heavy_ball'].program())\n"
        "S = {'x': np.ones((1, 5)), 'g': np.ones((1, 5)), 'f': np.ones((1, 1)),"
        " 'k': np.zeros((1, 1)), 'N': 5.0}\n"
        "P = {'lr': 0.1, 'momentum': 0.5}\n"
        "k.init(S, P); k.before(S, P)\n"
        "kern = k.extras['module']._before_0_s\n"
        "from dynopt.problems import rosenbrock_fun_and_grad_nb as fun\n"
        "be = NumbaBackend(cache_dir=sys.argv[1])\n"
        "r = be.run_compiled(dynopt.METHODS['heavy_ball'].program(), {'lr': 1e-3}, fun, np.zeros(3),"
        " {'maxiter': 5, 'gtol': 0.0})\n"
        "run = be._run_module(dynopt.METHODS['heavy_ball'].program(), fun)._run\n"
        "print(sum(kern.stats.cache_hits.values()), sum(kern.stats.cache_misses.values()),"
        " S['x'][0, 0], sum(run.stats.cache_hits.values()), sum(run.stats.cache_misses.values()),"
        " r['nit'])\n")
    root = Path(__file__).resolve().parents[1]
    outs = [subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                           text=True, check=True, cwd=root).stdout.split() for _ in range(2)]
    # step kernel and compiled whole run: compiled (and saved) by the first process,
    # loaded from disk by the second
    assert outs[0][:2] == ["0", "1"] and outs[0][3:5] == ["0", "1"]
    assert outs[1][:2] == ["1", "0"] and outs[1][3:5] == ["1", "0"]
    assert float(outs[1][2]) == pytest.approx(1 - 0.1)  # x - lr*g from v = 0
    assert outs[1][5] == "5"


def test_missing_numba_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "dynopt.backends.numba_backend", raising=False)
    with pytest.raises(ImportError, match="pip install numba"):
        get_backend("numba")


def test_missing_cupy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError, match=r"pip install 'dynopt-physics\[cupy\]'"):
        get_backend("cupy")


def test_cupy_backend_matches_numpy_on_gpu():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception:  # pragma: no cover - a CuPy without a usable device
        pytest.skip("no CUDA device")
    for name, integ in CASES:
        opts = _options(name, integ)
        ref = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name,
                              integrator=integ, options=dict(opts))
        res = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name,
                              integrator=integ, backend="cupy", options=dict(opts))
        res.trajectory["x"] = cupy.asnumpy(cupy.asarray(res.trajectory["x"]))
        res.state = {k_: cupy.asnumpy(cupy.asarray(v_)) for k_, v_ in res.state.items()}
        _same_run(ref, res, 1e-12)
        opts32 = dict(opts, record=False, dtype="float32")
        np32 = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name,
                               integrator=integ, options=opts32)
        cp32 = dynopt.minimize(rosenbrock_fun_and_grad, X0, jac=True, method=name,
                               integrator=integ, backend="cupy", options=opts32)
        x32 = cupy.asnumpy(cupy.asarray(cp32.x))
        assert _rel(x32, ref.x) <= 10 * _rel(np32.x, ref.x) + 50 * np.finfo(np.float32).eps
    X = np.random.default_rng(2).uniform(-1.5, 1.5, (3, 7))
    opts = {"maxiter": 40, "gtol": 0.0, "lr": np.array([1e-4, 3e-4, 2e-2]), "divergence": 1e3}
    ref = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method="heavy_ball",
                          options=dict(opts))
    res = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method="heavy_ball",
                          backend="cupy", options=dict(opts))
    assert list(res.status) == list(ref.status)
    assert _rel(cupy.asnumpy(cupy.asarray(res.x)), ref.x) <= 1e-12
    importlib.import_module("dynopt.backends.cupy_backend")


def test_cse_names_are_unique_across_blocks():
    """Two groups whose CSE takes one temporary each get two names (the generator of the
    first is never resumed); a CUDA kernel fusing both would otherwise declare one twice."""
    from dynopt.backends.codegen import Op, blocks
    dt_, w, z, e, t, q, r = sp.symbols("dt w z e t q r", real=True)
    a1, b1, c1 = sp.symbols("a_1 b_1 c_1", real=True)
    ops = [Op("scalar", a1, dt_ * w / 2 * z + e), Op("scalar", b1, z + dt_ * w / 2 * t),
           Op("scalar", c1, a1 + dt_ * w * q + dt_ * w * r)]
    temps = [sym for blk in blocks(ops) for sym, _ in blk.temps]
    assert len(temps) == 2 and len(set(temps)) == 2


def test_cuda_kernels_declare_each_temporary_once():
    import re
    from dynopt.backends._cuda_source import cuda_source
    for name, integ in CASES:
        program, _, _ = build_program(name, integ, {})
        for kernel in cuda_source(program).split('extern "C"')[1:]:
            names = re.findall(r"const double (_c\d+) =", kernel)
            assert len(names) == len(set(names)), (name, integ)
