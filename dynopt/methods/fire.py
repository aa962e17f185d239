r"""FIRE and FIRE 2.0: molecular dynamics that steers toward the force and adapts its step.

Which is which:

* ``'fire'`` is ASE's FIRE, :class:`ase.optimize.FIRE`;
* ``'fire2'`` is FIRE 2.0 as LAMMPS runs it (``min_style fire``);
* ``'fire2_ase'`` is ASE's FIRE2, :class:`ase.optimize.fire2.FIRE2` (also its
  ABC-FIRE, ``use_abc=True``).

An ASE script that uses ``FIRE2`` switches to dynopt with
``DynOpt(atoms, method="fire2_ase")``; ``'fire2'`` is a different algorithm
(LAMMPS' reading of the paper: initial delay, per-coordinate ``dmax``, other
parameter names and defaults).

The Fast Inertial Relaxation Engine (E. Bitzek, P. Koskinen, F. Gähler,
M. Moseler and P. Gumbsch, "Structural relaxation made simple",
*Phys. Rev. Lett.* 97, 170201, 2006) runs unit-mass dynamics
:math:`\ddot x = F = -\nabla f` and adds two controls read off the power
:math:`P = F\cdot v`:

* while :math:`P > 0` (moving downhill) the velocity is turned toward the force,

  .. math::

      v \leftarrow (1-\alpha)\, v + \alpha\, \lVert v\rVert\, \hat F,
      \qquad \hat F = F / \lVert F\rVert,

  and after more than :math:`N_\mathrm{min}` such steps the time step grows,
  :math:`\Delta t \leftarrow \min(f_\mathrm{inc}\Delta t, \Delta t_\mathrm{max})`, while
  the mixing shrinks, :math:`\alpha \leftarrow f_\alpha \alpha`;
* when :math:`P \le 0` (uphill) the system is frozen, :math:`v \leftarrow 0`,
  :math:`\Delta t \leftarrow f_\mathrm{dec}\Delta t`, :math:`\alpha \leftarrow \alpha_\mathrm{start}`.

Three methods are registered:

``'fire'``
    FIRE as :class:`ase.optimize.FIRE` runs it (ASE's parameter names and
    defaults, unit mass; checked step by step against ASE 3.29 in the tests).
    Per step, with :math:`F = -g` at the current :math:`x`:

    1. on the first step :math:`v = 0` and no control acts (ASE's ``vel is None``);
       afterwards the :math:`P` test above, where the growth test reads the
       counter *before* it is incremented (:math:`N_\mathrm{steps} > N_\mathrm{min}`,
       then :math:`N_\mathrm{steps} \leftarrow N_\mathrm{steps}+1`);
    2. explicit kick and drift with the new step,
       :math:`v \leftarrow v + \Delta t F`, :math:`\delta = \Delta t\, v`;
    3. the whole displacement is capped in Euclidean norm,
       :math:`\delta \leftarrow \delta\,\min(1, \mathrm{maxstep}/\lVert\delta\rVert_2)`,
       :math:`x \leftarrow x + \delta` (the velocity itself is not rescaled).

    The flag ``downhill_check=True`` (default ``False``, as in ASE) also compares
    energies: if :math:`f` rose since the previous step, :math:`x` returns to the
    previous point and the step is treated as uphill; the kick then uses the
    gradient of the rejected point, as ASE does. As in ASE, :math:`\alpha`
    starts at ``a`` and returns to ``astart`` after a reset (both 0.1 by default).
    The scalar state is ``alpha`` (ASE's attribute ``a``), ``h`` (ASE's
    attribute ``dt``, the current step) and ``Nsteps``.

``'fire2'``
    FIRE 2.0 (J. Guénolé, W. G. Nöhring, A. Vaid, F. Houllé, Z. Xie, A. Prakash and
    E. Bitzek, "Assessment and optimization of the fast inertial relaxation
    engine (FIRE) for energy minimization in atomistic simulations and its
    implementation in LAMMPS", *Comput. Mater. Sci.* 175, 109584, 2020,
    Algorithm 2 and Table 1), with the semi-implicit Euler integrator and the
    parameter names of LAMMPS' ``min_modify`` (``delaystep``, ``dtgrow``,
    ``dtshrink``, ``alpha0``, ``alphashrink``, ``tmax``, ``tmin``, ``dmax``).
    Iteration :math:`i = 1, 2, \dots`:

    1. :math:`P > 0`: the mixing coefficients are frozen with the current
       :math:`\alpha` and :math:`\lVert v\rVert`; if more than ``delaystep``
       iterations have passed since the last :math:`P \le 0`,
       :math:`\Delta t \leftarrow \min(\mathrm{dtgrow}\,\Delta t, \mathrm{tmax}\,\Delta t_0)`
       and :math:`\alpha \leftarrow \mathrm{alphashrink}\,\alpha`;
    2. :math:`P \le 0`: unless ``initialdelay`` holds and :math:`i < \mathrm{delaystep}`,
       :math:`\alpha \leftarrow \alpha_0` and
       :math:`\Delta t \leftarrow \mathrm{dtshrink}\,\Delta t` provided the result
       stays :math:`\ge \mathrm{tmin}\,\Delta t_0`; with ``halfstepback`` the
       system goes back half a step, :math:`x \leftarrow x - \tfrac12\Delta t\, v`;
       then :math:`v \leftarrow 0`;
    3. the kick's step is limited from the velocity before the kick,
       :math:`\Delta t' = \min(\Delta t, \mathrm{dmax}/\max_j |v_j|)`, with
       :math:`v` replaced by :math:`\Delta t F` right after a reset;
    4. semi-implicit Euler with the mixing applied after the kick (on
       :math:`P > 0` only):
       :math:`v \leftarrow (1-\alpha)(v + \Delta t' F) + \alpha \lVert v_\mathrm{old}\rVert \hat F`;
    5. the bound on the actual move: the kick and the mixing can take
       :math:`\Delta t' \max_j |v_j|` beyond ``dmax`` (without limit where the
       force is huge, as for atoms started almost on top of each other); then
       the velocity is scaled, :math:`v \leftarrow v\,\mathrm{dmax}/(\Delta t' \max_j |v_j|)`,
       and :math:`x \leftarrow x + \Delta t' v`. No coordinate moves more than
       ``dmax`` in one step; the half step back is held to the same bound.
       This step is not in LAMMPS, and changes nothing where the bound does not bind.

    The bound that holds: every step moves every coordinate by at most
    ``dmax`` (to round-off), :math:`\max_j |x_{k+1,j} - x_{k,j}| \le \mathrm{dmax}`,
    so an atom by at most :math:`\sqrt3\,\mathrm{dmax}`, and an iteration that
    goes half a step back (two steps) a coordinate by at most :math:`2\,\mathrm{dmax}`.
    LAMMPS limits only the kick's step from the velocity before the kick
    (item 3), so there a move can exceed ``dmax`` without limit. The bound
    binds on random starts: on starts 0-9 of the LJ38 reproduction every run
    has steps that move a coordinate by exactly ``dmax``.

    The default ``dt = 0.05`` (LAMMPS has no default of its own: its time step
    is the MD run's). It is chosen on the LJ38 reproduction's starts
    (:func:`dynopt.reproduce.lj38.start`, fmax :math:`10^{-2}`, a cluster
    counting as fragmented when :func:`dynopt.reproduce.lj38.fragments` finds
    more than one group). With LAMMPS' rule as it is (no bound of item 5),
    ``dt = 0.1`` fragments 5 of starts 0-9 and 10 of starts 10-29: while the
    atoms of a random start still overlap, the initial delay keeps
    :math:`\Delta t` from shrinking, the kicked and mixed velocity grows with the
    huge forces, and single moves of 11 to :math:`1.5\cdot10^9\,\sigma` throw
    atoms out; ``dt = 0.05`` fragments none of the 30 (largest per-coordinate
    move 0.24), nor do 0.03 and 0.02 on starts 0-9. With the bound of item 5 neither
    0.1 nor 0.05 fragments any of the 30, and the mean force calls are 658 at
    0.1 and 623 at 0.05. So 0.05 keeps clusters together with LAMMPS' own rule
    too, and costs no more.

    The first iteration sees :math:`v = 0`, hence :math:`P = 0`: it counts as
    the last :math:`P \le 0` event, so the delay runs from there. These
    details (the first iteration, the norm of the mixing taken before the
    kick, the per-component limit, the minimum step) follow the authors'
    implementation in LAMMPS (``min_style fire``, J. Guénolé and E. Bitzek).
    ASE's ``FIRE2`` is a different reading (counter incremented before its
    test, no initial delay, the mixing norm after the kick, a global cap of
    the displacement, no cap on the half step back, a minimum step
    ``dtmin`` instead of a refused shrink): it is ``'fire2_ase'`` below.

    The half step back moves :math:`x`, so the force of the next kick must be
    evaluated at the new point; LAMMPS evaluates it within the same iteration.
    Here every step evaluates the gradient once, so an iteration with a half
    step back takes two steps: the first moves back and sets ``pending``, the
    second kicks from rest with the force at the moved point. The sequence
    of positions after each kick and the number of force evaluations are
    those of LAMMPS (which also spends one evaluation on its very first
    iteration at the unchanged start; this one does not). The counters
    ``it`` (iterations) and ``last_neg`` run over LAMMPS' iterations, not
    over steps; ``pending`` holds the half step of an iteration that went back
    until its kick (0 otherwise). LAMMPS' optional stop after 2000 uphill events is left out.

``'fire2_ase'``
    FIRE2 as :class:`ase.optimize.fire2.FIRE2` (ASE 3.29) runs it: ASE's
    parameter names and defaults (``dt=0.1``, ``maxstep=0.2``, ``dtmax=1.0``,
    ``dtmin=2e-3``, ``Nmin=20``, ``finc=1.1``, ``fdec=0.5``, ``astart=0.25``,
    ``fa=0.99``) and its flag ``use_abc`` (ABC-FIRE, S. Echeverri Restrepo and
    P. Andric, *Comput. Mater. Sci.* 218, 111978, 2023). The rule is spelled
    out in :func:`build_fire2_ase`. Checked step by step against ASE in the
    tests: positions after every ASE step within :math:`10^{-10}` and the same
    number of force calls, on LJ38 starts. The scalar state is ``alpha``
    (ASE's attribute ``a``), ``h`` (ASE's ``dt``, the current step),
    ``Nsteps`` and ``pending``.

    As in ``'fire2'``, an ASE step with a reset (half a step back, a force
    call at the moved point, then the kick) is two steps here; the first
    leaves ``pending > 0``. So ``DynOpt.nsteps`` (and ``res.nit``) is ASE's
    ``nsteps`` plus the number of resets, while the positions after each
    kick and the force calls are ASE's. The convergence test also sees the
    point after a half step back, which ASE's does not: a run whose forces
    meet ``fmax`` exactly there stops one force call earlier than ASE's
    (in the runs measured, only where the cluster had flown apart). ASE's FIRE2 caps the move
    of a kick but neither rescales the velocity nor caps the half step back,
    :math:`\tfrac12\Delta t\, v`; with the large velocities of a random
    start (:math:`v \approx \Delta t F`, :math:`F \sim 10^3`) the half step
    back can throw atoms far apart. On starts 0-9 of the LJ38 reproduction
    (:func:`dynopt.reproduce.lj38.start`) ASE's own FIRE2 ends two (3 and 9)
    with all 38 atoms apart (a move of :math:`2.5\cdot10^4\sigma` in one
    step); ``'fire2_ase'`` reproduces that too.

All three are discrete rules: ``integrator`` must be ``None``. Unit mass
throughout, so the kinetic energy is :math:`\tfrac12\lVert v\rVert^2`.
"""
from __future__ import annotations

import sympy as sp

from ..program import Elementwise, Gradient, Reduce, Scalar, StepProgram, f, g, k, x
from ..systems.base import v
from .base import Method

__all__ = ["build_fire", "build_fire2", "build_fire2_ase", "METHODS"]

# ----------------------------------------------------------------- FIRE (ASE)
dt = sp.Symbol("dt", positive=True)
dtmax = sp.Symbol("dtmax", positive=True)
Nmin = sp.Symbol("Nmin", integer=True, nonnegative=True)
finc = sp.Symbol("finc", positive=True)
fdec = sp.Symbol("fdec", positive=True)
astart = sp.Symbol("astart", nonnegative=True)
fa = sp.Symbol("fa", positive=True)
maxstep = sp.Symbol("maxstep", positive=True)

a = sp.Symbol("a", nonnegative=True)

#: mixing coefficient (ASE's attribute ``a``), current time step (ASE's
#: attribute ``dt``), steps since the last uphill event (ASE's ``Nsteps``)
alpha = sp.Symbol("alpha", real=True)
h = sp.Symbol("h", real=True)
Nsteps = sp.Symbol("Nsteps", real=True)
#: previous point and energy (``downhill_check`` only)
x_last = sp.Symbol("x_last", real=True)
f_last = sp.Symbol("f_last", real=True)

# temporaries
P = sp.Symbol("P", real=True)
FF = sp.Symbol("FF", real=True)
vv = sp.Symbol("vv", real=True)
keep = sp.Symbol("keep", real=True)
steer = sp.Symbol("steer", real=True)
uphill = sp.Symbol("uphill", real=True)
dr2 = sp.Symbol("dr2", real=True)
cap = sp.Symbol("cap", real=True)

#: floor of F.F under a square root, where only an unused branch can meet F = 0
_TINY = sp.Float(1e-38)


def _flag(cond):
    """1 where ``cond`` holds, else 0 (a scalar usable in later stages)."""
    return sp.Piecewise((1, cond), (0, True))


def build_fire(integrator=None, downhill_check=False):
    r"""The step program of ASE's FIRE (see the module docstring).

    Parameters
    ----------
    integrator : None
        FIRE is a discrete rule.
    downhill_check : bool
        Also reject steps that raised the energy (ASE's option of that name).

    Returns
    -------
    StepProgram
    """
    if not isinstance(downhill_check, bool):
        raise TypeError(f"fire: downhill_check must be True or False, got {downhill_check!r}")
    first = sp.Eq(k, 0)
    stages = []
    vectors = {v: 0}
    scalars = {alpha: a, h: dt, Nsteps: 0}
    if downhill_check:
        vectors[x_last] = x
        scalars[f_last] = f
        rose = sp.And(sp.Not(first), f > f_last)
        stages += [
            Scalar([(uphill, _flag(rose)), (f_last, sp.Piecewise((f_last, rose), (f, True)))]),
            Elementwise([(x, sp.Piecewise((x_last, uphill > 0), (x, True))), (x_last, x)]),
        ]
        downhill = sp.Eq(uphill, 0)
    else:
        downhill = sp.true
    # Every scalar assignment below reads only values from before the stage,
    # the branch conditions being written out where they are used.
    up = sp.And(sp.Not(first), P > 0, downhill)
    grow = sp.And(up, Nsteps > Nmin)
    hold = sp.Or(up, first)
    stages += [
        Reduce(P, -g * v, "sum"),
        Reduce(FF, g * g, "sum"),
        Reduce(vv, v * v, "sum"),
        Scalar([
            # ASE mixes with the alpha of this step, then updates alpha
            (keep, sp.Piecewise((1 - alpha, up), (0, True))),
            # (the floor only keeps the unused branch finite when F = 0)
            (steer, sp.Piecewise((alpha * sp.sqrt(vv / sp.Max(FF, _TINY)), up), (0, True))),
            (h, sp.Piecewise((sp.Min(h * finc, dtmax), grow), (h, hold), (h * fdec, True))),
            (alpha, sp.Piecewise((alpha * fa, grow), (alpha, hold), (astart, True))),
            (Nsteps, sp.Piecewise((Nsteps + 1, up), (Nsteps, first), (0, True))),
        ]),
        # F = -g: mix toward the force, then the explicit kick with the new step
        Elementwise([(v, keep * v - steer * g - h * g)]),
        Reduce(dr2, (h * v) ** 2, "sum"),
        # min(1, maxstep / |dr|) without dividing by zero
        Scalar([(cap, maxstep / sp.Max(sp.sqrt(dr2), maxstep))]),
        Elementwise([(x, x + cap * h * v)]),
        Gradient(),
    ]
    return StepProgram(
        "fire" if not downhill_check else "fire_downhill",
        vectors=vectors,
        scalars=scalars,
        params={dt: 0.1, dtmax: 1.0, Nmin: 5, finc: 1.1, fdec: 0.5, astart: 0.1, fa: 0.99,
                a: 0.1, maxstep: 0.2},
        stages=stages,
        energies={"kinetic": ("sum", v ** 2 / 2)},
        description="FIRE as ase.optimize.FIRE (Bitzek et al., PRL 97, 170201, 2006)",
    )


# ------------------------------------------------------------------- FIRE 2.0
delaystep = sp.Symbol("delaystep", integer=True, nonnegative=True)
dtgrow = sp.Symbol("dtgrow", positive=True)
dtshrink = sp.Symbol("dtshrink", positive=True)
alpha0 = sp.Symbol("alpha0", nonnegative=True)
alphashrink = sp.Symbol("alphashrink", positive=True)
tmax = sp.Symbol("tmax", positive=True)
tmin = sp.Symbol("tmin", nonnegative=True)
dmax = sp.Symbol("dmax", positive=True)

#: iterations done (LAMMPS' step counter), iteration of the last P <= 0,
#: 1 while the kick of an iteration that went half a step back is due
it = sp.Symbol("it", real=True)
last_neg = sp.Symbol("last_neg", real=True)
pending = sp.Symbol("pending", real=True)

vmax = sp.Symbol("vmax", real=True)
gmax = sp.Symbol("gmax", real=True)
hv = sp.Symbol("hv", real=True)
hback = sp.Symbol("hback", real=True)
rest = sp.Symbol("rest", real=True)
umax = sp.Symbol("umax", real=True)
move_cap = sp.Symbol("move_cap", real=True)


def build_fire2(integrator=None, halfstepback=True, initialdelay=True):
    r"""The step program of FIRE 2.0 with semi-implicit Euler (see the module docstring).

    Parameters
    ----------
    integrator : None
        FIRE 2.0 is a discrete rule.
    halfstepback : bool
        Go back half a step on :math:`P \le 0` (default ``True``, as in the paper).
    initialdelay : bool
        Do not shrink :math:`\Delta t` or reset :math:`\alpha` during the first
        ``delaystep`` iterations (default ``True``, as in the paper).

    Returns
    -------
    StepProgram
    """
    for name, value in (("halfstepback", halfstepback), ("initialdelay", initialdelay)):
        if not isinstance(value, bool):
            raise TypeError(f"fire2: {name} must be True or False, got {value!r}")
    # Branch conditions, written out where used: every scalar assignment reads
    # only values from before the stage.
    if halfstepback:
        due = pending > 0                   # the kick of a split iteration
        # the iteration this step belongs to (written as a branch, not it + 1 - flag,
        # so that no integer flag enters the arithmetic and widens a float32 run)
        i_now = sp.Piecewise((it, due), (it + 1, True))
    else:
        due, i_now = sp.false, it + 1
    pos = sp.And(sp.Not(due), P > 0)
    neg = sp.And(sp.Not(due), P <= 0)
    back = sp.And(neg, vv > 0) if halfstepback else sp.false
    fresh = sp.Or(due, sp.And(neg, sp.Not(back)))  # kick from rest
    grow = sp.And(pos, i_now - last_neg > delaystep)
    soften = sp.And(neg, i_now >= delaystep) if initialdelay else neg
    h_new = sp.Piecewise((sp.Min(h * dtgrow, tmax * dt), grow),
                         (h * dtshrink, sp.And(soften, h * dtshrink >= tmin * dt)),
                         (h, True))
    stages = [
        Reduce(P, -g * v, "sum"),
        Reduce(FF, g * g, "sum"),
        Reduce(vv, v * v, "sum"),
        Reduce(vmax, sp.Abs(v), "max"),
        Reduce(gmax, sp.Abs(g), "max"),
        Scalar([
            (keep, sp.Piecewise((1 - alpha, pos), (1, True))),
            (steer, sp.Piecewise((alpha * sp.sqrt(vv / sp.Max(FF, 1e-20)), sp.And(pos, FF > 1e-20)),
                                 (0, True))),
            # the kick's step, limited so that no coordinate moves more than dmax
            # (dmax / max(u, dmax/h) = min(h, dmax/u), finite when u = 0)
            (hv, sp.Piecewise((0, back),
                              (dmax / sp.Max(h_new * gmax, dmax / h_new), fresh),
                              (dmax / sp.Max(vmax, dmax / h_new), True))),
            # the half step back, itself held to dmax per coordinate
            # (the factor is exactly 1 when the bound does not bind)
            (hback, sp.Piecewise((h_new / 2 * (dmax / sp.Max(h_new / 2 * vmax, dmax)), back),
                                 (0, True))),
            # 0: kick from rest (a flag read only in a branch condition)
            (rest, sp.Piecewise((0, sp.Or(fresh, back)), (1, True))),
            (h, h_new),
            (alpha, sp.Piecewise((alpha * alphashrink, grow), (alpha0, soften), (alpha, True))),
            (last_neg, sp.Piecewise((i_now, neg), (last_neg, True))),
            (it, i_now),
            # the half step of the iteration that went back while its kick is due, else 0
            # (hback of this step: last, as every assignment above reads the old pending)
            *([(pending, hback)] if halfstepback else []),
        ]),
        # F = -g; the half step back uses the velocity before the reset
        Elementwise([
            (x, x - hback * v),
            (v, keep * (sp.Piecewise((v, rest > 0), (0, True)) - hv * g) - steer * g),
        ]),
        # dmax on the actual move: the kick and the mixing may have taken the velocity
        # beyond dmax / hv; then the velocity is scaled back so that no coordinate
        # moves more than dmax (the factor is exactly 1 when the bound does not bind)
        Reduce(umax, sp.Abs(v), "max"),
        Scalar([(move_cap, dmax / sp.Max(hv * umax, dmax))]),
        Elementwise([(v, move_cap * v), (x, x + hv * v)]),
        Gradient(),
    ]
    return StepProgram(
        "fire2" + ("" if halfstepback else "_nohalfstepback")
        + ("" if initialdelay else "_noinitialdelay"),
        vectors={v: 0},
        scalars={alpha: alpha0, h: dt, it: 0, last_neg: 0, **({pending: 0} if halfstepback else {})},
        # dt: see the module docstring (LJ38 starts: no fragmented cluster)
        params={dt: 0.05, delaystep: 20, dtgrow: 1.1, dtshrink: 0.5, alpha0: 0.25,
                alphashrink: 0.99, tmax: 10.0, tmin: 0.02, dmax: 0.1},
        stages=stages,
        energies={"kinetic": ("sum", v ** 2 / 2)},
        description="FIRE 2.0, semi-implicit Euler (Guenole et al., Comput. Mater. Sci. 175, "
                    "109584, 2020)",
    )


# ------------------------------------------------------------- FIRE2 (ASE)
dtmin = sp.Symbol("dtmin", nonnegative=True)

back_h = sp.Symbol("back_h", real=True)
kick_h = sp.Symbol("kick_h", real=True)
vv_kick = sp.Symbol("vv_kick", real=True)
abc = sp.Symbol("abc", real=True)
vclip = sp.Symbol("vclip", real=True)

#: ABC-FIRE's floor of the mixing coefficient (ASE's ``max(a, 1e-10)``)
_ABC_ALPHA_FLOOR = sp.Float(1e-10)


def build_fire2_ase(integrator=None, use_abc=False):
    r"""The step program of ASE's ``FIRE2`` (see the module docstring).

    :class:`ase.optimize.fire2.FIRE2` (ASE 3.29) reads FIRE 2.0 (Guénolé et
    al., *Comput. Mater. Sci.* 175, 109584, 2020) with semi-implicit Euler and
    ASE's parameter names, and optionally ABC-FIRE (S. Echeverri Restrepo and
    P. Andric, "ABC-FIRE: Accelerated bias-corrected fast inertial relaxation
    engine", *Comput. Mater. Sci.* 218, 111978, 2023). With :math:`F = -g`,
    one ASE step is:

    1. first step: :math:`v = 0`, no control;
    2. :math:`P = F\cdot v > 0`: :math:`N \leftarrow N + 1`; if then
       :math:`N > N_\mathrm{min}`,
       :math:`\Delta t \leftarrow \min(f_\mathrm{inc}\Delta t, \Delta t_\mathrm{max})`
       and :math:`\alpha \leftarrow f_\alpha\alpha`;
    3. :math:`P \le 0`: :math:`N \leftarrow 0`,
       :math:`\Delta t \leftarrow \max(f_\mathrm{dec}\Delta t, \Delta t_\mathrm{min})`,
       :math:`\alpha \leftarrow \alpha_\mathrm{start}`, half a step back with
       the new step, :math:`x \leftarrow x - \tfrac12\Delta t\, v`, and
       :math:`v \leftarrow 0`; the force is evaluated again at the moved point;
    4. kick, :math:`v \leftarrow v + \Delta t\, F`, then the mixing with the
       norm of the kicked velocity, on every step (after a reset it returns
       :math:`v = \Delta t F` up to round-off):
       :math:`v \leftarrow (1-\alpha) v + \alpha \lVert v\rVert \hat F`;
    5. without ABC: :math:`\delta = \Delta t\, v` capped in Euclidean norm,
       :math:`\delta \leftarrow \delta \min(1, \mathrm{maxstep}/\lVert\delta\rVert_2)`
       (the velocity is not rescaled), :math:`x \leftarrow x + \delta`;
       with ABC (``use_abc=True``): :math:`\alpha \leftarrow \max(\alpha, 10^{-10})`
       before the mixing, the mixed velocity is bias-corrected,
       :math:`v \leftarrow v / (1 - (1-\alpha)^{N+1})`, then clipped per
       coordinate to :math:`|v_j| \le \mathrm{maxstep}/\Delta t` (the clipped
       velocity is kept), and :math:`x \leftarrow x + \Delta t\, v`.

    So without ABC no step moves :math:`x` by more than ``maxstep`` in
    Euclidean norm (hence no atom by more); with ABC no coordinate moves more
    than ``maxstep`` in one step. The half step back of item 3 is not capped
    (as in ASE). ASE's ``position_reset_callback`` is never called by ASE's
    own step and has no counterpart here.

    Step 3 moves :math:`x`, so the kick needs the force at the new point. Every
    step of a step program evaluates the gradient once, so an ASE step with a
    reset takes two steps here: the first goes back and sets ``pending`` (to
    the half step, :math:`\tfrac12\Delta t`), the second kicks with the force at the moved point. The sequence of positions
    after each kick and the number of force evaluations are ASE's.

    Parameters
    ----------
    integrator : None
        FIRE2 is a discrete rule.
    use_abc : bool
        ABC-FIRE instead of FIRE 2.0 (ASE's option of that name, default ``False``).

    Returns
    -------
    StepProgram
    """
    if not isinstance(use_abc, bool):
        raise TypeError(f"fire2_ase: use_abc must be True or False, got {use_abc!r}")
    due = pending > 0                        # the kick of an ASE step that went back
    active = sp.And(sp.Not(due), sp.Not(sp.Eq(k, 0)))
    pos = sp.And(active, P > 0)
    neg = sp.And(active, P <= 0)
    back = sp.And(neg, vv > 0)               # v = 0: the point does not move, no new force
    grow = sp.And(pos, Nsteps + 1 > Nmin)    # ASE increments N before its test
    h_new = sp.Piecewise((sp.Min(h * finc, dtmax), grow), (sp.Max(h * fdec, dtmin), neg),
                         (h, True))
    alpha_new = sp.Piecewise((alpha * fa, grow), (astart, neg), (alpha, True))
    if use_abc:
        alpha_new = sp.Max(alpha_new, _ABC_ALPHA_FLOOR)
    # Scalar assignments run in order: every temporary below reads the state of
    # before the step, the state itself is written last (pending at the very end).
    stages = [
        Reduce(P, -g * v, "sum"),
        Reduce(vv, v * v, "sum"),
        Scalar([
            (back_h, sp.Piecewise((h_new / 2, back), (0, True))),
            (kick_h, sp.Piecewise((0, back), (h_new, True))),
            # 0: the velocity is reset (a flag read only in a branch condition)
            (rest, sp.Piecewise((0, neg), (1, True))),
            (h, h_new),
            (alpha, alpha_new),
            (Nsteps, sp.Piecewise((Nsteps + 1, pos), (0, neg), (Nsteps, True))),
            # the half step taken back while the kick is due, else 0 (a float, as h is,
            # so that a float32 run stays float32)
            (pending, back_h),
        ]),
        # half a step back with the velocity before the reset; semi-implicit Euler kick
        Elementwise([
            (x, x - back_h * v),
            (v, sp.Piecewise((v, rest > 0), (0, True)) - kick_h * g),
        ]),
        Reduce(vv_kick, v * v, "sum"),
        Reduce(FF, g * g, "sum"),
        # (the floor only keeps the mixing finite where F = 0)
        Scalar([(keep, 1 - alpha),
                (steer, alpha * sp.sqrt(vv_kick / sp.Max(FF, _TINY)))]),
    ]
    if use_abc:
        stages += [
            Scalar([(abc, 1 / (1 - (1 - alpha) ** (Nsteps + 1))),
                    (vclip, maxstep / h)]),
            Elementwise([(v, sp.Min(sp.Max(abc * (keep * v - steer * g), -vclip), vclip)),
                         (x, x + h * v)]),
        ]
    else:
        stages += [
            Elementwise([(v, keep * v - steer * g)]),
            Reduce(dr2, (h * v) ** 2, "sum"),
            # min(1, maxstep / |dr|) without dividing by zero
            Scalar([(cap, maxstep / sp.Max(sp.sqrt(dr2), maxstep))]),
            Elementwise([(x, x + cap * h * v)]),
        ]
    stages.append(Gradient())
    return StepProgram(
        "fire2_ase" + ("_abc" if use_abc else ""),
        vectors={v: 0},
        scalars={alpha: astart, h: dt, Nsteps: 0, pending: 0},
        params={dt: 0.1, maxstep: 0.2, dtmax: 1.0, dtmin: 2e-3, Nmin: 20, finc: 1.1,
                fdec: 0.5, astart: 0.25, fa: 0.99},
        stages=stages,
        energies={"kinetic": ("sum", v ** 2 / 2)},
        description="FIRE2 as ase.optimize.fire2.FIRE2" + (" (ABC-FIRE)" if use_abc else "")
                    + " (Guenole et al., Comput. Mater. Sci. 175, 109584, 2020)",
    )


_PHYSICAL = ("unit-mass molecular dynamics xddot = -grad f with velocity mixing toward the "
             "force direction while P = F.v > 0, a freeze (v = 0) when P <= 0, and an adaptive "
             "time step")

METHODS = {
    "fire": Method(
        "fire", build_fire, integrator=None, flags={"downhill_check": False},
        bounds={"finc": (1, None), "fdec": (None, 1), "astart": (0, 1), "a": (0, 1),
                "fa": (None, 1)},
        summary="FIRE (Bitzek et al. 2006) exactly as ase.optimize.FIRE (dt, dtmax, Nmin, finc, "
                "fdec, astart, fa, a, maxstep)",
        physical=_PHYSICAL + "; explicit kick then drift, displacement capped at maxstep"),
    "fire2": Method(
        "fire2", build_fire2, integrator=None,
        flags={"halfstepback": True, "initialdelay": True},
        bounds={"dtgrow": (1, None), "dtshrink": (None, 1), "alpha0": (0, 1),
                "alphashrink": (None, 1)},
        summary="FIRE 2.0 (Guenole et al. 2020), semi-implicit Euler, LAMMPS' parameter names",
        physical=_PHYSICAL + "; semi-implicit Euler, half a step back on P <= 0, "
                             "per-coordinate move limit dmax"),
    "fire2_ase": Method(
        "fire2_ase", build_fire2_ase, integrator=None, flags={"use_abc": False},
        bounds={"finc": (1, None), "fdec": (None, 1), "astart": (0, 1), "fa": (None, 1)},
        summary="FIRE2 exactly as ase.optimize.fire2.FIRE2 (dt, maxstep, dtmax, dtmin, Nmin, "
                "finc, fdec, astart, fa, use_abc)",
        physical=_PHYSICAL + "; half a step back on P <= 0, semi-implicit Euler, displacement "
                             "capped at maxstep (ABC-FIRE: bias-corrected, clipped per "
                             "coordinate)"),
}
"""The FIRE family: ``'fire'`` (ASE's FIRE), ``'fire2'`` (FIRE 2.0 as in LAMMPS) and
``'fire2_ase'`` (ASE's FIRE2)."""
