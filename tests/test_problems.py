"""Tests of the benchmark problems against SciPy, ASE and closed forms."""

import numpy as np
import pytest
from scipy.optimize import minimize, rosen, rosen_der
from scipy.spatial.distance import pdist

from dynopt.problems.lennard_jones import (
    LJ_GLOBAL_MINIMA,
    force_l2,
    lj_energy,
    lj_energy_and_gradient,
    lj_energy_and_gradient_nb,
    lj_gradient,
    max_atom_force,
    random_cluster,
)
from dynopt.problems.quadratic import Quadratic
from dynopt.problems.rosenbrock import (
    rosenbrock,
    rosenbrock_fun_and_grad,
    rosenbrock_fun_and_grad_nb,
    rosenbrock_grad,
    rosenbrock_grad_nb,
    rosenbrock_nb,
)


def central_difference(fun, x, h=1e-6):
    """Central finite-difference gradient of a scalar function."""
    x = np.asarray(x, dtype=float)
    grad = np.empty_like(x)
    for k in range(x.size):
        step = np.zeros_like(x)
        step.flat[k] = h
        grad.flat[k] = (fun(x + step) - fun(x - step)) / (2 * h)
    return grad


# --------------------------------------------------------------- Rosenbrock
@pytest.mark.parametrize("n", [2, 5, 100])
def test_rosenbrock_matches_scipy(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        x = rng.uniform(-2, 2, n)
        assert rosenbrock(x) == pytest.approx(rosen(x), rel=1e-13)
        np.testing.assert_allclose(rosenbrock_grad(x), rosen_der(x), rtol=1e-12, atol=1e-12)
        f, g = rosenbrock_fun_and_grad(x)
        assert f == pytest.approx(rosen(x), rel=1e-13)
        np.testing.assert_allclose(g, rosen_der(x), rtol=1e-12, atol=1e-12)


def test_rosenbrock_batch_on_last_axis():
    rng = np.random.default_rng(0)
    xs = rng.uniform(-2, 2, (7, 10))
    f, g = rosenbrock_fun_and_grad(xs)
    assert f.shape == (7,) and g.shape == (7, 10)
    np.testing.assert_allclose(f, [rosen(row) for row in xs], rtol=1e-13)
    np.testing.assert_allclose(g, [rosen_der(row) for row in xs], rtol=1e-12, atol=1e-12)
    cube = rng.uniform(-2, 2, (2, 3, 4))
    np.testing.assert_allclose(rosenbrock(cube), np.apply_along_axis(rosen, -1, cube), rtol=1e-13)


def test_rosenbrock_minimum_dtype_and_fd():
    ones = np.ones(6)
    assert rosenbrock(ones) == 0.0
    np.testing.assert_array_equal(rosenbrock_grad(ones), np.zeros(6))
    x32 = np.linspace(-1.5, 1.5, 8).astype(np.float32)
    assert rosenbrock_grad(x32).dtype == np.float32
    assert rosenbrock(x32) == pytest.approx(rosen(x32.astype(np.float64)), rel=1e-5)
    assert rosenbrock(np.array([0, 2, 1])) == rosen(np.array([0.0, 2.0, 1.0]))
    x = np.random.default_rng(3).uniform(-2, 2, 7)
    np.testing.assert_allclose(rosenbrock_grad(x), central_difference(rosenbrock, x), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rosenbrock_numba_twins_equal_numpy(dtype):
    rng = np.random.default_rng(11)
    x = rng.uniform(-2, 2, 50).astype(dtype)
    f_np, g_np = rosenbrock_fun_and_grad(x.astype(np.float64))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert rosenbrock_nb(x) == pytest.approx(f_np, rel=rtol)
    out = np.empty_like(x)
    assert rosenbrock_grad_nb(x, out) is out
    np.testing.assert_allclose(out, g_np, rtol=rtol, atol=rtol * np.abs(g_np).max())
    out2 = np.full_like(x, np.nan)
    assert rosenbrock_fun_and_grad_nb(x, out2) == pytest.approx(f_np, rel=rtol)
    np.testing.assert_allclose(out2, g_np, rtol=rtol, atol=rtol * np.abs(g_np).max())
    strided = rng.uniform(-2, 2, 20)[::2]
    assert rosenbrock_nb(strided) == pytest.approx(rosen(strided), rel=1e-13)


def test_rosenbrock_bad_input():
    with pytest.raises(ValueError, match="x must have at least 2"):
        rosenbrock(np.array([1.0]))
    with pytest.raises(ValueError, match="scalar"):
        rosenbrock(3.0)
    with pytest.raises(TypeError, match="complex128"):
        rosenbrock_grad(np.array([1 + 1j, 2.0]))
    with pytest.raises(ValueError, match="at least 2"):
        rosenbrock_nb(np.array([1.0]))
    with pytest.raises(ValueError, match="out"):
        rosenbrock_grad_nb(np.zeros(3), np.zeros(4))


# ---------------------------------------------------------------- Quadratic
def test_quadratic_gradient_hessian_and_minimizer():
    quad = Quadratic.with_condition(6, 50.0, rotate=True, seed=4, center=np.arange(6.0))
    rng = np.random.default_rng(5)
    x = rng.normal(size=6)
    np.testing.assert_allclose(quad.grad(x), central_difference(quad.fun, x), rtol=1e-7, atol=1e-9)
    hess_fd = np.array([central_difference(lambda y, k=k: quad.grad(y)[k], x) for k in range(6)])
    np.testing.assert_allclose(hess_fd, quad.hessian, atol=1e-8)
    d = x - quad.minimizer
    assert quad.fun(x) == pytest.approx(0.5 * d @ np.linalg.solve(np.linalg.inv(quad.hessian), d))
    np.testing.assert_allclose(
        np.linalg.eigvalsh(quad.hessian), np.sort(quad.eigenvalues), rtol=1e-12
    )
    res = minimize(quad.fun, x, jac=quad.grad, method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(res.x, quad.minimizer, atol=1e-6)
    assert quad.fun(quad.minimizer) == 0.0


def test_quadratic_batched_and_axis_aligned():
    quad = Quadratic([1.0, 2.0, 3.0], center=[1.0, -1.0, 0.5])
    xs = np.random.default_rng(6).normal(size=(4, 3))
    f, g = quad.fun_and_grad(xs)
    assert f.shape == (4,) and g.shape == (4, 3)
    for row, fr, gr in zip(xs, f, g):
        assert quad(row) == pytest.approx(fr)
        np.testing.assert_allclose(quad.grad(row), gr)
    d = xs[0] - np.array([1.0, -1.0, 0.5])
    assert f[0] == pytest.approx(0.5 * (d**2 * np.array([1.0, 2.0, 3.0])).sum())


@pytest.mark.parametrize("spread", ["log", "linear"])
def test_quadratic_with_condition_spectrum(spread):
    kappa, largest = 1e4, 2.5
    quad = Quadratic.with_condition(9, kappa, spread=spread, largest=largest)
    lam = quad.eigenvalues
    assert quad.condition_number == pytest.approx(kappa, rel=1e-12)
    assert quad.condition_number == pytest.approx(np.linalg.cond(quad.hessian), rel=1e-10)
    assert lam.max() == pytest.approx(largest) and lam.min() == pytest.approx(largest / kappa)
    steps = np.diff(np.log(lam)) if spread == "log" else np.diff(lam)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)


def test_quadratic_rotation_seeded():
    a = Quadratic.with_condition(5, 10.0, rotate=True, seed=1)
    b = Quadratic.with_condition(5, 10.0, rotate=True, seed=1)
    c = Quadratic.with_condition(5, 10.0, rotate=True, seed=2)
    np.testing.assert_array_equal(a.hessian, b.hessian)
    assert not np.allclose(a.hessian, c.hessian)
    np.testing.assert_allclose(a.rotation.T @ a.rotation, np.eye(5), atol=1e-12)
    assert np.abs(a.hessian - np.diag(np.diag(a.hessian))).max() > 1e-3


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"eigenvalues": [1.0, -2.0]}, ValueError, r"eigenvalues\[1\] = -2.0"),
        ({"eigenvalues": [0.0, 1.0]}, ValueError, r"eigenvalues\[0\] = 0.0"),
        ({"eigenvalues": [1.0, np.inf]}, ValueError, r"eigenvalues\[1\] = inf"),
        ({"eigenvalues": [np.nan]}, ValueError, r"eigenvalues\[0\] = nan"),
        ({"eigenvalues": []}, ValueError, "eigenvalues must be a non-empty"),
        ({"eigenvalues": [1j, 1.0]}, TypeError, "eigenvalues"),
        ({"eigenvalues": [1.0, 2.0], "rotation": [[1.0, 1.0], [0.0, 1.0]]},
         ValueError, "orthogonal"),
        ({"eigenvalues": [1.0, 2.0], "rotation": np.eye(3)},
         ValueError, "rotation must have shape"),
        ({"eigenvalues": [1.0, 2.0], "center": [1.0]}, ValueError, "center must have shape"),
        ({"eigenvalues": [1.0, 2.0], "center": [1.0, np.nan]},
         ValueError, "center must be finite"),
    ],
)
def test_quadratic_bad_constructor_input(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        Quadratic(**kwargs)


def test_quadratic_bad_with_condition_and_points():
    with pytest.raises(ValueError, match="kappa = 0.5"):
        Quadratic.with_condition(3, 0.5)
    with pytest.raises(ValueError, match="spread = 'cubic'"):
        Quadratic.with_condition(3, 10.0, spread="cubic")
    with pytest.raises(ValueError, match="n = 1"):
        Quadratic.with_condition(1, 10.0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        Quadratic.with_condition(2.5, 10.0)
    with pytest.raises(ValueError, match="x must have 3 coordinates"):
        Quadratic([1.0, 2.0, 3.0]).fun(np.zeros(4))


# ------------------------------------------------------------ Lennard-Jones
def ase_energy_forces(xyz, **calc_kwargs):
    from ase import Atoms
    from ase.calculators.lj import LennardJones

    atoms = Atoms(f"Ar{len(xyz)}", positions=xyz)
    atoms.calc = LennardJones(epsilon=1.0, sigma=1.0, smooth=False, **calc_kwargs)
    return atoms.get_potential_energy(), atoms.get_forces()


@pytest.mark.parametrize("n_atoms, seed", [(2, 0), (13, 1), (38, 2), (38, 3)])
def test_lj_matches_ase_without_cutoff(n_atoms, seed):
    pytest.importorskip("ase")
    xyz = random_cluster(n_atoms, seed=seed)
    e_ase, f_ase = ase_energy_forces(xyz, rc=1e6)  # u(1e6) ~ 4e-36: no shift
    e, g = lj_energy_and_gradient(xyz)
    assert e == pytest.approx(e_ase, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(-g, f_ase, rtol=1e-12, atol=1e-10)
    e_flat, g_flat = lj_energy_and_gradient(xyz.ravel())
    assert g_flat.shape == (3 * n_atoms,)
    np.testing.assert_allclose(g_flat, g.ravel(), rtol=1e-14, atol=0)
    assert lj_energy(xyz.ravel()) == pytest.approx(e_ase, rel=1e-12, abs=1e-10)
    assert max_atom_force(g) == pytest.approx(np.sqrt((f_ase**2).sum(axis=1).max()), rel=1e-10)


def test_ase_default_cutoff_differs_by_shift_and_tail():
    pytest.importorskip("ase")
    xyz = random_cluster(38, seed=7)
    r = pdist(xyz)
    pair = 4 * (r**-12 - r**-6)
    assert lj_energy(xyz) == pytest.approx(pair.sum(), rel=1e-12)
    e_default, _ = ase_energy_forces(xyz)  # rc = 3 sigma, shifted
    u_rc = 4 * (3.0**-12 - 3.0**-6)
    inside = r <= 3.0
    assert e_default == pytest.approx((pair[inside] - u_rc).sum(), rel=1e-12)
    assert e_default - lj_energy(xyz) > 0.1


def test_lj_gradient_finite_differences_and_invariances():
    xyz = random_cluster(10, seed=8)
    g = lj_gradient(xyz.ravel())
    np.testing.assert_allclose(g, central_difference(lj_energy, xyz.ravel()), rtol=1e-6, atol=1e-7)
    # Newton's third law: total force vanishes; energy invariant under a rigid motion.
    np.testing.assert_allclose(g.reshape(-1, 3).sum(axis=0), 0.0, atol=1e-10)
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    assert lj_energy(xyz @ rot.T + [1.0, -2.0, 3.0]) == pytest.approx(lj_energy(xyz), rel=1e-12)
    dimer = np.array([[0.0, 0.0, 0.0], [2.0 ** (1 / 6), 0.0, 0.0]])
    e, g2 = lj_energy_and_gradient(dimer)
    assert e == pytest.approx(-1.0, rel=1e-14)
    np.testing.assert_allclose(g2, 0.0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lj_numba_twin_equals_numpy(dtype):
    x = random_cluster(38, seed=9, flat=True).astype(dtype)
    e_np, g_np = lj_energy_and_gradient(x.astype(np.float64))
    grad = np.full(x.size, np.nan)
    e_nb = lj_energy_and_gradient_nb(x, grad)
    assert e_nb == pytest.approx(e_np, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(grad, g_np, rtol=1e-10, atol=1e-10)


def icosahedron13(radius):
    phi = (1 + np.sqrt(5)) / 2
    verts = []
    for a in (-1.0, 1.0):
        for b in (-phi, phi):
            verts += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    verts = np.array(verts)
    verts *= radius / np.linalg.norm(verts[0])
    return np.vstack([np.zeros(3), verts])


def test_lj13_relaxes_to_global_minimum_with_scipy():
    rng = np.random.default_rng(12)
    x0 = (icosahedron13(1.1) + rng.normal(scale=0.05, size=(13, 3))).ravel()
    res = minimize(lj_energy_and_gradient, x0, jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-9, "ftol": 1e-15, "maxiter": 2000})
    assert res.fun == pytest.approx(LJ_GLOBAL_MINIMA[13], abs=1e-5)
    assert max_atom_force(res.jac) < 1e-4


def test_lj4_relaxes_to_regular_tetrahedron():
    # Every pair of the LJ4 minimum sits at the pair minimum: E = -6 exactly.
    res = minimize(lj_energy_and_gradient, random_cluster(4, seed=13, density=0.3, flat=True),
                   jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15})
    assert res.fun == pytest.approx(-6.0, abs=1e-8)
    np.testing.assert_allclose(pdist(res.x.reshape(4, 3)), 2 ** (1 / 6), rtol=1e-5)


def test_random_cluster_reproducible_and_separated():
    a = random_cluster(38, seed=21)
    np.testing.assert_array_equal(a, random_cluster(38, seed=21))
    np.testing.assert_array_equal(a, random_cluster(38, rng=np.random.default_rng(21)))
    assert not np.allclose(a, random_cluster(38, seed=22))
    for seed in range(5):
        xyz = random_cluster(38, seed=seed, density=0.8, min_distance=1.0)
        assert pdist(xyz).min() >= 1.0
        radius = (3 * 38 / (4 * np.pi * 0.8)) ** (1 / 3)
        assert np.linalg.norm(xyz, axis=1).max() <= radius
    assert random_cluster(5, seed=0, flat=True).shape == (15,)


def test_random_cluster_and_force_bad_input():
    with pytest.raises(ValueError, match="not both"):
        random_cluster(5, seed=1, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="density = -1.0"):
        random_cluster(5, density=-1.0)
    with pytest.raises(ValueError, match="n_atoms = 0"):
        random_cluster(0)
    with pytest.raises(RuntimeError, match="placed only"):
        random_cluster(50, seed=0, density=5.0, min_distance=1.0, max_tries=2000)
    with pytest.raises(ValueError, match=r"pos must have shape .* got shape \(4,\)"):
        lj_energy(np.zeros(4))
    with pytest.raises(ValueError, match="grad"):
        force_l2(np.zeros((2, 2)))


def test_force_criteria():
    g = lj_gradient(random_cluster(38, seed=30))
    per_atom = np.linalg.norm(g, axis=1)
    assert max_atom_force(g) == pytest.approx(per_atom.max())
    assert force_l2(g.ravel()) == pytest.approx(np.sqrt((per_atom**2).sum()))
    assert max_atom_force(g) <= force_l2(g) <= np.sqrt(38) * max_atom_force(g)
    assert max_atom_force(-g) == max_atom_force(g)
