"""dynopt.stats.bootstrap_ci against SciPy's bootstrap, a resampling written out, and
closed forms."""
import numpy as np
import pytest
import scipy.stats as sps

from dynopt.stats import bootstrap_ci, summarize


@pytest.fixture
def sample():
    return np.random.default_rng(21).lognormal(0.0, 0.7, size=60)


@pytest.mark.parametrize("method", ["percentile", "basic", "BCa"])
@pytest.mark.parametrize("statistic", [np.mean, np.median])
def test_equals_a_direct_call_of_scipy_bootstrap(sample, method, statistic):
    ours = bootstrap_ci(sample, statistic=statistic, confidence=0.9, n_resamples=4000, seed=5,
                        method=method)
    ref = sps.bootstrap((sample,), statistic, n_resamples=4000, confidence_level=0.9,
                        method=method, rng=np.random.default_rng(5)).confidence_interval
    assert ours == (ref.low, ref.high)


def test_percentile_interval_is_the_quantiles_of_resampled_means(sample):
    # the resampling written out: B rows of n indices drawn uniformly with replacement
    B, n = 5000, sample.size
    idx = np.random.default_rng(9).integers(0, n, size=(B, n))
    means = sample[idx].mean(axis=1)
    expected = np.quantile(means, [0.025, 0.975])
    np.testing.assert_allclose(bootstrap_ci(sample, n_resamples=B, seed=9), expected,
                               rtol=1e-14)


def test_mean_of_normal_samples_approaches_the_normal_interval():
    # the bootstrap distribution of the mean has variance s^2/n (s with ddof=0) and, for
    # large n, is nearly normal: the interval tends to mean -+ z_{0.975} s / sqrt(n)
    n = 4000
    x = np.random.default_rng(3).normal(2.0, 1.5, size=n)
    se = x.std() / np.sqrt(n)
    z = sps.norm.ppf(0.975)
    low, high = bootstrap_ci(x, n_resamples=20000, seed=1)
    # Monte Carlo error of the 2.5% quantile with B = 20000: about 0.02 se
    assert abs(low - (x.mean() - z * se)) < 0.1 * se
    assert abs(high - (x.mean() + z * se)) < 0.1 * se
    low90, high90 = bootstrap_ci(x, confidence=0.9, n_resamples=20000, seed=1)
    z90 = sps.norm.ppf(0.95)
    assert abs((high90 - low90) - 2 * z90 * se) < 0.1 * se


def test_basic_interval_reflects_the_percentile_one(sample):
    # basic = [2 theta - q_hi, 2 theta - q_lo] from the same resamples
    lo, hi = bootstrap_ci(sample, n_resamples=3000, seed=4)
    blo, bhi = bootstrap_ci(sample, n_resamples=3000, seed=4, method="basic")
    theta = sample.mean()
    np.testing.assert_allclose([blo, bhi], [2 * theta - hi, 2 * theta - lo], rtol=1e-14)


def test_seeded_reproducibility_and_generators(sample):
    a = bootstrap_ci(sample, seed=11)
    assert bootstrap_ci(sample, seed=11) == a
    assert bootstrap_ci(sample, seed=np.random.default_rng(11)) == a
    assert bootstrap_ci(sample, seed=12) != a


def test_statistic_without_axis_and_its_shape_check(sample):
    row = bootstrap_ci(sample, statistic=lambda s: float(np.median(s)), n_resamples=2000)
    assert row == bootstrap_ci(sample, statistic=np.median, n_resamples=2000)
    with pytest.raises(ValueError, match="one number"):
        bootstrap_ci(sample, statistic=lambda s: s[:2])
    with pytest.raises(ValueError, match="method"):
        bootstrap_ci(sample, method="studentized")


def test_degenerate_sample_gives_the_point():
    assert bootstrap_ci([2.5] * 8) == (2.5, 2.5)


def test_summarize_uses_the_percentile_interval(sample):
    s = summarize(sample, confidence=0.8, n_resamples=3000, seed=2)
    assert (s["ci_low"], s["ci_high"]) == bootstrap_ci(sample, confidence=0.8, n_resamples=3000,
                                                       seed=2)
