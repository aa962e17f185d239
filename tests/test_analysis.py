"""Analytic damping ratios and rates against closed forms and against the rates of real runs."""
import json
import math

import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.analysis import (NonlinearStepError, RateTable, compare_rates, compare_spectrum,
                             continuous_equivalent, critical_hyperparameter,
                             continuous_model, continuous_rate, critical_damping, damping_ratio,
                             damping_regime, decay_rate, energy_decay_rate, lam,
                             linearize_system, observed_rate, optimal_damping,
                             order_of_convergence, predicted_rate, predicted_rates,
                             stability_conditions, stability_interval, step_matrix, sweep_rates)
from dynopt.analysis.continuous import continuous_eigenvalues
from dynopt.program import Elementwise, Gradient, Reduce, StepProgram, g, k, x
from dynopt.systems import DampedOscillator, GradientFlow, NesterovODE, NoseHoover

c_ = sp.Symbol("damping", positive=True)
eta, alpha, h = sp.symbols("lr momentum h", positive=True)


def quad(lams):
    lams = np.asarray(lams, dtype=float)
    return lambda x_: (0.5 * float(np.dot(lams * x_, x_)), lams * x_)


def same(a, b):
    """Symbolic equality, matching symbols by name (all taken positive)."""
    a, b = sp.sympify(a), sp.sympify(b)
    rep = {q: sp.Symbol(q.name, positive=True) for q in (a.free_symbols | b.free_symbols)}
    return sp.simplify(a.xreplace(rep) - b.xreplace(rep)) == 0


# --------------------------------------------------------------------------- continuous time
def test_damped_oscillator_symbolic_closed_forms():
    lin = linearize_system(DampedOscillator)
    mass, damping = sorted(lin.matrix.free_symbols - {lam}, key=lambda q: q.name)[::-1]
    # characteristic polynomial of m x'' + c x' + lambda x = 0, divided by m
    assert same(lin.characteristic_polynomial() * mass,
                mass * sp.Symbol("s")**2 + damping * sp.Symbol("s") + lam)
    assert same(lin.damping_ratio(), damping / (2 * sp.sqrt(mass * lam)))
    assert same(critical_damping(DampedOscillator), 2 * sp.sqrt(mass * lam))
    # reference section 1: decay rates of the slowest mode in both regimes
    rate = lin.decay_rate()
    under = {mass: 2, damping: 1, lam: 3}
    over = {mass: 2, damping: 9, lam: 3}
    assert same(rate.subs(under), sp.Rational(1, 4))
    assert same(rate.subs(over), (9 - sp.sqrt(81 - 24)) / 4)
    assert same(lin.energy_decay_rate().subs(over), 2 * rate.subs(over))


def test_decay_rate_matches_an_ode_solver():
    from scipy.integrate import solve_ivp
    for mass, damping, lam_ in [(1.0, 0.4, 2.0), (2.0, 6.0, 0.5), (0.5, 0.3, 8.0)]:
        sigma = decay_rate(DampedOscillator(mass=mass, damping=damping), lam_)
        sol = solve_ivp(lambda t, y: [y[1], -(damping * y[1] + lam_ * y[0]) / mass],
                        (0, 40), [1.0, 0.0], method="DOP853", rtol=1e-10, atol=1e-30,
                        dense_output=True)
        t = np.linspace(15, 40, 3001)
        y = sol.sol(t)
        energy = 0.5 * mass * y[1]**2 + 0.5 * lam_ * y[0]**2  # smooth envelope of |x|^2
        slope = np.polyfit(t, np.log(energy), 1)[0]
        assert abs(-slope / 2 - sigma) < 0.02 * sigma
        assert energy_decay_rate(DampedOscillator(mass=mass, damping=damping), lam_) == \
            pytest.approx(2 * sigma)


@pytest.mark.parametrize("kind", [int, sp.Integer, np.int64, np.int32, float])
def test_integer_arguments_give_the_oscillators_closed_form_rate(kind):
    # m x'' + c x' + lambda x = 0, roots (-c +- sqrt(c^2 - 4 m lambda)) / (2m): the slowest
    # overdamped mode decays at (c - sqrt(c^2 - 4 m lambda)) / (2m), an underdamped one at c/(2m)
    for mass, damping, lam_ in [(1, 4, 1), (2, 9, 3), (1, 1, 1), (3, 2, 5)]:
        disc = damping**2 - 4 * mass * lam_
        closed = (damping - math.sqrt(disc)) / (2 * mass) if disc >= 0 else damping / (2 * mass)
        sys_ = DampedOscillator(mass=kind(mass), damping=kind(damping))
        assert decay_rate(sys_, kind(lam_)) == pytest.approx(closed, rel=1e-12)
        assert energy_decay_rate(sys_, kind(lam_)) == pytest.approx(2 * closed, rel=1e-12)
        assert damping_ratio(sys_, kind(lam_)) == pytest.approx(
            damping / (2 * math.sqrt(mass * lam_)), rel=1e-12)
        assert critical_damping(sys_, kind(lam_)) == pytest.approx(2 * math.sqrt(mass * lam_))
    # integers stay exact in the symbolic result
    if kind in (int, sp.Integer, np.int64):
        lin = linearize_system(DampedOscillator(mass=kind(1), damping=kind(4)), kind(1))
        assert sp.simplify(lin.decay_rate() - (2 - sp.sqrt(3))) == 0


def test_integer_arguments_across_the_analysis():
    # gradient descent: J = 1 - eta lambda, so rho = |1 - eta lambda| (exact for these values)
    for lam_ in (2, sp.Integer(2), np.int64(2), sp.Rational(2, 1)):
        assert predicted_rate("gd", lam_, options={"lr": sp.Rational(1, 10)}) == \
            pytest.approx(0.8, rel=1e-12)
    np.testing.assert_allclose(
        predicted_rates("gd", [1, sp.Integer(2), np.int64(3)], options={"lr": 0.1}),
        [0.9, 0.8, 0.7], rtol=1e-12)
    # heavy ball at lr = 1, momentum = 1/2, lambda = 1: T = 1/2, D = 1/2, |z| = sqrt(D)
    hb = {"lr": 1, "momentum": sp.Rational(1, 2)}
    assert predicted_rate("heavy_ball", np.int64(1), options=hb) == pytest.approx(math.sqrt(0.5))
    assert step_matrix("heavy_ball", options=hb).at(sp.Integer(1), lr=sp.Integer(1)).det() == \
        pytest.approx(0.5)
    best = optimal_damping(DampedOscillator(mass=1, damping=1), (np.int64(1), sp.Integer(100)))
    assert best.value == pytest.approx(2.0) and best.rate == pytest.approx(1.0)
    (lo, hi), = stability_interval("gd", options={"lr": 1}, samples=np.int64(400), scaled=True)
    assert hi == pytest.approx(2.0, rel=1e-6)
    table = compare_rates("gd", [sp.Integer(1), np.int64(2)], options={"lr": sp.Rational(1, 10)},
                          steps=sp.Integer(200))
    np.testing.assert_allclose(table.column("observed"), [0.9, 0.8], rtol=1e-6)


def test_booleans_are_refused_by_name():
    with pytest.raises(TypeError, match="eigenvalue.*boolean"):
        decay_rate(DampedOscillator(mass=1, damping=4), True)
    with pytest.raises(TypeError, match="eigenvalue.*boolean"):
        predicted_rate("gd", True, options={"lr": 0.1})
    with pytest.raises(TypeError, match=r"spectrum\[0\].*boolean"):
        optimal_damping(DampedOscillator(mass=1, damping=1), (True, 10))
    with pytest.raises(TypeError, match="freeze.*boolean"):
        predicted_rate("nose_hoover", 1.0, freeze={"zeta": True})
    with pytest.raises(TypeError, match="eigenvalues.*boolean"):
        compare_rates("gd", [True, 2.0])
    with pytest.raises(ValueError, match="steps"):
        compare_rates("gd", [1.0], steps=True)
    with pytest.raises(TypeError, match="eigenvalue must be a number"):
        predicted_rate("gd", sp.Symbol("a"), options={"lr": 0.1})


def test_regimes_and_eigenvalues():
    sys_ = DampedOscillator(mass=1.0, damping=2.0)  # critical at lambda = 1
    assert damping_regime(sys_, 0.25) == "overdamped"
    assert damping_regime(sys_, 1.0) == "critical"
    assert damping_regime(sys_, 4.0) == "underdamped"
    ev_under = continuous_eigenvalues(sys_, 4.0)
    assert all(abs(complex(e).imag) > 0 for e in ev_under)
    np.testing.assert_allclose(sorted(np.real(continuous_eigenvalues(sys_, 0.75))), [-1.5, -0.5])
    assert damping_regime(GradientFlow(damping=2.0), 1.0) == "overdamped"
    assert damping_ratio(GradientFlow(damping=2.0), 1.0) == math.inf
    assert decay_rate(GradientFlow(damping=2.0), 3.0) == pytest.approx(1.5)


def test_nesterov_ode_and_frozen_nose_hoover():
    r_, t_ = NesterovODE.r, sp.Symbol("t", real=True)
    assert same(damping_ratio(NesterovODE, symbolic=True), r_ / (2 * t_ * sp.sqrt(lam)))
    assert same(critical_damping(NesterovODE), 2 * t_ * sp.sqrt(lam))
    assert damping_ratio(NesterovODE(r=3.0), 4.0, frozen={"t": 0.75}) == pytest.approx(1.0)
    # Nose-Hoover with its friction frozen is a damped oscillator with c = m * zeta
    nh = damping_ratio(NoseHoover(mass=2.0), 3.0, frozen={"zeta": 0.7})
    assert nh == pytest.approx(damping_ratio(DampedOscillator(mass=2.0, damping=1.4), 3.0))
    assert critical_damping(NoseHoover(mass=2.0), 8.0) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="eigenvalue"):
        damping_ratio(DampedOscillator(), -1.0)
    with pytest.raises(ValueError, match="eigenvalue"):
        damping_ratio(DampedOscillator(), 0)


def test_optimal_damping_over_a_spectrum():
    mu, L, mass = 0.3, 50.0, 2.0
    opt = optimal_damping(DampedOscillator(mass=mass), (mu, L))
    assert opt.parameter == "damping" and opt.monotone
    assert opt.value == pytest.approx(2 * math.sqrt(mass * mu))
    assert opt.rate == pytest.approx(math.sqrt(mu / mass))
    assert opt.numeric_value == pytest.approx(opt.value, rel=1e-6)
    # brute force over c and lambda with numpy's polynomial roots, independent of the module
    def worst_rate(c):
        return min(-np.roots([mass, c, lv]).real.max() for lv in np.geomspace(mu, L, 60))

    cs = np.linspace(0.2, 5.0, 97)
    worst = np.array([worst_rate(c) for c in cs])
    assert worst.max() <= opt.rate * (1 + 1e-9)
    assert cs[np.argmax(worst)] == pytest.approx(opt.value, abs=cs[1] - cs[0])
    with pytest.raises(ValueError, match="spectrum"):
        optimal_damping(DampedOscillator(), (2.0, 1.0))


# --------------------------------------------------------------------------- the one-step map
def test_heavy_ball_map_gd_rate_and_correspondence():
    M = step_matrix("heavy_ball")
    z = sp.Symbol("z")
    # x_{k+1} = (1 + alpha - eta lam) x_k - alpha x_{k-1}  (the heavy-ball recurrence)
    assert same(M.characteristic_polynomial(), z**2 - (1 + alpha - eta * lam) * z + alpha)
    eq = continuous_equivalent("heavy_ball")
    assert same(eq["mass"], h**2 / eta)
    assert same(eq["damping"], (1 - alpha) * h / eta)
    assert same(eq["damping_ratio"], (1 - alpha) / (2 * sp.sqrt(eta * lam)))
    gd = step_matrix("gd")
    assert gd.matrix.shape == (1, 1) and same(gd.matrix[0, 0], 1 - eta * lam)
    assert same(continuous_equivalent("gd")["damping"], h / eta)
    # Nesterov = heavy ball plus a gradient-driven damping alpha*h*lambda
    assert same(continuous_equivalent("nesterov")["damping"],
                (1 - alpha) * h / eta + alpha * h * lam)
    # symplectic Euler on the oscillator keeps m and c; explicit Euler loses h*lambda of damping
    dt = sp.Symbol("dt", positive=True)
    assert same(continuous_equivalent("damped_oscillator")["damping"], c_)
    assert same(continuous_equivalent("damped_oscillator", "explicit_euler")["damping"],
                c_ - dt * lam)


def test_gd_rate_is_one_minus_eta_lambda_in_a_run():
    lams = np.array([0.5, 2.0, 15.0, 25.0])
    lr = 0.1
    table = compare_rates("gd", lams, options={"lr": lr}, steps=400)
    np.testing.assert_allclose(table.column("predicted"), np.abs(1 - lr * lams), rtol=1e-12)
    fitted = table.column("linear_regime")
    np.testing.assert_allclose(table.column("observed")[fitted], np.abs(1 - lr * lams)[fitted],
                               rtol=1e-6)
    assert fitted.sum() >= 3
    # eta * lambda = 2.5 > 2: |1 - eta lambda| = 1.5, the run diverges at that rate
    assert table.rows[-1]["observed"] == pytest.approx(1.5, rel=1e-3)
    assert table.rows[-1]["status"] == 4
    assert predicted_rate("gd", 25.0, options={"lr": lr}) == pytest.approx(1.5)


def test_polyak_optimal_heavy_ball_rate():
    mu, L = 1.0, 400.0
    kappa = L / mu
    lr = 4 / (math.sqrt(L) + math.sqrt(mu))**2
    mom = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1))**2
    want = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    rates = predicted_rates("heavy_ball", [mu, 20.0, L], options={"lr": lr, "momentum": mom})
    np.testing.assert_allclose(rates, want, rtol=1e-6)


def _heavy_ball_radius(lr, momentum, lam_):
    """Spectral radius of the 2x2 heavy-ball map (x_{k+1}, x_k) = M (x_k, x_{k-1}), by hand."""
    M = np.array([[1.0 + momentum - lr * lam_, -momentum], [1.0, 0.0]])
    return float(np.max(np.abs(np.linalg.eigvals(M))))


@pytest.mark.parametrize("kappa", [4.0, 100.0, 1e4])
def test_observed_rate_at_polyaks_tuning_matches_the_analytic_rate(kappa):
    # Polyak's tuning puts a double root of the map at lambda = mu and at lambda = L, where the
    # error is (a + b k) r^k; 1 - r observed must match 1 - r predicted to 0.5 %
    mu, L = 1.0, kappa
    lr = 4 / (math.sqrt(L) + math.sqrt(mu))**2
    mom = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1))**2
    opts = {"lr": lr, "momentum": mom}
    want = _heavy_ball_radius(lr, mom, mu)
    assert want == pytest.approx((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1), rel=1e-7)
    assert predicted_rate("heavy_ball", mu, options=opts) == pytest.approx(want, rel=1e-7)
    steps = int(60 * math.sqrt(kappa))
    for lams in ([mu], [mu, L], [mu, math.sqrt(mu * L), L]):
        res = dynopt.minimize(quad(lams), np.ones(len(lams)), method="heavy_ball", jac=True,
                              options={**opts, "record": True, "gtol": 0.0, "maxiter": steps})
        fit = observed_rate(res)  # no flag given: the model comparison finds the double root
        assert fit.linear_regime and fit.double_root
        assert abs((1 - fit.rate) / (1 - want) - 1) < 0.005, (lams, fit)
    table = compare_rates("heavy_ball", [mu, L], options=opts, steps=steps)
    assert list(table.column("repeated_root")) == [True, True]
    assert all(table.column("double_root_fit"))
    for row in table.rows:
        want_i = _heavy_ball_radius(lr, mom, row["eigenvalue"])
        assert abs((1 - row["observed"]) / (1 - want_i) - 1) < 0.005, row
    row, = compare_spectrum("heavy_ball", [mu, math.sqrt(mu * L), L], options=opts,
                            steps=steps).rows
    assert row["repeated_root"] and row["double_root_fit"]
    assert abs((1 - row["observed"]) / (1 - want) - 1) < 0.005, row


@pytest.mark.parametrize("eta_lam", [1e-3, 0.01, 0.1])
def test_observed_rate_of_nesterov_at_critical_damping(eta_lam):
    # Nesterov's momentum (1 - sqrt(q)) / (1 + sqrt(q)), q = eta lambda, makes
    # z^2 - (1 + beta)(1 - q) z + beta (1 - q) a perfect square, (z - (1 - sqrt(q)))^2
    beta = (1 - math.sqrt(eta_lam)) / (1 + math.sqrt(eta_lam))
    want = 1 - math.sqrt(eta_lam)
    opts = {"lr": eta_lam, "momentum": beta}
    step = step_matrix("nesterov", options=opts)
    assert step.repeated_root(1.0)
    assert predicted_rate("nesterov", 1.0, options=opts) == pytest.approx(want, rel=1e-7)
    steps = int(60 / math.sqrt(eta_lam))
    res = dynopt.minimize(quad([1.0]), np.ones(1), method="nesterov", jac=True,
                          options={**opts, "record": True, "gtol": 0.0, "maxiter": steps})
    for flag in (True, None):
        fit = observed_rate(res, double_root=flag)
        assert fit.double_root
        assert abs((1 - fit.rate) / (1 - want) - 1) < 0.005, fit
    row, = sweep_rates("nesterov", step_sizes=[eta_lam], options=opts, steps=steps).rows
    assert row["repeated_root"] and row["double_root_fit"]
    assert abs((1 - row["observed"]) / (1 - want) - 1) < 0.005, row


def test_the_seed_articles_mass_convention_against_dynopts():
    # the seed article's rule: expand x_{k+1} - x_k = h v + h^2 a / 2 (and x_k - x_{k-1} =
    # h v - h^2 a / 2) about t_k, keep the h^2 term; written here with symbols x, v, a
    xs, vs, acc = sp.symbols("x v a")
    fwd, bwd = h * vs + h**2 * acc / 2, h * vs - h**2 * acc / 2
    ode = sp.expand((fwd - alpha * bwd + eta * lam * xs) / eta)  # heavy ball; alpha = 0: GD
    m_seed, c_seed = ode.coeff(acc), ode.coeff(vs)
    assert sp.expand(ode.coeff(xs)) == lam  # the force is lambda x
    assert same(m_seed.subs(alpha, 0), h**2 / (2 * eta))  # the seed's gradient descent
    def canon(e):  # dynopt's symbols by name, all taken positive like the ones here
        e = sp.sympify(e)
        return e.xreplace({q_: sp.Symbol(q_.name, positive=True) for q_ in e.free_symbols})

    hb = {key: canon(val) for key, val in continuous_equivalent("heavy_ball").items()}
    gd = {key: canon(val) for key, val in continuous_equivalent("gd").items()}
    assert hb["h"] == h and gd["h"] == h  # a method without dt: one step is h
    m_dyn, c_dyn = hb["mass"], hb["damping"]
    # the damping coefficient coincides, for heavy ball and for gradient descent
    assert same(c_seed, c_dyn)
    assert same(c_seed.subs(alpha, 0), gd["damping"]) and gd["mass"] == 0
    # the masses differ by (1 + alpha)/2; at fixed (M, C), eta = h^2/M, alpha = 1 - C h/M,
    # both tend to M as h -> 0 (the seed's is M - C h/2)
    assert same(m_seed / m_dyn, (1 + alpha) / 2)
    M, C = sp.symbols("M C", positive=True)
    phys = {eta: h**2 / M, alpha: 1 - C * h / M}
    assert same(m_dyn.subs(phys), M) and same(m_seed.subs(phys), M - C * h / 2)
    assert same(c_seed.subs(phys), C) and same(c_dyn.subs(phys), C)
    # gradient descent at fixed c = h/eta: the seed's mass c h / 2 vanishes with h
    assert same(m_seed.subs({alpha: 0, eta: h / C}), C * h / 2)
    # rates of gradient descent, q = eta lambda: exact 1 - q; the seed's equation
    # e^{-sigma h} = 1 - q - q^3/6 + ..., dynopt's first-order flow e^{-q}
    q = sp.Symbol("q", positive=True)
    m0, c0 = m_seed.subs(alpha, 0), c_seed.subs(alpha, 0)
    sigma_seed = sp.simplify(((c0 - sp.sqrt(c0**2 - 4 * m0 * lam)) / (2 * m0)).subs(lam, q / eta))
    assert same(sigma_seed, (1 - sp.sqrt(1 - 2 * q)) / h)
    assert sp.series(sigma_seed * h - q, q, 0, 2).removeO() == 0  # = dynopt's q to first order
    assert sp.simplify(sp.series(sp.exp(-sigma_seed * h), q, 0, 4).removeO()
                       - (1 - q - q**3 / 6)) == 0
    lr, lam_ = 0.01, 3.0
    assert predicted_rate("gd", lam_, options={"lr": lr}) == pytest.approx(1 - lr * lam_)
    assert continuous_rate("gd", lam_, options={"lr": lr}) == pytest.approx(math.exp(-lr * lam_))
    assert decay_rate(DampedOscillator(mass=0.5 / lr, damping=1 / lr), lam_) == pytest.approx(
        1 - math.sqrt(1 - 2 * lr * lam_))  # h = 1: the closed form through the analysis
    # critical momentum, r = sqrt(eta lambda): the map's double root is (1 - r)^2; zeta = 1 of
    # the seed's rule, (1 - alpha)^2 = 2 (1 + alpha) r^2, agrees to O(r^3), dynopt's to O(r^2)
    r_ = sp.Symbol("r", positive=True)
    exact = (1 - r_)**2
    roots = sp.solve(sp.Eq((1 - alpha)**2, 2 * (1 + alpha) * r_**2), alpha)
    seed_alpha = next(a_ for a_ in roots if abs(float(a_.subs(r_, 0.01)) - 0.98) < 0.01)
    assert sp.series(seed_alpha - exact, r_, 0, 3).removeO() == 0
    dyn_alpha = canon(critical_hyperparameter("heavy_ball", "momentum"))
    dyn_alpha = dyn_alpha.subs({eta: r_**2, sp.Symbol("lambda", positive=True): 1})
    assert same(dyn_alpha, 1 - 2 * r_) and same(sp.expand(dyn_alpha - exact), -r_**2)


def test_programs_written_differently_give_the_same_map():
    # PyTorch's buffer form b <- alpha b + g, x <- x - eta b, written by hand
    b = sp.Symbol("b", real=True)
    torch_hb = StepProgram("torch_hb", vectors={b: 0}, scalars={}, params={eta: 0.01, alpha: 0.9},
                           stages=[Elementwise([(b, alpha * b + g), (x, x - eta * b)]), Gradient()])
    for lv in (0.3, 3.0, 90.0):
        assert predicted_rate(torch_hb, lv) == pytest.approx(
            predicted_rate("heavy_ball", lv, options={"lr": 0.01, "momentum": 0.9}), rel=1e-12)
    # Nose-Hoover with a frozen friction is the damped oscillator with c = m zeta
    for integ in ("symplectic_euler", "velocity_verlet", "explicit_euler"):
        assert predicted_rate("nose_hoover", 2.0, integ, {"mass": 2.0, "dt": 0.1},
                              freeze={"zeta": 0.5}) == pytest.approx(
            predicted_rate("damped_oscillator", 2.0, integ,
                           {"mass": 2.0, "damping": 1.0, "dt": 0.1}), rel=1e-12)
    # a system object and the registered method agree, and so do both continuous routes
    assert predicted_rate(DampedOscillator(mass=3.0, damping=0.2), 5.0, "velocity_verlet") == \
        pytest.approx(predicted_rate("damped_oscillator", 5.0, "velocity_verlet",
                                     {"mass": 3.0, "damping": 0.2}))
    a = continuous_model(DampedOscillator(mass=3.0, damping=0.2))[0].matrix
    b_ = continuous_model("damped_oscillator", options={"mass": 3.0, "damping": 0.2})[0].matrix
    assert sp.simplify(a - b_) == sp.zeros(2, 2)


def test_stability_regions():
    lr, mom = 0.1, 0.6
    conds, region = stability_conditions("heavy_ball", options={"lr": lr, "momentum": mom})
    assert region == sp.Interval.open(0, sp.nsimplify(2 * (1 + mom) / lr))
    (lo, hi), = stability_interval("heavy_ball", options={"lr": lr, "momentum": mom})
    assert lo == 0 and hi == pytest.approx(2 * (1 + mom) / lr, rel=1e-9)
    # symplectic Euler oscillator: h^2 lambda < 4m - 2hc
    dt_, mass, damping = 0.2, 1.5, 0.5
    opts = {"dt": dt_, "mass": mass, "damping": damping}
    (lo, hi), = stability_interval("damped_oscillator", options=opts)
    assert hi == pytest.approx((4 * mass - 2 * dt_ * damping) / dt_**2, rel=1e-9)
    assert predicted_rate("damped_oscillator", hi * 0.999, options=opts) < 1
    assert predicted_rate("damped_oscillator", hi * 1.001, options=opts) > 1
    _, region = stability_conditions("damped_oscillator", "velocity_verlet", options=opts)
    (lo, hi), = stability_interval("damped_oscillator", "velocity_verlet", options=opts)
    assert float(region.sup) == pytest.approx(hi, rel=1e-9)


@pytest.mark.parametrize("integrator", ["symplectic_euler", "velocity_verlet"])
def test_undamped_step_is_marginal_not_contracting(integrator):
    # no friction: rho = 1 exactly for h^2 lambda < 4 (a rotation), > 1 beyond
    dt_ = 0.1
    opts = {"dt": dt_, "mass": 1.0, "damping": 0.0}
    assert stability_interval("damped_oscillator", integrator, options=opts) == []
    (lo, hi), = stability_interval("damped_oscillator", integrator, options=opts, marginal=True)
    assert lo == 0 and hi == pytest.approx(4 / dt_**2, rel=1e-6)
    with pytest.raises(ValueError, match="tol"):
        stability_interval("damped_oscillator", integrator, options=opts, tol=-1.0)


# --------------------------------------------------------------------------- against runs
SETTINGS = {
    ("heavy_ball", "symplectic_euler"): [{"lr": 0.02, "momentum": 0.9},
                                         {"lr": 0.05, "momentum": 0.5}],
    ("heavy_ball", "explicit_euler"): [{"lr": 0.01, "momentum": 0.9}],
    ("heavy_ball", "velocity_verlet"): [{"lr": 0.05, "momentum": 0.5}],
    ("damped_oscillator", "symplectic_euler"): [{"dt": 0.5, "damping": 1.0, "mass": 1.0}],
    ("damped_oscillator", "explicit_euler"): [{"dt": 0.2, "damping": 1.0, "mass": 1.0}],
    ("damped_oscillator", "velocity_verlet"): [{"dt": 0.5, "damping": 1.0, "mass": 1.0}],
}


@pytest.mark.parametrize("method,integrator", list(SETTINGS))
def test_predicted_equals_observed_over_zeta_and_condition_number(method, integrator):
    zetas = np.geomspace(0.1, 10.0, 9)  # condition number (10/0.1)^2 = 1e4 on one quadratic
    for opts in SETTINGS[method, integrator]:
        table = sweep_rates(method, zetas=zetas, integrator=integrator, options=opts, steps=2500)
        assert isinstance(table, RateTable) and len(table) == zetas.size
        np.testing.assert_allclose(table.column("damping_ratio"), zetas, rtol=1e-9)
        lams = table.column("eigenvalue")
        assert lams.max() / lams.min() == pytest.approx(1e4, rel=1e-6)
        checked = 0
        for row in table.rows:
            diverged = row["status"] in (3, 4) and row["observed"] > 1 or (
                row["linear_regime"] and row["observed"] > 1)
            if row["predicted"] >= 1:
                assert not row["converging"] or not row["linear_regime"], row
                continue
            assert not diverged, row
            if row["linear_regime"] and row["converging"]:
                assert abs(row["observed"] - row["predicted"]) <= 0.01 * row["predicted"], row
                checked += 1
        stable = int(np.sum(table.column("predicted") < 1))
        assert checked >= max(1, stable - 2)


@pytest.mark.parametrize("integrator", ["explicit_euler", "symplectic_euler", "velocity_verlet"])
def test_whole_vector_rate_over_condition_number_zeta_and_dimension(integrator):
    # rotated quadratics of dimension 2..6 with condition numbers 1..1e4; zeta of the smallest
    # eigenvalue (mu = 1, m = 1, so c = 2 zeta) from 0.1 to 10, as members of one batched run
    zetas = np.geomspace(0.1, 10.0, 7)
    fitted = total = 0
    for kappa, n in [(1.0, 2), (10.0, 3), (1e2, 4), (1e3, 5), (1e4, 6)]:
        lams = np.geomspace(1.0, kappa, n)
        table = compare_spectrum("damped_oscillator", lams, integrator,
                                 {"dt": 0.5 / math.sqrt(kappa), "mass": 1.0},
                                 parameter="damping", values=2 * zetas, steps=3000, seed=n)
        np.testing.assert_allclose(table.column("damping_ratio"), zetas, rtol=1e-9)
        assert set(table.column("dimension")) == {n}
        for row in table.rows:
            total += 1
            grew = row["status"] in (3, 4) or (row["linear_regime"] and row["observed"] > 1)
            # predicted instability exactly where the run diverges
            assert grew == (row["predicted"] > 1), row
            if row["linear_regime"]:
                fitted += 1
                # a double root of the map gives (a + b k) r^k, fitted as such
                assert row["rel_error"] <= 0.01, row
    assert fitted >= 0.85 * total


def test_critical_momentum_and_the_nesterov_choice():
    s_ = sp.Symbol("s", positive=True)  # sqrt(eta lambda)
    def positive(e):  # library symbols by name, as the positive symbols of this module
        return e.xreplace({q: {"lr": eta, "momentum": alpha}.get(q.name, q)
                           for q in e.free_symbols})

    alpha_star = positive(critical_hyperparameter("heavy_ball", "momentum"))
    assert same(alpha_star, 1 - 2 * sp.sqrt(eta * lam))  # reference section 1
    zeta = positive(continuous_equivalent("heavy_ball")["damping_ratio"])
    assert same(zeta.subs(alpha, alpha_star), 1)
    # Nesterov's alpha = (1 - sqrt(eta mu))/(1 + sqrt(eta mu)) agrees to first order only
    nesterov_alpha = (1 - s_) / (1 + s_)
    diff = sp.series(nesterov_alpha - alpha_star.subs(sp.sqrt(eta * lam), s_)
                     .subs({eta: s_**2, lam: 1}), s_, 0, 3).removeO()
    assert sp.simplify(diff.coeff(s_, 0)) == 0 and sp.simplify(diff.coeff(s_, 1)) == 0
    assert sp.simplify(diff.coeff(s_, 2)) != 0
    # the discrete map's own double root sits at (1 - sqrt(eta lambda))^2
    step = step_matrix("heavy_ball", options={"lr": 0.01})
    for lv in (0.5, 4.0):
        assert step.repeated_root(lv, momentum=(1 - math.sqrt(0.01 * lv))**2)
        assert not step.repeated_root(lv, momentum=1 - 2 * math.sqrt(0.01 * lv))
    # the oscillator under explicit Euler needs the lost damping h*lambda back
    dt = sp.Symbol("dt", positive=True)
    mass = sp.Symbol("mass", positive=True)
    assert same(critical_hyperparameter("damped_oscillator", "damping", "explicit_euler"),
                2 * sp.sqrt(mass * lam) + dt * lam)
    with pytest.raises(ValueError, match="parameter"):
        critical_hyperparameter("heavy_ball", "bogus")


def test_stability_region_in_h_lambda():
    (lo, hi), = stability_interval("gd", options={"lr": 0.3}, scaled=True)
    assert lo == 0 and hi == pytest.approx(2.0, rel=1e-9)
    for mom in (0.0, 0.5, 0.9):
        (lo, hi), = stability_interval("heavy_ball", options={"lr": 0.1, "momentum": mom},
                                       scaled=True)
        assert hi == pytest.approx(2 * (1 + mom), rel=1e-9)


def test_compare_spectrum_input_and_rotation():
    table = compare_spectrum("heavy_ball", [1.0, 30.0], options={"lr": 0.02, "momentum": 0.5},
                             steps=800, rotate=False)
    assert len(table) == 1 and table.rows[0]["kappa"] == pytest.approx(30.0)
    rot = compare_spectrum("heavy_ball", [1.0, 30.0], options={"lr": 0.02, "momentum": 0.5},
                           steps=800, seed=4)
    assert rot.rows[0]["observed"] == pytest.approx(table.rows[0]["observed"], rel=1e-3)
    assert rot.rows[0]["predicted"] == pytest.approx(
        predicted_rates("heavy_ball", [1.0, 30.0], options={"lr": 0.02, "momentum": 0.5}).max())
    with pytest.raises(ValueError, match="eigenvalues"):
        compare_spectrum("heavy_ball", [1.0, 0.0])
    with pytest.raises(ValueError, match="together"):
        compare_spectrum("heavy_ball", [1.0], parameter="lr")
    with pytest.raises(ValueError, match="bogus"):
        compare_spectrum("heavy_ball", [1.0], parameter="bogus", values=[0.1])


def test_instability_is_predicted_where_runs_diverge():
    lams = np.array([1.0, 10.0, 30.0, 45.0])
    opts = {"lr": 0.1, "momentum": 0.5}  # stable for lambda < 2(1+alpha)/lr = 30
    table = compare_rates("heavy_ball", lams, options=opts, steps=1500)
    pred = table.column("predicted")
    assert list(pred >= 1) == [False, False, True, True]
    grew = [(r["status"] in (3, 4)) or (r["linear_regime"] and r["observed"] > 1)
            for r in table.rows]
    assert grew[3] and not grew[0] and not grew[1]
    assert table.rows[3]["observed"] == pytest.approx(pred[3], rel=0.01)
    # the converging coordinates were re-run after the diverging one stopped the first run
    assert table.rows[0]["steps"] == 1500 and table.rows[0]["linear_regime"]


@pytest.mark.parametrize("integrator", ["explicit_euler", "symplectic_euler", "velocity_verlet"])
def test_continuous_prediction_recovered_at_the_integrators_order(integrator):
    from dynopt.integrators import get_integrator
    order = get_integrator(integrator).order
    hs = np.array([0.2, 0.1, 0.05, 0.025])
    for damping in (0.5, 4.0):  # under- and overdamped on lambda = 1, m = 1
        table = sweep_rates("damped_oscillator", step_sizes=hs, eigenvalue=1.0,
                            integrator=integrator, options={"damping": damping}, steps=3000)
        assert all(table.column("linear_regime"))
        sigma = decay_rate(DampedOscillator(mass=1.0, damping=damping), 1.0)
        observed_sigma = -np.log(table.column("observed")) / hs
        err = np.abs(observed_sigma - sigma)
        assert np.all(np.diff(err) < 0)
        p, _ = order_of_convergence(hs, err)
        assert abs(p - order) < 0.15
        np.testing.assert_allclose(table.column("continuous"), np.exp(-sigma * hs), rtol=1e-12)


def test_critical_damping_is_the_fastest_non_oscillating_decay():
    c_star = critical_damping(DampedOscillator(mass=1.0), 1.0)
    cs = c_star * np.array([0.3, 0.6, 1.0, 1.5, 3.0])
    table = sweep_rates("damped_oscillator", step_sizes=cs, parameter="damping", eigenvalue=1.0,
                        integrator="velocity_verlet", options={"dt": 0.02}, steps=4000)
    sigma_obs = -np.log(table.column("observed")) / 0.02
    osc = table.column("oscillating")
    assert list(osc) == [True, True, False, False, False]
    assert list(table.column("regime")) == ["underdamped", "underdamped", "critical",
                                             "overdamped", "overdamped"]
    assert np.argmax(sigma_obs) == 2
    # symbolically: the rate at fixed lambda over c >= c* is largest at c*
    rates = [decay_rate(DampedOscillator(mass=1.0, damping=c), 1.0) for c in
             c_star * np.linspace(1.0, 4.0, 31)]
    assert np.argmax(rates) == 0


def test_energy_rate_is_twice_the_amplitude_rate():
    opts = {"dt": 0.05, "damping": 3.0, "record": True, "gtol": 0.0, "maxiter": 3000}
    res = dynopt.minimize(quad([1.0]), np.array([1.0]), method="damped_oscillator", jac=True,
                          options=opts)
    r_dist = observed_rate(res)
    r_energy = observed_rate(res, quantity="energy")
    pred = predicted_rate("damped_oscillator", 1.0, options=opts)
    assert r_dist.rate == pytest.approx(pred, rel=1e-5)
    assert r_energy.rate == pytest.approx(pred**2, rel=1e-4)


def test_full_vector_rate_is_the_slowest_mode_in_several_dimensions():
    rng = np.random.default_rng(3)
    opts = {"lr": 0.01, "momentum": 0.8}
    for n, kappa in [(2, 1.0), (5, 10.0), (8, 100.0)]:
        lams = np.sort(np.concatenate([[1.0, kappa], rng.uniform(1.0, kappa, n - 2)]))
        res = dynopt.minimize(quad(lams), rng.normal(size=n), method="heavy_ball", jac=True,
                              options={**opts, "record": True, "gtol": 0.0, "maxiter": 2500})
        fit = observed_rate(res)
        assert fit.linear_regime
        assert fit.rate == pytest.approx(predicted_rates("heavy_ball", lams, options=opts).max(),
                                         rel=0.01)


# --------------------------------------------------------------------------- bad input
def test_bad_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="eigenvalue"):
        predicted_rate("heavy_ball", 0.0)
    with pytest.raises(ValueError, match="eigenvalue"):
        predicted_rate("heavy_ball", -2.0)
    with pytest.raises(ValueError, match="eigenvalues"):
        compare_rates("heavy_ball", [1.0, -1.0])
    with pytest.raises(ValueError, match="momentum"):
        predicted_rate("heavy_ball", 1.0, options={"momentum": 1.5})
    with pytest.raises(TypeError, match="bogus"):
        predicted_rate("heavy_ball", 1.0, options={"bogus": 1})
    with pytest.raises(ValueError, match="zetas"):
        sweep_rates("heavy_ball")
    res = dynopt.minimize(quad([1.0, 2.0]), np.ones(2), method="heavy_ball", jac=True)
    with pytest.raises(ValueError, match="record"):
        observed_rate(res)
    short = dynopt.minimize(quad([1.0]), np.ones(1), method="heavy_ball", jac=True,
                            options={"record": True, "maxiter": 4, "gtol": 0.0})
    with pytest.raises(ValueError, match="usable records"):
        observed_rate(short)
    with pytest.raises(ValueError, match="quantity"):
        observed_rate(short, quantity="speed")


def test_non_converging_runs_give_an_explicit_answer():
    # undamped heavy ball (momentum 1): predicted exactly on the unit circle, no decay observed
    opts = {"lr": 0.1, "momentum": 1.0}
    assert predicted_rate("heavy_ball", 1.0, options=opts) == pytest.approx(1.0, abs=1e-12)
    res = dynopt.minimize(quad([1.0]), np.ones(1), method="heavy_ball", jac=True,
                          options={**opts, "record": True, "gtol": 0.0, "maxiter": 1500})
    fit = observed_rate(res)
    assert not fit.linear_regime or fit.rate == pytest.approx(1.0, abs=1e-4)
    # sublinear decay (a quartic): no linear regime
    res = dynopt.minimize(lambda x_: (0.25 * float(np.sum(x_**4)), x_**3), np.ones(2), method="gd",
                          jac=True, options={"lr": 0.1, "record": True, "gtol": 0.0,
                                             "maxiter": 1500})
    fit = observed_rate(res)
    assert not fit.linear_regime and math.isnan(fit.rate)


def test_nonlinear_methods_raise_a_clear_error():
    with pytest.raises(NonlinearStepError, match="zeta.*freeze"):
        predicted_rate("nose_hoover", 1.0)
    with pytest.raises(NonlinearStepError, match="t"):
        predicted_rate("nesterov_ode", 1.0)
    assert 0 < predicted_rate("nesterov_ode", 1.0, freeze={"t": 5.0}) < 1
    s_ = sp.Symbol("s", real=True)
    adam_like = StepProgram("adam_like", vectors={s_: 0}, scalars={},
                            params={eta: 1e-3, alpha: 0.99},
                            stages=[Elementwise([(s_, alpha * s_ + (1 - alpha) * g**2),
                                                 (x, x - eta * g / (sp.sqrt(s_) + 1e-8))]),
                                    Gradient()])
    with pytest.raises(NonlinearStepError, match="not linear"):
        predicted_rate(adam_like, 1.0)
    gn = sp.Symbol("gnorm", real=True)
    normalised = StepProgram("normalised", vectors={}, scalars={}, params={eta: 1e-3},
                             stages=[Reduce(gn, g**2, "sum"), Elementwise([(x, x - eta * g / gn)]),
                                     Gradient()])
    with pytest.raises(NonlinearStepError, match="reduction"):
        predicted_rate(normalised, 1.0)
    scheduled = StepProgram("scheduled", vectors={}, scalars={}, params={eta: 1e-3},
                            stages=[Elementwise([(x, x - eta * g / (k + 1))]), Gradient()])
    with pytest.raises(NonlinearStepError, match="step counter"):
        predicted_rate(scheduled, 1.0)


def test_every_registered_method_gives_a_rate_or_a_clear_error():
    for name in dynopt.METHODS:
        try:
            rate = predicted_rate(name, 1.0)
        except NonlinearStepError as exc:
            assert name in str(exc)
        else:
            assert 0 <= rate < math.inf


def test_rate_table_exports(tmp_path):
    table = compare_rates("heavy_ball", [0.5, 2.0], options={"lr": 0.05, "momentum": 0.5},
                          steps=300)
    table.to_csv(tmp_path / "t.csv")
    table.to_json(tmp_path / "t.json")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("eigenvalue,")
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["method"] == "heavy_ball" and len(doc["rows"]) == 2
    assert doc["rows"][1]["predicted"] == pytest.approx(table.rows[1]["predicted"])
    assert "<table>" in table._repr_html_() and "predicted" in str(table)
    assert continuous_rate("heavy_ball", 2.0, options={"lr": 0.05, "momentum": 0.5}) == \
        pytest.approx(table.rows[1]["continuous"])


# --------------------------------------------------------------------- conformal integrators
def test_one_step_determinant_is_the_exact_flows_volume_contraction():
    # the flow of m x'' + c x' + lam x = 0 maps area by det exp(hA) = exp(h tr A) = exp(-c h/m);
    # the conformal schemes reproduce it for every lam, the others do not
    dt = sp.Symbol("dt", positive=True)
    mass = sp.Symbol("mass", positive=True)
    flow = sp.exp(dt * linearize_system(DampedOscillator).matrix.trace())
    dets = {integ: step_matrix("damped_oscillator", integ).determinant()
            for integ in ("conformal_euler", "conformal_verlet", "symplectic_euler",
                          "velocity_verlet", "explicit_euler")}
    assert same(dets["conformal_euler"], flow) and same(dets["conformal_verlet"], flow)
    assert same(dets["symplectic_euler"], 1 - c_ * dt / mass)
    assert same(dets["velocity_verlet"], (2 * mass - c_ * dt) / (2 * mass + c_ * dt))
    assert same(dets["explicit_euler"], 1 - c_ * dt / mass + dt**2 * lam / mass)
    for integ in ("symplectic_euler", "velocity_verlet", "explicit_euler"):
        assert not same(dets[integ], flow)
    # a thermostat held at zeta: the same exact contraction exp(-zeta h)
    frozen = step_matrix("nose_hoover", "conformal_verlet", freeze={"zeta": 2})
    assert same(frozen.determinant(), sp.exp(-2 * dt))


def test_conformal_euler_oscillator_is_heavy_ball_with_momentum_exp():
    # Franca et al. 2020: the map of conformal Euler on the oscillator is heavy ball with
    # lr = h^2/m and momentum = exp(-c h/m) (symplectic Euler: momentum = 1 - c h/m)
    dt = sp.Symbol("dt", positive=True)
    mass = sp.Symbol("mass", positive=True)
    osc = step_matrix("damped_oscillator", "conformal_euler")
    hb = step_matrix("heavy_ball").characteristic_polynomial()

    def heavy_ball(lr, momentum):
        return hb.xreplace({q: {"lr": lr, "momentum": momentum}.get(q.name, q)
                            for q in hb.free_symbols})

    assert same(osc.characteristic_polynomial(),
                heavy_ball(dt**2 / mass, sp.exp(-c_ * dt / mass)))
    se = step_matrix("damped_oscillator", "symplectic_euler")
    assert same(se.characteristic_polynomial(), heavy_ball(dt**2 / mass, 1 - c_ * dt / mass))
    assert not same(se.characteristic_polynomial(), osc.characteristic_polynomial())
    # the continuous system the map reads as: mass exact, damping m(1 - e^{-ch/m})/h
    eq = continuous_equivalent("damped_oscillator", "conformal_euler")
    assert same(eq["mass"], mass)
    assert same(eq["damping"], mass * (1 - sp.exp(-c_ * dt / mass)) / dt)
    hb_ratio = continuous_equivalent("heavy_ball")["damping_ratio"]
    hb_ratio = hb_ratio.xreplace({q: {"lr": dt**2 / mass, "momentum": sp.exp(-c_ * dt / mass)}
                                  .get(q.name, q) for q in hb_ratio.free_symbols})
    assert same(eq["damping_ratio"], hb_ratio)
    # and numerically: the predicted rates agree
    h_, m_, c_num = 0.05, 0.8, 1.1
    for lam_ in (0.3, 2.0, 25.0):
        r_osc = predicted_rate("damped_oscillator", lam_, integrator="conformal_euler",
                               options={"dt": h_, "mass": m_, "damping": c_num})
        r_hb = predicted_rate("heavy_ball", lam_, options={"lr": h_**2 / m_,
                                                          "momentum": math.exp(-c_num * h_ / m_)})
        assert r_osc == pytest.approx(r_hb, rel=1e-12)


def test_conformal_verlet_reads_as_tanh_damping():
    # half friction, Verlet, half friction: m_eff = 2m/(1 + e^{-ch/m}) -> m (velocity Verlet:
    # m + ch/2) and c_eff = (2m/h) tanh(ch/2m) -> c
    dt = sp.Symbol("dt", positive=True)
    mass = sp.Symbol("mass", positive=True)
    eq = continuous_equivalent("damped_oscillator", "conformal_verlet")
    assert same(eq["mass"], 2 * mass / (1 + sp.exp(-c_ * dt / mass)))
    assert same(sp.limit(eq["mass"], dt, 0), mass)
    assert same(eq["damping"], 2 * mass * sp.tanh(c_ * dt / (2 * mass)) / dt)
    assert same(sp.limit(eq["damping"], dt, 0), c_)


def test_conformal_rate_is_the_flows_rate_wherever_the_roots_are_complex():
    # complex roots have |z| = sqrt(det M) = exp(-c h / 2m): the underdamped flow's per-step
    # factor, for every step size and curvature in that regime; symplectic Euler's is smaller
    opts = {"mass": 1.0, "damping": 1.0}
    for h_ in (0.1, 0.5):
        for lam_ in (1.0, 4.0):
            o = {**opts, "dt": h_}
            flow = continuous_rate("damped_oscillator", lam_, options=o)
            for integ in ("conformal_euler", "conformal_verlet"):
                assert not step_matrix("damped_oscillator", integ, o).repeated_root(lam_)
                assert predicted_rate("damped_oscillator", lam_, integrator=integ,
                                      options=o) == pytest.approx(flow, rel=1e-12)
            se = predicted_rate("damped_oscillator", lam_, integrator="symplectic_euler", options=o)
            assert se < flow * (1 - 1e-3)
