r"""FIRE and FIRE 2.0: molecular dynamics that steers toward the force and adapts its step.

The Fast Inertial Relaxation Engine (E. Bitzek, P. Koskinen, F. Gähler, M. Moseler and
P. Gumbsch, *Phys. Rev. Lett.* 97, 170201, 2006) runs unit-mass dynamics
:math:`\ddot x = F = -\nabla f`; while the power :math:`P = F\cdot v` is positive it turns
the velocity toward the force, :math:`v \leftarrow (1-\alpha)\, v + \alpha\, \lVert v\rVert\,
\hat F`, and grows the time step, and when :math:`P \le 0` it sets :math:`v = 0` and
shrinks the step. Three discrete rules are registered (``integrator`` must be ``None``):

* ``'fire'``, ASE's FIRE (:class:`ase.optimize.FIRE`), :func:`build_fire`;
* ``'fire2'``, FIRE 2.0 (J. Guénolé et al., *Comput. Mater. Sci.* 175, 109584, 2020) as
  LAMMPS runs it (``min_style fire``), with a bound on the actual move, :func:`build_fire2`;
* ``'fire2_ase'``, ASE's FIRE2 (:class:`ase.optimize.fire2.FIRE2`, also its ABC-FIRE,
  ``use_abc=True``), :func:`build_fire2_ase`.

An ASE script that uses ``FIRE2`` switches with ``DynOpt(atoms, method="fire2_ase")``;
``'fire2'`` is a different algorithm. Each rule step by step, where the readings differ,
the choice of ``fire2``'s default ``dt`` and the measurements behind it are in the section
"FIRE, FIRE 2.0 and ASE's FIRE2" of the Methods page (``docs/methods.md``).
"""
from __future__ import annotations

from typing import NamedTuple

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


def _check_bool(method, name, value):
    """A structural flag must be a bool; the error names the method, the flag and the value."""
    if not isinstance(value, bool):
        raise TypeError(f"{method}: {name} must be True or False, got {value!r}")


def _kinetic():
    r"""The kinetic energy of unit-mass dynamics, :math:`\tfrac12\lVert v\rVert^2`."""
    return {"kinetic": ("sum", v ** 2 / 2)}


def _capped_drift():
    r"""Stages that move :math:`x` by :math:`\delta = h v`, capped in Euclidean norm,
    :math:`\delta \leftarrow \delta \min(1, \mathrm{maxstep}/\lVert\delta\rVert_2)`."""
    return [
        Reduce(dr2, (h * v) ** 2, "sum"),
        # min(1, maxstep / |dr|) without dividing by zero
        Scalar([(cap, maxstep / sp.Max(sp.sqrt(dr2), maxstep))]),
        Elementwise([(x, x + cap * h * v)]),
    ]


def _power_reductions():
    r""":math:`P = F\cdot v` (with :math:`F = -g`), :math:`F\cdot F` and :math:`v\cdot v`."""
    return [Reduce(P, -g * v, "sum"), Reduce(FF, g * g, "sum"), Reduce(vv, v * v, "sum")]


def _downhill_check(first):
    """ASE's ``downhill_check``: return to the previous point where the energy rose.

    Returns the extra vector and scalar state, the stages that run first, and the
    condition "this step did not go uphill in energy".
    """
    rose = sp.And(sp.Not(first), f > f_last)
    stages = [
        Scalar([(uphill, _flag(rose)), (f_last, sp.Piecewise((f_last, rose), (f, True)))]),
        Elementwise([(x, sp.Piecewise((x_last, uphill > 0), (x, True))), (x_last, x)]),
    ]
    return {x_last: x}, {f_last: f}, stages, sp.Eq(uphill, 0)


def _fire_controls(first, downhill):
    """FIRE's control of the mixing, the step and the counter, as ASE applies it."""
    # Every scalar assignment below reads only values from before the stage,
    # the branch conditions being written out where they are used.
    up = sp.And(sp.Not(first), P > 0, downhill)
    grow = sp.And(up, Nsteps > Nmin)
    hold = sp.Or(up, first)
    return Scalar([
        # ASE mixes with the alpha of this step, then updates alpha
        (keep, sp.Piecewise((1 - alpha, up), (0, True))),
        # (the floor only keeps the unused branch finite when F = 0)
        (steer, sp.Piecewise((alpha * sp.sqrt(vv / sp.Max(FF, _TINY)), up), (0, True))),
        (h, sp.Piecewise((sp.Min(h * finc, dtmax), grow), (h, hold), (h * fdec, True))),
        (alpha, sp.Piecewise((alpha * fa, grow), (alpha, hold), (astart, True))),
        (Nsteps, sp.Piecewise((Nsteps + 1, up), (Nsteps, first), (0, True))),
    ])


def build_fire(integrator=None, downhill_check=False):
    r"""The step program of ASE's FIRE (the rule: the Methods page of the documentation).

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
    _check_bool("fire", "downhill_check", downhill_check)
    first = sp.Eq(k, 0)
    vectors = {v: 0}
    scalars = {alpha: a, h: dt, Nsteps: 0}
    stages = []
    downhill = sp.true
    if downhill_check:
        more_vectors, more_scalars, stages, downhill = _downhill_check(first)
        vectors.update(more_vectors)
        scalars.update(more_scalars)
    stages += [
        *_power_reductions(),
        _fire_controls(first, downhill),
        # F = -g: mix toward the force, then the explicit kick with the new step
        Elementwise([(v, keep * v - steer * g - h * g)]),
        *_capped_drift(),
        Gradient(),
    ]
    return StepProgram(
        "fire" if not downhill_check else "fire_downhill",
        vectors=vectors,
        scalars=scalars,
        params={dt: 0.1, dtmax: 1.0, Nmin: 5, finc: 1.1, fdec: 0.5, astart: 0.1, fa: 0.99,
                a: 0.1, maxstep: 0.2},
        stages=stages,
        energies=_kinetic(),
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


class _Fire2Branches(NamedTuple):
    """The branch conditions of one FIRE 2.0 step, and the new time step."""

    neg: object      # P <= 0 (not the kick of a split iteration)
    back: object     # go half a step back
    fresh: object    # kick from rest
    grow: object     # grow the step, shrink the mixing
    soften: object   # shrink the step, reset the mixing
    i_now: object    # the iteration this step belongs to
    h_new: object    # the new time step
    keep: object     # 1 - alpha on P > 0, else 1
    steer: object    # the mixing toward the force on P > 0, else 0


def _fire2_branches(halfstepback, initialdelay):
    """FIRE 2.0's tests on the power and the counters, as LAMMPS makes them."""
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
    keep_ = sp.Piecewise((1 - alpha, pos), (1, True))
    steer_ = sp.Piecewise((alpha * sp.sqrt(vv / sp.Max(FF, 1e-20)), sp.And(pos, FF > 1e-20)),
                          (0, True))
    return _Fire2Branches(neg, back, fresh, grow, soften, i_now, h_new, keep_, steer_)


def _fire2_controls(br, halfstepback):
    """The scalar stage of FIRE 2.0: mixing, the kick's limited step, the half step back,
    the new step and mixing coefficient, and the counters."""
    h_new = br.h_new
    return Scalar([
        (keep, br.keep),
        (steer, br.steer),
        # the kick's step, limited so that no coordinate moves more than dmax
        # (dmax / max(u, dmax/h) = min(h, dmax/u), finite when u = 0)
        (hv, sp.Piecewise((0, br.back),
                          (dmax / sp.Max(h_new * gmax, dmax / h_new), br.fresh),
                          (dmax / sp.Max(vmax, dmax / h_new), True))),
        # the half step back, itself held to dmax per coordinate
        # (the factor is exactly 1 when the bound does not bind)
        (hback, sp.Piecewise((h_new / 2 * (dmax / sp.Max(h_new / 2 * vmax, dmax)), br.back),
                             (0, True))),
        # 0: kick from rest (a flag read only in a branch condition)
        (rest, sp.Piecewise((0, sp.Or(br.fresh, br.back)), (1, True))),
        (h, h_new),
        (alpha, sp.Piecewise((alpha * alphashrink, br.grow), (alpha0, br.soften),
                             (alpha, True))),
        (last_neg, sp.Piecewise((br.i_now, br.neg), (last_neg, True))),
        (it, br.i_now),
        # the half step of the iteration that went back while its kick is due, else 0
        # (hback of this step: last, as every assignment above reads the old pending)
        *([(pending, hback)] if halfstepback else []),
    ])


def _fire2_kick_and_bounded_move():
    """The half step back, the semi-implicit Euler kick with the mixing, and the move,
    its velocity scaled so that no coordinate moves more than ``dmax``."""
    return [
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
    ]


def build_fire2(integrator=None, halfstepback=True, initialdelay=True):
    r"""The step program of FIRE 2.0 with semi-implicit Euler, as LAMMPS runs it, with a
    bound on the actual move (the rule: the Methods page of the documentation).

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
        _check_bool("fire2", name, value)
    branches = _fire2_branches(halfstepback, initialdelay)
    stages = [
        *_power_reductions(),
        Reduce(vmax, sp.Abs(v), "max"),
        Reduce(gmax, sp.Abs(g), "max"),
        _fire2_controls(branches, halfstepback),
        *_fire2_kick_and_bounded_move(),
        Gradient(),
    ]
    return StepProgram(
        "fire2" + ("" if halfstepback else "_nohalfstepback")
        + ("" if initialdelay else "_noinitialdelay"),
        vectors={v: 0},
        scalars={alpha: alpha0, h: dt, it: 0, last_neg: 0, **({pending: 0} if halfstepback else {})},
        # dt: see the Methods page (LJ38 starts: no fragmented cluster)
        params={dt: 0.05, delaystep: 20, dtgrow: 1.1, dtshrink: 0.5, alpha0: 0.25,
                alphashrink: 0.99, tmax: 10.0, tmin: 0.02, dmax: 0.1},
        stages=stages,
        energies=_kinetic(),
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


def _fire2_ase_controls(use_abc):
    """ASE's FIRE2 control of the step, the mixing and the counter, and the reset.

    Returns the scalar stage; every temporary reads the state of before the step,
    the state itself is written last (``pending`` at the very end).
    """
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
    return Scalar([
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
    ])


def _fire2_ase_back_kick_and_mixing():
    """Half a step back, the semi-implicit Euler kick, then the mixing coefficients read
    with the norm of the kicked velocity."""
    return [
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


def _abc_mix_and_move():
    """ABC-FIRE: the mixed velocity bias-corrected and clipped per coordinate to
    ``maxstep / h`` (the clipped velocity is kept), then the drift."""
    return [
        Scalar([(abc, 1 / (1 - (1 - alpha) ** (Nsteps + 1))),
                (vclip, maxstep / h)]),
        Elementwise([(v, sp.Min(sp.Max(abc * (keep * v - steer * g), -vclip), vclip)),
                     (x, x + h * v)]),
    ]


def build_fire2_ase(integrator=None, use_abc=False):
    r"""The step program of ASE's ``FIRE2`` (the rule: the Methods page of the documentation).

    :class:`ase.optimize.fire2.FIRE2` (ASE 3.29) reads FIRE 2.0 (Guénolé et al.,
    *Comput. Mater. Sci.* 175, 109584, 2020) with semi-implicit Euler and ASE's parameter
    names, and optionally ABC-FIRE (S. Echeverri Restrepo and P. Andric, *Comput. Mater.
    Sci.* 218, 111978, 2023). An ASE step with a reset (half a step back, a force call at
    the moved point, the kick) takes two steps here, the first leaving ``pending`` set.

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
    _check_bool("fire2_ase", "use_abc", use_abc)
    if use_abc:
        mix_and_move = _abc_mix_and_move()
    else:
        mix_and_move = [Elementwise([(v, keep * v - steer * g)]), *_capped_drift()]
    stages = [
        Reduce(P, -g * v, "sum"),
        Reduce(vv, v * v, "sum"),
        _fire2_ase_controls(use_abc),
        *_fire2_ase_back_kick_and_mixing(),
        *mix_and_move,
        Gradient(),
    ]
    return StepProgram(
        "fire2_ase" + ("_abc" if use_abc else ""),
        vectors={v: 0},
        scalars={alpha: astart, h: dt, Nsteps: 0, pending: 0},
        params={dt: 0.1, maxstep: 0.2, dtmax: 1.0, dtmin: 2e-3, Nmin: 20, finc: 1.1,
                fdec: 0.5, astart: 0.25, fa: 0.99},
        stages=stages,
        energies=_kinetic(),
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
