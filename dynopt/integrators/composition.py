r"""Compositions of a symmetric second-order step; Yoshida's fourth-order triple jump.

A composition method takes a symmetric one-step map :math:`\Phi_h` of order 2
(velocity Verlet, conformal Verlet) and weights :math:`w_1, \dots, w_s` with
:math:`\sum_j w_j = 1`:

.. math::

    \Psi_h = \Phi_{w_s h} \circ \dots \circ \Phi_{w_2 h} \circ \Phi_{w_1 h}.

Yoshida's triple jump (H. Yoshida, "Construction of higher order symplectic
integrators", Phys. Lett. A 150, 262, 1990) uses :math:`s = 3` and

.. math::

    w_1 = w_3 = \frac{1}{2 - 2^{1/3}}, \qquad w_2 = -\frac{2^{1/3}}{2 - 2^{1/3}},

the unique real solution of :math:`2 w_1 + w_2 = 1` and
:math:`2 w_1^3 + w_2^3 = 0`: the palindrome cancels the even error terms and the
second condition the :math:`h^3` term of the local error, so :math:`\Psi_h` is
symmetric and of order 4. A composition of symplectic maps is symplectic.

**One step spans several programs steps.** A step program evaluates the gradient
exactly once (:mod:`dynopt.program`), and :math:`\Psi_h` needs one new gradient
per sub-step, so the program of a composition is *one sub-step*: a scalar
counter :math:`j \in \{0, \dots, s-1\}` (state ``substep``, starting at 0)
selects the weight, the base step runs with :math:`h \to w_{j+1} h` (the temporary
``substep_dt``), and the
counter advances modulo :math:`s`. Weight and successor are the Lagrange
polynomials through the points :math:`(j, w_{j+1})` and
:math:`(j, (j+1) \bmod s)`, with no branch. So ``s`` program steps, and ``s``
gradient evaluations, make one step of the scheme of size ``dt``
(``Integrator.substeps``); run a multiple of ``s`` iterations to stop at the end
of a whole step. The method hooks of a system (``pre`` stages such as clipping
or weight decay) run once per sub-step, with the sub-step's :math:`h`.
"""
from __future__ import annotations

import dataclasses

import sympy as sp

from ..program import Custom, Elementwise, Gradient, Reduce, Scalar, replace_in_stage
from .base import Integrator, dt
from .velocity_verlet import VelocityVerlet

__all__ = ["Composition", "Yoshida4", "triple_jump", "substep", "substep_dt"]

#: the sub-step counter :math:`j` of a composition (scalar state, 0 to s - 1)
substep = sp.Symbol("substep", real=True)
#: the step :math:`w_{j+1} h` of the current sub-step (a temporary)
substep_dt = sp.Symbol("substep_dt", positive=True)


def triple_jump() -> tuple:
    """Yoshida's weights :math:`(w_1, w_2, w_1)`, exact."""
    cbrt2 = sp.cbrt(2)
    w1 = 1 / (2 - cbrt2)
    return (w1, -cbrt2 * w1, w1)


def _scale(stage, step):
    """``stage`` with the step size ``dt`` replaced by ``step``."""
    if isinstance(stage, (Elementwise, Scalar, Reduce, Gradient, Custom)):
        return replace_in_stage(stage, {dt: step})
    raise TypeError(f"cannot scale the step size in {stage!r}")


class Composition(Integrator):
    """The composition of a symmetric second-order ``base`` scheme with ``weights``.

    Parameters
    ----------
    base : Integrator
        A symmetric scheme of order 2 (``velocity_verlet``, ``conformal_verlet``).
    weights : sequence of sympy numbers
        :math:`w_1, \\dots, w_s`, summing to 1.
    order : int
        The order of the composition (4 for Yoshida's weights).
    """

    needs_velocity = True

    def __init__(self, base: Integrator, weights, order: int):
        weights = tuple(sp.nsimplify(w) if not isinstance(w, sp.Basic) else w for w in weights)
        if sp.simplify(sum(weights) - 1) != 0:
            raise ValueError(f"composition weights must sum to 1, got {weights}")
        if base.order != 2 or base.substeps != 1:
            raise ValueError(f"a composition needs a symmetric second-order one-step base, "
                             f"got {base!r}")
        self.base = base
        self.weights = weights
        self.order = order
        self.substeps = len(weights)
        self.symplectic = base.symplectic
        self.conformal = False

    def counter_polynomials(self) -> tuple:
        """The weight :math:`w(j)` and the successor :math:`(j + 1) \\bmod s` as polynomials."""
        s = self.substeps
        basis = []
        for m in range(s):
            ell = sp.Integer(1)
            for n in range(s):
                if n != m:
                    ell *= sp.Rational(1, m - n) * (substep - n)
            basis.append(ell)
        weight = sp.expand(sum(sp.Float(sp.N(w, 20), 17) * ell for w, ell in zip(self.weights, basis)))
        successor = sp.expand(sum(((m + 1) % s) * ell for m, ell in enumerate(basis)))
        return weight, successor

    def program(self, field, name, dt_default=0.1, description=""):
        self.check_field(field)
        self.base.check_field(field)
        weight, successor = self.counter_polynomials()
        inner = [*field.pre, *self.base.stages(field)]
        if not any(isinstance(st, Gradient) for st in inner):
            inner.append(Gradient())
        stages = [Scalar([(substep_dt, weight * dt)]),
                  *(_scale(st, substep_dt) for st in inner),
                  Scalar([(substep, successor)])]
        bare = dataclasses.replace(field, pre=())
        return self.assemble(bare, stages, name, dt_default, description,
                             extra_scalars={substep: sp.Integer(0)})

    def stages(self, field):
        raise NotImplementedError("a composition builds its whole program (see program())")

    def __repr__(self):
        return f"{type(self).__name__}({self.base!r}, {self.weights!r})"


class Yoshida4(Composition):
    """Yoshida's triple jump of velocity Verlet: order 4, symplectic, 3 gradients per step.

    One step of size ``dt`` is three program steps (see the module docstring);
    ``Yoshida4(base)`` composes another symmetric second-order scheme instead,
    e.g. ``ConformalVerlet()``.
    """

    name = "yoshida4"
    order = 4
    symplectic = True
    substeps = 3

    def __init__(self, base: Integrator | None = None):
        super().__init__(VelocityVerlet() if base is None else base, triple_jump(), order=4)

    def __repr__(self):
        return f"Yoshida4({self.base!r})"
