"""options['initial_state']: a run that starts with some of its state given."""
import numpy as np
import pytest
import scipy.optimize as so

import dynopt
from dynopt.methods.preconditioned import minimize_preconditioned

X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])


@pytest.mark.parametrize("method,opts", [("heavy_ball", {"lr": 1e-4}),
                                         ("nose_hoover", {"dt": 0.01})])
@pytest.mark.parametrize("x0", [X0, np.stack([X0, 0.9 * X0])], ids=["lone", "batch"])
def test_a_continued_run_equals_the_longer_run(method, opts, x0):
    # the heavy ball and Nose-Hoover state is all in result.state and neither reads the step
    # counter k, so 200 + 200 steps are 400 steps (FIRE and FANoS do not continue exactly)
    common = {**opts, "gtol": 0}
    first = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method=method,
                            options={**common, "maxiter": 200})
    given = {k: v for k, v in first.state.items() if k not in ("x", "g", "f", "k")}
    assert given  # the velocity, the thermostat ...
    second = dynopt.minimize(so.rosen, first.x, jac=so.rosen_der, method=method,
                             options={**common, "maxiter": 200, "initial_state": given})
    whole = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method=method,
                            options={**common, "maxiter": 400})
    np.testing.assert_array_equal(second.x, whole.x)
    for key in given:
        np.testing.assert_array_equal(second.state[key], whole.state[key])


def test_the_metric_of_the_preconditioned_heavy_ball_through_minimize():
    D = np.linspace(1.0, 50.0, 5)
    opts = {"lr": 1e-3, "momentum": 0.9, "maxiter": 300, "gtol": 0}
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="preconditioned_heavy_ball",
                          options={**opts, "initial_state": {"metric": D}})
    ref = minimize_preconditioned(so.rosen, X0, so.rosen_der, metric=D, options=opts)
    plain = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="preconditioned_heavy_ball",
                            options=opts)
    np.testing.assert_array_equal(res.x, ref.x)
    np.testing.assert_array_equal(res.state["metric"], D)
    assert not np.array_equal(res.x, plain.x)  # D = 1 is another run


@pytest.mark.parametrize("given,error,match", [
    ({"velocity": np.zeros(5)}, ValueError, "no entry 'velocity'"),
    ({"k": 3.0}, ValueError, "set by the run itself"),
    ({"v": np.zeros(4)}, ValueError, r"shape \(5,\)"),
    ({"v": np.full(5, np.nan)}, ValueError, "finite"),
    ({"v": "fast"}, TypeError, "real numbers"),
    ([("v", 0.0)], TypeError, "dict"),
])
def test_bad_initial_states_are_refused_by_name(given, error, match):
    with pytest.raises(error, match=match):
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="heavy_ball",
                        options={"maxiter": 2, "initial_state": given})


def test_a_compiled_run_refuses_an_initial_state():
    from dynopt.problems import rosenbrock_fun_and_grad_nb
    with pytest.raises(ValueError, match="initial_state"):
        dynopt.minimize(rosenbrock_fun_and_grad_nb, X0, jac=True, method="heavy_ball",
                        backend="numba", options={"maxiter": 2, "compiled": True,
                                                  "initial_state": {"v": np.zeros(5)}})
