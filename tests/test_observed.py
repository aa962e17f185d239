"""Tests for dynopt.analysis.observed (convergence rates measured from recorded runs)."""

import dataclasses
import math

import numpy as np
import pytest

from dynopt.analysis.observed import (
    RateFit,
    continuous_rate_to_per_step,
    fit_contraction,
    fit_energy_decay,
    order_of_convergence,
    per_step_to_continuous,
)


def _through_roundoff(deviation, x_star):
    """|(x* + d) - x*| in float64: the deviation as a run would record it, with its floor."""
    return np.abs((x_star + deviation) - x_star)


def _heavy_ball(eta_lam, alpha, n, *, x0=3.0, x_star=1.3):
    """Heavy ball on f(x) = (lam/2)(x - x*)^2 with lam = 1, zero initial velocity.

    Returns the iterates and the spectral radius of the exact one-step map
    (x_{k+1} - x*, x_k - x*) = M (x_k - x*, x_{k-1} - x*).
    """
    x = np.empty(n)
    x[0] = x_prev = x0
    for k in range(1, n):
        x[k] = x[k - 1] - eta_lam * (x[k - 1] - x_star) + alpha * (x[k - 1] - x_prev)
        x_prev = x[k - 1]
    m = np.array([[1.0 + alpha - eta_lam, -alpha], [1.0, 0.0]])
    eig = np.linalg.eigvals(m)
    return x, float(np.max(np.abs(eig))), eig


# ---------------------------------------------------------------------------------------------
# geometric sequences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_geometric_with_noise_transient_and_floor(r, seed):
    rng = np.random.default_rng(seed)
    n = int(45 / -math.log(r))  # runs well into the round-off floor
    k = np.arange(n)
    s = 0.6 * r  # faster transient mode, 40x larger at the start
    signal = 0.5 * r**k * (1.0 + 0.01 * rng.standard_normal(n))
    transient = 20.0 * s**k
    e = _through_roundoff(signal + transient, x_star=1.7)
    fit = fit_contraction(e)
    assert isinstance(fit, RateFit)
    assert fit.linear_regime and fit.converging and not fit.oscillating
    assert abs(fit.rate / r - 1.0) < 1e-3
    assert abs(fit.log_rate - math.log(fit.rate)) < 1e-12
    assert 0.0 < fit.stderr < 1e-3
    # the transient (>5 % of the signal) was left out ...
    k_transient = np.flatnonzero(transient > 0.05 * 0.5 * r**k)[-1]
    assert fit.start > k_transient
    # ... and so was the round-off floor
    assert fit.stop < n
    assert np.all(e[fit.stop :] <= 1e-12 * e.max())


def test_noisy_plateau_above_the_floor_is_excluded():
    rng = np.random.default_rng(5)
    r, n = 0.9, 400
    k = np.arange(n)
    e = r**k * (1.0 + 0.01 * rng.standard_normal(n)) + 1e-8 * np.abs(rng.standard_normal(n))
    fit = fit_contraction(e)
    assert fit.linear_regime and not fit.oscillating
    assert abs(fit.rate / r - 1.0) < 1e-3
    assert fit.stop < math.log(1e-8) / math.log(r)  # stops before the plateau level


def test_strided_records_give_the_per_step_rate():
    rng = np.random.default_rng(3)
    r, stride = 0.97, 7
    steps = np.arange(0, 700, stride)
    e = 2.0 * r**steps * (1.0 + 0.003 * rng.standard_normal(steps.size))
    fit = fit_contraction(e, steps=steps)
    assert abs(fit.rate / r - 1.0) < 1e-3
    # ignoring the stride would report the per-record factor r**7 instead
    assert abs(fit_contraction(e).rate / r**stride - 1.0) < 1e-3


def test_exact_samples_of_a_continuous_decay_convert_back_to_its_rate():
    # x(t) = exp(-gamma t) cos(Omega t) solves m x'' + c x' + k x = 0 with gamma = c / (2 m),
    # Omega = sqrt(k/m - gamma^2); sampled at t = j h.
    m_, c_, k_ = 2.0, 0.6, 5.0
    gamma = c_ / (2 * m_)
    omega = math.sqrt(k_ / m_ - gamma**2)
    h = 0.05
    t = h * np.arange(4000)
    e = np.abs(np.exp(-gamma * t) * np.cos(omega * t))
    fit = fit_contraction(e)
    assert fit.oscillating
    assert abs(per_step_to_continuous(fit.rate, h) / gamma - 1.0) < 1e-3
    assert abs(fit.period * h / (2 * math.pi / omega) - 1.0) < 0.05


def test_window_fits_exactly_the_requested_records():
    rng = np.random.default_rng(9)
    k = np.arange(300)
    e = 0.9**k * np.exp(0.05 * rng.standard_normal(k.size)) + 0.5**k
    fit = fit_contraction(e, window=(40, 200))
    slope = np.polyfit(k[40:200], np.log(e[40:200]), 1)[0]
    assert (fit.start, fit.stop, fit.n_points) == (40, 200, 160)
    assert fit.log_rate == pytest.approx(slope, rel=1e-10)


# ---------------------------------------------------------------------------------------------
# oscillating (under-damped) sequences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("omega", [0.1, 0.45, 1.3, 2.9])
@pytest.mark.parametrize("phi", [0.0, 0.9, 2.0])
def test_underdamped_envelope(omega, phi):
    r, n = 0.96, 800
    k = np.arange(n)
    e = _through_roundoff(3.0 * r**k * np.cos(omega * k + phi), x_star=0.4)
    fit = fit_contraction(e)
    assert fit.linear_regime and fit.converging
    assert abs(fit.rate / r - 1.0) < 0.01
    if omega < 1.0:
        assert fit.oscillating
        assert abs(fit.period / (2 * math.pi / omega) - 1.0) < 0.1


@pytest.mark.parametrize("r", [0.95, 0.995])
@pytest.mark.parametrize("phi", [0.0, 1.1, 2.3])
def test_slow_oscillation_with_only_a_few_periods_visible(r, phi):
    n_visible = 30.0 / -math.log(r)  # steps until the floor (e^-30 ~ 1e-13)
    omega = 2 * math.pi * 3.5 / n_visible
    k = np.arange(int(n_visible) + 300)
    e = _through_roundoff(r**k * np.cos(omega * k + phi), x_star=1.0)
    fit = fit_contraction(e)
    assert fit.oscillating and fit.linear_regime
    assert abs(fit.rate / r - 1.0) < 0.01
    assert 4 <= fit.n_points <= 8  # two crests of |cos| per period


@pytest.mark.parametrize("phi", [0.0, 0.5, 1.1, 1.7, 2.3])
def test_crests_located_between_samples(phi):
    # fast decay, few samples per crest: sampled crests miss the envelope by up to ~1 %, the
    # sub-sample crest heights do not, so the rate is far better than the 1 % requirement
    r = 0.85
    n_visible = 30.0 / -math.log(r)
    omega = 2 * math.pi * 3.5 / n_visible
    k = np.arange(int(n_visible) + 100)
    fit = fit_contraction(_through_roundoff(r**k * np.cos(omega * k + phi), x_star=1.0))
    assert fit.oscillating
    assert abs(fit.rate / r - 1.0) < 2e-4


def test_noisy_underdamped_sequence():
    rng = np.random.default_rng(11)
    r, omega, n = 0.97, 0.2, 900
    k = np.arange(n)
    e = r**k * np.abs(np.cos(omega * k + 0.3)) * (1.0 + 0.005 * rng.standard_normal(n))
    fit = fit_contraction(e)
    assert fit.oscillating
    assert abs(fit.rate / r - 1.0) < 0.01


def test_dips_of_a_transient_then_a_smooth_growth():
    # a decaying mode and a growing alternating mode cross early: the dips where they cancel
    # are a transient, the smooth tail carries the rate
    k = np.arange(300)
    e = np.abs(0.9**k - 1e-3 * (-1.05) ** k)
    fit = fit_contraction(e)
    assert fit.linear_regime and not fit.oscillating and not fit.converging
    assert abs(fit.rate / 1.05 - 1.0) < 1e-4
    assert "transient" in fit.message


def test_growing_oscillation_is_not_converging():
    k = np.arange(400)
    e = 1e-6 * 1.02**k * np.abs(np.cos(0.1 * k + 0.3))
    fit = fit_contraction(e)
    assert fit.oscillating and not fit.converging
    assert abs(fit.rate / 1.02 - 1.0) < 0.01


# ---------------------------------------------------------------------------------------------
# heavy ball on a 1-D quadratic: observed rate against the spectral radius of its 2x2 map
# ---------------------------------------------------------------------------------------------


def test_heavy_ball_overdamped():
    x, rho, eig = _heavy_ball(0.01, 0.5, 3000)
    assert np.all(np.isreal(eig))
    fit = fit_contraction(np.abs(x - 1.3))
    assert not fit.oscillating
    assert abs(fit.rate / rho - 1.0) < 0.01


@pytest.mark.parametrize("eta_lam", [1e-3, 1e-2])
def test_heavy_ball_critically_damped(eta_lam):
    # discrete critical damping: double eigenvalue sqrt(alpha) = 1 - sqrt(eta*lam).  The error
    # is (a + b k) rho^k, not geometric; the fit recognises it and fits that model
    alpha = (1.0 - math.sqrt(eta_lam)) ** 2
    x, rho, eig = _heavy_ball(eta_lam, alpha, 3000)
    assert abs(eig[0] - eig[1]) < 1e-6  # (numerically) a double eigenvalue
    assert rho == pytest.approx(1.0 - math.sqrt(eta_lam), rel=1e-7)
    fit = fit_contraction(np.abs(x - 1.3))
    assert fit.linear_regime and not fit.oscillating and fit.double_root
    assert abs((1.0 - fit.rate) / (1.0 - rho) - 1.0) < 0.005
    # the k rho^k factor makes the early record decay visibly slower than rho
    n_early = int(3.0 / -math.log(rho))  # the first three e-folds
    early = math.exp(np.polyfit(np.arange(n_early), np.log(np.abs(x[:n_early] - 1.3)), 1)[0])
    assert early / rho - 1.0 > 2.0 * abs(fit.rate / rho - 1.0)


@pytest.mark.parametrize("eta_lam", [1e-3, 1e-2, 0.04, 0.1, 0.3])
@pytest.mark.parametrize("double_root", [True, None])
def test_double_root_fit_gives_one_minus_rate_to_half_a_percent(eta_lam, double_root):
    # at the double root the map is a Jordan block: x_k - x* = (a + b k) rho^k exactly, with
    # rho = 1 - sqrt(eta lam) (closed form of the root of z^2 - (1 + alpha - eta lam) z + alpha)
    alpha = (1.0 - math.sqrt(eta_lam)) ** 2
    rho = 1.0 - math.sqrt(eta_lam)
    n = int(40.0 / math.sqrt(eta_lam))  # down to the round-off floor
    x, _, _ = _heavy_ball(eta_lam, alpha, n)
    fit = fit_contraction(np.abs(x - 1.3), double_root=double_root)
    assert fit.double_root and fit.linear_regime and fit.converging
    assert abs((1.0 - fit.rate) / (1.0 - rho) - 1.0) < 0.005
    # the geometric model alone reads 1 - r several percent slow on the same record
    geo = fit_contraction(np.abs(x - 1.3), double_root=False)
    assert not geo.double_root
    assert abs((1.0 - geo.rate) / (1.0 - rho) - 1.0) > abs((1.0 - fit.rate) / (1.0 - rho) - 1.0)
    # an energy is (a + b k)^2 rho^(2k): the same model with the square
    f_star = 2.5
    energy = fit_energy_decay(0.5 * (x - 1.3) ** 2 + f_star, f_star=f_star,
                              double_root=double_root)
    assert energy.double_root
    assert abs((1.0 - energy.rate) / (1.0 - rho**2) - 1.0) < 0.005


def test_double_root_model_is_not_chosen_for_geometric_records():
    rng = np.random.default_rng(3)
    for r in (0.8, 0.95, 0.99):
        n = int(45 / -math.log(r))
        k = np.arange(n)
        e = _through_roundoff(0.5 * r**k * (1.0 + 0.01 * rng.standard_normal(n))
                              + 20.0 * (0.6 * r) ** k, x_star=1.7)
        fit = fit_contraction(e)
        assert not fit.double_root and abs(fit.rate / r - 1.0) < 1e-3
    for eta_lam, alpha in [(0.01, 0.5), (0.1, 0.3), (0.001, 0.9)]:  # two distinct real roots
        x, rho, eig = _heavy_ball(eta_lam, alpha, 4000)
        assert np.all(np.isreal(eig)) and abs(eig[0] - eig[1]) > 0.05
        fit = fit_contraction(np.abs(x - 1.3))
        assert not fit.double_root and abs(fit.rate / rho - 1.0) < 0.01
    with pytest.raises(TypeError, match="double_root"):
        fit_contraction(0.9 ** np.arange(50), double_root="yes")


@pytest.mark.parametrize("eta_lam, alpha", [(0.01, 0.9), (0.04, 0.95), (0.3, 0.6)])
def test_heavy_ball_underdamped(eta_lam, alpha):
    x, rho, eig = _heavy_ball(eta_lam, alpha, 3000)
    assert np.all(np.abs(eig.imag) > 0)
    assert rho == pytest.approx(math.sqrt(alpha), rel=1e-12)
    fit = fit_contraction(np.abs(x - 1.3))
    assert fit.oscillating and fit.linear_regime
    assert abs(fit.rate / rho - 1.0) < 0.01
    omega = abs(np.angle(eig[0]))
    assert abs(fit.period / (2 * math.pi / omega) - 1.0) < 0.1


@pytest.mark.parametrize("eta_lam, alpha", [(0.01, 0.5), (0.01, 0.9)])
def test_heavy_ball_energy_decays_at_rho_squared(eta_lam, alpha):
    x, rho, _ = _heavy_ball(eta_lam, alpha, 3000)
    f_star = 2.5
    f = 0.5 * (x - 1.3) ** 2 + f_star
    fit = fit_energy_decay(f, f_star=f_star)
    assert abs(fit.rate / rho**2 - 1.0) < 0.02


# ---------------------------------------------------------------------------------------------
# no linear regime, growth, bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("power, noise", [(1.0, 0.0), (1.0, 0.01), (2.0, 0.0), (0.5, 0.01)])
def test_sublinear_decay_has_no_linear_regime(power, noise):
    rng = np.random.default_rng(0)
    k = np.arange(1, 3001)
    e = k**-power * (1.0 + noise * rng.standard_normal(k.size))
    fit = fit_contraction(e)
    assert not fit.linear_regime
    assert math.isnan(fit.rate) and math.isnan(fit.stderr)
    assert fit.converging
    assert "linear regime" in fit.message


def test_flat_record_has_no_linear_regime():
    rng = np.random.default_rng(1)
    fit = fit_contraction(1e-3 * (1.0 + 0.01 * rng.standard_normal(200)))
    assert not fit.linear_regime and math.isnan(fit.rate)


def test_growing_sequence_reports_growth_rate():
    rng = np.random.default_rng(2)
    k = np.arange(300)
    e = 1e-8 * 1.03**k * (1.0 + 0.01 * rng.standard_normal(k.size))
    fit = fit_contraction(e)
    assert fit.linear_regime and not fit.converging
    assert abs(fit.rate / 1.03 - 1.0) < 1e-3


def test_diverged_run_is_cut_at_the_first_non_finite_value():
    e = 1e-3 * 1.1 ** np.arange(300.0)
    e[250:] = np.inf
    fit = fit_contraction(e)
    assert fit.stop <= 250 and not fit.converging
    assert fit.rate == pytest.approx(1.1, rel=1e-9)
    assert "non-finite" in fit.message


def test_too_few_points_raise():
    with pytest.raises(ValueError, match=r"errors.*\b7\b"):
        fit_contraction(0.5 ** np.arange(7))
    # long record, but only 5 records above the round-off floor
    with pytest.raises(ValueError, match=r"errors.*\b5\b"):
        fit_contraction(1e-3 ** np.arange(40))
    fit = fit_contraction(0.5 ** np.arange(7), min_points=5)
    assert fit.rate == pytest.approx(0.5, rel=1e-12)


def test_bad_inputs_raise():
    good = 0.9 ** np.arange(50)
    with pytest.raises(ValueError, match="non-negative"):
        fit_contraction(np.r_[good, -1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        fit_contraction(good.reshape(5, 10))
    with pytest.raises(TypeError, match="errors"):
        fit_contraction("abc")
    with pytest.raises(ValueError, match="steps"):
        fit_contraction(good, steps=np.arange(49))
    with pytest.raises(ValueError, match="steps"):
        fit_contraction(good, steps=np.r_[0, np.arange(49)])
    with pytest.raises(ValueError, match="window"):
        fit_contraction(good, window=(30, 20))
    with pytest.raises(TypeError, match="window"):
        fit_contraction(good, window=5)
    with pytest.raises(ValueError, match="floor"):
        fit_contraction(good, floor=-1.0)
    with pytest.raises(TypeError, match="min_points"):
        fit_contraction(good, min_points=2.5)


def test_energy_gap_checks():
    e = 5.0 + 0.9 ** np.arange(100)
    with pytest.raises(ValueError, match="f_star"):
        fit_energy_decay(e, f_star=5.5)
    # round-off below f* is tolerated (treated as zero gap)
    tail = np.r_[e, 5.0 - 4e-16, 5.0]
    assert fit_energy_decay(tail, f_star=5.0).rate == pytest.approx(0.9, rel=1e-6)


def test_energy_too_short_names_energies():
    with pytest.raises(ValueError, match=r"energies.*\b6\b"):
        fit_energy_decay(1.0 + 0.5 ** np.arange(6), f_star=1.0)


def test_ratefit_is_frozen():
    fit = fit_contraction(0.9 ** np.arange(50))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.rate = 0.5


# ---------------------------------------------------------------------------------------------
# order of convergence and rate conversions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_order_from_synthetic_power_law(p):
    rng = np.random.default_rng(4)
    h = 0.1 * 0.5 ** np.arange(8)
    err = 3.0 * h**p * (1.0 + 0.01 * rng.standard_normal(h.size))
    order, se = order_of_convergence(h, err)
    assert abs(order - p) < 0.01
    assert 0.0 < se < 0.01


def _integrate(step, h, t_end=1.0):
    y = 1.0
    for _ in range(round(t_end / h)):
        y = step(y, h)
    return y


def test_order_of_euler_and_heun_by_step_halving():
    def f(y):
        return -y

    def euler(y, h):
        return y + h * f(y)

    def heun(y, h):
        k1 = f(y)
        return y + 0.5 * h * (k1 + f(y + h * k1))

    h = 0.1 * 0.5 ** np.arange(6)
    exact = math.exp(-1.0)
    for step, p in ((euler, 1.0), (heun, 2.0)):
        err = [abs(_integrate(step, hi) - exact) for hi in h]
        order, _ = order_of_convergence(h, err)
        assert abs(order - p) < 0.05


def test_order_input_checks():
    assert math.isnan(order_of_convergence([0.1, 0.05], [1e-2, 2.5e-3])[1])
    assert order_of_convergence([0.1, 0.05], [1e-2, 2.5e-3])[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least 2"):
        order_of_convergence([0.1], [1e-2])
    with pytest.raises(ValueError, match="step_sizes"):
        order_of_convergence([0.1, -0.05], [1e-2, 1e-3])
    with pytest.raises(ValueError, match="errors"):
        order_of_convergence([0.1, 0.05], [1e-2, 0.0])
    with pytest.raises(ValueError, match="same length"):
        order_of_convergence([0.1, 0.05, 0.025], [1e-2, 1e-3])
    with pytest.raises(ValueError, match="equal"):
        order_of_convergence([0.1, 0.1], [1e-2, 1e-3])


def test_rate_conversions():
    lam, h = 2.5, 0.04
    r = continuous_rate_to_per_step(lam, h)
    # one step of the exact flow x' = -lam x multiplies x by r
    assert r == pytest.approx(math.exp(-lam * 0.04), rel=1e-15)
    assert per_step_to_continuous(r, h) == pytest.approx(lam, rel=1e-12)
    rates = np.array([0.0, 0.3, -1.0])
    back = per_step_to_continuous(continuous_rate_to_per_step(rates, h), h)
    assert np.allclose(back, rates, atol=1e-12)
    # explicit Euler on x' = -lam x contracts by 1 - lam h: continuous rate lam + O(h)
    assert per_step_to_continuous(1 - lam * h, h) == pytest.approx(lam, rel=lam * h)
    with pytest.raises(ValueError, match="h"):
        continuous_rate_to_per_step(1.0, 0.0)
    with pytest.raises(ValueError, match="r"):
        per_step_to_continuous(-0.5, 0.1)


def test_repeated_root_refit_on_a_short_series_after_the_last_dip():
    # A slow under-damped record: eight crests, the last trough close to the end. The automatic
    # choice tries the (a + bk) r^k model on the crests after the last dip, too few for it; this
    # used to fail with an AttributeError instead of keeping the geometric fit's range.
    k = np.arange(601.0)
    r = 0.9746794344808962
    for phase in (0.0, 0.3, 1.0):
        fit = fit_contraction(r**k * np.abs(np.cos(0.0436 * k + phase)))
        assert fit.linear_regime and fit.oscillating
        assert abs((1 - fit.rate) - (1 - r)) < 1e-2 * (1 - r)
