r"""The continuous system a method corresponds to, read from its one-step map.

:func:`continuous_equivalent` gives the mass, damping and damping ratio of
:math:`m\ddot x + c\dot x + \lambda x = 0` that a two-dimensional map regroups into exactly
(Cayley–Hamilton; Yang et al., NeurIPS 2018), :func:`critical_hyperparameter` the value of a
hyperparameter at :math:`\zeta = 1`, :func:`continuous_symbolic` and :func:`continuous_model`
the linear system a method discretises, and :func:`continuous_rate` the per-step factor
:math:`e^{-\sigma h}` it predicts. The formulas and the two conventions for the mass are on the
analysis page of the documentation.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..program import StepProgram, x
from .continuous import LinearSystem, decay_rate_from_coefficients, lam
from .derivation import NonlinearStepError, h, resolve_program
from .onestep import _check_eigenvalues, step_matrix

__all__ = ["continuous_equivalent", "critical_hyperparameter", "continuous_symbolic",
           "continuous_model", "continuous_numeric", "continuous_rate"]


def continuous_equivalent(method, integrator=None, options=None, freeze=None) -> dict:
    """:meth:`LinearStep.continuous_equivalent` of ``method``: symbolic ``mass``, ``damping``,
    ``damping_ratio`` and the time step ``h``."""
    return step_matrix(method, integrator, options, freeze).continuous_equivalent()


def critical_hyperparameter(method, parameter, integrator=None, options=None, freeze=None):
    r"""The value of a hyperparameter at which the method's continuous equivalent is
    critically damped, :math:`\zeta = 1`, as a formula in :math:`\lambda` and the other
    hyperparameters.

    Solves :math:`(1 - D)^2 = 4(1 - T + D)` (:func:`continuous_equivalent`) for
    ``parameter``. For heavy ball and ``'momentum'`` this is
    :math:`\alpha^\star = 1 - 2\sqrt{\eta\lambda}` (Yang et al., NeurIPS 2018), which
    Nesterov's choice :math:`(1 - \sqrt{\eta\mu})/(1 + \sqrt{\eta\mu})` matches to first
    order in :math:`\sqrt{\eta\mu}`. The one-step map itself has a double root at a
    slightly different value (for heavy ball :math:`(1 - \sqrt{\eta\lambda})^2`,
    :meth:`LinearStep.repeated_root`); the two agree as :math:`\eta\lambda \to 0`.

    Returns
    -------
    sympy.Expr
        The smallest root that is admissible (a momentum in :math:`[0, 1)`, any other
        parameter positive) at a small test value of the other symbols (all taken
        positive).

    Raises
    ------
    ValueError
        If ``parameter`` is not a hyperparameter of the method or no such root exists.
    """
    step = step_matrix(method, integrator, options, freeze)
    by_name = {sym.name: sym for sym in step.params}
    if parameter not in by_name:
        raise ValueError(f"parameter {parameter!r} is not a hyperparameter of {step.name!r}; "
                         f"valid: {sorted(by_name)}")
    if step.dimension != 2:
        raise ValueError(f"{step.name!r} has a one-dimensional map: it is always overdamped")
    sym = by_name[parameter]
    T, D = step.trace(), step.determinant()
    pos = {q: sp.Symbol(q.name, positive=True) for q in (T.free_symbols | D.free_symbols)}
    back = {v_: k_ for k_, v_ in pos.items()}
    eq = sp.expand((1 - D) ** 2 - 4 * (1 - T + D)).xreplace(pos)
    roots = [sp.simplify(r_) for r_ in sp.solve(eq, pos.get(sym, sym))]
    probe = {q: sp.Rational(1, 100) for q in pos.values() if q != pos.get(sym, sym)}
    good = []
    for r_ in roots:
        val = complex(r_.xreplace(probe).evalf())
        admissible = 0 <= val.real < 1 if sym.name == "momentum" else val.real > 0
        if abs(val.imag) < 1e-12 and admissible:
            good.append((val.real, r_))
    if not good:
        raise ValueError(f"no critical {parameter} for {step.name!r}: roots {roots}")
    best = min(good, key=lambda pair: pair[0])[1]
    return sp.simplify(sp.factor(best)).xreplace(back)


def continuous_symbolic(method, integrator=None, options=None, freeze=None) -> tuple:
    r"""The continuous linear system a method discretises, symbolic in its hyperparameters.

    For a system object, its vector field
    (:func:`~dynopt.analysis.continuous.linearize_system`). For a registered
    method built from a system, the system is recovered from the method's own
    program under explicit Euler, whose step is exactly :math:`s + hF(s)`:
    :math:`A = (M_{\text{Euler}} - I)/h`. For a discrete rule (no integrator),
    the :func:`continuous_equivalent` :math:`m\ddot x + c\dot x + \lambda x = 0`
    with :math:`h = 1`.

    Returns
    -------
    (sympy.Matrix, dict, str)
        :math:`A` in :data:`~dynopt.analysis.continuous.lam` and hyperparameter
        symbols; hyperparameter symbol -> value of the run; the method's name.
    """
    from ..methods import get_method
    from ..systems.base import System
    from .continuous import linearize_system

    program, params, name = resolve_program(method, integrator, options)
    values = {sym: params[sym.name] for sym in program.params}
    if isinstance(method, System):
        A = linearize_system(method, None, freeze, symbolic=True).matrix
        by_name = {sym.name: sym for sym in program.params}
        A = A.xreplace({sym: by_name[sym.name] for sym in A.free_symbols if sym.name in by_name})
        return A, values, name
    spec = None if isinstance(method, StepProgram) else get_method(method)
    if spec is not None and spec.integrator is not None:
        euler = step_matrix(method, "explicit_euler", options, freeze)
        hh = euler.time_step if euler.time_step != h else sp.Integer(1)
        A = ((euler.matrix - sp.eye(euler.dimension)) / hh).applyfunc(sp.simplify)
        if A.has(hh) and hh != 1:
            raise NonlinearStepError(f"the explicit-Euler step of {name!r} is not s + dt F(s)")
        return A, values, name
    step = step_matrix(method, integrator, options, freeze)
    eq = step.continuous_equivalent()
    one = {step.time_step: sp.Integer(1)}
    if step.dimension == 1:
        A = sp.Matrix([[sp.simplify(-lam / eq["damping"].xreplace(one))]])
    else:
        m, c = eq["mass"].xreplace(one), eq["damping"].xreplace(one)
        A = sp.Matrix([[0, 1], [sp.simplify(-lam / m), sp.simplify(-c / m)]])
    return A, values, name


def continuous_model(method, integrator=None, options=None, freeze=None) -> tuple:
    r""":func:`continuous_symbolic` with the run's hyperparameter values substituted.

    Returns
    -------
    (LinearSystem, float)
        The system (symbolic in :math:`\lambda` only) and the time step :math:`h`
        of one step (the value of ``dt``, or 1).
    """
    from ..systems.base import v
    A, values, name = continuous_symbolic(method, integrator, options, freeze)
    rep = {}
    for sym, val in values.items():
        if np.ndim(val) != 0:
            raise ValueError(f"continuous_model needs a single value of {sym.name!r}, "
                             f"got shape {np.shape(val)}")
        rep[sym] = sp.Float(val)
    A = A.xreplace(rep).applyfunc(sp.simplify)
    state = (x,) if A.shape[0] == 1 else (x, v)
    h_value = float(next((val for sym, val in values.items() if sym.name == "dt"), 1.0))
    return LinearSystem(A, state, lam, name), h_value


def continuous_numeric(method, integrator=None, options=None, freeze=None):
    """A vectorised evaluator ``fn(eigenvalues, **overrides) -> (zeta, sigma, h)``.

    ``zeta`` is the damping ratio (``inf`` for a first-order flow), ``sigma``
    the decay rate of the slowest mode of the continuous model, ``h`` the time
    step of one step; arrays broadcast over eigenvalues and hyperparameters.
    """
    A, values, name = continuous_symbolic(method, integrator, options, freeze)
    syms = list(values)
    if A.shape[0] == 1:
        fa = sp.lambdify([lam, *syms], -A[0, 0], "numpy")
        fb = None
    elif A.shape[0] == 2:
        fa = sp.lambdify([lam, *syms], sp.simplify(-A.trace()), "numpy")
        fb = sp.lambdify([lam, *syms], sp.simplify(A.det()), "numpy")
    else:
        raise ValueError(f"the continuous model of {name!r} has dimension {A.shape[0]}; "
                         "only 1 and 2 are supported")

    def evaluate(eigenvalues, **overrides):
        ev = _check_eigenvalues(eigenvalues)
        unknown = set(overrides) - {sym.name for sym in syms}
        if unknown:
            raise TypeError(f"unknown hyperparameter(s) {sorted(unknown)} for {name!r}")
        vals = [np.asarray(overrides.get(sym.name, values[sym]), dtype=float) for sym in syms]
        shape = np.broadcast_shapes(ev.shape, *(val.shape for val in vals))
        hh = next((val for sym, val in zip(syms, vals) if sym.name == "dt"), np.asarray(1.0))
        a = np.broadcast_to(fa(ev, *vals), shape).astype(float)
        if fb is None:
            return np.full(shape, np.inf), a, np.broadcast_to(hh, shape)
        b = np.broadcast_to(fb(ev, *vals), shape).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            zeta = a / (2 * np.sqrt(b))
        return zeta, np.asarray(decay_rate_from_coefficients(a, b)), np.broadcast_to(hh, shape)

    return evaluate


def continuous_rate(method, eigenvalue, integrator=None, options=None, freeze=None) -> float:
    r"""Per-step factor :math:`e^{-\sigma h}` predicted by the continuous model.

    :math:`\sigma` is the decay rate of the slowest mode of :func:`continuous_model`
    at ``eigenvalue`` and :math:`h` the time step of one step; as :math:`h \to 0`
    the discrete :func:`predicted_rate` approaches it at the integrator's order.
    """
    ev = _check_eigenvalues(eigenvalue)
    if ev.ndim != 0:
        raise ValueError(f"eigenvalue must be a single number, got shape {ev.shape}")
    _, sigma, hh = continuous_numeric(method, integrator, options, freeze)(ev)
    from .observed import continuous_rate_to_per_step
    return continuous_rate_to_per_step(float(sigma), float(hh))
