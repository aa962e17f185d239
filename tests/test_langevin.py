"""Underdamped Langevin dynamics: the derivation, BAOAB's sampling, seeding, annealing."""
import numpy as np
import pytest
import sympy as sp
from scipy import integrate, stats

import dynopt
from dynopt.methods.langevin import SCHEDULES
from dynopt.backends._noise import standard_normal
from dynopt.program import (Elementwise, Gradient, Noise, Reduce, Scalar, StandardNormal,
                            StepProgram, k, noise_key, uses_noise)
from dynopt.stepper import get_stepper
from dynopt.systems import UnderdampedLangevin
from dynopt.systems.langevin import gamma, h, mass, temperature


def _batch_means(samples, blocks=20):
    """Mean and its standard error from the means of ``blocks`` consecutive blocks."""
    samples = np.asarray(samples)
    means = samples[: len(samples) // blocks * blocks].reshape(blocks, -1).mean(axis=1)
    return means.mean(), means.std(ddof=1) / np.sqrt(blocks)


def _run(lam_or_grad, n, steps, params, seed=0, backend="numpy", x0=None, burn=0,
         record=None):
    """Drive the stepper directly; ``record(x, v)`` is called after each step past ``burn``."""
    st = get_stepper("langevin_baoab", backend=backend)
    X0 = np.zeros((1, n)) if x0 is None else np.asarray(x0, float).reshape(1, n)
    F, G = lam_or_grad(X0)
    state = st.init(X0, F, G, params, seed=seed)
    for i in range(steps):
        st.step(state, lam_or_grad, step=i)
        if record is not None and i >= burn:
            record(state.arrays["x"], state.arrays["v"])
    return state


# ------------------------------------------------------------------ derivation
def test_fluctuation_dissipation_is_derived():
    """sigma^2 = 2 m gamma T (Einstein), solved from the stationary Fokker-Planck equation."""
    s2 = UnderdampedLangevin().diffusion()
    assert sp.simplify(s2 - 2 * mass * gamma * temperature) == 0


def test_ornstein_uhlenbeck_coefficients_match_the_exact_solution():
    """c1 = exp(-gamma h); c2^2 = (1 - c1^2) T / m, the variance of the exact OU transition."""
    c1, c2 = UnderdampedLangevin().ornstein_uhlenbeck(h)
    assert sp.simplify(c1 - sp.exp(-gamma * h)) == 0
    assert sp.simplify(c2**2 - (1 - sp.exp(-2 * gamma * h)) * temperature / mass) == 0


def test_drift_is_the_damped_oscillator():
    field = UnderdampedLangevin().vector_field()
    ref = dynopt.systems.DampedOscillator().vector_field()
    c = sp.Symbol("damping", nonnegative=True)
    assert sp.simplify(field.vdot - ref.vdot.subs(c, mass * gamma)) == 0
    assert field.xdot == ref.xdot


def test_noise_stage_validates_its_target():
    with pytest.raises(TypeError, match="noise stage"):
        Noise("xi")
    with pytest.raises(ValueError):
        Noise(sp.Symbol("_xi"))


def test_noise_draws_are_per_coordinate_state():
    prog = dynopt.methods.get_method("langevin_baoab").program()
    assert isinstance(prog, StepProgram)
    assert sp.Symbol("normal_draw", real=True) in prog.elementwise_symbols()
    assert noise_key in prog.scalars and uses_noise(prog)
    assert not uses_noise(dynopt.methods.get_method("heavy_ball").program())


def _program_with(stages):
    v = sp.Symbol("v", real=True)
    return StepProgram("p", vectors={v: 0}, scalars={}, params={}, stages=stages)


def test_draws_are_validated_when_the_program_is_built():
    v, a, b = (sp.Symbol(n, real=True) for n in ("v", "a", "b"))
    with pytest.raises(ValueError, match="stream 0"):
        _program_with([Noise(a), Noise(b), Elementwise([(v, a + b)]), Gradient()])
    _program_with([Noise(a), Noise(b, stream=1), Elementwise([(v, a + b)]), Gradient()])
    c = sp.Symbol("c", real=True)
    with pytest.raises(ValueError, match="per coordinate"):
        _program_with([Scalar([(c, StandardNormal(noise_key, k, 0))]), Gradient()])
    with pytest.raises(ValueError, match="StandardNormal"):
        _program_with([Elementwise([(v, StandardNormal(noise_key, k + 1, 0))]), Gradient()])
    with pytest.raises(ValueError, match="stream"):
        Noise(a, stream=-1)
    with pytest.raises(ValueError, match="only in elementwise"):
        _program_with([Noise(a), Reduce(c, StandardNormal(noise_key, k, 1)), Gradient()])


def test_draws_are_standard_normal_and_independent():
    """Kolmogorov-Smirnov against scipy.stats.norm; no correlation between neighbouring
    coordinates, consecutive steps, streams or members (each |r| within 5/sqrt(n))."""
    n = 200_000
    keys, steps = np.array([[3.0], [4.0]]), np.array([[10.0], [10.0]])
    z = standard_normal(keys, steps, 0, n)
    assert stats.kstest(z[0], "norm").pvalue > 1e-3
    assert abs(z[0].mean()) < 5 / np.sqrt(n) and abs(z[0].var() - 1) < 5 * np.sqrt(2 / n)
    tol = 5 / np.sqrt(n)
    later = standard_normal(keys, steps + 1, 0, n)
    other_stream = standard_normal(keys, steps, 1, n)
    for a, b in ((z[0, 1:], z[0, :-1]), (z[0], z[1]), (z[0], later[0]), (z[0], other_stream[0])):
        assert abs(np.corrcoef(a, b)[0, 1]) < tol
    np.testing.assert_array_equal(standard_normal(keys, steps, 0, n), z)   # a pure function
    nb = pytest.importorskip("dynopt.backends._numba_support")
    # the same arithmetic; NumPy's log and cos may differ from libm's in the last place
    np.testing.assert_allclose([nb.gauss(4.0, 10.0, 0, i) for i in range(1000)], z[1, :1000],
                               rtol=1e-15, atol=0)


# ------------------------------------------------------------------ sampling
@pytest.mark.parametrize("dt", [0.5, 0.2])
def test_baoab_samples_the_harmonic_gibbs_distribution(dt):
    """On f = sum lambda_i x_i^2 / 2, <lambda x^2> = T exactly for every stable h
    (Leimkuhler & Matthews 2013), while the kinetic temperature is
    <m v^2> = T (1 - h^2 lambda / 4): both within four standard errors."""
    T, n = 0.7, 2000
    lam = np.linspace(0.5, 2.0, n)
    pot, kin = [], []

    def record(x, v):
        pot.append(np.mean(lam * x * x))
        kin.append(np.mean(v * v))

    _run(lambda X: (0.5 * np.sum(lam * X * X, axis=1), lam * X), n, 2300,
         {"dt": dt, "gamma": 1.0, "temperature": T, "mass": 1.0}, seed=11, burn=300,
         record=record)
    mean, err = _batch_means(pot)
    assert abs(mean - T) < 4 * err, (mean, err)
    assert err < 0.01 * T          # the test has the power to see a 4% bias
    mean, err = _batch_means(kin)
    expected = np.mean(T * (1 - dt**2 * lam / 4))
    assert abs(mean - expected) < 4 * err, (mean, expected, err)
    assert abs(expected - T) > 8 * err or dt < 0.3   # the h^2 term is resolved at dt = 0.5


def test_baoab_configurational_temperature_and_density_on_a_quartic():
    """f = sum x^4/4 + x^2/2: <|grad f|^2>/<laplacian f> = T, and <x^2> equals the
    quadrature of exp(-f/T) (scipy.integrate.quad), at a small step."""
    T, n, dt = 0.5, 1000, 0.05

    def ev(X):
        return np.sum(X**4 / 4 + X**2 / 2, axis=1), X**3 + X

    num, den, x2 = [], [], []

    def record(x, v):
        num.append(np.mean((x**3 + x) ** 2))
        den.append(np.mean(3 * x**2 + 1))
        x2.append(np.mean(x * x))

    _run(ev, n, 6000, {"dt": dt, "gamma": 1.0, "temperature": T, "mass": 1.0}, seed=5,
         burn=500, record=record)
    tconf = np.mean(num) / np.mean(den)
    _, err_num = _batch_means(num)
    _, err_den = _batch_means(den)
    err = tconf * np.hypot(err_num / np.mean(num), err_den / np.mean(den))
    assert abs(tconf - T) < 4 * err + 2e-3, (tconf, err)
    w = lambda y: np.exp(-(y**4 / 4 + y**2 / 2) / T)
    ref = integrate.quad(lambda y: y * y * w(y), -np.inf, np.inf)[0] / integrate.quad(
        w, -np.inf, np.inf)[0]
    mean, err = _batch_means(x2)
    assert abs(mean - ref) < 4 * err + 2e-3, (mean, ref, err)


# ------------------------------------------------------------------ seeds and backends
def _quadratic(x):
    return 0.5 * float(np.dot(x, x)), x.copy()


def test_a_fixed_seed_gives_the_same_run_twice_and_backends_agree():
    x0 = np.linspace(-1, 1, 50)
    opts = {"maxiter": 300, "seed": 3, "temperature": 0.2, "dt": 0.3}
    runs = [dynopt.minimize(_quadratic, x0, jac=True, method="langevin_baoab", backend=b,
                            options=dict(opts)) for b in ("numpy", "numpy", "numba")]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    np.testing.assert_allclose(runs[2].x, runs[0].x, rtol=1e-12, atol=1e-12)
    other = dynopt.minimize(_quadratic, x0, jac=True, method="langevin_baoab",
                            options={**opts, "seed": 4})
    assert np.max(np.abs(other.x - runs[0].x)) > 1e-3


def test_batch_members_draw_their_own_numbers():
    """Member 0 of a batch equals the lone run with the same seed, member 1 differs."""
    x0 = np.linspace(-1, 1, 30)
    opts = {"maxiter": 100, "seed": 8, "temperature": 0.3, "dt": 0.2}
    lone = dynopt.minimize(_quadratic, x0, jac=True, method="langevin_baoab",
                           options=dict(opts))
    batch = dynopt.minimize(_quadratic, np.stack([x0, x0]), jac=True, method="langevin_baoab",
                            options=dict(opts))
    np.testing.assert_allclose(batch.x[0], lone.x, rtol=1e-13, atol=1e-15)
    assert np.max(np.abs(batch.x[1] - batch.x[0])) > 1e-3


def test_compiled_whole_run_draws_the_python_loops_numbers():
    numba = pytest.importorskip("numba")

    @numba.njit
    def fg(x):
        w = 1.0 + np.arange(x.size) % 3
        return 0.5 * np.sum(w * x * x), w * x

    x0 = np.linspace(-1, 1, 40)
    opts = {"maxiter": 200, "seed": 5, "temperature": 0.4, "dt": 0.2, "gtol": 0.0}
    compiled = dynopt.minimize(fg, x0, jac=True, method="langevin_baoab", backend="numba",
                               options={**opts, "compiled": True})
    loop = dynopt.minimize(fg, x0, jac=True, method="langevin_baoab", backend="numba",
                           options={**opts, "compiled": False})
    np.testing.assert_allclose(compiled.x, loop.x, rtol=1e-11, atol=1e-12)


def test_float32_runs_stay_float32_and_follow_float64():
    x0 = np.linspace(-1, 1, 20)
    opts = {"maxiter": 50, "seed": 1, "temperature": 0.1, "dt": 0.2, "gtol": 0.0}
    for backend in ("numpy", "numba"):
        r32 = dynopt.minimize(_quadratic, x0.astype(np.float32), jac=True,
                              method="langevin_baoab", backend=backend, options=dict(opts))
        r64 = dynopt.minimize(_quadratic, x0, jac=True, method="langevin_baoab",
                              backend=backend, options=dict(opts))
        assert r32.x.dtype == np.float32
        np.testing.assert_allclose(r32.x, r64.x, rtol=0, atol=1e-4)


def test_zero_temperature_is_a_deterministic_damped_verlet():
    """T = 0: B A O A B with O = friction only, as a hand-written loop."""
    lam = np.linspace(0.1, 3.0, 20)
    x0 = np.ones(20)
    dt, gam, steps = 0.3, 0.7, 60
    res = dynopt.minimize(lambda x: 0.5 * np.sum(lam * x * x), x0, jac=lambda x: lam * x,
                          method="langevin_baoab",
                          options={"maxiter": steps, "temperature": 0.0, "dt": dt,
                                   "gamma": gam, "gtol": 0.0})
    x, v = x0.copy(), np.zeros(20)
    for _ in range(steps):
        v -= dt / 2 * lam * x
        x += dt / 2 * v
        v *= np.exp(-gam * dt)
        x += dt / 2 * v
        v -= dt / 2 * lam * x
    np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ annealing
def _tilted_double_well(x):
    """Independent 1-D particles in f = (x^2 - 1)^2 + 0.3 x: the deep well is at x < 0."""
    return float(np.sum((x * x - 1) ** 2 + 0.3 * x)), 4 * x * (x * x - 1) + 0.3


@pytest.mark.parametrize("schedule", ["exponential", "linear"])
def test_annealed_langevin_leaves_the_shallow_well(schedule):
    """Started in the shallow well, heavy ball stays there; annealing from T0 = 0.5 ends
    with most particles in the deep one, in thermal equilibrium at the final temperature
    (|grad f| of the order sqrt(f'' T_end), zero for the linear schedule)."""
    n = 200
    x0 = np.ones(n)
    hb = dynopt.minimize(_tilted_double_well, x0, jac=True, method="heavy_ball",
                         options={"maxiter": 3000, "lr": 0.01})
    assert np.all(hb.x > 0)
    opts = {"seed": 2, "temperature": 0.5, "dt": 0.1, "gamma": 1.0, "gtol": 0.0}
    if schedule == "exponential":
        steps, extra = 8000, {"cooling": 0.999}
        t_end = 0.5 * 0.999**steps
    else:
        steps, extra = 4000, {"anneal_steps": 3000}
        t_end = 0.0
    res = dynopt.minimize(_tilted_double_well, x0, jac=True, method="langevin_annealed",
                          options={**opts, **extra, "maxiter": steps, "schedule": schedule})
    assert np.mean(res.x < 0) > 0.8
    _, grad = _tilted_double_well(res.x)
    curvature = 12 * res.x**2 - 4
    assert np.all(np.abs(grad) < 6 * np.sqrt(curvature * t_end) + 1e-8)


def test_annealing_schedules_are_the_stated_closed_forms():
    k = sp.Symbol("k", integer=True, nonnegative=True)
    T0 = temperature
    values = {"exponential": lambda kk: 0.5 * 0.9**kk,
              "logarithmic": lambda kk: 0.5 * np.log(2) / np.log(kk + 2),
              "linear": lambda kk: 0.5 * max(0.0, 1 - kk / 10)}
    for name, (expr, extra) in SCHEDULES.items():
        subs = {T0: 0.5, **{s: {"cooling": 0.9, "anneal_steps": 10}[s.name] for s in extra}}
        for kk in (0, 1, 7, 30):
            got = float(expr.subs(subs).subs(sp.Symbol("k", integer=True, nonnegative=True), kk))
            assert got == pytest.approx(values[name](kk), rel=1e-14)
    assert values["logarithmic"](0) == pytest.approx(0.5)


def test_bad_schedule_is_named():
    with pytest.raises(ValueError, match="schedule"):
        dynopt.minimize(_quadratic, np.ones(3), jac=True, method="langevin_annealed",
                        options={"schedule": "cubic"})


def test_float32_kernels_draw_float32_numbers():
    """In a float32 Numba kernel the draw is a float32 (rounded as NumPy's and CUDA's are),
    and at n >= 1024 (compiled kernels) the two backends agree to float32 rounding."""
    numba = pytest.importorskip("numba")
    from dynopt.backends._numba_support import gauss

    probe = numba.njit(lambda key: gauss(key, key, 0, 1))
    probe(np.float32(3.0))
    probe(3.0)
    returns = {str(sig.return_type) for sig in probe.nopython_signatures}
    assert returns == {"float32", "float64"}
    n = 2048
    x0 = np.linspace(-1, 1, n).astype(np.float32)
    runs = [dynopt.minimize(_quadratic, x0, jac=True, method="langevin_baoab", backend=b,
                            options={"maxiter": 20, "seed": 3, "gtol": 0.0, "temperature": 1.0})
            for b in ("numpy", "numba")]
    assert runs[1].x.dtype == np.float32
    np.testing.assert_allclose(runs[1].x, runs[0].x, rtol=0, atol=3e-6)
