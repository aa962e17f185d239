"""SciPy's conventions where users try them: ``disp``, method names in any case, SciPy's
other arguments, ``betas`` beside ``beta1``/``beta2``, type hints.

SciPy itself is the reference: the ``disp`` summary is compared line by line
with what :func:`scipy.optimize.minimize`'s BFGS prints, and the warnings with
the ones SciPy issues for its own first-order methods.
"""
from __future__ import annotations

import inspect
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize as so

import dynopt
from dynopt._minimize import build_program

X0 = [1.3, 0.7]
HB = {"lr": 1e-3, "momentum": 0.9, "maxiter": 20000, "gtol": 1e-6}
ROOT = Path(__file__).resolve().parents[1]


def _quadratic(x):
    return float(np.dot(x, x))


def _quadratic_grad(x):
    return 2 * np.asarray(x, dtype=float)


def _summary(text):
    """The summary's lines as (label with its indentation, number)."""
    rows = []
    for line in text.strip("\n").split("\n")[1:]:
        label, _, number = line.rpartition(": ")
        rows.append((label, number))
    return rows


# --------------------------------------------------------------------------- disp
def test_disp_prints_scipys_summary(capsys):
    ref = so.minimize(so.rosen, X0, jac=so.rosen_der, method="BFGS", options={"disp": True})
    scipy_text = capsys.readouterr().out
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="heavy_ball",
                          options={**HB, "disp": True})
    ours = capsys.readouterr().out
    assert ref.success and res.success
    assert scipy_text.split("\n")[0] == "Optimization terminated successfully."
    assert ours.split("\n")[0] == res.message
    assert [label for label, _ in _summary(ours)] == [label for label, _ in _summary(scipy_text)]
    numbers = dict(_summary(ours))
    labels = [label for label, _ in _summary(ours)]
    assert numbers[labels[0]] == f"{res.fun:f}"
    assert [int(numbers[k]) for k in labels[1:]] == [res.nit, res.nfev, res.njev]


def test_disp_through_scipy_custom_method(capsys):
    res = so.minimize(so.rosen, X0, jac=so.rosen_der, method=dynopt.method("heavy_ball", lr=1e-3),
                      options={"maxiter": 20000, "gtol": 1e-6, "disp": True})
    out = capsys.readouterr().out
    assert res.success and out.split("\n")[0] == res.message
    assert _summary(out)[1] == ("         Iterations", str(res.nit))


def test_disp_on_failure_warns_as_scipy_does(capsys):
    with pytest.warns(so.OptimizeWarning, match="Maximum number of iterations"):
        so.minimize(so.rosen, X0, jac=so.rosen_der, method="BFGS",
                    options={"disp": True, "maxiter": 2})
    scipy_text = capsys.readouterr().out
    with pytest.warns(so.OptimizeWarning) as caught:
        res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="heavy_ball",
                              options={"lr": 1e-3, "maxiter": 2, "disp": True})
    ours = capsys.readouterr().out
    assert res.status == 1 and str(caught[0].message) == res.message
    # no message line on stdout, the same four lines as SciPy's
    assert [ln.split(":")[0] for ln in ours.strip("\n").split("\n")] == \
        [ln.split(":")[0] for ln in scipy_text.strip("\n").split("\n")]
    assert ours.split("\n")[1] == "         Iterations: 2"


def test_disp_off_prints_nothing(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, options={"lr": 1e-3, "maxiter": 2})
    assert capsys.readouterr().out == ""


def test_disp_for_a_batch_reports_the_members(capsys):
    x0 = np.array([[1.0, -1.0], [0.5, 0.25], [2.0, 3.0]])
    res = dynopt.minimize(_quadratic, x0, jac=_quadratic_grad, method="gd",
                          options={"lr": 0.1, "disp": True})
    out = capsys.readouterr().out
    assert res.success.all()
    assert out.startswith("Optimization terminated successfully for all 3 members.")
    assert f"Iterations: {int(np.max(res.nit))} (most)" in out


def test_disp_must_be_a_flag():
    with pytest.raises(TypeError, match="disp"):
        dynopt.minimize(_quadratic, [1.0], jac=_quadratic_grad, options={"disp": "yes"})


# --------------------------------------------------------------------------- method names
@pytest.mark.parametrize("given, name", [("FANoS", "fanos"), ("Heavy_Ball", "heavy_ball"),
                                         ("ADAM", "adam")])
def test_method_names_in_any_case(given, name):
    opts = {"maxiter": 50, "gtol": 0}
    a = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method=given, options=opts)
    b = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method=name, options=opts)
    np.testing.assert_array_equal(a.x, b.x)
    c = so.minimize(so.rosen, X0, jac=so.rosen_der, method=dynopt.method(given), options=opts)
    np.testing.assert_array_equal(c.x, b.x)
    # SciPy reads its own names the same way
    np.testing.assert_array_equal(
        so.minimize(so.rosen, X0, jac=so.rosen_der, method="bfgs").x,
        so.minimize(so.rosen, X0, jac=so.rosen_der, method="BFGS").x)


def test_unknown_name_still_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'nope'.*heavy_ball"):
        dynopt.minimize(so.rosen, X0, method="NoPe")


# --------------------------------------------------------------------------- SciPy's other args
@pytest.mark.parametrize("kw", [{"hess": lambda x: np.eye(2)}, {"hessp": lambda x, p: p},
                                {"bounds": [(0, 2)] * 2},
                                {"constraints": [{"type": "eq", "fun": lambda x: x[0] - 1}]},
                                {"constraints": {"type": "eq", "fun": lambda x: x[0] - 1}}])
def test_minimize_refuses_hessians_bounds_and_constraints(kw):
    (name,) = kw
    with pytest.raises(ValueError, match=f"takes no {name}: .*unconstrained first-order"):
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, **kw)


def test_minimize_takes_scipys_empty_defaults():
    opts = {"maxiter": 20, "gtol": 0}
    plain = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, options=opts)
    same = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, options=opts, hess=None, hessp=None,
                           bounds=None, constraints=())
    np.testing.assert_array_equal(plain.x, same.x)
    params = inspect.signature(dynopt.minimize).parameters
    for name in ("hess", "hessp", "bounds", "constraints"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY


def test_scipy_path_ignores_a_hessian_with_scipys_warning():
    # SciPy's own first-order method warns and goes on
    with pytest.warns(RuntimeWarning, match="does not use Hessian information"):
        so.minimize(so.rosen, X0, jac=so.rosen_der, method="BFGS", hess=so.rosen_hess)
    opts = {"maxiter": 30, "gtol": 0}
    meth = dynopt.method("heavy_ball", lr=1e-3)
    plain = so.minimize(so.rosen, X0, jac=so.rosen_der, method=meth, options=opts)
    with pytest.warns(RuntimeWarning, match="does not use Hessian information"):
        with_h = so.minimize(so.rosen, X0, jac=so.rosen_der, method=meth, hess=so.rosen_hess,
                             options=opts)
    with pytest.warns(RuntimeWarning, match="Hessian-vector product"):
        with_hp = so.minimize(so.rosen, X0, jac=so.rosen_der, method=meth,
                              hessp=so.rosen_hess_prod, options=opts)
    np.testing.assert_array_equal(with_h.x, plain.x)
    np.testing.assert_array_equal(with_hp.x, plain.x)


def test_scipy_path_refuses_bounds_and_constraints_naming_why():
    meth = dynopt.method("fanos")
    with pytest.raises(ValueError, match="bounds.*unconstrained"):
        so.minimize(so.rosen, X0, jac=so.rosen_der, method=meth, bounds=[(0, 2)] * 2)
    with pytest.raises(ValueError, match="constraints.*unconstrained"):
        so.minimize(so.rosen, X0, jac=so.rosen_der, method=meth,
                    constraints=[{"type": "eq", "fun": lambda x: x[0] - 1}])


# --------------------------------------------------------------------------- betas
@pytest.mark.parametrize("method", ["adam", "adamw"])
@pytest.mark.parametrize("extra, named", [({"beta1": 0.8}, "beta1"), ({"beta2": 0.9}, "beta2")])
def test_betas_and_beta1_beta2_conflicting_is_an_error(method, extra, named):
    opts = {"betas": (0.9, 0.999), **extra}
    with pytest.raises(ValueError, match=rf"betas=\(0\.9, 0\.999\) and {named}="):
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method=method, options=opts)
    with pytest.raises(ValueError, match=f"betas.*{named}"):
        dynopt.method(method, **opts)
    with pytest.raises(ValueError, match=f"betas.*{named}"):
        so.minimize(so.rosen, X0, jac=so.rosen_der, method=dynopt.method(method, betas=(0.9, 0.999)),
                    options=extra)


def test_betas_alone_or_agreeing_set_beta1_beta2():
    _, params, _ = build_program("adam", None, {"betas": (0.8, 0.99)})
    assert (params["beta1"], params["beta2"]) == (0.8, 0.99)
    _, same, _ = build_program("adam", None, {"betas": (0.8, 0.99), "beta1": 0.8})
    assert same == params
    _, direct, _ = build_program("adam", None, {"beta1": 0.7})
    assert direct["beta1"] == 0.7 and direct["beta2"] == 0.999


def test_betas_reach_the_update_as_in_pytorchs_adam():
    """Two Adam steps by hand (Kingma & Ba 2015, PyTorch's defaults otherwise)."""
    b1, b2, lr, eps = 0.8, 0.99, 1e-2, 1e-8
    x = np.array(X0)
    m = v = np.zeros(2)
    for t in (1, 2):
        g = so.rosen_der(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="Adam",
                          options={"betas": (b1, b2), "lr": lr, "maxiter": 2, "gtol": 0})
    np.testing.assert_allclose(res.x, x, rtol=1e-12)


# --------------------------------------------------------------------------- typing
@pytest.mark.parametrize("func", [dynopt.minimize, dynopt.method, build_program])
def test_public_api_is_annotated(func):
    sig = inspect.signature(func)
    assert sig.return_annotation is not inspect.Signature.empty
    for name, param in sig.parameters.items():
        assert param.annotation is not inspect.Parameter.empty, name


def test_py_typed_is_shipped():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib")
    import tomllib
    assert (Path(dynopt.__file__).parent / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["dynopt"]
