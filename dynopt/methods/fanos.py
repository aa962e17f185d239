r"""FANoS: friction-adaptive Nosé–Hoover symplectic momentum.

N. Dhiman, FANoS (Friction-Adaptive Nosé–Hoover Symplectic momentum),
arXiv:2601.00889 (2026). The Nosé–Hoover thermostat with a per-coordinate mass
(:class:`~dynopt.systems.NoseHoover` with ``normalization='mean'``),

.. math::

    \dot\theta = v, \qquad
    \dot v = -\frac{g}{m} - \zeta v, \qquad
    \dot\zeta = \frac{1}{Q}\Big(\overline{m v^2} - T_0(t)\Big),

integrated by symplectic Euler with step ``lr``, plus four method hooks that are not
part of the system: gradient clipping, an RMS mass :math:`m = \sqrt{s} + \varepsilon`,
a smoothed temperature and a clipped friction. The step written out, the choices made
here, the ablations (``integrator='explicit_euler'``, ``identity_mass``,
``fixed_friction``), the state and settings for atoms (``grad_clip=0``, ``lr`` 0.01 to
0.03) are in the sections "FANoS" and "FANoS on atoms" of the Methods page
(``docs/methods.md``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from ..hyperparameters import Q, dt, eps, lr, mass, temperature, weight_decay
from ..program import Scalar, StepProgram, free_symbols, k
from ..systems import NoseHoover
from ..systems.nose_hoover import kinetic_sum, zeta
from ..transforms import (clip_gradient_norm, field_weight_decay, fixed, grad_clip, rms_beta,
                          rms_mass_value)
from ..transforms import rms_mass as rms_mass_field
from .base import Method

__all__ = ["build_fanos", "METHODS"]

#: [0, 1): the largest double below 1 as the inclusive upper bound
_BELOW_ONE = float(np.nextafter(1.0, 0.0))

# hyperparameters (``beta``: the RMS mass's average, :data:`dynopt.transforms.rms_beta`)
beta = rms_beta
T0_max = sp.Symbol("T0_max", nonnegative=True)
T0_min = sp.Symbol("T0_min", nonnegative=True)
tau = sp.Symbol("tau", positive=True)
rho_T = sp.Symbol("rho_T", nonnegative=True)
zeta_clip = sp.Symbol("zeta_clip", nonnegative=True)
zeta_const = sp.Symbol("zeta_const", real=True)

#: reference defaults (section 2), in the order they are listed
DEFAULTS = {lr: 3e-3, beta: 0.999, eps: 1e-8, Q: 1.0, T0_max: 1e-3, T0_min: 0.0,
            tau: 20000.0, rho_T: 0.9, zeta_clip: 10.0, grad_clip: 1.0, weight_decay: 0.0,
            zeta_const: 0.0}

# state (``res.state[name]``): ``exp_avg_sq`` (:math:`s`, the exponential average of the
# squared gradient, from :func:`dynopt.transforms.rms_mass`) and the smoothed temperature
T_ema = sp.Symbol("T_ema", real=True)
#: :math:`m`, the RMS mass, a temporary (carried in the state by integrators that reuse it
#: after the gradient evaluation, e.g. velocity Verlet)
rms_mass = rms_mass_value

#: the annealed target temperature T0(k)
T0 = T0_min + (T0_max - T0_min) * sp.exp(-k / tau)


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"fanos: option {name!r} must be True or False, got {value!r}")


def build_fanos(integrator, identity_mass: bool = False, fixed_friction: bool = False) -> StepProgram:
    """The FANoS step program under ``integrator``.

    On atoms (stiff pair potentials, gradient norms of tens to hundreds) use
    ``grad_clip=0`` and ``lr`` of 0.01-0.03: the default clip (norm 1) shrinks
    the RMS mass and so the temperature the thermostat reads, the friction
    stays too small and the cluster heats up (the measurements are in the
    Methods page's section "FANoS on atoms").

    Parameters
    ----------
    integrator : Integrator
        Any second-order integrator (symplectic Euler is the paper's).
    identity_mass : bool
        Ablation :math:`m \\equiv 1`.
    fixed_friction : bool
        Ablation :math:`\\zeta \\equiv` ``zeta_const`` (no thermostat update).
    """
    _check_flag("identity_mass", identity_mass)
    _check_flag("fixed_friction", fixed_friction)
    # composed onto the thermostat: the RMS mass (or unit mass), then decoupled weight
    # decay over the time step, first in the step (integrators with sub-steps scale it)
    field = NoseHoover(normalization="mean").vector_field()
    if identity_mass:
        field = fixed(field, {mass: 1})
    else:
        field = rms_mass_field(field, beta=beta, eps=eps, beta_default=DEFAULTS[beta],
                               eps_default=DEFAULTS[eps])
    field = field_weight_decay(field, step=dt)
    # FANoS's own thermostat: the kinetic temperature smoothed, the target annealed, the
    # friction clipped (or held fixed)
    smoothing = Scalar([(T_ema, rho_T * T_ema + (1 - rho_T) * kinetic_sum)])
    if fixed_friction:
        aux, aux_init, post = {}, {}, ()
        scalars = {zeta: zeta_const, T_ema: T0_max}
    else:
        rhs = field.aux[zeta].xreplace({kinetic_sum: T_ema, temperature: T0})
        bounded = sp.Piecewise((sp.Max(-zeta_clip, sp.Min(zeta_clip, zeta)), zeta_clip > 0),
                               (zeta, True))
        aux, aux_init, post = {zeta: rhs}, {zeta: sp.Integer(0)}, (Scalar([(zeta, bounded)]),)
        scalars = {T_ema: T0_max}
    field = replace(
        field, aux=aux, aux_init=aux_init, filters=(smoothing,), post=post,
        params=dict(DEFAULTS), extra_scalars=scalars,
        energies={"kinetic": field.energies["kinetic"]},
    )
    prog = integrator.program(field, "fanos", dt_default=DEFAULTS[lr])
    prog = StepProgram(prog.name, prog.vectors, prog.scalars, {**DEFAULTS, dt: DEFAULTS[lr]},
                       prog.stages, prog.energies).substitute({dt: lr})
    # composed onto the thermostat: the clipped gradient, read again after the gradient
    # evaluation where the integrator's closing half kick needs the new force
    prog = clip_gradient_norm(prog, default=DEFAULTS[grad_clip])
    used = free_symbols(prog.stages)
    for expr in (*prog.vectors.values(), *prog.scalars.values(),
                 *(e for _, e in prog.energies.values())):
        used |= expr.free_symbols
    prog.params = {sym: d for sym, d in DEFAULTS.items() if sym in used}
    prog.description = ("FANoS (Dhiman 2026): Nose-Hoover thermostat with RMS mass, "
                        "annealed target temperature and clipped friction"
                        + (", identity mass" if identity_mass else "")
                        + (", fixed friction" if fixed_friction else ""))
    return prog


METHODS = {
    "fanos": Method(
        "fanos", build_fanos, integrator="symplectic_euler",
        flags={"identity_mass": False, "fixed_friction": False},
        # moment coefficients of exponential averages: 1 would freeze the average
        # (beta = 1 keeps s = 0, so m = eps and the step blows up)
        bounds={"beta": (0, _BELOW_ONE), "rho_T": (0, _BELOW_ONE)},
        summary="FANoS: friction-adaptive Nose-Hoover symplectic momentum (Dhiman, "
                "arXiv 2601.00889)",
        physical="Nose-Hoover thermostat (per-coordinate thermostat mass): theta' = v, "
                 "v' = -g/m - zeta v, zeta' = (mean(m v^2) - T0(t))/Q, with RMS mass "
                 "m = sqrt(EMA g^2) + eps, smoothed temperature and clipped friction"),
}
