r"""The loop's test of the position fused into the step kernels, and the position out of place.

Each step of :func:`dynopt.minimize` needs, besides the update itself, the
squared length of the new position (the divergence and NaN test on
:math:`x`) and, whenever the step improves on the best point, that point
kept. Done apart from the kernels, at :math:`n = 10^7` these are a dot
product and a copy of :math:`x` on every improving step.

:func:`fused_program` rewrites a step program so that the kernels do them:

* the stages before the gradient read the old position from the state
  vector ``loop_xprev`` and write the new one into ``x``, which the loop
  points at a spare buffer: the old position stays intact, so the best point
  is kept by holding on to its buffer, never by a copy;
* a reduction :math:`\sum_i x_i^2` closes the stages before the gradient
  (scalar ``loop_xx``), fused into the pass that writes :math:`x`.

The gradient's tests stay with the loop: the programs run no pass over
the coordinates after the gradient evaluation, so a reduction there would be
a pass of its own, slower than NumPy's dot product (see `dynopt.loop`).

The update itself is untouched: every assignment reads what it read before
(the old position where the program read ``x`` before assigning it), so a
run steps exactly as with the program it came from.
"""
from __future__ import annotations

import sympy as sp

from .program import Custom, Elementwise, Reduce, StepProgram, x
from .stepper import FUSED_NAMES

__all__ = ["fused_program", "XPREV", "XX"]

#: the position before the step (per coordinate), read by the fused program, and
#: the squared length of the new position, :math:`\sum_i x_i^2`
XPREV, XX = (sp.Symbol(name, real=True) for name in FUSED_NAMES)


def fused_program(program: StepProgram) -> StepProgram | None:
    """``program`` with the position's test fused in and ``x`` out of place (see the
    module), or ``None``.

    ``None`` when the rewrite does not apply: Custom stages (Python code
    between the kernels), no assignment to ``x`` before the gradient, or a
    program that already uses one of ``FUSED_NAMES``.
    """
    if any(isinstance(st, Custom) for st in program.stages):
        return None
    names = {s.name for s in (*program.vectors, *program.scalars, *program.params)}
    names |= {s.name for s in program._assigned()}
    if names & set(FUSED_NAMES):
        return None
    gi = program.gradient_index
    before, assigned = [], False
    old = {x: XPREV}
    for st in program.stages[:gi]:
        if isinstance(st, Elementwise):
            pairs = []
            for target, expr in st.assignments:
                pairs.append((target, expr if assigned else expr.xreplace(old)))
                assigned = assigned or target == x
            before.append(Elementwise(pairs))
        elif isinstance(st, Reduce) and not assigned:
            before.append(Reduce(st.target, st.expr.xreplace(old), st.op))
        else:  # scalar stages read no per-coordinate value
            before.append(st)
    if not assigned:
        return None
    before.append(Reduce(XX, x**2, "sum"))
    return StepProgram(
        name=program.name + "_fused",
        vectors={**program.vectors, XPREV: x},
        scalars={**program.scalars, XX: sp.Integer(0)},
        params=dict(program.params),
        stages=[*before, *program.stages[gi:]],
        energies=dict(program.energies),
        description=program.description,
    )
