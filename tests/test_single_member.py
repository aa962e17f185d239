"""The single-member NumPy kernels: fewer array operations, the same values.

A lone run on the NumPy backend (and on the Numba backend below its small-size
threshold) steps with kernels whose scalars are Python numbers. They are printed
with scalar factors combined first, sums collected by their per-coordinate part
and sum reductions of products as dot products, and with the hyperparameters
that are zero folded in. Checked here against the batch kernels (printed term by
term) and by counting the array operations a step makes.
"""
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.backends.numpy_backend import NumpyBackend
from dynopt.program import Elementwise, Gradient, Reduce, Scalar, StepProgram, g, k, x
from dynopt.stepper import fold_zero_params, get_stepper

h, s, keep, lr, z, beta, Q = sp.symbols("h s keep lr z beta Q", real=True)
v, m, acc = sp.symbols("v m acc", real=True)
pw, FF, T = sp.symbols("pw FF T", real=True)


def _program(stages_before, params):
    return StepProgram(name="printer_check", vectors={v: sp.Float(0.5), m: sp.Float(1.5)},
                       scalars={acc: sp.Float(0.0)}, params=params,
                       stages=[*stages_before, Gradient()])


def _state(rng, n=6):
    return {"x": rng.normal(size=(1, n)), "g": rng.normal(size=(1, n)),
            "v": rng.normal(size=(1, n)), "m": rng.uniform(0.5, 2.0, size=(1, n)),
            "f": np.ones((1, 1)), "k": np.full((1, 1), 3.0), "acc": np.zeros((1, 1)),
            "N": 6.0}


@pytest.mark.parametrize("stages", [
    [Elementwise([(v, -g * h - g * s + keep * v)])],                       # FIRE's mixing
    [Elementwise([(v, lr * (-g / m - z * v) + v), (x, x + lr * v)])],      # FANoS's kick
    [Elementwise([(x, x - v * lr / (m * (1 - beta ** (k + 1))))])],        # Adam's update
    [Reduce(pw, -g * v), Reduce(FF, h ** 2 * v ** 2), Reduce(T, m * v ** 2, "mean"),
     Scalar([(acc, pw + FF + T)])],
    [Reduce(T, (x - v) ** 2), Reduce(FF, 3 * g, "max"), Scalar([(acc, T - FF)])],
], ids=["collect", "nested", "scalar-first", "dots", "square-of-sum"])
def test_single_kernels_equal_the_batch_kernels(stages):
    params = {h: 0.1, s: 0.02, keep: 0.9, lr: 0.05, z: 0.3, beta: 0.99}
    program = _program(stages, params)
    backend = NumpyBackend()
    batch, single = backend.compile(program), backend.compile_single(program)
    P = {sym.name: val for sym, val in params.items()}
    a, b = _state(np.random.default_rng(1)), _state(np.random.default_rng(1))
    batch.before(a, P)
    single.before(b, P)
    for key in ("x", "v", "acc"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-14, atol=1e-15, err_msg=key)


class _Counted(np.ndarray):
    """An array that counts the array operations (ufunc calls, reductions, dot
    products) done with it."""

    calls = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _Counted.calls += 1
        plain = [i.view(np.ndarray) if isinstance(i, _Counted) else i for i in inputs]
        out = getattr(ufunc, method)(*plain, **kwargs)
        return out.view(_Counted) if isinstance(out, np.ndarray) else out

    def dot(self, other):
        _Counted.calls += 1
        return self.view(np.ndarray).dot(np.asarray(other))


def _array_operations(method, steps=3):
    """Array operations per ``before`` of ``method``'s folded single-member kernel."""
    stepper = get_stepper(method)
    params = stepper.program.param_defaults()
    X0 = np.array([[0.3, -0.2]])
    state = stepper.init(X0, [1.0], np.array([[0.5, -0.4]]), params, constant_params=True)
    S = state.arrays
    for key in stepper.vectors:
        if key in S:
            S[key] = np.asarray(S[key]).view(_Counted)
    counts = []
    for step in range(steps):
        S["k"][0, 0] = step
        S["g"] = np.array([[0.5, -0.4]]).view(_Counted) * 1.0
        _Counted.calls = 0
        state.kernels.before(S, state.params)
        counts.append(_Counted.calls)
    return max(counts[1:])


@pytest.mark.parametrize("method,most", [
    ("heavy_ball", 4),   # momentum*v - lr*g, then x + v: as a hand-written loop
    ("adam", 13),        # three moment passes, bias-corrected update, no weight decay
    ("fire", 9),         # three dot products, mixing in three, the capped move in three
])
def test_a_step_takes_few_array_operations(method, most):
    assert _array_operations(method) <= most


def test_zero_weight_decay_is_folded_and_exact():
    stepper = get_stepper("adam")
    params = stepper.program.param_defaults()
    assert stepper.zero_params(params) == ("weight_decay",)
    assert "weight_decay" not in stepper.single_kernels(("weight_decay",)).source
    rng = np.random.default_rng(4)
    X0 = rng.normal(size=(1, 5))
    runs = []
    for constant in (True, False):
        state = stepper.init(X0, [1.0], X0.copy(), params, constant_params=constant)
        for step in range(50):
            xs = stepper.before(state, step)
            stepper.after(state, float((xs * xs).sum()), 2 * xs + 0.1)
        runs.append(np.array(state.arrays["x"]))
    # g + 0*x is g for a finite x: the folded kernel computes the same numbers
    np.testing.assert_array_equal(runs[0], runs[1])


def test_a_zero_that_would_divide_is_not_folded():
    program = _program([Elementwise([(x, x - lr * g / Q)])], {lr: 0.1, Q: 1.0})
    assert fold_zero_params(program, ("Q",)) is program
    assert fold_zero_params(program, ("lr",)) is not program


def test_retuned_runs_keep_the_unfolded_kernels():
    stepper = get_stepper("heavy_ball")
    params = {**stepper.program.param_defaults(), "momentum": 0.0}
    X0 = np.ones((1, 3))
    changing = stepper.init(X0, [1.0], X0, params, constant_params=False)
    fixed = stepper.init(X0, [1.0], X0, params, constant_params=True)
    assert changing.kernels is stepper.single_kernels()
    assert fixed.kernels is stepper.single_kernels(("momentum",))
    # minimize folds: the same result as a run with a tiny non-zero momentum's limit
    res = dynopt.minimize(lambda y: float(y @ y), np.ones(3), jac=lambda y: 2 * y,
                          method="heavy_ball", options={"lr": 0.1, "momentum": 0.0,
                                                        "maxiter": 5, "gtol": 0})
    np.testing.assert_allclose(res.x, 0.8 ** 5 * np.ones(3), rtol=1e-14)
