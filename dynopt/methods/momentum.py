"""Gradient descent and the momentum methods, as the damped systems they discretise.

Yang et al., NeurIPS 2018 (seed ``001``); reference section 1. With time step
:math:`h`, the heavy-ball iteration
:math:`x_{k+1} = x_k - \\eta\\nabla f(x_k) + \\alpha (x_k - x_{k-1})` is symplectic
Euler applied to :math:`m\\ddot x + c\\dot x + \\nabla f = 0` with

.. math::

    m = \\frac{h^2}{\\eta}, \\qquad c = \\frac{(1-\\alpha) h}{\\eta},

so the damping ratio on a Hessian eigenvalue :math:`\\lambda` is
:math:`\\zeta = (1-\\alpha)/(2\\sqrt{\\eta\\lambda})`. Gradient descent is explicit
Euler on the overdamped limit :math:`c\\dot x = -\\nabla f` with :math:`\\eta = h/c`.
The hyperparameters have PyTorch's meaning (``torch.optim.SGD``): the buffer
:math:`b \\leftarrow \\alpha b + g`, :math:`x \\leftarrow x - \\eta b`; dynopt
carries the velocity :math:`v = -\\eta b` instead, the same trajectory.
"""
from __future__ import annotations

import sympy as sp

from ..hyperparameters import lr, momentum
from ..program import Elementwise, Gradient, StepProgram, g, x
from ..systems import DampedOscillator, GradientFlow, NesterovODE, NoseHoover
from ..systems.base import v
from .base import Method, reparametrize, system_builder

#: the time step the discrete hyperparameters are measured in
UNIT_STEP = sp.Integer(1)


def heavy_ball_mass_damping(lr_value, momentum_value, h=1):
    """Mass and damping of the damped oscillator that heavy ball discretises."""
    return h**2 / lr_value, (1 - momentum_value) * h / lr_value


def build_gd(integrator):
    prog = integrator.program(GradientFlow().vector_field(), "gd")
    return reparametrize(prog, {"dt": lr, "damping": 1}, {lr: 1e-3}, name="gd",
                         description="gradient descent: x <- x - lr g")


def build_heavy_ball(integrator):
    prog = integrator.program(DampedOscillator().vector_field(), "heavy_ball")
    m, c = heavy_ball_mass_damping(lr, momentum, UNIT_STEP)
    return reparametrize(prog, {"mass": m, "damping": c, "dt": UNIT_STEP}, {lr: 1e-3, momentum: 0.9},
                         name="heavy_ball")


def build_nesterov(integrator):
    step = Elementwise([(v, momentum * v - lr * g), (x, x + momentum * v - lr * g)])
    return StepProgram("nesterov", vectors={v: 0}, scalars={}, params={lr: 1e-3, momentum: 0.9},
                       stages=[step, Gradient()],
                       energies={"kinetic": ("sum", v**2 / (2 * lr))})


METHODS = {
    "gd": Method(
        "gd", build_gd, integrator="explicit_euler",
        summary="gradient descent, x <- x - lr*g",
        physical="explicit Euler on the gradient flow c*xdot = -grad f with lr = h/c"),
    "heavy_ball": Method(
        "heavy_ball", build_heavy_ball, integrator="symplectic_euler", bounds={"momentum": (0, 1)},
        summary="Polyak's heavy ball with PyTorch SGD's meaning of lr and momentum",
        physical="damped oscillator m*xddot + c*xdot + grad f = 0, m = h^2/lr, c = (1-momentum) h/lr"),
    "nesterov": Method(
        "nesterov", build_nesterov, integrator=None, bounds={"momentum": (0, 1)},
        summary="Nesterov momentum as torch.optim.SGD(nesterov=True)",
        physical="the heavy-ball oscillator with the gradient read at the look-ahead point"),
    "damped_oscillator": Method(
        "damped_oscillator", system_builder(DampedOscillator, 0.1), integrator="symplectic_euler",
        summary="m*xddot + c*xdot + grad f = 0 in physical units (dt, mass, damping)"),
    "gradient_flow": Method(
        "gradient_flow", system_builder(GradientFlow, 0.1), integrator="explicit_euler",
        summary="c*xdot = -grad f in physical units (dt, damping)"),
    "nesterov_ode": Method(
        "nesterov_ode", system_builder(NesterovODE, 0.01), integrator="symplectic_euler",
        summary="Su-Boyd-Candes ODE xddot + (r/t) xdot + grad f = 0"),
    "nose_hoover": Method(
        "nose_hoover", system_builder(NoseHoover, 0.1),
        integrator="symplectic_euler", flags={"normalization": "sum"},
        summary="Nose-Hoover thermostat dynamics (dt, mass, Q, temperature)"),
}
