"""Bad input gets a clear error naming the argument; odd but valid input the right result."""
import numpy as np
import pytest
import scipy.optimize as so

import dynopt
from dynopt.objective import Objective


def quad(x):
    return float(np.dot(x, x))


def quad_grad(x):
    return 2 * np.asarray(x, dtype=float)


def run(fun, x0=(1.0, -2.0), jac=quad_grad, method="gd", **options):
    return dynopt.minimize(fun, x0, jac=jac, method=method,
                           options={"maxiter": 20, **options})


# --------------------------------------------------------------------------- x0
def test_scalar_x0_is_one_coordinate_as_in_scipy():
    ref = so.minimize(quad, 1.5, jac=quad_grad, method="BFGS")
    res = run(quad, 1.5, maxiter=500, lr=0.1)
    assert res.x.shape == ref.x.shape == (1,)
    one_d = run(quad, [1.5], maxiter=500, lr=0.1)
    np.testing.assert_array_equal(res.x, one_d.x)
    assert res.nit == one_d.nit and res.success


# --------------------------------------------------------------------------- fun
@pytest.mark.parametrize("value", ["abc", "1.5", None, 1 + 2j, np.complex128(3.0)])
def test_fun_returning_a_non_real_is_a_type_error(value):
    with pytest.raises(TypeError, match="fun must return a real number"):
        run(lambda x: value)


def test_vectorized_fun_returning_strings_is_a_type_error():
    def fg(X):
        return np.array(["1.0", "2.0"]), 2 * X
    with pytest.raises(TypeError, match="fun must return"):
        dynopt.minimize(fg, np.ones((2, 3)), jac=True, method="gd",
                        options={"vectorized": True, "maxiter": 3})


# --------------------------------------------------------------------------- jac
@pytest.mark.parametrize("value", [np.array([1 + 1j, 2.0]), "abc", None])
def test_jac_returning_a_non_real_is_a_type_error(value):
    with pytest.raises(TypeError, match="jac must return an array of real numbers"):
        run(quad, jac=lambda x: value)


def test_jac_true_accepts_any_pair_as_scipy():
    as_tuple = run(lambda x: (quad(x), quad_grad(x)), jac=True)
    as_list = run(lambda x: [quad(x), quad_grad(x)], jac=True)
    ref = so.minimize(lambda x: [quad(x), quad_grad(x)], [1.0, -2.0], jac=True, method="BFGS")
    assert ref.success  # SciPy accepts the list too
    np.testing.assert_array_equal(as_list.x, as_tuple.x)
    assert as_list.nfev == as_tuple.nfev


def test_jac_true_with_a_triple_says_what_it_got():
    with pytest.raises(ValueError, match="pair .* got a tuple of length 3"):
        run(lambda x: (quad(x), quad_grad(x), 0.0), jac=True)


@pytest.mark.parametrize("step", [0, 0.0, -0.0])
def test_zero_finite_difference_step_is_rejected(step):
    with pytest.raises(ValueError, match="finite_diff_rel_step"):
        run(quad, jac=None, finite_diff_rel_step=step)
    with pytest.raises(ValueError, match="finite_diff_rel_step"):
        Objective(quad, None, n=2, eps=step)


# --------------------------------------------------------------------------- hyperparameters
@pytest.mark.parametrize("method, name", [("fanos", "beta"), ("fanos", "rho_T"),
                                          ("rmsprop", "alpha"), ("adam", "beta1")])
def test_moment_coefficient_one_is_rejected(method, name):
    with pytest.raises(ValueError, match=rf"'{name}' must lie in \[0, 1\)"):
        run(quad, method=method, **{name: 1.0})


def test_moment_coefficient_just_below_one_is_accepted():
    res = run(quad, method="fanos", beta=0.9999)
    assert np.all(np.isfinite(res.x))


def test_rmsprop_momentum_above_one_is_rejected():
    with pytest.raises(ValueError, match="momentum"):
        run(quad, method="rmsprop", momentum=1.5)


@pytest.mark.parametrize("method, name", [("gd", "lr"), ("heavy_ball", "momentum"),
                                          ("fire2", "dt")])
def test_booleans_are_not_hyperparameter_values(method, name):
    with pytest.raises(TypeError, match=f"'{name}' must be a number, got True"):
        run(quad, method=method, **{name: True})


# --------------------------------------------------------------------------- loop options
@pytest.mark.parametrize("name, value, err", [
    ("dtype", "banana", ValueError), ("dtype", "int32", ValueError),
    ("seed", -1, ValueError), ("seed", 1.5, ValueError), ("seed", True, ValueError),
    ("divergence", "big", ValueError), ("divergence", True, ValueError),
    ("vectorized", "yes", TypeError), ("vectorized", 1, TypeError),
    ("gtol", True, ValueError),
])
def test_bad_loop_options_name_the_option(name, value, err):
    with pytest.raises(err, match=rf"options\['{name}'\]"):
        run(quad, **{name: value})


def test_norm_returning_a_string_names_the_option():
    with pytest.raises(TypeError, match=r"options\['norm'\]"):
        run(quad, norm=lambda g: "small")


def test_scipy_method_with_unknown_backend_names_the_option():
    with pytest.raises(ValueError, match="backend"):
        dynopt.method("gd", backend="nope")


# --------------------------------------------------------------------------- dtype
@pytest.mark.parametrize("method", ["frankenstein", "fire2"])
@pytest.mark.parametrize("batched", [False, True])
def test_float32_runs_stay_float32(method, batched):
    x0 = np.full((2, 3) if batched else 3, 1.3, dtype=np.float32)

    def fg(x):
        return (np.sum(x**2, axis=-1) if batched else float(np.sum(x**2))), 2 * x
    res = dynopt.minimize(fg, x0, jac=True, method=method,
                          options={"maxiter": 60, "vectorized": batched})
    assert res.x.dtype == np.float32
    arrays = {k: v for k, v in res.state.items() if isinstance(v, np.ndarray)}
    assert arrays and all(v.dtype == np.float32 for v in arrays.values()), \
        {k: v.dtype for k, v in arrays.items()}
