r"""Continuous time: a system linearised about a minimum, read symbolically.

Near a minimum with Hessian eigenvalue :math:`\lambda` each direction of the quadratic
:math:`f(x) = \tfrac12\lambda\|x\|^2` has :math:`g = \lambda x`; substituted into a system's
:class:`~dynopt.systems.VectorField` this gives, per coordinate, :math:`\dot s = A s` with
:math:`s = (x, v)` (second order) or :math:`s = (x)` (first order). The characteristic
polynomial :math:`s^2 + a s + b` of :math:`A` gives the damping ratio
:math:`\zeta = a/(2\sqrt b)`, the regime (under-, critically or overdamped) and the decay rate
:math:`\sigma` of the slowest mode (Yang et al., "The physical systems behind optimization
algorithms", NeurIPS 2018); :func:`critical_damping` and :func:`optimal_damping` choose the
damping. Systems with scalar state (the Nosé–Hoover friction, the clock of Nesterov's ODE) are
linear only with that state held fixed (``frozen``). :class:`LinearSystem` and the damping
primitives live in :mod:`.linear_system`. The formulas are on the analysis page of the
documentation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import sympy as sp

from ..program import g, x
from ..systems.base import System, VectorField, v
from .linear_system import (CRITICAL_TOL, LinearSystem, as_sympy_number,  # noqa: F401
                            classify_damping, decay_rate_from_coefficients, lam, s)

__all__ = [
    "lam", "s", "LinearSystem", "OptimalDamping", "linearize_system", "damping_ratio",
    "damping_regime", "decay_rate", "energy_decay_rate", "continuous_eigenvalues",
    "critical_damping", "optimal_damping", "classify_damping", "decay_rate_from_coefficients",
]


def _by_symbol(values, symbols, what: str = "values") -> dict:
    if values is not None and not isinstance(values, Mapping):
        raise TypeError(f"{what} must be a dict of symbol names to numbers, got {values!r}")
    names = {sym.name: sym for sym in symbols}
    out = {}
    for key, val in dict(values or {}).items():
        if isinstance(key, sp.Symbol):
            out[key] = as_sympy_number(val, f"{what}[{key.name!r}]")
        elif isinstance(key, str) and key in names:
            out[names[key]] = as_sympy_number(val, f"{what}[{key!r}]")
        else:
            raise ValueError(f"unknown symbol {key!r} in {what}; valid: {sorted(names)}")
    return out


def _field_of(system):
    """(vector field, parameter values to substitute, label) of a system, class or field."""
    if isinstance(system, VectorField):
        return system, {}, "vector field"
    if isinstance(system, type) and issubclass(system, System):
        inst = system()
        return inst.vector_field(), {}, system.__name__
    if isinstance(system, System):
        return system.vector_field(), dict(system.values), type(system).__name__
    raise TypeError(f"system must be a System (class or instance) or a VectorField, "
                    f"got {system!r}")


def _check_eigenvalue(eigenvalue):
    """The eigenvalue as a SymPy number (exact for integers and fractions), or ``lam``."""
    if eigenvalue is None:
        return lam
    if isinstance(eigenvalue, sp.Basic) and eigenvalue.free_symbols:
        return eigenvalue
    number = as_sympy_number(eigenvalue, "eigenvalue")
    try:
        val = complex(number.evalf())
    except (TypeError, ValueError):
        raise TypeError(f"eigenvalue must be a real number, got {eigenvalue!r}") from None
    if val.imag != 0 or not math.isfinite(val.real) or val.real <= 0:
        raise ValueError(f"eigenvalue must be positive and finite, got {eigenvalue!r}")
    return number


def linearize_system(system, eigenvalue=None, frozen=None, symbolic: bool = False,
                     keep=()) -> LinearSystem:
    r"""Linearise a system about a minimum with Hessian eigenvalue :math:`\lambda`.

    Parameters
    ----------
    system : System instance, System class or VectorField
        A class (or ``symbolic=True``) keeps the parameters as symbols; an
        instance substitutes its parameter values.
    eigenvalue : float, optional
        :math:`\lambda > 0`; ``None`` keeps the symbol :data:`lam`.
    frozen : dict, optional
        Values of scalar state held fixed (``{'zeta': 0.5}`` for Nosé–Hoover,
        ``{'t': 10}`` for Nesterov's ODE); missing ones stay symbols. Values are
        real numbers or SymPy expressions; anything else (a string included,
        which is never parsed) is a TypeError naming the entry.
    symbolic : bool
        Keep an instance's parameters symbolic.
    keep : sequence of str
        Parameter names left symbolic even for an instance.

    Returns
    -------
    LinearSystem

    Raises
    ------
    ValueError
        If the eigenvalue is not positive, or the field is not linear in the
        state after :math:`g = \lambda x` (a nonlinear friction, a clipped velocity).
    """
    field_, values, label = _field_of(system)
    ev = _check_eigenvalue(eigenvalue)
    state = (x, v) if field_.second_order else (x,)
    rhs = [field_.xdot] + ([field_.vdot] if field_.second_order else [])
    rhs = sp.Matrix([sp.sympify(e, strict=True).xreplace({g: ev * x}) for e in rhs])
    subs = {}
    if not symbolic:
        params = {sym.name: sym for sym in field_.params}
        for name, val in values.items():
            if name in params and name not in keep and val is not None:
                subs[params[name]] = as_sympy_number(val, f"{label} parameter {name!r}")
    scalars = set(field_.aux) | ({field_.time} if field_.time is not None else set())
    subs.update(_by_symbol(frozen, scalars | rhs.free_symbols - set(state), "frozen"))
    rhs = rhs.xreplace(subs)
    A = sp.simplify(rhs.jacobian(state))
    if A.free_symbols & set(state):
        raise ValueError(f"{label} is not linear in {state} on a quadratic: A = {A}")
    reductions = {red.target for red in field_.reductions}
    if A.free_symbols & reductions:
        raise ValueError(f"{label} depends on the reductions "
                         f"{sorted(map(str, A.free_symbols & reductions))} over all coordinates")
    return LinearSystem(A, state, ev, label)


def _value(expr):
    expr = sp.sympify(expr, strict=True)
    if expr.free_symbols:
        return expr
    if expr in (sp.oo, sp.zoo):
        return math.inf
    val = complex(expr.evalf())
    return val.real if abs(val.imag) <= 1e-14 * max(1.0, abs(val)) else val


def continuous_eigenvalues(system, eigenvalue=None, frozen=None, symbolic=False) -> list:
    """Eigenvalues :math:`s` of the linear system (numbers when everything is numeric)."""
    return [_value(e) for e in linearize_system(system, eigenvalue, frozen, symbolic).eigenvalues()]


def damping_ratio(system, eigenvalue=None, frozen=None, symbolic=False):
    r"""Damping ratio :math:`\zeta` (a SymPy expression, or a float when numeric)."""
    return _value(linearize_system(system, eigenvalue, frozen, symbolic).damping_ratio())


def damping_regime(system, eigenvalue, frozen=None) -> str:
    """'overdamped', 'critical' or 'underdamped' at a numeric eigenvalue."""
    return linearize_system(system, eigenvalue, frozen).regime()


def decay_rate(system, eigenvalue=None, frozen=None, symbolic=False):
    r"""Decay rate :math:`\sigma` of the slowest mode's amplitude, :math:`|x| \sim
    e^{-\sigma t}`."""
    return _value(linearize_system(system, eigenvalue, frozen, symbolic).decay_rate())


def energy_decay_rate(system, eigenvalue=None, frozen=None, symbolic=False):
    r"""Decay rate :math:`2\sigma` of the energy (quadratic in the state)."""
    return _value(linearize_system(system, eigenvalue, frozen, symbolic).energy_decay_rate())


def _damping_parameter(system, frozen, parameter):
    """The symbol that tunes the damping: in the trace of A but not in its determinant."""
    full = linearize_system(system, None, frozen, symbolic=True)
    if full.order != 2:
        raise ValueError(f"{full.name} is first order: it has no critical damping")
    a, b = full.coefficients()
    candidates = sorted(a.free_symbols - b.free_symbols - {lam}, key=lambda q: q.name)
    field_, _, _ = _field_of(system)
    if parameter is not None:
        for sym in full.matrix.free_symbols:
            if sym.name == parameter:
                return sym
        valid = sorted(q.name for q in full.matrix.free_symbols - {lam})
        raise ValueError(f"parameter {parameter!r} does not appear in the linearised "
                         f"{full.name}; valid: {valid}")
    params = [q for q in candidates if q in field_.params]
    pick = params or candidates
    if len(pick) != 1:
        raise ValueError(f"cannot tell which parameter sets the damping of {full.name} "
                         f"(candidates {[q.name for q in pick]}); pass parameter=")
    return pick[0]


def critical_damping(system, eigenvalue=None, parameter=None, frozen=None, symbolic=False):
    r"""The value of the damping parameter that makes :math:`\zeta = 1` on :math:`\lambda`.

    Solves :math:`a^2 = 4b` (:math:`\operatorname{tr}(A)^2 = 4\det A`) for the
    parameter: :math:`c = 2\sqrt{m\lambda}` for the damped oscillator,
    :math:`\zeta_{NH} = 2\sqrt{\lambda/m}` for a frozen Nosé–Hoover friction,
    :math:`r = 2t\sqrt\lambda` for Nesterov's ODE at time :math:`t`.

    Parameters
    ----------
    parameter : str, optional
        The damping parameter; by default the one symbol that appears in the
        trace of :math:`A` but not in its determinant.

    Returns
    -------
    sympy.Expr or float
    """
    sym = _damping_parameter(system, frozen, parameter)
    frozen_ = {k: val for k, val in dict(frozen or {}).items() if k != sym.name}
    lin = linearize_system(system, eigenvalue, frozen_, symbolic, keep=(sym.name,))
    a, b = lin.coefficients()
    pos = sp.Symbol(sym.name, positive=True)
    sols = [sp.simplify(r.xreplace({pos: sym})) for r in
            sp.solve(sp.Eq((a**2).xreplace({sym: pos}), (4 * b).xreplace({sym: pos})), pos)]
    # times, masses and frictions are positive: a root negative for all of them is spurious
    sols = [r for r in sols
            if r.xreplace({q: sp.Dummy(q.name, positive=True) for q in r.free_symbols}).is_positive
            is not False]
    if len(sols) != 1:
        raise ValueError(f"no unique positive critical {sym.name} for {lin.name}: {sols}")
    return _value(sols[0])


@dataclass(frozen=True)
class OptimalDamping:
    r"""The damping that maximises the worst-case decay rate over :math:`\lambda \in [\mu, L]`.

    Attributes
    ----------
    parameter : str
        Name of the damping parameter.
    value : float or sympy.Expr
        The optimum (critical damping of the smallest eigenvalue).
    rate : float or sympy.Expr
        The worst-case amplitude decay rate at the optimum, :math:`\sqrt{b(\mu)}`.
    expression : sympy.Expr
        The optimum as a formula in :math:`\mu` (:data:`lam`) and the other parameters.
    numeric_value : float
        The optimum found by direct max-min search (``nan`` if not numeric).
    monotone : bool
        Whether the symbolic premises of the derivation hold (see
        :func:`optimal_damping`).
    """

    parameter: str
    value: object
    rate: object
    expression: sp.Expr
    numeric_value: float
    monotone: bool


def optimal_damping(system, spectrum, parameter=None, frozen=None,
                    symbolic=False) -> OptimalDamping:
    r"""Damping maximising the slowest decay rate over a spectrum :math:`[\mu, L]`.

    Derivation. With :math:`s^2 + a s + b` where the damping parameter
    :math:`p` enters only :math:`a` (increasingly) and :math:`\lambda` only
    :math:`b` (increasingly), the decay rate :math:`\sigma(\lambda, p)`
    (:func:`decay_rate_from_coefficients`) is non-decreasing in :math:`\lambda`
    (:math:`\partial_b \tfrac12(a - \sqrt{a^2-4b}) > 0` when overdamped, constant
    :math:`a/2` when underdamped), so the worst case over :math:`[\mu, L]` is
    :math:`\lambda = \mu`. In :math:`a` the rate rises as :math:`a/2` while
    :math:`a^2 < 4b(\mu)` and falls beyond
    (:math:`\partial_a \tfrac12(a - \sqrt{a^2-4b}) = \tfrac12(1 - a/\sqrt{a^2-4b}) < 0`),
    so the optimum is critical damping of the smallest eigenvalue,
    :math:`a^2 = 4b(\mu)`, with rate :math:`\sqrt{b(\mu)}`. For the oscillator:
    :math:`c^\star = 2\sqrt{m\mu}` and :math:`\sigma^\star = \sqrt{\mu/m}`,
    independent of :math:`L` (continuous time has no step-size limit).

    The premises are checked symbolically (``monotone``) and, when the system
    is numeric, the optimum is confirmed by a direct max-min search
    (``numeric_value``).

    Parameters
    ----------
    spectrum : (float, float)
        :math:`0 < \mu \le L`.

    Returns
    -------
    OptimalDamping
    """
    if isinstance(spectrum, (str, bytes)) or np.ndim(spectrum) != 1 or len(spectrum) != 2:
        raise TypeError(f"spectrum must be a pair (mu, L) of numbers, got {spectrum!r}")
    try:
        mu, L = (float(as_sympy_number(q, f"spectrum[{i}]")) for i, q in enumerate(spectrum))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"spectrum must be a pair (mu, L) of numbers, got {spectrum!r} "
                        f"({exc})") from None
    if not (0 < mu <= L < math.inf):
        raise ValueError(f"spectrum must satisfy 0 < mu <= L < inf, got {spectrum!r}")
    sym = _damping_parameter(system, frozen, parameter)
    frozen_ = {k: val for k, val in dict(frozen or {}).items() if k != sym.name}
    lin = linearize_system(system, None, frozen_, symbolic, keep=(sym.name,))
    a, b = lin.coefficients()
    monotone = bool(not a.has(lam) and sp.simplify(sp.diff(a, sym)).is_positive
                    and sp.simplify(sp.diff(b, lam)).is_positive)
    expression = critical_damping(system, None, sym.name, frozen_, symbolic)
    expression = sp.sympify(expression, strict=True)
    value = _value(expression.xreplace({lam: sp.Float(mu)}))
    rate = _value(sp.sqrt(b).xreplace({lam: sp.Float(mu)}))
    numeric = math.nan
    if not isinstance(value, sp.Basic) and not (a.free_symbols | b.free_symbols) - {lam, sym}:
        fa = sp.lambdify([sym], a, "numpy")
        fb = sp.lambdify([lam], b, "numpy")
        lams = np.unique(np.concatenate([np.geomspace(mu, L, 64), [mu, L]]))
        bs = np.broadcast_to(fb(lams), lams.shape)

        def worst(p):
            return -float(np.min(decay_rate_from_coefficients(np.full_like(lams, fa(p)), bs)))

        from scipy.optimize import minimize_scalar
        # unimodal in p: bracket around the analytic guess on a log scale, then refine
        grid = float(value) * np.geomspace(1e-2, 1e2, 81)
        i = int(np.argmin([worst(p) for p in grid]))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        numeric = float(minimize_scalar(worst, bounds=(lo, hi), method="bounded",
                                        options={"xatol": 1e-10 * hi}).x)
    return OptimalDamping(sym.name, value, rate, expression, numeric, monotone)
