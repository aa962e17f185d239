"""Tests of dynopt.collisions (DSMC, BGK, soft collision) and dynopt.diversity."""
import numpy as np
import pytest
from scipy.linalg import expm
from scipy.stats import entropy, ortho_group

from dynopt.collisions import (
    bgk_relax,
    dsmc_collide,
    group_labels,
    make_pairs,
    soft_collision,
)
from dynopt.diversity import effective_rank, mean_abs_cosine


def _gas(n, d, seed):
    rng = np.random.default_rng(seed)
    shape = (n,) if d == 1 else (n, d)
    return 0.3 * rng.standard_normal(shape), rng.standard_normal(shape)


# --------------------------------------------------------------------------- DSMC
@pytest.mark.parametrize("d", [1, 2, 3])
def test_dsmc_conserves_momentum_and_energy_of_every_pair(d):
    x, v = _gas(401, d, seed=d)
    v_new, n_coll, rec = dsmc_collide(x, v, np.random.default_rng(7), coll_coef=0.7,
                                      return_record=True)
    assert v_new.shape == v.shape
    vp = v.reshape(len(v), -1)
    vn = v_new.reshape(len(v), -1)
    assert n_coll == rec.collided.sum() > 20
    i, j = rec.pairs[rec.collided].T
    mom0, mom1 = vp[i] + vp[j], vn[i] + vn[j]
    en0 = np.sum(vp[i] ** 2 + vp[j] ** 2, axis=1)
    en1 = np.sum(vn[i] ** 2 + vn[j] ** 2, axis=1)
    np.testing.assert_allclose(mom1, mom0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(en1, en0, rtol=1e-13, atol=1e-14)
    if d > 1:   # a random direction in d >= 2 changes the velocities almost surely
        assert np.all(np.linalg.norm(vn[i] - vp[i], axis=1) > 0)


@pytest.mark.parametrize("d", [1, 3])
def test_dsmc_criterion_and_untouched_particles(d):
    x, v = _gas(301, d, seed=10 + d)          # odd: one particle is in no pair
    v_new, _, rec = dsmc_collide(x, v, np.random.default_rng(3), coll_coef=0.5,
                                 return_record=True)
    xp, vp, vn = (a.reshape(len(a), -1) for a in (x, v, v_new))
    i, j = rec.pairs.T
    # independent evaluation of the KITINet criterion
    vr = np.linalg.norm(vp[i] - vp[j], axis=1)
    assert rec.vr_max == pytest.approx(vr.max())
    crit = vr / vr.max() * np.exp(-np.linalg.norm(xp[i] - xp[j], axis=1)) > 0.5
    np.testing.assert_array_equal(rec.collided, crit)
    assert 0 < crit.sum() < crit.size
    # every particle not in a colliding pair is returned bit for bit
    moved = np.zeros(len(v), dtype=bool)
    moved[rec.pairs[rec.collided].ravel()] = True
    assert (~moved).sum() == 1 + 2 * (~crit).sum()
    np.testing.assert_array_equal(vn[~moved], vp[~moved])


def test_dsmc_unpaired_particle_with_odd_count():
    pairs = make_pairs(7, np.random.default_rng(0))
    assert pairs.shape == (3, 2)
    assert len(set(pairs.ravel())) == 6
    np.testing.assert_array_equal(make_pairs(6, pairing="adjacent"), [[0, 1], [2, 3], [4, 5]])


def test_dsmc_seeding():
    x, v = _gas(200, 2, seed=5)
    a, na = dsmc_collide(x, v, np.random.default_rng(11))
    b, nb = dsmc_collide(x, v, np.random.default_rng(11))
    c, _ = dsmc_collide(x, v, np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert na == nb
    assert not np.array_equal(a, c)


def test_dsmc_collision_count_increases_with_coll_coef():
    x, v = _gas(2000, 2, seed=6)
    coefs = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    counts = [dsmc_collide(x, v, np.random.default_rng(0), coll_coef=c)[1] for c in coefs]
    assert counts[0] == 0
    assert all(a <= b for a, b in zip(counts, counts[1:]))
    assert counts[1] < counts[3] < counts[5]
    assert counts[-1] == 1000                  # threshold 0: every moving pair collides


def test_dsmc_scattering_is_isotropic():
    # all pairs collide (coll_coef = 1); post-collision relative directions should be
    # uniform on the sphere: mean 0 and second moment I/3 (within 5 standard errors)
    n = 40000
    rng = np.random.default_rng(1)
    x = np.zeros((n, 3))
    v = rng.standard_normal((n, 3))
    v_new, n_coll, rec = dsmc_collide(x, v, np.random.default_rng(2), coll_coef=1.0,
                                      return_record=True)
    assert n_coll == n // 2
    i, j = rec.pairs.T
    g = v_new[i] - v_new[j]
    u = g / np.linalg.norm(g, axis=1, keepdims=True)
    se = 1.0 / np.sqrt(n // 2)
    assert np.all(np.abs(u.mean(axis=0)) < 5 * se * np.sqrt(1 / 3))
    second = u.T @ u / len(u)
    assert np.all(np.abs(second - np.eye(3) / 3) < 5 * se * 0.3)


def test_dsmc_one_dimensional_flat_vector_random_sign():
    n = 20000
    rng = np.random.default_rng(4)
    v = rng.standard_normal(n)
    v_new, n_coll, rec = dsmc_collide(np.zeros(n), v, np.random.default_rng(5), coll_coef=1.0,
                                      return_record=True)
    i, j = rec.pairs.T
    flipped = np.isclose(v_new[i], v[j]) & np.isclose(v_new[j], v[i])
    kept = (v_new[i] == v[i]) | np.isclose(v_new[i], v[i])
    assert np.all(flipped | kept)             # in 1-D a collision swaps or keeps
    frac = flipped.mean()
    assert abs(frac - 0.5) < 5 * 0.5 / np.sqrt(n // 2)


def test_dsmc_given_vr_max_and_zero_speeds():
    x = np.zeros(4)
    v = np.ones(4)                            # no relative motion: nothing can collide
    v_new, n = dsmc_collide(x, v, np.random.default_rng(0), coll_coef=1.0)
    assert n == 0 and np.array_equal(v_new, v)
    x, v = _gas(100, 2, seed=1)
    # a huge reference speed makes every ratio tiny: nothing collides at coll_coef 0.5
    assert dsmc_collide(x, v, np.random.default_rng(0), vr_max=1e9)[1] == 0


def test_dsmc_validation():
    x, v = _gas(10, 2, seed=0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="coll_coef"):
        dsmc_collide(x, v, rng, coll_coef=1.5)
    with pytest.raises(ValueError, match="same shape"):
        dsmc_collide(x, v[:5], rng)
    with pytest.raises(ValueError, match="pairing"):
        dsmc_collide(x, v, rng, pairing="nearest")
    with pytest.raises(ValueError, match="vr_max"):
        dsmc_collide(x, v, rng, vr_max=0.0)
    with pytest.raises(TypeError, match="rng"):
        dsmc_collide(x, v, 0)


# --------------------------------------------------------------------------- BGK
def test_bgk_conserves_momentum_and_decays_peculiar_velocity():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((50, 3)) + np.array([1.0, -2.0, 0.5])
    rate, dt = 0.7, 0.9
    out = bgk_relax(v, rate, dt)
    np.testing.assert_allclose(out.sum(axis=0), v.sum(axis=0), rtol=0, atol=1e-12)
    ubar = v.mean(axis=0)
    np.testing.assert_allclose(out - ubar, (v - ubar) * np.exp(-rate * dt), rtol=1e-13, atol=1e-14)
    # kinetic energy of the peculiar motion falls by exp(-2 rate dt)
    e0, e1 = np.sum((v - ubar) ** 2), np.sum((out - out.mean(axis=0)) ** 2)
    assert e1 == pytest.approx(e0 * np.exp(-2 * rate * dt), rel=1e-12)


def test_bgk_many_small_steps_match_matrix_exponential():
    # dv/dt = -rate (I - 11^T/n) v within each group: compare with scipy's expm
    rng = np.random.default_rng(1)
    v = rng.standard_normal(12)
    labels = np.array([0] * 5 + [1] * 4 + [-1] * 3)
    rate, t, steps = 1.3, 2.0, 400
    out = v.copy()
    for _ in range(steps):
        out = bgk_relax(out, rate, t / steps, groups=labels)
    A = np.zeros((12, 12))
    for k in (0, 1):
        idx = np.flatnonzero(labels == k)
        n = idx.size
        A[np.ix_(idx, idx)] = -rate * (np.eye(n) - np.ones((n, n)) / n)
    np.testing.assert_allclose(out, expm(A * t) @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out[labels == -1], v[labels == -1])


def test_group_labels_from_slices():
    labels = group_labels([slice(0, 3), slice(5, 7)], 8)
    np.testing.assert_array_equal(labels, [0, 0, 0, -1, -1, 1, 1, -1])
    with pytest.raises(ValueError, match="overlaps"):
        group_labels([slice(0, 3), slice(2, 4)], 8)


def test_bgk_maxwellian_mode_conserves_and_relaxes_to_gaussian():
    # start from the two-point distribution +-1 (kurtosis 1); the fourth moment of the
    # peculiar velocity must relax as m4(t) = 3T^2 + (m4(0) - 3T^2) exp(-rate t)
    n = 20000
    rng = np.random.default_rng(2)
    v = np.where(rng.random(n) < 0.5, -1.0, 1.0) + 3.0
    v -= v.mean() - 3.0
    T = np.mean((v - v.mean()) ** 2)
    m4_0 = np.mean((v - v.mean()) ** 4)
    rate, dt, steps = 1.0, 0.1, 7
    gen = np.random.default_rng(3)
    out = v.copy()
    for _ in range(steps):
        out = bgk_relax(out, rate, dt, mode="maxwellian", rng=gen)
        assert out.sum() == pytest.approx(v.sum(), rel=1e-13)
        assert np.sum((out - out.mean()) ** 2) == pytest.approx(n * T, rel=1e-12)
    m4 = np.mean((out - out.mean()) ** 4)
    expected = 3 * T**2 + (m4_0 - 3 * T**2) * np.exp(-rate * dt * steps)
    assert abs(m4 - expected) < 0.15           # standard error about 0.05
    assert abs(m4 - m4_0) > 0.5                # it did move


def test_bgk_validation():
    with pytest.raises(ValueError, match="rate"):
        bgk_relax(np.ones(3), -1.0, 0.1)
    with pytest.raises(ValueError, match="groups"):
        bgk_relax(np.ones(3), 1.0, 0.1, groups=[0, 1])
    with pytest.raises(TypeError, match="rng"):
        bgk_relax(np.ones(3), 1.0, 0.1, mode="maxwellian")
    with pytest.raises(ValueError, match="mode"):
        bgk_relax(np.ones(3), 1.0, 0.1, mode="thermal")


# --------------------------------------------------------------------------- soft collision
def _naive_soft(W, G, gamma_c):
    p = len(W)
    out = G.copy()
    for i in range(p):
        dg = np.zeros(G.shape[1])
        for j in range(p):
            if j == i:
                continue
            cw = W[i] @ W[j] / (np.linalg.norm(W[i]) * np.linalg.norm(W[j]))
            cg = G[i] @ G[j] / (np.linalg.norm(G[i]) * np.linalg.norm(G[j]))
            dg -= cw * cg * G[j]
        out[i] += gamma_c * dg / (p - 1)
    return out


def test_soft_collision_matches_pairwise_sum():
    rng = np.random.default_rng(0)
    W, G = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    np.testing.assert_allclose(soft_collision(W, G, gamma_c=0.3), _naive_soft(W, G, 0.3),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(soft_collision(W, G, gamma_c=0.3, normalize="sum"),
                               G + 5 * (_naive_soft(W, G, 0.3) - G), rtol=1e-12, atol=1e-14)


def test_soft_collision_orthogonal_rows_do_nothing():
    Q = ortho_group.rvs(5, random_state=1)[:4] * np.array([[1.0], [3.0], [0.2], [7.0]])
    G = np.random.default_rng(1).standard_normal((4, 5))
    np.testing.assert_allclose(soft_collision(Q, G, gamma_c=0.5), G, rtol=0, atol=1e-14)


def test_soft_collision_identical_rows_closed_form():
    gamma = 0.2
    w = np.array([1.0, 2.0, -1.0])
    # identical weights and identical gradients: the shared gradient shrinks by (1 - gamma)
    g = np.array([0.5, -0.3, 0.8])
    out = soft_collision(np.stack([w, w]), np.stack([g, g]), gamma_c=gamma)
    np.testing.assert_allclose(out, (1 - gamma) * np.stack([g, g]), rtol=1e-14)
    # identical weights, equal-norm gradients at cosine c: the post-collision cosine is
    # ((1-gc)^2 (1+c) - (1+gc)^2 (1-c)) / ((1-gc)^2 (1+c) + (1+gc)^2 (1-c)) < c
    theta = 0.6
    g1 = np.array([np.cos(theta / 2), np.sin(theta / 2), 0.0])
    g2 = np.array([np.cos(theta / 2), -np.sin(theta / 2), 0.0])
    c = g1 @ g2
    out = soft_collision(np.stack([w, w]), np.stack([g1, g2]), gamma_c=gamma)
    c_new = out[0] @ out[1] / np.linalg.norm(out[0]) / np.linalg.norm(out[1])
    a, b = (1 - gamma * c) ** 2 * (1 + c), (1 + gamma * c) ** 2 * (1 - c)
    assert c_new == pytest.approx((a - b) / (a + b), rel=1e-12)
    assert c_new < c - 0.05


def test_soft_collision_scale_invariance_and_zero_rows():
    rng = np.random.default_rng(3)
    W, G = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    scaled = W * np.array([[2.0], [0.1], [5.0], [1.0], [3.0]])
    np.testing.assert_allclose(soft_collision(scaled, G), soft_collision(W, G), rtol=1e-12)
    W[2] = 0.0
    out = soft_collision(W, G, gamma_c=0.4)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[2], G[2], rtol=0, atol=1e-15)   # a zero row feels nothing


def test_soft_collision_validation():
    with pytest.raises(ValueError, match="G must have the shape"):
        soft_collision(np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="gamma_c"):
        soft_collision(np.ones((3, 2)), np.ones((3, 2)), gamma_c=-1)
    with pytest.raises(ValueError, match="W must be a 2-D"):
        soft_collision(np.ones(3), np.ones(3))


# --------------------------------------------------------------------------- diversity
def test_diversity_orthonormal_and_identical_rows():
    Q = ortho_group.rvs(6, random_state=0)[:4]
    assert mean_abs_cosine(Q) == pytest.approx(0.0, abs=1e-14)
    assert effective_rank(Q) == pytest.approx(4.0, rel=1e-12)
    same = np.tile(np.array([[0.3, -1.0, 2.0]]), (5, 1))
    assert mean_abs_cosine(same) == pytest.approx(1.0, rel=1e-14)
    assert effective_rank(same) == pytest.approx(1.0, rel=1e-7)
    # antiparallel rows count as condensed too
    assert mean_abs_cosine(np.array([[1.0, 1.0], [-2.0, -2.0]])) == pytest.approx(1.0)


def test_diversity_against_independent_references():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((7, 5))
    s = np.linalg.svd(W, compute_uv=False)
    assert effective_rank(W) == pytest.approx(np.exp(entropy(s)), rel=1e-12)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    pairs = [abs(U[i] @ U[j]) for i in range(7) for j in range(i + 1, 7)]
    assert mean_abs_cosine(W) == pytest.approx(np.mean(pairs), rel=1e-12)
    # diagonal matrix with singular values 3, 1: p = (3/4, 1/4)
    h = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert effective_rank(np.diag([3.0, 1.0])) == pytest.approx(np.exp(h), rel=1e-12)
    # spread-out spectrum including small and zero singular values
    sv = np.array([1.0, 0.3, 0.05, 0.01, 0.0])
    A = ortho_group.rvs(7, random_state=5)[:, :5] @ np.diag(sv) @ ortho_group.rvs(5, random_state=6)
    q = sv[:4] / sv.sum()
    assert effective_rank(A) == pytest.approx(np.exp(-np.sum(q * np.log(q))), rel=1e-9)


def test_diversity_validation():
    with pytest.raises(ValueError, match="2-D"):
        mean_abs_cosine(np.ones(3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        mean_abs_cosine(np.ones((1, 3)))
    with pytest.raises(ValueError, match="zero rows"):
        mean_abs_cosine(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="zero matrix"):
        effective_rank(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        effective_rank(np.array([[np.nan, 1.0]]))
