r"""FANoS: friction-adaptive Nosé–Hoover symplectic momentum.

N. Dhiman, FANoS (Friction-Adaptive Nosé–Hoover Symplectic momentum),
arXiv:2601.00889 (2026); reference section 2. FANoS is the
Nosé–Hoover thermostat with a per-coordinate thermostat mass
(:class:`~dynopt.systems.NoseHoover` with ``normalization='mean'``),

.. math::

    \dot\theta = v, \qquad
    \dot v = -\frac{g}{m} - \zeta v, \qquad
    \dot\zeta = \frac{1}{Q}\Big(\overline{m v^2} - T_0(t)\Big),

integrated by symplectic Euler with step :math:`h` (the hyperparameter ``lr``),
plus four method hooks that are not part of the system: gradient clipping, an
RMS mass, a smoothed temperature and a clipped friction. Step :math:`k` reads

.. math::

    \theta &\leftarrow \theta\,(1 - h\,\mathrm{wd}), \qquad
    \tilde g = g \min\Big(1, \frac{c}{\lVert g\rVert_2}\Big) \\
    s &\leftarrow \beta s + (1-\beta)\tilde g^2, \qquad m = \sqrt{s} + \varepsilon \\
    v &\leftarrow (1 - h\zeta) v - h\,\tilde g / m, \qquad \theta \leftarrow \theta + h v \\
    T_\mathrm{inst} &= \tfrac1N \textstyle\sum_i m_i v_i^2, \qquad
    T_\mathrm{ema} \leftarrow \rho_T T_\mathrm{ema} + (1-\rho_T) T_\mathrm{inst} \\
    T_0(k) &= T_{\min} + (T_{\max} - T_{\min})\, e^{-k/\tau} \\
    \zeta &\leftarrow \operatorname{clip}\Big(\zeta + \frac hQ\big(T_\mathrm{ema} - T_0(k)\big),
    -\zeta_{\max}, \zeta_{\max}\Big)

with :math:`s_0 = 0`, :math:`v_0 = 0`, :math:`\zeta_0 = 0` and
:math:`T_{\mathrm{ema},0} = T_{\max}`. Because the gradient reaches
:math:`\theta` through :math:`h^2`, ``lr`` is an integrator step, not an
Adam-like learning rate; the paper calls :math:`h = 3\cdot10^{-3}` near best on
Rosenbrock-100D, the default here.

Choices made here
-----------------
* ``k`` counts from 0: the first step uses :math:`T_0(0) = T_{\max}`, the value
  :math:`T_\mathrm{ema}` starts at. An implementation that increments its
  counter before the step uses :math:`T_0(k+1)`, a factor :math:`e^{-1/\tau}`
  (:math:`1 - 5\cdot10^{-5}` at the default :math:`\tau`) on the schedule.
* ``grad_clip = 0`` turns clipping off (the role of ``None`` in PyTorch-style
  code; hyperparameters here are numbers); ``zeta_clip = 0`` likewise leaves
  :math:`\zeta` unbounded. The clip factor is exactly
  :math:`c / \max(\lVert g\rVert_2, c)`.
* The thermostat position :math:`\eta` of the Nosé–Hoover system (it only
  enters the conserved extended energy, which a time-dependent target and a
  varying mass do not conserve) is not carried.

On atoms: switch the clip off, raise ``lr``
-------------------------------------------
The defaults are the paper's, set on its machine-learning and Rosenbrock
benchmarks. A stiff pair potential is another regime: the gradient norm of a
Lennard-Jones start is 79 for a rattled Ar13 icosahedron
(``ase.cluster.Icosahedron("Ar", noshells=2, latticeconstant=1.5)``,
``rattle(0.05, seed=1)``, :math:`\sigma = \varepsilon = 1`) and 205-413 on the
starts of the LJ38 reproduction. While the clip is active it scales
:math:`\tilde g` by :math:`c/\lVert g\rVert_2`, and with it the RMS mass
:math:`m \propto \sqrt{s}`; the normalised force :math:`\tilde g/m` does not
shrink, but the temperature the thermostat reads,
:math:`T_\mathrm{inst} = \overline{m v^2}`, does, by the same factor. The
friction, driven by :math:`(T_\mathrm{ema} - T_0)/Q`, then builds up tens of
times more slowly, and the normalised force, which is not the gradient of
:math:`f`, pumps energy into the cluster. Measured on the Ar13 start with
``lr = 0.01`` (ASE's LennardJones, ``DynOpt``, fmax :math:`10^{-2}`): with the
clip, :math:`T_\mathrm{ema} \approx 0.005`-:math:`0.017` and
:math:`\zeta = 0.18` after 2000 steps, the energy rose from -37.4 to -28.4
and the largest force is still 11.6; without it (``grad_clip=0``),
:math:`T_\mathrm{ema} \approx 0.2`-:math:`0.3` early, :math:`\zeta = 0.85`
at step 500, and the run converges to the icosahedron (-44.3268) in 1915 steps.

``lr`` is an integrator step (the gradient reaches :math:`\theta` through
:math:`h^2`). On the same start with the clip off: ``lr = 3e-3`` (the default)
has not converged after 5000 steps (largest force 0.066); 0.01, 0.02 and 0.03
converge in 1915, 907 and 559 steps; 0.05 converges in 369 steps but to
another minimum (-39.25); ``grad_clip = 10`` at 0.01 takes 2676. With the clip on,
no ``lr`` of 1e-3, 3e-3, 0.01, 0.03, 0.1 converges within 5000 steps (0.03 gets
closest, largest force 0.96). On LJ38 starts 0-3 with the clip off, ``lr``
0.01, 0.02 and 0.05 converge on all four (0.03 on three) within 6000 force
calls, no cluster fragmented. Settings for atoms, therefore: ``grad_clip=0``
(or a clip of the order of the gradient norm, as the LJ38 reproduction's 100)
and ``lr`` from 0.01 to 0.03, e.g.
``DynOpt(atoms, method="fanos", lr=0.03, grad_clip=0)``.

Integrators and ablations
-------------------------
The program is built from the system's vector field, so every dynopt
integrator runs it. The mass :math:`m` is a per-coordinate temporary computed
before the step (the system's ``mass`` symbol is replaced by it, and its
``temperature`` by :math:`T_0(k)`); where an integrator reads the force after
the new gradient (velocity Verlet's closing half kick) the new gradient is
clipped the same way and the step's :math:`m` is reused, so the force is
:math:`-\tilde g/m` at every evaluation.

``integrator='explicit_euler'`` is the paper's explicit ablation
:math:`\theta \leftarrow \theta + h v_{\mathrm{old}}`. dynopt's explicit Euler
evaluates *every* right-hand side at the old state, so it also measures
:math:`T_\mathrm{inst}` with the old velocity (the mass is the new one), where
the reference's description measures it with the new velocity; the velocity
and friction updates are the same.

``identity_mass=True`` sets :math:`m \equiv 1` (no :math:`s` state).
``fixed_friction=True`` holds :math:`\zeta \equiv \zeta_c` (hyperparameter
``zeta_const``, default 0: no friction) from the first step on and drops the
thermostat update; :math:`T_\mathrm{ema}` is still tracked, as a diagnostic.

State
-----
``res.state`` holds ``v`` (:math:`v`), ``zeta`` (:math:`\zeta`), ``T_ema``
(:math:`T_\mathrm{ema}`) and ``exp_avg_sq`` (:math:`s`, the name Adam's state
gives its average of squared gradients); ``rms_mass`` (:math:`m`) where the
integrator carries the mass across the gradient evaluation (velocity Verlet).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from ..hyperparameters import Q, dt, eps, lr, mass, temperature, weight_decay
from ..program import Elementwise, Reduce, Scalar, StepProgram, free_symbols, g, k
from ..transforms import clip_gradient_norm, grad_clip, weight_decay_stage
from ..systems import NoseHoover
from ..systems.base import v
from ..systems.nose_hoover import kinetic_sum, zeta
from .base import Method

__all__ = ["build_fanos", "METHODS"]

#: [0, 1): the largest double below 1 as the inclusive upper bound
_BELOW_ONE = float(np.nextafter(1.0, 0.0))

# hyperparameters
beta = sp.Symbol("beta", nonnegative=True)
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

# state (``res.state[name]``)
#: :math:`s`, the exponential average of the squared (clipped) gradient
exp_avg_sq = sp.Symbol("exp_avg_sq", real=True)
T_ema = sp.Symbol("T_ema", real=True)    # smoothed temperature
# temporaries
#: :math:`m`, the RMS mass (carried in the state by integrators that reuse it after the
#: gradient evaluation, e.g. velocity Verlet)
rms_mass = sp.Symbol("rms_mass", positive=True)

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
    stays too small and the cluster heats up (see the module docstring, "On
    atoms", for the measurements).

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
    base = NoseHoover(normalization="mean").vector_field()
    mass_value = sp.Integer(1) if identity_mass else rms_mass
    mass_state = sp.Integer(1) if identity_mass else sp.sqrt(exp_avg_sq) + eps  # m from the state

    # hooks before the step: decoupled weight decay over the time step (so that
    # integrators with sub-steps scale it), the RMS mass (its gradient is clipped below)
    force = [] if identity_mass else [
        (exp_avg_sq, beta * exp_avg_sq + (1 - beta) * g**2),
        (rms_mass, sp.sqrt(exp_avg_sq) + eps)]
    pre = (weight_decay_stage(step=dt), *([Elementwise(force)] if force else []))

    (reduction,) = base.reductions
    temperature_now = Reduce(kinetic_sum, reduction.expr.xreplace({mass: mass_value}), reduction.op)
    smoothing = Scalar([(T_ema, rho_T * T_ema + (1 - rho_T) * kinetic_sum)])
    if fixed_friction:
        aux, aux_init, post = {}, {}, ()
        scalars = {zeta: zeta_const, T_ema: T0_max}
    else:
        rhs = base.aux[zeta].xreplace({kinetic_sum: T_ema, temperature: T0})
        bounded = sp.Piecewise((sp.Max(-zeta_clip, sp.Min(zeta_clip, zeta)), zeta_clip > 0),
                               (zeta, True))
        aux, aux_init, post = {zeta: rhs}, {zeta: sp.Integer(0)}, (Scalar([(zeta, bounded)]),)
        scalars = {T_ema: T0_max}
    field = replace(
        base,
        vdot=base.vdot.xreplace({mass: mass_value}),
        aux=aux, aux_init=aux_init, reductions=(temperature_now,), filters=(smoothing,),
        pre=pre, post=post, params=dict(DEFAULTS),
        extra_vectors={} if identity_mass else {exp_avg_sq: sp.Integer(0)},
        extra_scalars=scalars,
        energies={"kinetic": ("sum", mass_state * v**2 / 2)},
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
