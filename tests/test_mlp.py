"""Tests of dynopt.problems.mlp.MLPProblem."""
import numpy as np
import pytest
from scipy.optimize import approx_fprime, minimize

from dynopt.collisions import soft_collision
from dynopt.problems.mlp import MLPProblem


def _central_differences(fun, theta, h=1e-6):
    out = np.empty_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        out[k] = (fun(theta + e) - fun(theta - e)) / (2 * h)
    return out


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_gradient_matches_finite_differences(activation, weight_decay):
    p = MLPProblem(sizes=(3, 5, 4, 3), dataset="blobs", n_samples=15, seed=1,
                   activation=activation, weight_decay=weight_decay, test_fraction=0.2)
    theta = p.init_params(3) + 0.1 * np.random.default_rng(0).standard_normal(p.dim)
    g = p.grad(theta)
    fd = _central_differences(p.fun, theta)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    # the mini-batch gradient is the gradient of the mini-batch loss
    idx = np.array([0, 3, 4, 7])
    g_b = p.fun_and_grad(theta, idx)[1]
    fd_b = approx_fprime(theta, lambda t: p.fun_and_grad(t, idx)[0], 1e-7)
    np.testing.assert_allclose(g_b, fd_b, rtol=1e-4, atol=1e-6)


def test_loss_matches_direct_formula():
    X = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, 0.5], [-1.0, 0.0]])
    y = np.array([0, 1, 1, 0])
    p = MLPProblem(sizes=(2, 2), dataset=(X, y), test_fraction=0.0, weight_decay=0.3)
    theta = np.array([0.5, -1.0, 2.0, 0.25, 0.1, -0.2])   # W (2x2) row-major, then b
    W, b = theta[:4].reshape(2, 2), theta[4:]
    Xs = (X - X.mean(0)) / X.std(0)
    z = Xs @ W.T + b
    ce = -np.log(np.exp(z[np.arange(4), y]) / np.exp(z).sum(1))
    expected = ce.mean() + 0.15 * np.sum(W**2)
    assert p.fun(theta) == pytest.approx(expected, rel=1e-13)
    np.testing.assert_array_equal(p.y_train, y)         # no test split: all samples, in order


def test_layers_are_views_and_slices_cover_theta():
    p = MLPProblem()
    theta = p.init_params(0)
    assert p.dim == 64 * 32 + 32 + 32 * 10 + 10
    covered = np.zeros(p.dim, dtype=int)
    for sl in p.weight_slices + p.bias_slices:
        covered[sl] += 1
    assert np.all(covered == 1)
    (W1, b1), (W2, b2) = p.layers(theta)
    assert W1.shape == (32, 64) and W2.shape == (10, 32) and b2.shape == (10,)
    np.testing.assert_array_equal(W1.ravel(), theta[p.weight_slices[0]])
    W2[0, 0] = 123.0
    assert theta[p.weight_slices[1]][0] == 123.0


def test_lbfgs_trains_digits_and_is_deterministic():
    p = MLPProblem(sizes=(64, 32, 10), dataset="digits", seed=0)
    assert p.n_train + p.n_test == 1797
    np.testing.assert_allclose(p.X_train.mean(0), 0.0, atol=1e-12)
    theta0 = p.init_params()
    f0, g0 = p.fun_and_grad(theta0)
    f1, g1 = p.fun_and_grad(theta0.copy())
    assert f0 == f1 and np.array_equal(g0, g1)
    assert np.array_equal(theta0, MLPProblem(seed=0).init_params())
    assert f0 == pytest.approx(np.log(10), rel=0.3)        # roughly uniform at start
    res = minimize(p.fun_and_grad, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 200})
    assert p.fun(res.x) < 0.05 * f0
    assert p.accuracy(res.x, "test") > 0.90
    assert p.accuracy(res.x, "train") >= p.accuracy(res.x, "test")
    # an untrained net is near chance
    assert p.accuracy(theta0, "test") < 0.5


def test_blobs_are_learnable_and_seeded():
    a = MLPProblem(sizes=(5, 8, 3), dataset="blobs", n_samples=300, seed=4)
    b = MLPProblem(sizes=(5, 8, 3), dataset="blobs", n_samples=300, seed=4)
    c = MLPProblem(sizes=(5, 8, 3), dataset="blobs", n_samples=300, seed=5)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)
    assert np.bincount(a.y_test).tolist() == [25, 25, 25]   # stratified 25 %
    res = minimize(a.fun_and_grad, a.init_params(), jac=True, method="L-BFGS-B",
                   options={"maxiter": 100})
    assert a.accuracy(res.x) > 0.95


def test_minibatch_sampling():
    p = MLPProblem(sizes=(4, 6, 2), dataset="blobs", n_samples=80, batch=16, seed=0)
    theta = p.init_params()
    idx = p.sample_batch(np.random.default_rng(1))
    assert idx.size == 16 and np.unique(idx).size == 16
    f_a, g_a = p.stochastic_fun_and_grad(theta, np.random.default_rng(1))
    f_b, g_b = p.fun_and_grad(theta, idx)
    assert f_a == f_b and np.array_equal(g_a, g_b)


def test_soft_collision_acts_on_weight_rows():
    # the weight slices give the matrices whose rows KO's collisions act on
    p = MLPProblem(sizes=(6, 7, 3), dataset="blobs", n_samples=60, seed=2)
    theta = p.init_params()
    g = p.grad(theta)
    sl, shape = p.weight_slices[0], p.weight_shapes[0]
    g_new = g.copy()
    g_new[sl] = soft_collision(theta[sl].reshape(shape), g[sl].reshape(shape),
                               gamma_c=0.2).ravel()
    assert not np.array_equal(g_new[sl], g[sl])
    np.testing.assert_array_equal(g_new[p.bias_slices[0]], g[p.bias_slices[0]])


def test_validation():
    with pytest.raises(ValueError, match="sizes\\[0\\]"):
        MLPProblem(sizes=(10, 5, 10))
    with pytest.raises(ValueError, match="sizes\\[-1\\]"):
        MLPProblem(sizes=(64, 5, 3))
    with pytest.raises(ValueError, match="dataset"):
        MLPProblem(dataset="mnist")
    with pytest.raises(ValueError, match="activation"):
        MLPProblem(activation="sigmoid")
    with pytest.raises(ValueError, match="test_fraction"):
        MLPProblem(test_fraction=1.0)
    with pytest.raises(ValueError, match="batch"):
        MLPProblem(batch=10**6)
    p = MLPProblem(sizes=(2, 3, 2), dataset="blobs", n_samples=20)
    with pytest.raises(ValueError, match="theta"):
        p.fun(np.zeros(p.dim + 1))
    with pytest.raises(ValueError, match="split"):
        p.accuracy(p.init_params(), split="valid")


def test_digits_without_scikit_learn_names_the_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"dynopt-physics\[ml\]"):
        MLPProblem(dataset="digits")
    MLPProblem(dataset="blobs")  # the generated data needs nothing more
