"""dynopt.optax.transform: the step programs as optax GradientTransformations.

References: the parameter sequence of ``optax.apply_updates`` equals the iterates
of ``dynopt.minimize`` (NumPy backend, its own printer and kernels) with the same
hyperparameters, and the baselines equal ``optax.sgd``, ``optax.adam`` and
``optax.adamw`` step for step.
"""
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import dynopt  # noqa: E402
import dynopt.optax as dynopt_optax  # noqa: E402
from dynopt.methods import METHODS  # noqa: E402
from dynopt.program import Custom  # noqa: E402
from framework_references import (A, B, STEPS, assert_same, minimize_run,  # noqa: E402
                                  other_integrators, printer_check_method,
                                  rosen_der_np, rosen_np)
from dynopt.stepper import resolve_program  # noqa: E402


def rosen_jax(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def quad_jax(x):
    return 0.5 * x @ jnp.asarray(A) @ x - jnp.asarray(B) @ x


def optax_run(opt, params, loss, steps=STEPS, flat=None, value=False):
    """The trajectory (the leaves of ``params`` flattened and concatenated) over
    ``steps`` jitted updates of ``opt``."""
    flat = flat or (lambda p: np.concatenate([np.asarray(leaf).ravel()
                                              for leaf in jax.tree_util.tree_leaves(p)]))

    @jax.jit
    def step(params, state):
        f, grads = jax.value_and_grad(loss)(params)
        extra = {"value": f} if value else {}
        updates, state = opt.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    traj = [flat(params)]
    for _ in range(steps):
        params, state = step(params, state)
        traj.append(flat(params))
    return np.array(traj), state


def deviation(traj, ref):
    return float(np.max(np.abs(traj - ref)) / np.max(np.abs(ref)))


def has_custom(name, integrator=None):
    program = resolve_program(name, integrator)[0]
    return any(isinstance(st, Custom) for st in program.stages)


#: per method: the problem and hyperparameters that make 200 steps move without diverging
CASES = {
    "heavy_ball": ("rosen", {"lr": 1e-3, "momentum": 0.9}),
    "nesterov": ("rosen", {"lr": 1e-3, "momentum": 0.8}),
    "adam": ("rosen", {"lr": 1e-2}),
    "adamw": ("rosen", {"lr": 1e-2, "weight_decay": 0.05}),
    "rmsprop": ("rosen", {"lr": 1e-3}),
    "fanos": ("rosen", {"lr": 3e-3}),
    "fire": ("rosen", {"dt": 0.01, "dtmax": 0.05}),
    "frankenstein": ("rosen", {"lr": 1e-3}),
}


RUNS = [(name, None) for name in METHODS if not has_custom(name)]
RUNS += [(name, integrator) for name, _ in list(RUNS) for integrator in other_integrators(name)
         if not has_custom(name, integrator)]


def run_case(name, integrator):
    problem, hp = CASES.get(name, ("quad", {})) if integrator is None else ("quad", {})
    x0 = np.array([-1.2, 1.0, 0.5, -0.3]) if problem == "rosen" else np.linspace(-1, 1, 6)
    seed = 7 if "langevin" in name else None
    ref = minimize_run(name, x0, hp, problem, seed=seed, integrator=integrator)
    kw = {"seed": seed} if seed is not None else {}
    opt = dynopt_optax.transform(name, integrator, **hp, **kw)
    loss = rosen_jax if problem == "rosen" else quad_jax
    traj, _ = optax_run(opt, jnp.asarray(x0), loss)
    return traj, ref


@pytest.mark.parametrize("name,integrator", RUNS,
                         ids=[f"{n}-{i or 'default'}" for n, i in RUNS])
def test_trajectory_equals_minimize(name, integrator):
    traj, ref = run_case(name, integrator)
    assert np.all(np.isfinite(ref))
    assert np.max(np.abs(ref[-1] - ref[0])) > 1e-3   # the run moves
    assert_same(traj, ref)


def test_every_method_without_custom_stages_is_covered():
    names = {n for n, _ in RUNS}
    assert names == {n for n in METHODS if not has_custom(n)}
    assert len(RUNS) > len(names) + 20      # and the other integrators of the systems


def test_pytree_equals_minimize_on_the_concatenation():
    # FANoS's temperature, FIRE's power and the Langevin draws run over all leaves
    x0 = np.array([-1.2, 1.0, 0.5, -0.3, 0.8, 1.1, -0.5])

    def unpack(p):
        return jnp.concatenate([p["a"].reshape(-1), p["b"][0], p["b"][1].reshape(-1)])

    def flat(p):
        return np.asarray(unpack(p))

    for name, hp, seed in (("fanos", {"lr": 3e-3}, None),
                           ("fire", {"dt": 0.01, "dtmax": 0.05}, None),
                           ("adamw", {"lr": 1e-2, "weight_decay": 0.05}, None),
                           ("langevin_baoab", {"dt": 1e-3, "temperature": 1e-2}, 3)):
        kw = {"seed": seed} if seed is not None else {}
        ref = minimize_run(name, x0, hp, "rosen", seed=seed)
        params = {"a": jnp.asarray(x0[:4].reshape(2, 2)),
                  "b": (jnp.asarray(x0[4:6]), jnp.asarray(x0[6:].reshape(1, 1)))}
        opt = dynopt_optax.transform(name, **hp, **kw)
        traj, state = optax_run(opt, params, lambda p: rosen_jax(unpack(p)), flat=flat)
        assert_same(traj, ref)
        vec = next(iter(state.vectors.values()))
        assert vec["a"].shape == (2, 2) and vec["b"][1].shape == (1, 1)
        # each leaf alone is another run: the reductions are over the whole tree
        if name in ("fanos", "fire"):
            solo = [dynopt_optax.transform(name, **hp) for _ in range(3)]

            def chain_loss(p):
                return rosen_jax(unpack(p))
            leaves = jax.tree_util.tree_leaves(params)
            split_traj = []
            states = [o.init(leaf) for o, leaf in zip(solo, leaves)]
            p = params
            for _ in range(50):
                grads = jax.grad(chain_loss)(p)
                gl, treedef = jax.tree_util.tree_flatten(grads)
                pl = jax.tree_util.tree_leaves(p)
                out = [o.update(gi, s, pi) for o, gi, s, pi in zip(solo, gl, states, pl)]
                states = [s for _, s in out]
                p = optax.apply_updates(p, jax.tree_util.tree_unflatten(treedef,
                                                                        [u for u, _ in out]))
                split_traj.append(flat(p))
            assert np.max(np.abs(np.array(split_traj) - traj[1:51])) > 1e-6


def test_printer_covers_branches_extrema_reductions_and_logic():
    # a program written for this test: every reduction, Piecewise with And/Or/Not,
    # Max/Min with number arguments, exp/log/tanh/Abs/sign and symbol-free constants,
    # a temporary carried over the gradient, a scalar state and the objective value;
    # against dynopt.minimize
    method = printer_check_method("printer_check_jax", reads_f=True)
    x0 = np.array([-1.2, 1.0, 0.5, -0.3])
    res = dynopt.minimize(rosen_np, x0, jac=rosen_der_np, method=method,
                          options={"maxiter": STEPS, "gtol": 0, "record": True})
    ref = res.trajectory["x"]
    assert ref.shape == (STEPS + 1, 4)
    opt = dynopt_optax.transform(method)
    text = dynopt_optax.source(method)
    assert "_jnp.where" in text and "_jnp.logical_and" in text and "_reduce('max'" in text
    traj, state = optax_run(opt, jnp.asarray(x0), rosen_jax, value=True)
    assert np.max(np.abs(ref[-1] - ref[0])) > 1e-2
    assert_same(traj, ref)
    # without the objective value the update names the missing keyword
    with pytest.raises(ValueError, match="value=loss"):
        opt.update(jnp.ones(4), opt.init(jnp.zeros(4)), jnp.zeros(4))


# ------------------------------------------------------------------ optax baselines
BASELINES = [
    ("heavy_ball", {"lr": 1e-2, "momentum": 0.9}, {},
     lambda: optax.sgd(1e-2, momentum=0.9)),
    ("nesterov", {"lr": 1e-2, "momentum": 0.7}, {},
     lambda: optax.sgd(1e-2, momentum=0.7, nesterov=True)),
    ("gd", {"lr": 1e-2}, {}, lambda: optax.sgd(1e-2)),
    ("adam", {"lr": 1e-2}, {}, lambda: optax.adam(1e-2)),
    ("adam", {"lr": 3e-2, "eps": 1e-6}, {"betas": (0.8, 0.99)},
     lambda: optax.adam(3e-2, b1=0.8, b2=0.99, eps=1e-6)),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.3}, {},
     lambda: optax.adamw(1e-2, weight_decay=0.3)),
    ("adamw", {"lr": 1e-2}, {}, lambda: optax.adamw(1e-2, weight_decay=1e-2)),
    # PyTorch's eps, outside the square root (optax's default puts it inside)
    ("rmsprop", {"lr": 1e-3, "alpha": 0.9, "eps": 1e-8}, {},
     lambda: optax.rmsprop(1e-3, decay=0.9, eps=1e-8, eps_in_sqrt=False)),
    ("rmsprop", {"lr": 1e-3, "alpha": 0.95, "momentum": 0.5}, {"centered": True},
     lambda: optax.rmsprop(1e-3, decay=0.95, eps=1e-8, eps_in_sqrt=False, centered=True,
                           momentum=0.5)),
]


@pytest.mark.parametrize("name,hp,flags,make", BASELINES,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BASELINES)])
def test_baselines_equal_optax(name, hp, flags, make):
    x0 = jnp.linspace(-1.0, 1.0, 6)
    ours, _ = optax_run(dynopt_optax.transform(name, **hp, **flags), x0, quad_jax)
    theirs, _ = optax_run(make(), x0, quad_jax)
    assert np.max(np.abs(theirs[-1] - theirs[0])) > 1e-2
    assert_same(ours, theirs)


def test_adam_equals_optax_adam_on_a_pytree_in_float32():
    params = {"w": jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float32).reshape(3, 4),
              "b": jnp.array([0.5, -0.25], dtype=jnp.float32)}

    def loss(p):
        return jnp.sum(jnp.tanh(p["w"]) ** 2) + jnp.sum((p["b"] - 1.0) ** 2 * p["w"][0, :2])

    ours, state = optax_run(dynopt_optax.transform("adam", lr=1e-2), params, loss, steps=50)
    theirs, _ = optax_run(optax.adam(1e-2), params, loss, steps=50)
    assert state.vectors["exp_avg"]["w"].dtype == jnp.float32
    assert ours.dtype == np.float32
    # single precision: the same run to a few float32 roundings per step
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ protocol
def test_chain_schedule_and_params_optional():
    x0 = jnp.linspace(-1.0, 1.0, 6)
    # a schedule of the update count, as optax's own
    sched = optax.exponential_decay(5e-2, transition_steps=10, decay_rate=0.5)
    ours, _ = optax_run(dynopt_optax.transform("adam", lr=sched), x0, quad_jax, steps=60)
    theirs, _ = optax_run(optax.adam(sched), x0, quad_jax, steps=60)
    assert_same(ours, theirs)
    # inside optax.chain, behind a clip (the transform takes the extra args of the chain)
    opt = optax.chain(optax.clip_by_global_norm(1.0), dynopt_optax.transform("fire", dt=0.01))
    ref = optax.chain(optax.clip_by_global_norm(1.0), dynopt_optax.transform("fire", dt=0.01))
    a, _ = optax_run(opt, x0, quad_jax, steps=30)
    b, _ = optax_run(ref, x0, quad_jax, steps=30)
    np.testing.assert_array_equal(a, b)
    # gd's update reads only the gradient: params may be left out
    gd = dynopt_optax.transform("gd", lr=0.1)
    upd, _ = gd.update(jnp.arange(3.0), gd.init(jnp.zeros(3)))
    np.testing.assert_allclose(np.asarray(upd), -0.1 * np.arange(3.0))
    # adamw's reads the parameters (weight decay)
    adamw = dynopt_optax.transform("adamw")
    with pytest.raises(ValueError, match="reads the parameters"):
        adamw.update(jnp.ones(3), adamw.init(jnp.zeros(3)))


def test_state_holds_the_program_state():
    opt = dynopt_optax.transform("fanos", lr=1e-2)
    _, state = optax_run(opt, jnp.array([0.5, -0.2, 0.3]), rosen_jax, steps=3)
    assert set(state.vectors) >= {"v", "exp_avg_sq"}
    assert set(state.scalars) >= {"zeta", "T_ema"}
    assert state.scalars["zeta"].shape == () and int(state.count) == 3


def test_velocity_verlet_carries_its_half_step_over_the_gradient():
    # nose_hoover_chain (velocity Verlet) has stages after the gradient and carries
    # temporaries over it: they are in the state between updates
    program = resolve_program("nose_hoover_chain")[0]
    assert program.after_gradient
    traj, ref = run_case("nose_hoover_chain", None)
    assert_same(traj, ref)


# ---------------------------------------------------------------- errors
def test_custom_stages_cannot_be_a_gradient_transformation():
    for name in ("ko", "ko_dsmc"):
        with pytest.raises(NotImplementedError, match=f"'{name}' cannot be expressed as an "
                                                      "optax GradientTransformation"):
            dynopt_optax.transform(name)


def test_bad_input_names_the_argument():
    with pytest.raises(TypeError, match="'lrr'"):
        dynopt_optax.transform("fanos", lrr=1e-3)
    with pytest.raises(ValueError, match="'lr'"):
        dynopt_optax.transform("fanos", lr=-1.0)
    with pytest.raises(ValueError, match="'momentum'"):
        dynopt_optax.transform("heavy_ball", momentum=1.5)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        dynopt_optax.transform("nope")
    with pytest.raises(TypeError, match="'lr' must be a number"):   # never parsed
        dynopt_optax.transform("fanos", lr="__import__('os').getcwd() and 1e-3")
    with pytest.raises(ValueError, match="seed"):
        dynopt_optax.transform("langevin_baoab", seed=-1)
    opt = dynopt_optax.transform("fanos")
    with pytest.raises(TypeError, match="share one real floating dtype"):
        opt.init({"a": jnp.zeros(2), "b": jnp.zeros(2, jnp.float32)})
    with pytest.raises(TypeError, match="floating"):
        opt.init(jnp.zeros(2, jnp.int32))


def test_generated_source_reads_only_validated_names():
    # every name in a kernel is a program symbol, an SSA/CSE name or the module's own
    import ast
    import builtins
    for name in ("fanos", "fire", "langevin_baoab", "nose_hoover_chain", "adamw"):
        program = resolve_program(name)[0]
        tree = ast.parse(dynopt_optax.source(name))
        allowed = {s.name for s in program._symbols()} | {"x", "g", "f", "k", "N", "S", "P"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                ident = node.id
                base = ident.rsplit("_", 1)[0] if ident.rsplit("_", 1)[-1].isdigit() else ident
                assert (ident.startswith("_") or base in allowed or ident in allowed
                        or ident in ("float", "abs")), (name, ident)
                assert not hasattr(builtins, ident) or ident in ("float", "abs"), ident


def test_without_x64():
    # JAX's default (32-bit): float32 runs as optax's; the noise draws need 64-bit counters
    code = ("import jax, jax.numpy as jnp, numpy as np, optax, dynopt.optax\n"
            "assert not jax.config.jax_enable_x64\n"
            "def run(opt):\n"
            "    x = jnp.linspace(-1.0, 1.0, 5); s = opt.init(x)\n"
            "    for _ in range(20):\n"
            "        u, s = jax.jit(opt.update)(2.0 * x - 1.0, s, x)\n"
            "        x = optax.apply_updates(x, u)\n"
            "    return np.asarray(x)\n"
            "a, b = run(dynopt.optax.transform('adam', lr=1e-2)), run(optax.adam(1e-2))\n"
            "assert a.dtype == np.float32 and np.max(np.abs(a - b)) < 1e-6, (a, b)\n"
            "try:\n"
            "    dynopt.optax.transform('langevin_baoab')\n"
            "except RuntimeError as exc:\n"
            "    assert 'jax_enable_x64' in str(exc), exc\n"
            "else:\n"
            "    raise AssertionError('no error without x64')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_import_dynopt_does_not_import_jax():
    code = ("import sys, numpy as np, dynopt, dynopt.optax\n"
            "dynopt.minimize(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,\n"
            "                method='fanos', options={'maxiter': 3})\n"
            "assert 'jax' not in sys.modules, 'jax was imported'\n"
            "dynopt.optax.source('fanos')\n"
            "assert 'jax' not in sys.modules, 'jax was imported'\n"
            "dynopt.optax.transform('fanos')\n"
            "assert 'jax' in sys.modules and 'optax' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_missing_jax_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optax", None)   # import optax raises ImportError
    with pytest.raises(ImportError, match=r"dynopt-physics\[jax\]"):
        dynopt_optax.transform("fanos")


def test_frameworks_page_example_runs():
    import re
    from pathlib import Path
    page = Path(__file__).resolve().parents[1] / "docs" / "frameworks.md"
    # the JAX example is the page's one ```py block (its ```python block is PyTorch's)
    blocks = re.findall(r"```py\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) == 1
    namespace = {}
    exec(compile(blocks[0], str(page), "exec"), namespace)
    loss, params, X, y = (namespace[k] for k in ("loss", "params", "X", "y"))
    # the trained model explains at least 90% of the variance of y
    assert float(loss(params, X, y)) < 0.1 * float(jnp.var(y))


def measure():
    """Print the largest relative deviation of every run from its reference.
    Run ``python tests/test_optax.py``."""
    for name, integrator in RUNS:
        traj, ref = run_case(name, integrator)
        print(f"vs dynopt.minimize  {name:18s} {integrator or '(default)':18s} "
              f"{deviation(traj, ref):.1e}")
    x0 = jnp.linspace(-1.0, 1.0, 6)
    for name, hp, flags, make in BASELINES:
        ours, _ = optax_run(dynopt_optax.transform(name, **hp, **flags), x0, quad_jax)
        theirs, _ = optax_run(make(), x0, quad_jax)
        print(f"vs optax            {name:10s} {str(flags):24s} {deviation(ours, theirs):.1e}")


if __name__ == "__main__":
    measure()


@pytest.mark.parametrize("method", ["adam", "heavy_ball"])
def test_benchmark_steps_are_the_same_step(method):
    # the two contenders of python -m dynopt.bench.jax_loops take the same steps
    from dynopt.bench import jax_loops
    ours = jax_loops.transform_step("dynopt", method, 64, lr=1e-2, dtype=np.float64)
    theirs = jax_loops.transform_step("optax", method, 64, lr=1e-2, dtype=np.float64)
    for _ in range(5):
        a, b = np.asarray(ours()), np.asarray(theirs())
    assert np.max(np.abs(a - 1.0)) > 1e-2
    np.testing.assert_allclose(a, b, rtol=1e-12)
    rows = jax_loops.transform_ratio(sizes=(256,), methods=(method,), rounds=2)
    assert rows[0]["n"] == 256 and rows[0]["ratio"]["min"] > 0
    with pytest.raises(ValueError, match="method must be one of"):
        jax_loops.transform_step("dynopt", "fanos", 8)
