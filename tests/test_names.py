"""One name, one meaning: modules stay modules, hyperparameters are one symbol each,
state keys mean one thing across methods."""
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize as so
import sympy as sp

import dynopt
from dynopt import hyperparameters as hp
from dynopt.integrators import INTEGRATORS
from dynopt.methods.ko import BASES


# --------------------------------------------------------------------------- modules
def test_methods_is_the_module_and_METHODS_the_registry():
    import types

    import dynopt.methods
    import dynopt.methods.settings
    assert isinstance(dynopt.methods, types.ModuleType)
    assert dynopt.methods.__name__ == "dynopt.methods"
    assert isinstance(dynopt.METHODS, dict) and "adam" in dynopt.METHODS
    assert dynopt.METHODS is dynopt.methods.METHODS
    assert dynopt.methods.settings.__name__ == "dynopt.methods.settings"


def test_readme_settings_snippet_runs_in_a_fresh_interpreter():
    # a fresh process: nothing imported the settings module before the attribute access
    code = ("import dynopt\n"
            "s = dynopt.methods.settings.EXAMPLE_SETTINGS\n"
            "assert set(s) == set(dynopt.METHODS), sorted(set(s) ^ set(dynopt.METHODS))\n"
            "import dynopt.methods.settings\n"
            "print(type(dynopt.methods).__name__, type(dynopt.METHODS).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["module", "dict"]


# --------------------------------------------------------------------------- programs
def _variants(method):
    out = [{}]
    for name, default in method.flags.items():
        if isinstance(default, bool):
            out.append({name: not default})
    if method.name == "ko":
        out += [{"base": b} for b in BASES]
    if method.name == "frankenstein":
        out.append({"variant": "paper"})
    if method.name == "nose_hoover":
        out.append({"normalization": "mean"})
    if method.name == "langevin_annealed":
        out += [{"schedule": s} for s in ("logarithmic", "linear")]
    return out


def _programs():
    for name, method in sorted(dynopt.METHODS.items()):
        integrators = [None] if method.integrator is None else sorted(INTEGRATORS)
        for integ in integrators:
            for flags in _variants(method):
                try:
                    yield name, method.program(integ, **flags)
                except ValueError as exc:  # first-order flows refuse some integrators
                    assert "second-order" in str(exc), (name, integ, flags, exc)


PROGRAMS = list(_programs())


def _by_name(kind):
    seen = defaultdict(dict)
    for name, prog in PROGRAMS:
        symbols = prog.params if kind == "params" else (*prog.vectors, *prog.scalars)
        for s in symbols:
            seen[s.name].setdefault(s, set()).add(name)
    return seen


def test_parameters_of_one_name_are_one_symbol():
    clashes = {n: {str(s.assumptions0): sorted(m) for s, m in syms.items()}
               for n, syms in _by_name("params").items() if len(syms) > 1}
    assert not clashes


def test_shared_parameters_are_the_symbols_of_dynopt_hyperparameters():
    for n, syms in _by_name("params").items():
        if n in hp.SYMBOLS:
            assert set(syms) == {hp.SYMBOLS[n]}, n


def test_the_systems_and_integrators_agree_with_the_shared_rules():
    from dynopt.integrators.base import dt
    from dynopt.systems import damped_oscillator, langevin, nose_hoover
    assert dt == hp.dt
    assert damped_oscillator.mass == langevin.mass == nose_hoover.mass == hp.mass
    assert damped_oscillator.damping == hp.damping
    assert langevin.temperature == nose_hoover.temperature == hp.temperature
    assert langevin.gamma == hp.gamma and nose_hoover.Q == hp.Q


def test_state_of_one_name_is_one_symbol():
    clashes = {n: sorted(map(sorted, syms.values()))
               for n, syms in _by_name("state").items() if len(syms) > 1}
    assert not clashes


def test_state_names_are_not_parameters_elsewhere():
    params, state = _by_name("params"), _by_name("state")
    both = set(params) & set(state)
    # 'beta1' is the same quantity in both: Adam's parameter, and a constant that
    # Frankenstein derives from lr and carries in its state (the same symbol);
    # 'alpha' is FIRE's mixing coefficient (state) and RMSprop's smoothing constant
    # (parameter), a clash kept for the names users know from ASE and PyTorch
    assert both <= {"beta1", "alpha"}, both
    assert set(params["beta1"]) == set(state["beta1"]) == {hp.beta1}


# --------------------------------------------------------------------------- rules
@pytest.mark.parametrize("method", ["adam", "adamw", "rmsprop", "fanos", "frankenstein", "ko"])
def test_eps_is_positive_in_every_method(method):
    opts = {"maxiter": 2, "gtol": 0}
    if method == "ko":
        opts["base"] = "adam"
    with pytest.raises(ValueError, match=r"'eps' must be positive, got 0"):
        dynopt.minimize(so.rosen, np.zeros(3), jac=so.rosen_der, method=method,
                        options={**opts, "eps": 0.0})
    res = dynopt.minimize(so.rosen, np.zeros(3), jac=so.rosen_der, method=method,
                          options={**opts, "eps": 1e-300})
    assert np.all(np.isfinite(res.x))


@pytest.mark.parametrize("name,positive", [(n, s.is_positive) for n, s in hp.SYMBOLS.items()])
def test_each_shared_rule_is_checked(name, positive):
    from dynopt.methods import check_value
    s = hp.SYMBOLS[name]
    check_value("m", s, 0.5)
    with pytest.raises(ValueError, match=repr(name)):
        check_value("m", s, -0.5)
    if positive:
        with pytest.raises(ValueError, match=f"{name!r} must be positive"):
            check_value("m", s, 0.0)
    else:
        assert s.is_nonnegative
        check_value("m", s, 0.0)


# --------------------------------------------------------------------------- state keys
EXPECTED_STATE = {
    "adam": {"exp_avg", "exp_avg_sq"},
    "adamw": {"exp_avg", "exp_avg_sq"},
    "rmsprop": {"exp_avg_sq", "momentum_buffer"},
    "fanos": {"v", "exp_avg_sq", "zeta", "T_ema"},
    "frankenstein": {"v", "adaptive_avg_sq", "prev_sq_grad", "beta1"},
    "heavy_ball": {"v"},
    "nesterov": {"v"},
}


@pytest.mark.parametrize("method", sorted(EXPECTED_STATE))
def test_state_keys_as_documented(method):
    res = dynopt.minimize(so.rosen, np.zeros(3), jac=so.rosen_der, method=method,
                          options={"maxiter": 2, "gtol": 0})
    assert set(res.state) - {"x", "g", "f", "k"} == EXPECTED_STATE[method]
    text = (Path(__file__).parents[1] / "docs" / "methods.md").read_text()
    for key in EXPECTED_STATE[method]:
        assert f"`{key}`" in text, key


def test_adam_second_moment_is_not_the_velocity():
    # heavy ball's v is a velocity (x_{k+1} - x_k); Adam carries no key of that name,
    # and its exp_avg_sq is the average of g^2 (non-negative, not a displacement)
    x0 = np.array([-1.2, 1.0, 0.5])
    adam = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method="adam",
                           options={"maxiter": 1, "gtol": 0})
    assert "v" not in adam.state
    np.testing.assert_allclose(adam.state["exp_avg_sq"], (1 - 0.999) * so.rosen_der(x0)**2,
                               rtol=1e-15)
    hb = dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method="heavy_ball",
                         options={"maxiter": 1, "gtol": 0})
    np.testing.assert_allclose(hb.state["v"], hb.x - x0, rtol=1e-12)


def test_no_two_meanings_of_m_P_h_H_in_the_methods():
    from dynopt.methods import fanos, frankenstein, momentum
    for module in (fanos, frankenstein, momentum):
        for name in ("m", "P", "H", "s"):
            assert not isinstance(getattr(module, name, None), sp.Symbol), (module, name)
