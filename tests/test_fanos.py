"""FANoS against a plain NumPy transcription of the reference equations (section 2)."""
import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der

import dynopt
from dynopt.methods import METHODS

# Hyperparameters chosen so that every branch is exercised within a few steps:
# the gradient clip is active on some steps and not on others, the schedule
# T0(k) moves (small tau), the friction hits its clip on some steps and weight decay
# is on. eps keeps its default: options['eps'] is the loop's finite-difference step.
LIVELY = dict(lr=0.05, beta=0.9, Q=2.0, T0_max=0.05, T0_min=0.01, tau=5.0,
              rho_T=0.8, zeta_clip=3.0, grad_clip=1000.0, weight_decay=0.1)
STEPS = 20


def fanos_reference(x0, grad, steps, *, lr, beta, Q, T0_max, T0_min, tau, rho_T,
                    zeta_clip, grad_clip, weight_decay, eps=1e-8, identity_mass=False,
                    fixed_friction=False, zeta_const=0.0, scheme="symplectic"):
    """The reference's update rule, step by step, in plain NumPy.

    ``scheme``: 'symplectic' (the paper's), 'explicit' (dynopt's explicit Euler:
    position and temperature from the old velocity) or 'verlet' (velocity Verlet
    on the same field: half kick, drift, new clipped gradient, half kick).
    Returns the final state and a log of which clips were active.
    """
    theta = np.array(x0, dtype=float)
    v = np.zeros_like(theta)
    s = np.zeros_like(theta)
    zeta = zeta_const if fixed_friction else 0.0
    T_ema = T0_max
    log = {"grad_clipped": [], "zeta_clipped": []}

    def clipped(g):
        norm = np.sqrt(np.sum(g**2))
        active = grad_clip > 0 and norm > grad_clip
        log["grad_clipped"].append(active)
        return g * (grad_clip / norm) if active else g

    def thermostat(zeta, T_ema, k, h):
        if fixed_friction:
            return zeta
        target = T0_min + (T0_max - T0_min) * np.exp(-k / tau)
        return zeta + h / Q * (T_ema - target)

    def clip_zeta(zeta):
        if fixed_friction or zeta_clip == 0:
            return zeta
        log["zeta_clipped"].append(abs(zeta) > zeta_clip)
        return min(max(zeta, -zeta_clip), zeta_clip)

    g = grad(theta)
    h = lr
    for k in range(steps):
        theta = theta * (1 - h * weight_decay)
        gc = clipped(g)
        if identity_mass:
            m = np.ones_like(theta)
        else:
            s = beta * s + (1 - beta) * gc**2
            m = np.sqrt(s) + eps
        if scheme == "verlet":
            v = v + h / 2 * (-gc / m - zeta * v)
            T_ema = rho_T * T_ema + (1 - rho_T) * np.mean(m * v**2)
            zeta = thermostat(zeta, T_ema, k, h / 2)
            theta = theta + h * v
            g = grad(theta)
            gc = clipped(g)
            zeta = clip_zeta(thermostat(zeta, T_ema, k, h / 2))
            v = (v - h / 2 * gc / m) / (1 + h / 2 * zeta)
            continue
        v_old = v
        v = (1 - h * zeta) * v - h * gc / m
        moved_with = v_old if scheme == "explicit" else v
        theta = theta + h * moved_with
        T_inst = np.mean(m * moved_with**2)
        T_ema = rho_T * T_ema + (1 - rho_T) * T_inst
        zeta = clip_zeta(thermostat(zeta, T_ema, k, h))
        g = grad(theta)
    return dict(x=theta, v=v, s=s, zeta=zeta, T_ema=T_ema), log


def run(x0, steps=STEPS, fun=rosen, jac=rosen_der, integrator=None, record=False, **options):
    return dynopt.minimize(fun, x0, jac=jac, method="fanos", integrator=integrator,
                           options={"maxiter": steps, "gtol": 0, "record": record, **options})


def compare(res, ref, keys=("v", "s")):
    """``ref`` in the paper's symbols; dynopt's state calls s ``exp_avg_sq``."""
    names = {"v": "v", "s": "exp_avg_sq"}
    np.testing.assert_allclose(res.x, ref["x"], rtol=1e-11, atol=1e-14)
    for key in keys:
        np.testing.assert_allclose(res.state[names[key]], ref[key], rtol=1e-11, atol=1e-14)
    for key in ("zeta", "T_ema"):
        np.testing.assert_allclose(res.state[key], ref[key], rtol=1e-11, atol=1e-14)


@pytest.fixture
def x0():
    return np.random.default_rng(7).uniform(-2, 2, 6)


def test_defaults_are_the_reference_ones():
    hp = METHODS["fanos"].hyperparameters()
    assert hp == {"lr": 3e-3, "beta": 0.999, "eps": 1e-8, "Q": 1.0, "T0_max": 1e-3,
                  "T0_min": 0.0, "tau": 20000.0, "rho_T": 0.9, "zeta_clip": 10.0,
                  "grad_clip": 1.0, "weight_decay": 0.0, "identity_mass": False,
                  "fixed_friction": False}
    assert METHODS["fanos"].integrator == "symplectic_euler"


def test_matches_transcription_with_default_hyperparameters(x0):
    res = run(x0)
    ref, log = fanos_reference(x0, rosen_der, STEPS, **METHODS["fanos"].program().param_defaults())
    assert all(log["grad_clipped"])  # Rosenbrock's gradient far exceeds the default clip 1
    compare(res, ref)


def test_matches_transcription_every_branch(x0):
    res = run(x0, **LIVELY)
    ref, log = fanos_reference(x0, rosen_der, STEPS, **LIVELY)
    assert any(log["grad_clipped"]) and not all(log["grad_clipped"])
    assert any(log["zeta_clipped"]) and not all(log["zeta_clipped"])
    compare(res, ref)


def test_clipping_off_with_zero(x0):
    opts = {**LIVELY, "grad_clip": 0.0, "zeta_clip": 0.0}
    res = run(x0, **opts)
    ref, log = fanos_reference(x0, rosen_der, STEPS, **opts)
    assert not any(log["grad_clipped"])
    compare(res, ref)
    clipped, _ = fanos_reference(x0, rosen_der, STEPS, **LIVELY)
    assert np.abs(res.x - clipped["x"]).max() > 1e-3


def test_identity_mass_ablation(x0):
    res = run(x0, identity_mass=True, **{k: v for k, v in LIVELY.items() if k != "beta"})
    ref, _ = fanos_reference(x0, rosen_der, STEPS, identity_mass=True, **LIVELY)
    compare(res, ref, keys=("v",))
    assert "exp_avg_sq" not in res.state and "s" not in res.state
    rms, _ = fanos_reference(x0, rosen_der, STEPS, **LIVELY)
    assert np.abs(res.x - rms["x"]).max() > 1e-3


def test_fixed_friction_ablation(x0):
    opts = {k: v for k, v in LIVELY.items() if k not in ("Q", "tau", "T0_min", "zeta_clip")}
    res = run(x0, fixed_friction=True, zeta_const=0.7, record=True, **opts)
    np.testing.assert_array_equal(res.trajectory["zeta"], 0.7)
    ref, _ = fanos_reference(x0, rosen_der, STEPS, fixed_friction=True, zeta_const=0.7, **LIVELY)
    compare(res, ref)
    # the thermostat's hyperparameters are gone with the thermostat
    with pytest.raises(TypeError, match="Q"):
        run(x0, fixed_friction=True, Q=1.0)


def test_explicit_euler_ablation(x0):
    res = run(x0, integrator="explicit_euler", **LIVELY)
    ref, _ = fanos_reference(x0, rosen_der, STEPS, scheme="explicit", **LIVELY)
    compare(res, ref)
    # the first explicit step moves x by the weight decay only (v_0 = 0)
    one = run(x0, steps=1, integrator="explicit_euler", **LIVELY)
    np.testing.assert_allclose(one.x, x0 * (1 - LIVELY["lr"] * LIVELY["weight_decay"]), rtol=1e-15)


def test_velocity_verlet(x0):
    res = run(x0, integrator="velocity_verlet", **LIVELY)
    ref, log = fanos_reference(x0, rosen_der, STEPS, scheme="verlet", **LIVELY)
    assert any(log["grad_clipped"])
    compare(res, ref)


def quadratic(n=6, seed=3):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = q @ np.diag(np.linspace(1.0, 10.0, n)) @ q.T
    b = rng.standard_normal(n)
    return (lambda x: 0.5 * x @ A @ x - b @ x), (lambda x: A @ x - b), np.linalg.solve(A, b)


@pytest.mark.parametrize("start", ["hot", "cold"])
def test_thermostat_drives_smoothed_temperature_to_target(start):
    # Constant target T*, no clipping. Without the thermostat (fixed friction 0) the
    # run stays far from T*: hot from far away (x0 - x* ~ 3), cold near the minimum.
    # With it, zeta feeds back until the time average of T_ema is T*: the discrete
    # identity sum_k (T_ema,k - T*) = Q (zeta_K - zeta_0) / h makes the average
    # deviation vanish as long as the friction stays bounded.
    fun, jac, xstar = quadratic()
    rng = np.random.default_rng(11)
    x0 = xstar + (rng.uniform(2, 4, 6) * rng.choice([-1, 1], 6) if start == "hot"
                  else rng.normal(0, 0.01, 6))
    target, h, Q, steps = 0.3, 0.05, 1.0, 4000
    common = dict(steps=steps, fun=fun, jac=jac, record=True, lr=h, T0_max=target,
                  grad_clip=0.0)
    res = run(x0, T0_min=target, Q=Q, zeta_clip=0.0, **common)
    free = run(x0, fixed_friction=True, zeta_const=0.0, **common)
    T, zeta = res.trajectory["T_ema"], res.trajectory["zeta"]
    T_free = free.trajectory["T_ema"][steps // 2:].mean()
    if start == "hot":
        assert T.max() > 10 * target and T_free > 10 * target
        assert zeta.max() > 1  # the friction rose to remove the excess
    else:
        assert T_free < 0.5 * target
        assert zeta.min() < -1  # negative friction: the thermostat heats the particle
    assert abs(T[steps // 2:].mean() / target - 1) < 0.3
    np.testing.assert_allclose(np.sum(T[1:] - target), Q * zeta[-1] / h, rtol=1e-8)


def test_friction_clip_holds_the_bound():
    # With T0 = 0 the friction only grows (T_ema >= 0), so it must meet the clip.
    fun, jac, _ = quadratic()
    opts = dict(steps=300, fun=fun, jac=jac, record=True, lr=0.05, T0_max=0.0, Q=1e-3)
    zeta = run(np.full(6, 3.0), zeta_clip=0.5, **opts).trajectory["zeta"]
    assert np.all(np.abs(zeta) <= 0.5) and zeta.max() == 0.5
    free = run(np.full(6, 3.0), zeta_clip=0.0, **opts).trajectory["zeta"]
    assert free.max() > 1.0


@pytest.mark.parametrize("integrator", ["symplectic_euler", "explicit_euler", "velocity_verlet"])
def test_minimises_convex_quadratic(integrator):
    # condition number 10; h = 0.01 (explicit Euler stalls in a limit cycle at h >= 0.03)
    fun, jac, xstar = quadratic()
    res = dynopt.minimize(fun, np.full(6, 3.0), jac=jac, method="fanos", integrator=integrator,
                          options={"lr": 0.01, "maxiter": 5000, "gtol": 1e-8})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, xstar, atol=1e-7)


def test_minimises_rosenbrock_5d():
    # SciPy's example start; default hyperparameters (h = 3e-3): about 12,000 steps to gtol 1e-8
    res = dynopt.minimize(rosen, [1.3, 0.7, 0.8, 1.9, 1.2], jac=rosen_der, method="fanos",
                          options={"maxiter": 20000, "gtol": 1e-8})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.ones(5), atol=1e-6)


def test_bad_options():
    with pytest.raises(TypeError, match="identity_mass"):
        METHODS["fanos"].program(identity_mass="yes")
    with pytest.raises(ValueError, match="grad_clip"):
        run(np.ones(3), grad_clip=-1.0)
    with pytest.raises(ValueError, match="beta"):
        run(np.ones(3), beta=1.5)
