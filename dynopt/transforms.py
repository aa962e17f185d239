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
"""
from __future__ import annotations

import sympy as sp

from .hyperparameters import lr, weight_decay
from .program import (Custom, Elementwise, Gradient, Reduce, Scalar, StepProgram, g,
                      replace_in_stage, x)

__all__ = ["chain", "decoupled_weight_decay", "weight_decay_stage", "l2_weight_decay",
           "clip_gradient_norm",
           "grad_clip", "clipped_grad", "decayed_grad"]

#: the threshold of the gradient's 2-norm (0: no clipping)
grad_clip = sp.Symbol("grad_clip", nonnegative=True)
#: the gradient after clipping (a temporary)
clipped_grad = sp.Symbol("g_clip", real=True)
#: the gradient plus the L2 term (a temporary)
decayed_grad = sp.Symbol("grad", real=True)
g_sq = sp.Symbol("g_sq", nonnegative=True)
clip_scale = sp.Symbol("clip_scale", positive=True)


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
