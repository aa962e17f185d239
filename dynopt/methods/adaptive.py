r"""Adam, AdamW and RMSprop with PyTorch's meaning and defaults, read as damped systems.

The rules are the ones ``torch.optim`` documents (Kingma & Ba, ICLR 2015; Loshchilov &
Hutter, ICLR 2019; Tieleman & Hinton, Coursera lecture 6.5, 2012; AMSGrad: Reddi, Kale &
Kumar, ICLR 2018). Adam's step, with :math:`t = k + 1`,

.. math::

    m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
    \theta \leftarrow \theta - \gamma \frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \varepsilon},

is, with the preconditioner held fixed and the bias corrections ignored, the heavy ball
with a per-coordinate mass and friction that grow with the RMS gradient.
``betas=(beta1, beta2)`` is a structural option whose values become the defaults of the
hyperparameters ``beta1`` and ``beta2``; the state keys are PyTorch's (``exp_avg``,
``exp_avg_sq``, ``max_exp_avg_sq``, ``grad_avg``, ``momentum_buffer``). Every rule
(weight decay, AMSGrad, AdamW, centred RMSprop with momentum) and the damped systems
they discretise are in the section "Adam, AdamW and RMSprop" of the Methods page
(``docs/methods.md``).
"""
from __future__ import annotations

from functools import partial
from numbers import Real

import numpy as np
import sympy as sp

from ..hyperparameters import alpha, beta1, beta2, eps, lr, momentum, weight_decay
from ..program import Elementwise, Gradient, StepProgram, g, k, x
from ..transforms import decoupled_weight_decay, l2_weight_decay
from .base import Method

__all__ = ["build_adam", "build_rmsprop", "METHODS", "exp_avg", "exp_avg_sq",
           "max_exp_avg_sq", "grad_avg", "momentum_buffer"]

# state, under PyTorch's names (``res.state[name]``); ``v`` is a velocity in dynopt
#: first moment :math:`m`, the exponential average of the gradient (Adam)
exp_avg = sp.Symbol("exp_avg", real=True)
#: second moment :math:`v`, the exponential average of the squared gradient (Adam; RMSprop,
#: whose ``torch.optim`` state calls it ``square_avg``)
exp_avg_sq = sp.Symbol("exp_avg_sq", real=True)
#: AMSGrad's running maximum :math:`v^{\max}` of the second moment
max_exp_avg_sq = sp.Symbol("max_exp_avg_sq", real=True)
#: centered RMSprop's average gradient :math:`\bar g`
grad_avg = sp.Symbol("grad_avg", real=True)
#: RMSprop's momentum buffer :math:`b`
momentum_buffer = sp.Symbol("momentum_buffer", real=True)
# temporaries
denom = sp.Symbol("denom", positive=True)


def _check_bool(owner, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: option {name!r} must be True or False, got {value!r}")


def _check_betas(owner, betas):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}") from None
    for i, value in enumerate((b1, b2)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{owner}: betas[{i}] must be a number, got {value!r}")
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{owner}: betas[{i}] must lie in [0, 1), got {value!r}")
    return float(b1), float(b2)


def build_adam(integrator=None, betas=(0.9, 0.999), amsgrad=False, decoupled=False):
    """Adam (``decoupled=False``, L2 term in the gradient) or AdamW (decoupled decay)."""
    owner = "adamw" if decoupled else "adam"
    b1, b2 = _check_betas(owner, betas)
    _check_bool(owner, "amsgrad", amsgrad)
    t = k + 1
    moments = [(exp_avg, beta1 * exp_avg + (1 - beta1) * g),
               (exp_avg_sq, beta2 * exp_avg_sq + (1 - beta2) * g**2)]
    second = exp_avg_sq
    vectors = {exp_avg: 0, exp_avg_sq: 0}
    if amsgrad:
        moments.append((max_exp_avg_sq, sp.Max(max_exp_avg_sq, exp_avg_sq)))
        second = max_exp_avg_sq
        vectors[max_exp_avg_sq] = 0
    update = [
        (denom, sp.sqrt(second / (1 - beta2**t)) + eps),
        (x, x - lr * (exp_avg / (1 - beta1**t)) / denom),
    ]
    core = StepProgram(
        owner + ("_amsgrad" if amsgrad else ""), vectors=vectors, scalars={},
        params={lr: 1e-3, beta1: b1, beta2: b2, eps: 1e-8},
        stages=[Elementwise(moments + update), Gradient()],
        description=f"{'AdamW' if decoupled else 'Adam'} as torch.optim documents it")
    if decoupled:
        return decoupled_weight_decay(core, default=1e-2)
    return l2_weight_decay(core, default=0.0)


def build_rmsprop(integrator=None, centered=False):
    """RMSprop as ``torch.optim.RMSprop`` documents it."""
    _check_bool("rmsprop", "centered", centered)
    assignments = [(exp_avg_sq, alpha * exp_avg_sq + (1 - alpha) * g**2)]
    vectors = {exp_avg_sq: 0, momentum_buffer: 0}
    second = exp_avg_sq
    if centered:
        assignments.append((grad_avg, alpha * grad_avg + (1 - alpha) * g))
        second = exp_avg_sq - grad_avg**2
        vectors[grad_avg] = 0
    assignments += [
        (momentum_buffer, momentum * momentum_buffer + g / (sp.sqrt(second) + eps)),
        (x, x - lr * momentum_buffer),
    ]
    core = StepProgram(
        "rmsprop" + ("_centered" if centered else ""), vectors=vectors, scalars={},
        params={lr: 1e-2, alpha: 0.99, eps: 1e-8, momentum: 0.0},
        stages=[Elementwise(assignments), Gradient()],
        description="RMSprop as torch.optim documents it")
    return l2_weight_decay(core, default=0.0)


#: [0, 1): the largest double below 1 as the inclusive upper bound
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
_BOUNDS = {"beta1": (0, _BELOW_ONE), "beta2": (0, _BELOW_ONE)}
_ADAM_PHYSICAL = ("preconditioned heavy ball M_i xddot + c_i xdot + grad f = 0 with "
                  "M_i = (sqrt(vhat_i)+eps)/(lr (1-beta1)), c_i = (sqrt(vhat_i)+eps)/lr "
                  "(time step 1, preconditioner frozen, bias correction aside)")

METHODS = {
    "adam": Method(
        "adam", partial(build_adam, decoupled=False),
        integrator=None, flags={"betas": (0.9, 0.999), "amsgrad": False}, bounds=_BOUNDS,
        summary="Adam as torch.optim.Adam (L2 weight decay added to the gradient)",
        physical=_ADAM_PHYSICAL),
    "adamw": Method(
        "adamw", partial(build_adam, decoupled=True),
        integrator=None, flags={"betas": (0.9, 0.999), "amsgrad": False}, bounds=_BOUNDS,
        summary="AdamW as torch.optim.AdamW (decoupled weight decay, default 1e-2)",
        physical=_ADAM_PHYSICAL + "; plus the position relaxation xdot = -lr*weight_decay*x"),
    "rmsprop": Method(
        "rmsprop", build_rmsprop, integrator=None, flags={"centered": False},
        # alpha = 1 freezes the average v at 0 (steps g/eps); momentum above 1 grows b
        # without bound (1 is the undamped limit, as the heavy ball's)
        bounds={"alpha": (0, _BELOW_ONE), "momentum": (0, 1)},
        summary="RMSprop as torch.optim.RMSprop",
        physical="heavy ball M_i xddot + c_i xdot + grad f = 0 with M_i = (sqrt(v_i)+eps)/lr, "
                 "c_i = (1-momentum) M_i; momentum = 0: overdamped flow "
                 "c_i xdot = -grad f, c_i = (sqrt(v_i)+eps)/lr, under explicit Euler"),
}
