"""Stage transformers (dynopt.transforms) against hand-written loops."""
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.methods import Method
from dynopt.program import Custom, Elementwise, Gradient, StepProgram, g, x
from dynopt.transforms import chain, clip_gradient_norm, decoupled_weight_decay, l2_weight_decay

lr = sp.Symbol("lr", positive=True)
LAM = np.array([0.5, 2.0, 8.0])
X0 = np.array([1.0, -2.0, 3.0])


def _sgd():
    return StepProgram("sgd_core", vectors={}, scalars={}, params={lr: 0.05},
                       stages=[Elementwise([(x, x - lr * g)]), Gradient()])


def _run(program, steps=30, **options):
    method = Method(program.name, lambda integrator: program)
    return dynopt.minimize(lambda y: 0.5 * float(LAM @ (y * y)), X0, jac=lambda y: LAM * y,
                           method=method, options={"maxiter": steps, "gtol": 0.0, **options})


def test_l2_weight_decay_is_gradient_descent_on_the_regularised_objective():
    res = _run(l2_weight_decay(_sgd()), weight_decay=0.3)
    y = X0.copy()
    for _ in range(30):
        y = y - 0.05 * (LAM * y + 0.3 * y)
    np.testing.assert_allclose(res.x, y, rtol=1e-14)


def test_decoupled_weight_decay_shrinks_x_first():
    res = _run(decoupled_weight_decay(_sgd()), weight_decay=0.3)
    y = X0.copy()
    for _ in range(30):
        g_old = LAM * y                      # the gradient at the start of the step
        y = y * (1 - 0.05 * 0.3) - 0.05 * g_old
    np.testing.assert_allclose(res.x, y, rtol=1e-14)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 100.0])
def test_clip_gradient_norm_as_torch_clips(threshold):
    res = _run(clip_gradient_norm(_sgd()), grad_clip=threshold)
    y = X0.copy()
    for _ in range(30):
        grad = LAM * y
        norm = np.linalg.norm(grad)
        scale = threshold / max(norm, threshold) if threshold > 0 else 1.0
        y = y - 0.05 * grad * scale
    np.testing.assert_allclose(res.x, y, rtol=1e-13)


def test_chain_composes_in_order_and_adds_hyperparameters_once():
    prog = chain(_sgd(), clip_gradient_norm, l2_weight_decay, decoupled_weight_decay)
    names = [s.name for s in prog.params]
    assert sorted(names) == ["grad_clip", "lr", "weight_decay"]   # each once
    res = _run(prog, grad_clip=1.0, weight_decay=0.1)
    y = X0.copy()
    for _ in range(30):
        grad = LAM * y                                      # at the start of the step
        grad = grad * (1.0 / max(np.linalg.norm(grad), 1.0))
        y = y * (1 - 0.05 * 0.1)                            # the decay comes first ...
        grad = grad + 0.1 * y                               # ... so the L2 term reads it
        y = y - 0.05 * grad
    np.testing.assert_allclose(res.x, y, rtol=1e-13)


def test_a_custom_stage_reading_g_is_refused():
    custom = Custom(lambda S, P: None, reads=(g,), writes=(), label="reader")
    prog = StepProgram("p", vectors={}, scalars={}, params={lr: 0.1},
                       stages=[custom, Elementwise([(x, x - lr * g)]), Gradient()])
    with pytest.raises(ValueError, match="reader"):
        clip_gradient_norm(prog)


def test_methods_are_composed_from_the_transformers():
    """AdamW's decay, Adam's and RMSprop's L2 term and FANoS's clip come from the transformers:
    the transformers' stages appear in the programs."""
    adamw = dynopt.METHODS["adamw"].program()
    assert str(adamw).splitlines()[1].strip().startswith("[elementwise] x <- x*(")
    for name in ("adam", "rmsprop"):
        assert "grad <- g + weight_decay*x" in str(dynopt.METHODS[name].program()).replace(
            "weight_decay*x + g", "g + weight_decay*x")
    fanos = str(dynopt.METHODS["fanos"].program("velocity_verlet"))
    assert fanos.count("g_sq <- sum_i(g**2)") == 2   # the new gradient is clipped too
