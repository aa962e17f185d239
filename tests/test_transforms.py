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


# ------------------------------------------------------------------ field transformers
def _system_run(field, name, steps=30, **options):
    from dynopt.integrators import get_integrator
    program = get_integrator("symplectic_euler").program(field, name, dt_default=0.1)
    return _run(program, steps, **options)


def test_rms_mass_makes_a_heavy_ball_adam_like():
    """rms_mass on the damped oscillator: m = sqrt(EMA g^2) + eps per coordinate, against
    symplectic Euler written out by hand."""
    from dynopt.systems import DampedOscillator
    from dynopt.transforms import rms_mass
    field = rms_mass(DampedOscillator().vector_field(), beta_default=0.9, eps_default=1e-3)
    assert {s.name for s in field.params} == {"damping", "beta", "eps"}   # the mass is set
    res = _system_run(field, "rms_heavy_ball", dt=0.2, damping=0.5)
    y, vel, s = X0.copy(), np.zeros(3), np.zeros(3)
    for _ in range(30):
        grad = LAM * y
        s = 0.9 * s + 0.1 * grad**2
        m = np.sqrt(s) + 1e-3
        vel = vel + 0.2 * (-grad - 0.5 * vel) / m
        y = y + 0.2 * vel
    np.testing.assert_allclose(res.x, y, rtol=1e-13)
    np.testing.assert_allclose(res.state["exp_avg_sq"], s, rtol=1e-13)


def test_rms_mass_refuses_a_first_order_field_and_a_second_application():
    from dynopt.systems import DampedOscillator, GradientFlow
    from dynopt.transforms import rms_mass
    with pytest.raises(ValueError, match="second-order"):
        rms_mass(GradientFlow().vector_field())
    with pytest.raises(ValueError, match="applied twice"):
        rms_mass(rms_mass(DampedOscillator().vector_field()))


def test_fixed_parameter_equals_the_parameter_at_that_value():
    from dynopt.systems import DampedOscillator
    from dynopt.transforms import fixed
    field = DampedOscillator().vector_field()
    unit = fixed(field, {dynopt.hyperparameters.mass: 1})
    assert "mass" not in {s.name for s in unit.params}
    with pytest.raises(TypeError, match="must be a number, got '1'"):
        fixed(field, {dynopt.hyperparameters.mass: "1"})       # never parsed
    a = _system_run(unit, "unit_mass", dt=0.3, damping=0.4)
    b = _system_run(field, "with_mass", dt=0.3, damping=0.4, mass=1.0)
    np.testing.assert_array_equal(a.x, b.x)


def test_field_weight_decay_is_decoupled_over_the_time_step():
    from dynopt.systems import DampedOscillator
    from dynopt.transforms import field_weight_decay
    field = field_weight_decay(DampedOscillator().vector_field())
    res = _system_run(field, "decayed_heavy_ball", dt=0.2, damping=0.5, weight_decay=0.3)
    y, vel = X0.copy(), np.zeros(3)
    for _ in range(30):
        grad = LAM * y                     # at the start of the step, before the decay
        y = y * (1 - 0.2 * 0.3)
        vel = vel + 0.2 * (-grad - 0.5 * vel)
        y = y + 0.2 * vel
    np.testing.assert_allclose(res.x, y, rtol=1e-13)


# ------------------------------------------------------------------ KO's collision
def test_soft_collisions_on_any_program_collide_the_gradient_first():
    from dynopt.methods.ko import soft_collision_coordinates
    from dynopt.transforms import soft_collisions
    prog = chain(_sgd(), soft_collisions, decoupled_weight_decay)
    assert [s.name for s in prog.params].count("gamma_c") == 1
    res = _run(prog, gamma_c=0.4, weight_decay=0.1)
    y = X0.copy()
    for _ in range(30):
        grad = soft_collision_coordinates(y, LAM * y, gamma_c=0.4)   # reads x before the decay
        y = y * (1 - 0.05 * 0.1) - 0.05 * grad
    np.testing.assert_allclose(res.x, y, rtol=1e-13)


def test_soft_collisions_refuse_a_program_that_reads_the_new_gradient():
    from dynopt.transforms import soft_collisions
    verlet = dynopt.METHODS["damped_oscillator"].program("velocity_verlet")
    with pytest.raises(ValueError, match="reads the gradient after evaluating it"):
        soft_collisions(verlet)
    with pytest.raises(ValueError, match="already has a hyperparameter named 'gamma_c'"):
        soft_collisions(soft_collisions(_sgd()))
