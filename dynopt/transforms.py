"""Stage transformers: what a method adds to a step program, written once.

Each function takes a :class:`~dynopt.program.StepProgram` and returns a new one
with a piece added, the way optax chains gradient transformations (Babuschkin
et al., "The DeepMind JAX ecosystem", 2020): decoupled weight decay
(Loshchilov & Hutter, ICLR 2019), L2 weight decay in the gradient, clipping of
the gradient's 2-norm (Pascanu, Mikolov & Bengio, ICML 2013). A method builder
composes them onto its core program (:func:`chain`) instead of typing them
into it; the printed kernels are the same as if they had been typed in.

The gradient a transformer rewrites is the symbol ``g`` as the program reads
it: in each part of the step (before and after the gradient evaluation) the
new stages go just before the first stage that reads ``g``, and the stages
from there on read the transformed gradient.

Two kinds of transformer:

* program transformers, ``t(program) -> program``, composed with :func:`chain`:
  :func:`decoupled_weight_decay`, :func:`l2_weight_decay`,
  :func:`clip_gradient_norm`, :func:`soft_collisions` (KO's collision of the
  gradient, a Python stage);
* field transformers, ``t(field) -> field``, applied to a system's
  :class:`~dynopt.systems.base.VectorField` before an integrator turns it into a
  program, so that the integrator places their stages (sub-steps included):
  :func:`rms_mass` (FANoS's mass), :func:`field_weight_decay`, :func:`fixed`.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from .hyperparameters import dt, eps, lr, mass, weight_decay
from .program import (Custom, Elementwise, Gradient, Reduce, Scalar, StepProgram,
                      free_symbols, g, replace_in_stage, x)

__all__ = ["chain", "decoupled_weight_decay", "weight_decay_stage", "l2_weight_decay",
           "clip_gradient_norm", "soft_collisions", "rms_mass", "field_weight_decay", "fixed",
           "grad_clip", "clipped_grad", "decayed_grad", "gamma_c", "rms_beta",
           "exp_avg_sq", "rms_mass_value"]

#: the threshold of the gradient's 2-norm (0: no clipping)
grad_clip = sp.Symbol("grad_clip", nonnegative=True)
#: the gradient after clipping (a temporary)
clipped_grad = sp.Symbol("g_clip", real=True)
#: the gradient plus the L2 term (a temporary)
decayed_grad = sp.Symbol("grad", real=True)
g_sq = sp.Symbol("g_sq", nonnegative=True)
clip_scale = sp.Symbol("clip_scale", positive=True)
#: KO's collision coefficient :math:`\gamma_c \ge 0`
gamma_c = sp.Symbol("gamma_c", nonnegative=True)
#: the coefficient of the squared-gradient average behind an RMS mass
rms_beta = sp.Symbol("beta", nonnegative=True)
#: :math:`s`, the exponential average of the squared gradient (state)
exp_avg_sq = sp.Symbol("exp_avg_sq", real=True)
#: :math:`m = \sqrt{s} + \varepsilon`, the RMS mass (a temporary; integrators that need it
#: after the gradient evaluation, e.g. velocity Verlet, carry it in the state)
rms_mass_value = sp.Symbol("rms_mass", positive=True)


def chain(program: StepProgram, *transforms) -> StepProgram:
    """``program`` behind ``transforms``, each ``t(program) -> program``, as optax chains.

    The gradient passes the transforms in the order given, then reaches the
    program: ``chain(p, clip_gradient_norm, l2_weight_decay)`` clips ``g`` first
    and adds the L2 term to the clipped gradient. (Each transform puts its
    stages before the program it is given, so they are applied last to first.)
    """
    for transform in reversed(transforms):
        program = transform(program)
    return program


def _reads_g(stage) -> bool:
    if isinstance(stage, (Elementwise, Scalar)):
        return any(g in e.free_symbols for _, e in stage.assignments)
    if isinstance(stage, Reduce):
        return g in stage.expr.free_symbols
    if isinstance(stage, Custom):
        return g in stage.reads
    return False


def _substitute(stage, old, new):
    if isinstance(stage, Custom):
        raise ValueError(f"custom stage {stage.label!r} runs after the gradient is rewritten: a "
                         "transformer cannot rewrite the gradient a Python function reads or "
                         "writes")
    return replace_in_stage(stage, {old: new})


def _with(program: StepProgram, stages, params: dict) -> StepProgram:
    """``program`` with other stages and the hyperparameters ``params`` (symbol ->
    default) added after its own where it lacks them."""
    merged = {**program.params, **{s: d for s, d in params.items() if s not in program.params}}
    return StepProgram(program.name, dict(program.vectors), dict(program.scalars), merged,
                       stages, dict(program.energies), program.description)


def _rewrite_gradient(program: StepProgram, make_stages, new_g, params: dict) -> StepProgram:
    """Insert ``make_stages()`` before the first reader of ``g`` in each part and let the
    stages from there on read ``new_g``."""
    stages, active = [], False
    for st in program.stages:
        if isinstance(st, Gradient):
            stages.append(st)
            active = False
            continue
        if not active and _reads_g(st):
            stages.extend(make_stages())
            active = True
        stages.append(_substitute(st, g, new_g) if active else st)
    return _with(program, stages, params)


def decoupled_weight_decay(program: StepProgram, *, rate=weight_decay, step=lr,
                           default: float = 1e-2) -> StepProgram:
    r""":math:`x \leftarrow x\,(1 - \eta\lambda)` first in the step: decoupled weight decay.

    Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019, as
    ``torch.optim.AdamW`` applies it: the decay is the step ``step`` (``lr``, or
    a time step) times ``rate`` (``weight_decay``, default ``default``) and does
    not enter the gradient. It is the first stage of the step: every later
    stage (an L2 term too) reads the decayed :math:`x`.
    """
    return _with(program, [weight_decay_stage(step, rate), *program.stages], {rate: default})


def weight_decay_stage(step=lr, rate=weight_decay) -> Elementwise:
    r"""The stage :math:`x \leftarrow x\,(1 - h\lambda)` of :func:`decoupled_weight_decay`.

    For a method built from a system, put it among the field's ``pre`` hooks with
    ``step`` the time step ``dt``: integrators that take sub-steps (``yoshida4``)
    then scale it with the sub-step, as they scale the rest of the step.
    """
    return Elementwise([(x, x * (1 - step * rate))])


def l2_weight_decay(program: StepProgram, *, rate=weight_decay, default: float = 0.0,
                    target=decayed_grad) -> StepProgram:
    r""":math:`g \leftarrow g + \lambda x`: L2 regularisation in the gradient the program reads
    (``torch.optim.Adam``'s and ``RMSprop``'s ``weight_decay``)."""
    return _rewrite_gradient(program, lambda: [Elementwise([(target, g + rate * x)])], target,
                             {rate: default})


def clip_gradient_norm(program: StepProgram, *, threshold=grad_clip, default: float = 1.0,
                       target=clipped_grad) -> StepProgram:
    r""":math:`g \leftarrow g \min(1, c / \lVert g\rVert_2)`: clipping of the gradient's 2-norm.

    As ``torch.nn.utils.clip_grad_norm_`` up to its :math:`10^{-6}`: the factor is
    :math:`c / \max(\lVert g\rVert_2, c)`, exactly 1 when the norm is below the
    threshold, and a threshold of 0 turns clipping off. In a step that also
    reads the new gradient after its evaluation (velocity Verlet's closing half
    kick) the new gradient is clipped the same way.
    """
    def stages():
        scale = sp.Piecewise((threshold / sp.Max(sp.sqrt(g_sq), threshold), threshold > 0),
                             (1, True))
        return [Reduce(g_sq, g**2, "sum"), Scalar([(clip_scale, scale)]),
                Elementwise([(target, g * clip_scale)])]

    return _rewrite_gradient(program, stages, target, {threshold: default})


def soft_collisions(program: StepProgram, *, layers=None, collision_scale: str = "mean",
                    exclude_self: bool = True, rate=gamma_c,
                    default: float = 0.1) -> StepProgram:
    r""":math:`g \leftarrow \tilde g(x, g)`, KO's soft collision, first in the step.

    Feng et al., "KO: kinetics-inspired neural optimizer with PDE simulation
    approaches", arXiv:2505.14777, 2025: the gradient rows of each weight matrix
    collide (:func:`dynopt.collisions.soft_collision`; ``layers=None``: every
    coordinate is a particle, :func:`dynopt.methods.ko.soft_collision_coordinates`)
    before the optimizer reads them. The collision is a Python stage
    (:class:`~dynopt.program.Custom`) that reads :math:`x` and :math:`g` as the step
    is given them, so it goes first: before a decoupled weight decay, as KO's code
    collides ``p.grad`` before the optimizer's step. A program that reads the
    gradient again after its evaluation would read it uncollided and is refused.
    The coefficient is the hyperparameter ``rate`` (``gamma_c``, default ``default``).
    """
    from .methods.ko import soft_collision_stage   # KO's module holds the stage itself

    stage = soft_collision_stage(layers, collision_scale, exclude_self)
    late = free_symbols(program.after_gradient)
    late |= {s for st in program.after_gradient if isinstance(st, Custom) for s in st.reads}
    if g in late:
        raise ValueError(f"{program.name!r} reads the gradient after evaluating it; the soft "
                         "collision needs a program that uses it only before")
    if any(s.name == rate.name for s in program.params):
        raise ValueError(f"{program.name!r} already has a hyperparameter named {rate.name!r}")
    return _with(program, [stage, *program.stages], {rate: default})


# ------------------------------------------------------------------ field transformers
def _field_substitute(field, values: dict, energy_values: dict | None = None):
    """``field`` with ``values`` (symbol -> expression) substituted in everything the
    integrator reads; the energies take ``energy_values`` (default ``values``)."""
    energy_values = values if energy_values is None else energy_values
    return replace(
        field,
        xdot=field.xdot.xreplace(values),
        vdot=None if field.vdot is None else field.vdot.xreplace(values),
        aux={s: e.xreplace(values) for s, e in field.aux.items()},
        reductions=tuple(Reduce(r.target, r.expr.xreplace(values), r.op)
                         for r in field.reductions),
        energies={name: (op, e.xreplace(energy_values))
                  for name, (op, e) in field.energies.items()},
        params={s: d for s, d in field.params.items() if s not in values})


def fixed(field, values: dict):
    r"""``field`` with parameters held at fixed values (symbol -> number), no longer
    hyperparameters: e.g. ``fixed(field, {mass: 1})`` for unit mass. The values are
    numbers (an integer stays exact); anything else is refused, never parsed."""
    exact = {}
    for sym, value in values.items():
        if not isinstance(sym, sp.Symbol):
            raise TypeError(f"fixed: keys must be the field's parameter symbols, got {sym!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                              np.floating)):
            raise TypeError(f"fixed: the value of {sym.name!r} must be a number, got {value!r}")
        exact[sym] = (sp.Integer(int(value)) if isinstance(value, (int, np.integer))
                      else sp.Float(float(value)))
    return _field_substitute(field, exact)


def rms_mass(field, *, mass_symbol=mass, beta=rms_beta, eps=eps, average=exp_avg_sq,
             target=rms_mass_value, beta_default: float = 0.999,
             eps_default: float = 1e-8):
    r"""The mass of a second-order field set per coordinate from the RMS gradient.

    .. math::

        s \leftarrow \beta s + (1 - \beta)\, g^2, \qquad m = \sqrt{s} + \varepsilon,

    first in the step (a pre hook, after the field's own), with :math:`s` a new
    state vector starting at 0: FANoS's RMS mass (Dhiman, arXiv:2601.00889, 2026),
    the diagonal metric that makes a heavy ball Adam-like (a preconditioned
    kinetic energy :math:`\sum_i m_i v_i^2/2`). Every expression of the field in
    ``mass_symbol`` reads :math:`m`; the energies read :math:`\sqrt{s} + \varepsilon`
    from the state, so that they are defined between steps. ``beta`` and ``eps``
    become hyperparameters (defaults ``beta_default``, ``eps_default``).
    """
    if not field.second_order:
        raise ValueError("rms_mass needs a second-order field (a mass to set), got a "
                         "first-order one")
    if average in field.extra_vectors:
        raise ValueError(f"the field already carries {average}: rms_mass applied twice?")
    hook = Elementwise([(average, beta * average + (1 - beta) * g**2),
                        (target, sp.sqrt(average) + eps)])
    out = _field_substitute(field, {mass_symbol: target},
                            {mass_symbol: sp.sqrt(average) + eps})
    return replace(out, pre=(*field.pre, hook),
                   extra_vectors={**field.extra_vectors, average: sp.Integer(0)},
                   params={**out.params, beta: beta_default, eps: eps_default})


def field_weight_decay(field, *, step=dt, rate=weight_decay, default: float = 0.0):
    r""":math:`x \leftarrow x\,(1 - h\lambda)` first in the step of a field's program.

    Decoupled weight decay (Loshchilov & Hutter, ICLR 2019) as a pre hook before
    the field's own, with ``step`` the time step: integrators that take sub-steps
    (``yoshida4``) scale it with the sub-step, as they scale the rest of the step.
    """
    return replace(field, pre=(weight_decay_stage(step, rate), *field.pre),
                   params={**field.params, **({} if rate in field.params else {rate: default})})
