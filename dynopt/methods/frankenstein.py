r"""The Frankenstein optimizer: adaptive momentum and second-moment coefficients.

C.-W. Hsu et al., "Frankenstein Optimizer: Harnessing the Potential by Revisiting
Optimization Tricks", arXiv:2503.02147 (2025), and the authors' code
(acctouhou/Frankenstein_optimizer, Apache-2.0). Per coordinate the step is Nesterov's
form of the heavy ball with a step :math:`\alpha\xi/\sqrt{v_t}` and a momentum
coefficient :math:`\rho\beta_1` that drop when momentum and gradient disagree, read off

.. math::

    P = \arccos\big(\tanh(m\,g)\big) / \pi .

``variant='code'`` (default) is the authors' code at its head, ``variant='paper'`` the
pseudo-code of the paper's Algorithm 1. The step written out, the constants of each
variant and the state are in the section "Frankenstein" of the Methods page
(``docs/methods.md``).
"""
from __future__ import annotations

import sympy as sp

from ..hyperparameters import beta1, eps, lr, weight_decay
from ..program import Elementwise, Gradient, StepProgram, g, x
from ..systems.base import v
from .base import Method

__all__ = ["build_frankenstein", "METHODS", "VARIANTS", "adaptive_avg_sq", "prev_sq_grad"]

# state (``res.state[name]``): the velocity ``v`` (the paper's m) and these two
#: :math:`v^{\max}`, the average of squared gradients with the adaptive coefficient beta2
adaptive_avg_sq = sp.Symbol("adaptive_avg_sq", real=True)
#: :math:`s`, the previous step's :math:`x_t = g^2 + \varepsilon`
prev_sq_grad = sp.Symbol("prev_sq_grad", real=True)
# ``beta1``, the momentum coefficient (Adam's symbol), is a constant of the run: it
# depends on lr only and is carried as a scalar of the state
# temporaries
#: :math:`P`, the misalignment of momentum and gradient, in [0, 1]
align = sp.Symbol("align", real=True)
xi = sp.Symbol("xi", positive=True)
x_t = sp.Symbol("x_t", positive=True)
v_t = sp.Symbol("v_t", positive=True)
#: :math:`\rho`, the factor on the momentum (named so that SymPy orders the product
#: beta1*v*v_factor as the reference formula evaluates it, beta1*m first)
v_factor = sp.Symbol("v_factor", real=True)
step = sp.Symbol("step", real=True)
one_minus_beta2 = sp.Symbol("one_minus_beta2", real=True)

half = sp.Rational(1, 2)

#: variant -> (upper clip of 1 - beta1, use v_t in rho, rho's clip bounds, clip x_t/s to [0, 1])
VARIANTS = {
    "code": (sp.Rational(95, 100), True, (sp.exp(-sp.Rational(1, 5)), sp.exp(sp.Rational(103, 100))),
             True),
    "paper": (sp.Rational(99, 100), False, (sp.exp(sp.Rational(4, 5)), sp.exp(sp.Rational(105, 100))),
              False),
}


def _clip(expr, lo, hi):
    return sp.Min(sp.Max(expr, lo), hi)


def _number(expr) -> sp.Float:
    """A constant as one double, printed as a literal (a Python float in generated code,
    so it never widens a float32 run as a NumPy float64 scalar would)."""
    return sp.Float(float(expr), 17)


def build_frankenstein(integrator=None, variant: str = "code") -> StepProgram:
    """The Frankenstein step program (``variant`` in ``'code'``, ``'paper'``).

    :math:`\\beta_1` depends on ``lr`` only: it is computed once, when the state is
    initialised, and carried as a constant scalar of the state (in the run's dtype).
    """
    if variant not in VARIANTS:
        raise ValueError(f"frankenstein: variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    upper, rho_uses_v, (rho_lo, rho_hi), clip_ratio = VARIANTS[variant]
    ratio = x_t / prev_sq_grad
    if clip_ratio:
        ratio = _clip(ratio, 0, 1)
    stages = [
        Elementwise([
            (x, x * (1 - lr * weight_decay)),
            (align, sp.acos(sp.tanh(v * g)) / sp.pi),
            (xi, _number(1 + sp.exp(-half)) / (1 + sp.exp(-sp.Abs(prev_sq_grad - align)))),
            (x_t, g**2 + eps),
            (v_t, sp.Max(adaptive_avg_sq, x_t)),
            (v_factor, sp.log(_clip(sp.E + half - align + sp.sqrt(v_t if rho_uses_v else x_t),
                               _number(rho_lo), _number(rho_hi)))),
            (step, lr * xi * g / sp.sqrt(v_t)),
            (v, v_factor * beta1 * v - step),
            (x, x + beta1 * v - step),
            (one_minus_beta2, ratio * sp.Abs(align - half)),
            (adaptive_avg_sq, (1 - one_minus_beta2) * v_t + one_minus_beta2 * x_t),
            (prev_sq_grad, x_t),
        ]),
        Gradient(),
    ]
    return StepProgram(
        f"frankenstein_{variant}", vectors={v: 0, adaptive_avg_sq: 0, prev_sq_grad: lr},
        scalars={beta1: 1 - _clip(sp.Rational(1, 10) * sp.sqrt(lr / sp.Rational(1, 1000)),
                                  sp.Rational(5, 100), upper)},
        params={lr: 1e-3, eps: 1e-8, weight_decay: 0.0}, stages=stages,
        description=f"Frankenstein optimizer (Hsu et al. 2025), {variant} variant")


def _build(integrator, variant="code"):
    return build_frankenstein(integrator, variant=variant)


METHODS = {
    "frankenstein": Method(
        "frankenstein", _build, integrator=None, flags={"variant": "code"},
        summary="Frankenstein optimizer (Hsu et al., arXiv 2503.02147); variant='code' "
                "(authors' code, default) or 'paper' (Algorithm 1)",
        physical="Nesterov-form heavy ball with per-coordinate mass sqrt(v_t)/(lr xi) and "
                 "momentum coefficient rho*beta1 adapted to the alignment P of momentum and "
                 "gradient"),
}
