"""Underdamped Langevin dynamics as a method: BAOAB sampling and annealing.

Leimkuhler & Matthews, "Rational construction of stochastic numerical methods
for molecular sampling", Appl. Math. Res. Express 2013(1), 34–56. The system is
:class:`~dynopt.systems.UnderdampedLangevin`; one BAOAB step composes half kicks **B**,
half drifts **A** and the exact Ornstein–Uhlenbeck solve **O**,
:math:`v \\leftarrow e^{-\\gamma h} v + \\sqrt{(1 - e^{-2\\gamma h})\\,T/m}\\,\\xi`, as
B A O A B, every coefficient derived by SymPy from the system.

``'langevin_baoab'``
    the sampler at a fixed ``temperature``;
``'langevin_annealed'``
    the same step with a falling temperature :math:`T_k` (flag ``schedule``:
    ``'exponential'``, ``'logarithmic'`` or ``'linear'``).

The runs are seeded by ``options['seed']`` of :func:`dynopt.minimize`. The splitting,
the hyperparameters and the schedules are in the section "Langevin" of the Methods page
(``docs/methods.md``).
"""
from __future__ import annotations

import sympy as sp

from ..hyperparameters import dt, gamma, mass, temperature
from ..program import Elementwise, Gradient, Noise, Scalar, StepProgram, g, k, x
from ..systems.base import v
from ..systems.langevin import UnderdampedLangevin, h
from .base import Method

__all__ = ["build_langevin_baoab", "build_langevin_annealed", "SCHEDULES", "METHODS"]

cooling = sp.Symbol("cooling", positive=True)
anneal_steps = sp.Symbol("anneal_steps", positive=True)
#: the temperature of the step being taken (annealing)
temperature_k = sp.Symbol("temperature_k", nonnegative=True)
#: the standard normal draws :math:`\xi` of the O step
normal_draw = sp.Symbol("normal_draw", real=True)
ou_decay = sp.Symbol("ou_decay", positive=True)
ou_noise = sp.Symbol("ou_noise", nonnegative=True)

#: name -> (T_k as an expression in the step index k, extra hyperparameters with defaults)
SCHEDULES = {
    "exponential": (temperature * cooling**k, {cooling: 0.999}),
    "logarithmic": (temperature * sp.log(2) / sp.log(k + 2), {}),
    "linear": (temperature * sp.Max(0, 1 - k / anneal_steps), {anneal_steps: 1000}),
}


def _baoab(name: str, T, params: dict, description: str) -> StepProgram:
    """B A O A B with the bath at temperature ``T`` (an expression in ``k``);
    ``params``: the hyperparameters besides ``dt``, ``gamma`` and ``mass``."""
    system = UnderdampedLangevin()
    xdot, vdot = system.velocity_drift()
    force = vdot.subs(v, 0)                      # -g/m: the kick's acceleration
    c1, c2 = system.ornstein_uhlenbeck(h)
    c1, c2 = c1.subs(h, dt), c2.subs({h: dt, temperature: temperature_k})
    half = dt / 2
    stages = [
        Scalar([(temperature_k, T), (ou_decay, c1), (ou_noise, c2)]),
        Elementwise([(v, v + half * force), (x, x + half * xdot)]),      # B, A
        Noise(normal_draw),
        Elementwise([(v, ou_decay * v + ou_noise * normal_draw)]),                # O
        Elementwise([(x, x + half * xdot)]),                             # A
        Gradient(),
        Elementwise([(v, v + half * force)]),                            # B
    ]
    return StepProgram(
        name, vectors={v: 0}, scalars={},
        params={dt: 0.1, gamma: 1.0, mass: 1.0, **params},
        stages=stages,
        energies={"kinetic": ("sum", mass * v**2 / 2)},
        description=description,
    )


def build_langevin_baoab(integrator=None):
    """The BAOAB step of underdamped Langevin dynamics at a fixed temperature.

    Parameters
    ----------
    integrator : None
        BAOAB is its own splitting.

    Returns
    -------
    StepProgram
        Hyperparameters ``dt`` (:math:`h`), ``gamma`` (:math:`\\gamma`),
        ``temperature`` (:math:`T`, units of :math:`f`) and ``mass``.
    """
    return _baoab("langevin_baoab", temperature, {temperature: 1.0},
                  "underdamped Langevin dynamics, BAOAB (Leimkuhler & Matthews 2013)")


def build_langevin_annealed(integrator=None, schedule="exponential"):
    """BAOAB with the falling temperature :math:`T_k` of ``schedule``.

    Parameters
    ----------
    integrator : None
        BAOAB is its own splitting.
    schedule : {'exponential', 'logarithmic', 'linear'}
        The cooling schedule :math:`T_k`: :math:`T_0\\,r^k` (hyperparameter ``cooling``
        :math:`= r`), :math:`T_0 \\log 2 / \\log(k + 2)` (Geman & Geman, IEEE PAMI 6,
        1984) or :math:`T_0 \\max(0, 1 - k/K)` (hyperparameter ``anneal_steps`` :math:`= K`).

    Returns
    -------
    StepProgram
    """
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"langevin_annealed: schedule must be one of {sorted(SCHEDULES)}, "
                         f"got {schedule!r}")
    T, extra = SCHEDULES[schedule]
    return _baoab(f"langevin_annealed_{schedule}", T, {temperature: 0.1, **extra},
                  f"annealed Langevin dynamics, BAOAB, {schedule} cooling")


_PHYSICAL = ("underdamped Langevin dynamics m*xddot = -grad f - m*gamma*xdot + "
             "sqrt(2*m*gamma*T)*white noise, stationary density exp(-E/T)")

METHODS = {
    "langevin_baoab": Method(
        "langevin_baoab", build_langevin_baoab, integrator=None,
        summary="underdamped Langevin sampler, BAOAB (Leimkuhler & Matthews 2013): dt, gamma, "
                "temperature, mass",
        physical=_PHYSICAL),
    "langevin_annealed": Method(
        "langevin_annealed", build_langevin_annealed, integrator=None,
        flags={"schedule": "exponential"}, bounds={"cooling": (None, 1)},
        summary="annealed Langevin dynamics (BAOAB with a cooling schedule) as an optimiser",
        physical=_PHYSICAL + ", with T falling to 0 along the run"),
}
