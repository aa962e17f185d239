"""dynopt.torch.Optimizer: the step programs as torch.optim optimisers.

References: the parameter sequence equals the iterates of ``dynopt.minimize``
(NumPy backend, its own printer and kernels) with the same hyperparameters,
and the baselines equal ``torch.optim``'s SGD, Adam, AdamW and RMSprop step
for step.
"""
import copy
import io
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dynopt  # noqa: E402
import dynopt.torch as dynopt_torch  # noqa: E402
from dynopt.methods import METHODS  # noqa: E402
from dynopt.program import Custom  # noqa: E402
from framework_references import (A, B, STEPS, assert_same, minimize_run,  # noqa: E402
                                  other_integrators, printer_check_method,
                                  quad_der_np, quad_np, rosen_der_np, rosen_np)


def rosen_torch(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def quad_torch(x):
    At = torch.as_tensor(A, dtype=x.dtype)
    return 0.5 * x @ At @ x - torch.as_tensor(B, dtype=x.dtype) @ x


def torch_run(params, loss_fn, opt, steps=STEPS, closure=False):
    """The trajectory of ``params`` (concatenated) over ``steps`` calls of ``opt.step``."""
    def flat():
        return np.concatenate([p.detach().numpy().ravel().copy() for p in params])

    traj = [flat()]
    for _ in range(steps):
        def evaluate():
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss
        if closure:
            opt.step(evaluate)
        else:
            evaluate()
            opt.step()
        traj.append(flat())
    return np.array(traj)


def has_custom(name):
    return any(isinstance(st, Custom) for st in METHODS[name].program().stages)


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
OTHERS = sorted(n for n in METHODS if n not in CASES)
#: methods whose runs draw: the seed given to both
SEEDED = ("langevin", "ko_dsmc", "ko_bgk")


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("name", list(CASES) + OTHERS)
def test_trajectory_equals_minimize(name, backend):
    problem, hp = CASES.get(name, ("quad", {}))
    x0 = np.array([-1.2, 1.0, 0.5, -0.3]) if problem == "rosen" else np.linspace(-1, 1, 6)
    seed = 7 if name.startswith(SEEDED) else None
    ref = minimize_run(name, x0, hp, problem, seed=seed)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    kw = {"seed": seed} if seed is not None else {}
    opt = dynopt_torch.Optimizer([p], method=name, backend=backend, **hp, **kw)
    loss = (lambda: rosen_torch(p)) if problem == "rosen" else (lambda: quad_torch(p))
    traj = torch_run([p], loss, opt)
    assert np.max(np.abs(ref[-1] - ref[0])) > 1e-3   # the run moves
    assert_same(traj, ref)


@pytest.mark.parametrize("name,integrator", [(n, i) for n in sorted(METHODS)
                                             for i in other_integrators(n)])
def test_every_integrator_equals_minimize(name, integrator):
    # the printed torch operations (the backend that runs anywhere) under every integrator
    # that applies, on the quadratic; the Numba path runs the same kernels as minimize's
    x0 = np.linspace(-1, 1, 6)
    seed = 7 if name.startswith(SEEDED) else None
    ref = minimize_run(name, x0, {}, "quad", seed=seed, integrator=integrator)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    kw = {"seed": seed} if seed is not None else {}
    opt = dynopt_torch.Optimizer([p], method=name, integrator=integrator, backend="torch", **kw)
    traj = torch_run([p], lambda: quad_torch(p), opt)
    if np.all(np.isfinite(ref)):
        assert np.max(np.abs(ref[-1] - ref[0])) > 1e-6   # the run moves
    assert_same(traj, ref)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_several_tensors_equal_minimize_on_the_concatenation(backend):
    # FANoS's temperature and FIRE's power are sums over the whole group
    x0 = np.array([-1.2, 1.0, 0.5, -0.3, 0.8, 1.1, -0.5])
    for name, hp in (("fanos", {"lr": 3e-3}), ("fire", {"dt": 0.01, "dtmax": 0.05})):
        ref = minimize_run(name, x0, hp, "rosen")
        a = torch.tensor(x0[:4].reshape(2, 2), requires_grad=True)
        b = torch.tensor(x0[4:6], requires_grad=True)
        c = torch.tensor(x0[6:].reshape(1, 1), requires_grad=True)

        def loss():
            return rosen_torch(torch.cat([a.reshape(-1), b, c.reshape(-1)]))

        opt = dynopt_torch.Optimizer([a, b, c], method=name, backend=backend, **hp)
        assert_same(torch_run([a, b, c], loss, opt), ref)
        assert opt.state[a]["v"].shape == (2, 2) and opt.state[c]["v"].shape == (1, 1)
        # the same tensors as three groups step differently: the reductions are per group
        a2, b2, c2 = (t.detach().clone().requires_grad_() for t in (a, b, c))
        for t, v in zip((a2, b2, c2), (x0[:4].reshape(2, 2), x0[4:6], x0[6:].reshape(1, 1))):
            t.data.copy_(torch.tensor(v))
        split = dynopt_torch.Optimizer([{"params": [a2]}, {"params": [b2]}, {"params": [c2]}],
                                       method=name, backend=backend, **hp)
        traj = torch_run([a2, b2, c2],
                         lambda: rosen_torch(torch.cat([a2.reshape(-1), b2, c2.reshape(-1)])),
                         split)
        assert np.max(np.abs(traj - ref)) > 1e-6


def test_printer_covers_branches_extrema_reductions_and_logic():
    # a program written for this test: every reduction, Piecewise with And/Or/Not,
    # Max/Min with number arguments, exp/log/tanh/Abs/sign and symbol-free constants,
    # a temporary carried over the gradient and a scalar state; against dynopt.minimize
    method = printer_check_method("printer_check")
    x0 = np.array([-1.2, 1.0, 0.5, -0.3])
    res = dynopt.minimize(rosen_np, x0, jac=rosen_der_np, method=method,
                          options={"maxiter": STEPS, "gtol": 0, "record": True})
    ref = res.trajectory["x"]
    assert ref.shape == (STEPS + 1, 4)
    p = torch.tensor(x0, requires_grad=True)
    opt = dynopt_torch.Optimizer([p], method=method)
    assert "torch.where" in opt.source or "_where" in opt.source
    traj = torch_run([p], lambda: rosen_torch(p), opt)
    assert np.max(np.abs(ref[-1] - ref[0])) > 1e-2
    assert_same(traj, ref)
    # between calls the state is mid-step: minimize's final state has also run the
    # stages after the last gradient (s <- s e/2 when tot > 0, else s)
    s_torch = float(opt.state[p]["s"])
    assert any(res.state["s"] == pytest.approx(value, rel=1e-12)
               for value in (s_torch, s_torch * np.e / 2))


# ------------------------------------------------------------- torch.optim
BASELINES = [
    ("heavy_ball", {"lr": 1e-2, "momentum": 0.9}, {},
     lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9)),
    ("nesterov", {"lr": 1e-2, "momentum": 0.7}, {},
     lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.7, nesterov=True)),
    ("adam", {"lr": 1e-2}, {}, lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    ("adam", {"lr": 3e-2, "weight_decay": 0.1, "eps": 1e-6}, {"amsgrad": True,
                                                             "betas": (0.8, 0.99)},
     lambda ps: torch.optim.Adam(ps, lr=3e-2, weight_decay=0.1, eps=1e-6, amsgrad=True,
                                 betas=(0.8, 0.99))),
    ("adamw", {"lr": 1e-2}, {}, lambda ps: torch.optim.AdamW(ps, lr=1e-2)),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.3}, {"amsgrad": True},
     lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.3, amsgrad=True)),
    ("rmsprop", {"lr": 1e-3}, {}, lambda ps: torch.optim.RMSprop(ps, lr=1e-3)),
    ("rmsprop", {"lr": 1e-3, "momentum": 0.5, "weight_decay": 0.01, "alpha": 0.9},
     {"centered": True},
     lambda ps: torch.optim.RMSprop(ps, lr=1e-3, momentum=0.5, weight_decay=0.01, alpha=0.9,
                                    centered=True)),
]


@pytest.mark.parametrize("name,hp,flags,make", BASELINES,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BASELINES)])
def test_baselines_equal_torch_optim(name, hp, flags, make):
    x0 = np.linspace(-1, 1, 6)
    p = torch.tensor(x0, requires_grad=True)
    q = torch.tensor(x0, requires_grad=True)
    ours = torch_run([p], lambda: quad_torch(p),
                     dynopt_torch.Optimizer([p], method=name, **hp, **flags))
    theirs = torch_run([q], lambda: quad_torch(q), make([q]))
    assert np.max(np.abs(theirs[-1] - theirs[0])) > 1e-2
    assert_same(ours, theirs)


def test_defaults_are_torch_optim_defaults():
    # with every hyperparameter at its default, the runs agree too (lr given for SGD)
    x0 = np.linspace(-1, 1, 6)
    for name, make in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                       ("rmsprop", torch.optim.RMSprop)):
        p = torch.tensor(x0, requires_grad=True)
        q = torch.tensor(x0, requires_grad=True)
        ours = torch_run([p], lambda: quad_torch(p), dynopt_torch.Optimizer([p], method=name),
                         steps=50)
        theirs = torch_run([q], lambda: quad_torch(q), make([q]), steps=50)
        assert_same(ours, theirs)


# ------------------------------------------------------------------ state
@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("name,hp", [("fanos", {"lr": 3e-3}), ("fire", {"dt": 0.01}),
                                     ("adam", {"lr": 1e-2})])
def test_state_dict_round_trip_continues_identically(name, hp, backend):
    x0 = np.array([-1.2, 1.0, 0.5, -0.3, 0.8])
    a = torch.tensor(x0[:3], requires_grad=True)
    b = torch.tensor(x0[3:], requires_grad=True)
    hp = {**hp, "backend": backend}
    opt = dynopt_torch.Optimizer([a, b], method=name, **hp)

    def loss_of(u, w):
        return lambda: rosen_torch(torch.cat([u, w]))

    full = torch_run([a, b], loss_of(a, b), opt, steps=80)
    # a second run to step 40, saved through torch.save, loaded into a new optimiser
    a1 = torch.tensor(x0[:3], requires_grad=True)
    b1 = torch.tensor(x0[3:], requires_grad=True)
    first = dynopt_torch.Optimizer([a1, b1], method=name, **hp)
    head = torch_run([a1, b1], loss_of(a1, b1), first, steps=40)
    buf = io.BytesIO()
    torch.save({"opt": first.state_dict(), "a": a1.detach(), "b": b1.detach()}, buf)
    buf.seek(0)
    saved = torch.load(buf)
    a2 = saved["a"].clone().requires_grad_()
    b2 = saved["b"].clone().requires_grad_()
    second = dynopt_torch.Optimizer([a2, b2], method=name, **hp)
    second.load_state_dict(saved["opt"])
    tail = torch_run([a2, b2], loss_of(a2, b2), second, steps=40)
    np.testing.assert_array_equal(np.concatenate([head, tail[1:]]), full)
    # a fresh optimiser at the saved parameters does not continue the same way
    a3 = saved["a"].clone().requires_grad_()
    b3 = saved["b"].clone().requires_grad_()
    restart = torch_run([a3, b3], loss_of(a3, b3),
                        dynopt_torch.Optimizer([a3, b3], method=name, **hp), steps=40)
    assert np.max(np.abs(restart - tail)) > 1e-8


@pytest.mark.parametrize("first,second", [("torch", "numba"), ("numba", "torch")])
def test_state_dict_moves_between_backends(first, second):
    # the two ways of stepping keep one state layout: a run saved from one continues on
    # the other (to round-off: the kernels are different code)
    x0 = np.array([-1.2, 1.0, 0.5, -0.3, 0.8])
    p = torch.tensor(x0, requires_grad=True)
    ref = torch_run([p], lambda: rosen_torch(p),
                    dynopt_torch.Optimizer([p], method="fanos", backend=first), steps=60)
    q = torch.tensor(x0, requires_grad=True)
    opt = dynopt_torch.Optimizer([q], method="fanos", backend=first)
    head = torch_run([q], lambda: rosen_torch(q), opt, steps=30)
    moved = dynopt_torch.Optimizer([q], method="fanos", backend=second)
    moved.load_state_dict(opt.state_dict())
    tail = torch_run([q], lambda: rosen_torch(q), moved, steps=30)
    assert_same(np.concatenate([head, tail[1:]]), ref)


def test_numba_steps_the_state_in_place():
    # a lone parameter's state lives in one buffer per name, updated in place by the
    # compiled kernel (no new tensors per step), as torch's fused Adam does
    p = torch.tensor(np.linspace(-1, 1, 4096), requires_grad=True)
    opt = dynopt_torch.Optimizer([p], method="adam", backend="numba", lr=1e-2)
    torch_run([p], lambda: quad_torch(p[:6]) + (p[6:] ** 2).sum(), opt, steps=2)
    ptrs = {name: t.data_ptr() for name, t in opt.state[p].items() if t.dim()}
    x_ptr = p.data_ptr()
    torch_run([p], lambda: quad_torch(p[:6]) + (p[6:] ** 2).sum(), opt, steps=5)
    assert ptrs and ptrs == {name: t.data_ptr() for name, t in opt.state[p].items() if t.dim()}
    assert p.data_ptr() == x_ptr


def test_state_holds_the_program_state():
    p = torch.tensor([0.5, -0.2, 0.3], requires_grad=True)
    opt = dynopt_torch.Optimizer([p], method="fanos", lr=1e-2)
    torch_run([p], lambda: rosen_torch(p), opt, steps=3)
    st = opt.state[p]
    assert set(st) >= {"v", "exp_avg_sq", "zeta", "T_ema"}
    assert st["v"].shape == p.shape and st["zeta"].dim() == 0
    sd = copy.deepcopy(opt.state_dict())
    assert set(sd["state"][0]) == set(st)
    assert sd["param_groups"][0]["lr"] == 1e-2


def test_groups_with_different_lr_are_independent_runs():
    x0 = np.array([-1.2, 1.0, 0.5, -0.3])
    p = torch.tensor(x0, requires_grad=True)
    q = torch.tensor(x0, requires_grad=True)
    opt = dynopt_torch.Optimizer([{"params": [p]}, {"params": [q], "lr": 1e-3}],
                                 method="fanos", lr=3e-3)
    traj = torch_run([p, q], lambda: rosen_torch(p) + rosen_torch(q), opt)
    assert_same(traj[:, :4], minimize_run("fanos", x0, {"lr": 3e-3}, "rosen"))
    assert_same(traj[:, 4:], minimize_run("fanos", x0, {"lr": 1e-3}, "rosen"))
    assert opt.param_groups[1]["lr"] == 1e-3 and opt.param_groups[0]["lr"] == 3e-3


def test_closure_returns_the_loss_and_steps_as_without():
    x0 = np.array([-1.2, 1.0, 0.5])
    p = torch.tensor(x0, requires_grad=True)
    q = torch.tensor(x0, requires_grad=True)
    with_closure = torch_run([p], lambda: rosen_torch(p),
                             dynopt_torch.Optimizer([p], method="fire", dt=0.01), closure=True)
    without = torch_run([q], lambda: rosen_torch(q),
                        dynopt_torch.Optimizer([q], method="fire", dt=0.01))
    np.testing.assert_array_equal(with_closure, without)
    opt = dynopt_torch.Optimizer([p], method="fire", dt=0.01)

    def closure():
        opt.zero_grad()
        loss = rosen_torch(p)
        loss.backward()
        return loss

    expected = rosen_np(p.detach().numpy())
    assert opt.step(closure).item() == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_float32(backend):
    x0 = np.array([-1.2, 1.0, 0.5, -0.3])
    p = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
    opt = dynopt_torch.Optimizer([p], method="fanos", lr=3e-3, backend=backend)
    traj = torch_run([p], lambda: rosen_torch(p), opt, steps=100)
    assert p.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in opt.state[p].values())
    ref = minimize_run("fanos", x0, {"lr": 3e-3}, "rosen", steps=100)
    # single precision: the same run to a few float32 roundings per step
    np.testing.assert_allclose(traj, ref, rtol=1e-4, atol=1e-4)
    assert np.max(np.abs(traj - ref)) > 0   # it did run in float32


def test_lr_scheduler_changes_the_group_value():
    # the hyperparameters are read from the group at every step: Adam under StepLR is
    # torch's Adam under StepLR (lr enters only the position update of both)
    x0 = np.linspace(-1, 1, 6)
    p = torch.tensor(x0, requires_grad=True)
    q = torch.tensor(x0, requires_grad=True)
    opt = dynopt_torch.Optimizer([p], method="adam", lr=5e-2)
    ref = torch.optim.Adam([q], lr=5e-2)
    scheds = [torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5) for o in (opt, ref)]
    for _ in range(40):
        for o, s, t in zip((opt, ref), scheds, (p, q)):
            o.zero_grad()
            quad_torch(t).backward()
            o.step()
            s.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-2 / 16)
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12)


def test_heavy_ball_velocity_keeps_the_lr_it_was_built_with():
    # dynopt's heavy ball carries the velocity v = -lr b (torch's buffer b): after lr
    # changes, v still holds the old lr's steps, so the run differs from SGD's, by design
    x0 = np.linspace(-1, 1, 6)
    p = torch.tensor(x0, requires_grad=True)
    q = torch.tensor(x0, requires_grad=True)
    opt = dynopt_torch.Optimizer([p], method="heavy_ball", lr=1e-2, momentum=0.9)
    ref = torch.optim.SGD([q], lr=1e-2, momentum=0.9)
    for i in range(12):
        if i == 6:
            for o in (opt, ref):
                o.param_groups[0]["lr"] = 5e-3
        for o, t in ((opt, p), (ref, q)):
            o.zero_grad()
            quad_torch(t).backward()
            o.step()
        if i == 5:
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12)
            b = ref.state[q]["momentum_buffer"]
            np.testing.assert_allclose(opt.state[p]["v"].numpy(), -1e-2 * b.numpy(), rtol=1e-12)
    # the first step after the change: SGD moves by -lr' (mu b + g), dynopt by mu v - lr' g
    assert np.max(np.abs(p.detach().numpy() - q.detach().numpy())) > 1e-6


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("base", ["sgd", "heavy_ball", "nesterov", "adam", "adamw", "rmsprop"])
def test_ko_collisions_run_as_python_stages_and_equal_minimize(base):
    from dynopt.methods.ko import BASES
    assert base in BASES
    hp = {"lr": 1e-2, "gamma_c": 0.3}
    if base == "heavy_ball":
        hp["momentum"] = 0.9
    # on the quadratic: Rosenbrock's chaos amplifies the round-off between the two
    # gradients (autograd and the formula) beyond 1e-12 over 200 steps
    x0 = np.array([-1.2, 1.0, 0.5, -0.3, 0.8, 1.1])
    # a 2x2 "weight matrix" (its rows collide) and two free coordinates; rows of one
    # element would make the cosines signs, and round-off near a zero flips them
    layers = [(0, 2, 2)]
    fun, jac = quad_np, quad_der_np
    res = dynopt.minimize(fun, x0, jac=jac, method="ko",
                          options={"base": base, "layers": layers, **hp, "maxiter": STEPS,
                                   "gtol": 0, "record": True})
    ref = res.trajectory["x"]
    a = torch.tensor(x0[:4].reshape(2, 2), requires_grad=True)
    b = torch.tensor(x0[4:], requires_grad=True)
    opt = dynopt_torch.Optimizer([a, b], method="ko", base=base, layers=layers, **hp)
    assert "_custom(" in opt.source
    traj = torch_run([a, b], lambda: quad_torch(torch.cat([a.reshape(-1), b])), opt)
    assert np.max(np.abs(ref[-1] - ref[0])) > 1e-3
    assert_same(traj, ref)
    # the collision changes the run: without it (gamma_c = 0) the path differs
    plain = dynopt.minimize(fun, x0, jac=jac, method="ko",
                            options={"base": base, "layers": layers, **hp, "gamma_c": 0.0,
                                     "maxiter": STEPS, "gtol": 0})
    assert np.max(np.abs(plain.x - ref[-1])) > 1e-8


def test_python_stage_generator_is_carried_by_state_dict():
    # DSMC collisions draw from the group's generator: a state_dict round trip mid-run
    # continues with the same draws
    x0 = np.linspace(-1, 1, 6)

    def run(split):
        p = torch.tensor(x0, requires_grad=True)
        opt = dynopt_torch.Optimizer([p], method="ko_dsmc", seed=3, coll_coef=0.5)
        for i in range(40):
            if split and i == 20:
                saved = opt.state_dict()
                p2 = torch.tensor(p.detach().numpy(), requires_grad=True)
                opt = dynopt_torch.Optimizer([p2], method="ko_dsmc", seed=99, coll_coef=0.5)
                opt.load_state_dict(saved)
                p = p2
            opt.zero_grad()
            quad_torch(p).backward()
            opt.step()
        return p.detach().numpy()

    np.testing.assert_array_equal(run(False), run(True))


def test_bad_input_names_the_argument():
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="backend must be one of .* got 'cuda'"):
        dynopt_torch.Optimizer([p], method="adam", backend="cuda")
    with pytest.raises(TypeError, match="'lrr'"):
        dynopt_torch.Optimizer([p], method="fanos", lrr=1e-3)
    with pytest.raises(ValueError, match="'lr'"):
        dynopt_torch.Optimizer([p], method="fanos", lr=-1.0)
    with pytest.raises(ValueError, match="'momentum'"):
        dynopt_torch.Optimizer([{"params": [p], "momentum": 1.5}], method="heavy_ball")
    with pytest.raises(ValueError, match="'amsgrad'"):
        dynopt_torch.Optimizer([{"params": [p], "amsgrad": True}], method="adam")
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        dynopt_torch.Optimizer([p], method="nope")
    with pytest.raises(TypeError, match="share a dtype"):
        dynopt_torch.Optimizer([p, torch.zeros(2, dtype=torch.float32)], method="fanos")
    with pytest.raises(TypeError, match="floating-point"):
        dynopt_torch.Optimizer([torch.zeros(2, dtype=torch.int64)], method="fanos")
    with pytest.raises(ValueError, match="seed"):
        dynopt_torch.Optimizer([p], method="langevin_baoab", seed=-1)
    opt = dynopt_torch.Optimizer([p, torch.zeros(2, dtype=torch.float64, requires_grad=True)],
                                 method="fanos")
    (p ** 2).sum().backward()
    with pytest.raises(RuntimeError, match="parameter 1 .* has no gradient"):
        opt.step()


def test_import_dynopt_does_not_import_torch():
    code = ("import sys, numpy as np, dynopt, dynopt.torch\n"
            "dynopt.minimize(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,\n"
            "                method='fanos', options={'maxiter': 3})\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "dynopt.torch.Optimizer\n"
            "assert 'torch' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setattr(dynopt_torch, "_CLASS", None)
    monkeypatch.setitem(sys.modules, "torch", None)   # import torch raises ImportError
    with pytest.raises(ImportError, match=r"dynopt-physics\[torch\]"):
        dynopt_torch.Optimizer


def test_frameworks_page_example_runs():
    import re
    from pathlib import Path
    page = Path(__file__).resolve().parents[1] / "docs" / "frameworks.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) == 1
    namespace = {}
    exec(compile(blocks[0], str(page), "exec"), namespace)
    model, X, y = namespace["model"], namespace["X"], namespace["y"]
    with torch.no_grad():
        final = torch.nn.functional.mse_loss(model(X).squeeze(-1), y).item()
    # the trained model explains at least 90% of the variance of y
    assert final < 0.1 * y.var().item()


def measure(threads=1, n=10**6, repeats=10):
    """Print the figures of the frameworks page: the largest relative difference of each
    trajectory from its reference, and the time of one step against torch.optim.Adam.
    Run ``python tests/test_torch.py``."""
    import time
    torch.set_num_threads(threads)
    for name in list(CASES) + OTHERS:
        problem, hp = CASES.get(name, ("quad", {}))
        x0 = np.array([-1.2, 1.0, 0.5, -0.3]) if problem == "rosen" else np.linspace(-1, 1, 6)
        seed = 7 if name.startswith(SEEDED) else None
        ref = minimize_run(name, x0, hp, problem, seed=seed)
        p = torch.tensor(x0, requires_grad=True)
        opt = dynopt_torch.Optimizer([p], method=name, **hp, **({"seed": seed} if seed else {}))
        loss = (lambda: rosen_torch(p)) if problem == "rosen" else (lambda: quad_torch(p))
        traj = torch_run([p], loss, opt)
        err = np.max(np.abs(traj - ref)) / np.max(np.abs(ref))
        print(f"vs dynopt.minimize  {name:18s} {err:.1e}")
    for name, hp, flags, make in BASELINES:
        x0 = np.linspace(-1, 1, 6)
        p = torch.tensor(x0, requires_grad=True)
        q = torch.tensor(x0, requires_grad=True)
        ours = torch_run([p], lambda: quad_torch(p),
                         dynopt_torch.Optimizer([p], method=name, **hp, **flags))
        theirs = torch_run([q], lambda: quad_torch(q), make([q]))
        err = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
        print(f"vs torch.optim      {name:10s} {str(flags):40s} {err:.1e}")
    for parts in (1, 20):
        for label, make in (("torch.optim.Adam", lambda ps: torch.optim.Adam(ps)),
                            ("adam", lambda ps: dynopt_torch.Optimizer(ps, method="adam")),
                            ("fanos", lambda ps: dynopt_torch.Optimizer(ps, method="fanos")),
                            ("fire", lambda ps: dynopt_torch.Optimizer(ps, method="fire"))):
            ps = [torch.randn(n // parts, requires_grad=True) for _ in range(parts)]
            for t in ps:
                t.grad = torch.randn_like(t)
            opt = make(ps)
            opt.step()
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                opt.step()
                best = min(best, time.perf_counter() - t0)
            print(f"step time n={n} tensors={parts:2d} threads={threads} {label:17s} "
                  f"{best * 1e3:7.2f} ms (best of {repeats})")


if __name__ == "__main__":
    measure()
