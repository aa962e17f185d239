"""Every registered method solves a convex quadratic and SciPy's 5-D Rosenbrock.

The settings are :data:`dynopt.methods.settings.EXAMPLE_SETTINGS` (printed in the
documentation); a method registered without settings fails here.
"""
import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der

import dynopt
from dynopt.methods.settings import EXAMPLE_SETTINGS, GTOL, PROBLEMS
from dynopt.problems.quadratic import Quadratic

QUADRATIC = Quadratic.with_condition(10, 10.0, rotate=True, seed=0, largest=10.0,
                                     center=np.linspace(-1, 1, 10))
ROSEN_X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])


def problem(name):
    """``(fun_and_grad, x0, x*)`` of a problem."""
    if name == "quadratic":
        return QUADRATIC.fun_and_grad, np.zeros(10), QUADRATIC.minimizer
    return (lambda x: (rosen(x), rosen_der(x))), ROSEN_X0, np.ones(5)


def test_every_registered_method_has_settings():
    assert sorted(EXAMPLE_SETTINGS) == sorted(dynopt.METHODS)
    for name, entry in EXAMPLE_SETTINGS.items():
        assert sorted(entry) == sorted(PROBLEMS), name


@pytest.mark.parametrize("method", sorted(dynopt.METHODS))
@pytest.mark.parametrize("name", PROBLEMS)
def test_method_solves_problem(method, name):
    options, maxiter, atol = EXAMPLE_SETTINGS[method][name]
    fun, x0, xstar = problem(name)
    res = dynopt.minimize(fun, x0, jac=True, method=method,
                          options={**options, "maxiter": maxiter, "gtol": GTOL[name]})
    assert res.status in (0, 1), res.message
    assert np.abs(res.x - xstar).max() <= atol, (res.nit, res.message)
    # the budget is not wasted: a run that converged says so
    if res.status == 0:
        assert res.success and np.abs(res.jac).max() <= GTOL[name]
