"""Warm starts from the on-disk record (dynopt.warm): no SymPy, the same numbers.

Each test uses its own cache folder (``DYNOPT_CACHE_DIR``), so that what it
writes and reads is its own.
"""
import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest
import scipy.optimize as so

import dynopt
from dynopt import _minimize, warm
from dynopt.backends._module_cache import CacheWarning
from dynopt.stepper import SMALL_THRESHOLD, clear_caches

X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("DYNOPT_CACHE_DIR", str(folder))
    clear_caches()
    yield folder
    clear_caches()


def _refuse_full_path(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the call took the full path")
    monkeypatch.setattr(_minimize, "build_program", refuse)


@pytest.mark.parametrize("method,opts", [
    ("heavy_ball", {"lr": 1e-3, "momentum": 0.9}), ("adam", {"lr": 1e-2}), ("fanos", {}),
    ("fire", {"dt": 1e-3, "dtmax": 1e-2}), ("nesterov", {"lr": 1e-4}), ("adamw", {}),
])
def test_warm_run_equals_the_full_path(cache, monkeypatch, method, opts):
    options = {**opts, "maxiter": 300, "gtol": 0, "record": 50}
    batch = np.stack([X0, 0.9 * X0])
    cold = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method=method, options=options)
    cold_batch = dynopt.minimize(so.rosen, batch, jac=so.rosen_der, method=method,
                                 options=options)
    clear_caches()  # a new process, as far as the in-process caches go
    _refuse_full_path(monkeypatch)
    hot = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method=method, options=options)
    hot_batch = dynopt.minimize(so.rosen, batch, jac=so.rosen_der, method=method,
                                options=options)
    np.testing.assert_array_equal(hot.x, cold.x)
    np.testing.assert_array_equal(hot.trajectory["x"], cold.trajectory["x"])
    np.testing.assert_array_equal(hot_batch.x, cold_batch.x)
    for key in ("fun", "nit", "nfev", "status", "message", "method", "hyperparameters"):
        assert hot[key] == cold[key], key
    assert hot.state.keys() == cold.state.keys()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_fresh_process_with_a_record_imports_no_sympy(cache, backend):
    code = ("import sys, numpy as np, dynopt, scipy.optimize as so\n"
            "r = dynopt.minimize(so.rosen, np.linspace(-1, 1, 6), jac=so.rosen_der, "
            f"method='fanos', backend={backend!r}, options={{'maxiter': 200}})\n"
            "print(r.x.tobytes().hex(), 'sympy' in sys.modules, 'numba' in sys.modules, "
            "r.backend)\n")
    env = {**__import__("os").environ, "DYNOPT_CACHE_DIR": str(cache)}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env).stdout.split() for _ in range(2)]
    assert runs[0][1] == "True"       # the first derives the method (and writes the record)
    # the second runs from it: same bytes, no SymPy, and no Numba for a small lone run
    assert runs[1] == [runs[0][0], "False", "False", backend]


def test_a_small_lone_numba_run_from_the_record_equals_the_full_path(cache, monkeypatch):
    options = {"lr": 1e-2, "maxiter": 300, "gtol": 0, "record": 50}
    cold = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam", backend="numba",
                           options=options)
    clear_caches()
    _refuse_full_path(monkeypatch)
    hot = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam", backend="numba",
                          options=options)
    numpy_run = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                                options=options)
    np.testing.assert_array_equal(hot.x, cold.x)
    np.testing.assert_array_equal(hot.trajectory["x"], cold.trajectory["x"])
    np.testing.assert_array_equal(numpy_run.x, cold.x)  # both step with NumPy's kernels
    for key in ("fun", "nit", "nfev", "status", "message", "method", "backend",
                "hyperparameters"):
        assert hot[key] == cold[key], key
    assert hot.backend == "numba"


def test_an_edited_record_is_not_run(cache, monkeypatch):
    ref = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                          options={"maxiter": 50})
    facts = next(cache.glob("warm_facts_*.py"))
    facts.write_text(facts.read_text().replace("0.001", "0.5"))  # Adam's default lr
    clear_caches()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                              options={"maxiter": 50})
    assert any(issubclass(w.category, CacheWarning) and "warm_facts" in str(w.message)
               for w in caught)
    np.testing.assert_array_equal(res.x, ref.x)
    assert "0.001" in facts.read_text()  # the full path wrote it again
    clear_caches()
    _refuse_full_path(monkeypatch)
    again = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                            options={"maxiter": 50})
    np.testing.assert_array_equal(again.x, ref.x)


def test_what_a_record_cannot_answer_takes_the_full_path(cache):
    dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam", options={"maxiter": 5})
    calls = []
    original = _minimize.build_program

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)
    _minimize.build_program = counting
    try:
        with pytest.raises(ValueError, match="lr"):
            dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                            options={"lr": -1.0})
        with pytest.raises(TypeError, match="unknown option"):
            dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                            options={"learning_rate": 0.1})
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                        options={"amsgrad": True, "maxiter": 5})          # a structural flag
        dynopt.minimize(so.rosen, np.stack([X0, X0]), jac=so.rosen_der, method="adam",
                        options={"lr": np.array([1e-3, 2e-3]), "maxiter": 5})  # per member
        # the Numba backend's own kernels: a batch, a lone run of SMALL_THRESHOLD coordinates
        dynopt.minimize(so.rosen, np.stack([X0, X0]), jac=so.rosen_der, method="adam",
                        backend="numba", options={"maxiter": 5})
        dynopt.minimize(so.rosen, np.linspace(-1, 1, SMALL_THRESHOLD), jac=so.rosen_der,
                        method="adam", backend="numba", options={"maxiter": 5})
        assert len(calls) == 6
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                        options={"lr": 2e-3, "maxiter": 5})
        dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam", backend="numba",
                        options={"lr": 2e-3, "maxiter": 5})
        assert len(calls) == 6  # a plain hyperparameter, a small lone run: the record answers
        # Numba-compiled callables may run compiled (dynopt.compiled): the full path decides
        nb_fun = numba.njit(lambda x: (x @ x, 2 * x))
        loop = _minimize._split_options({}, None)[0]
        assert _minimize._warm("adam", None, "numba", {}, loop, (1, 5), np.float64, nb_fun,
                               True) is None
        assert _minimize._warm("adam", None, "numba", {}, loop, (1, 5), np.float64, so.rosen,
                               so.rosen_der) is not None
    finally:
        _minimize.build_program = original


def test_a_replaced_method_has_no_warm_start(cache):
    from dynopt.methods import METHODS, BUILTIN, register
    dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="heavy_ball", options={"maxiter": 5})
    assert warm.lookup("heavy_ball", None, {}, 1, np.float64) is not None
    register(METHODS["gd"].__class__(**{**METHODS["gd"].__dict__, "name": "heavy_ball"}),
             replace=True)
    try:
        assert warm.lookup("heavy_ball", None, {}, 1, np.float64) is None
    finally:
        register(BUILTIN["heavy_ball"], replace=True)
    assert warm.lookup("heavy_ball", None, {}, 1, np.float64) is not None


def test_record_literals_hold_plain_values_only():
    assert warm._literal({"a": (1, 2.5, None, True)}) == "{'a': (1, 2.5, None, True, )}"
    for bad in ("x = 1", float("nan"), object(), "import os"):
        with pytest.raises((TypeError, ValueError)):
            warm._literal(bad)


def test_an_unusable_cache_folder_means_no_record_and_no_warning(cache):
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)  # open to others: the kernel cache refuses it
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        for _ in range(2):
            res = dynopt.minimize(so.rosen, X0, jac=so.rosen_der, method="adam",
                                  options={"maxiter": 5})
    assert res.nit == 5 and not list(cache.iterdir())
    assert warm.lookup("adam", None, {}, 1, np.float64) is None
