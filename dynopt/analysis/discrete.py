r"""Discrete time: the one-step map of a step program on :math:`f = \tfrac12\lambda\|x\|^2`.

On this quadratic the gradient is :math:`g = \lambda x` coordinate by
coordinate, so a method whose step is linear maps the per-coordinate state
:math:`s_k = (x_k, v_k, \dots)` by a fixed matrix,

.. math::

    s_{k+1} = M(h\lambda, \text{hyperparameters})\, s_k ,

and :math:`\|x_k\| \sim \rho(M)^k` with :math:`\rho` the spectral radius: the
per-step contraction factor a run should show (:math:`\rho \ge 1`: no
convergence). The matrix is read from the step program itself, the same one
the kernels are generated from: the single-assignment ops of the stages before
the gradient (:func:`dynopt.backends.codegen.linearize`) are composed with
:math:`g = \lambda x`, then :math:`g = \lambda x_{k+1}` is substituted into the
ops after it, and :math:`M` is the Jacobian of the new state with respect to
the old. The objective value :math:`f` must not reach the per-coordinate state.

Scalar state (a thermostat friction, an adaptive step, a clock) keeps the map
linear only when it does not change; otherwise (FANoS, FIRE, Adam's bias
correction) :class:`NonlinearStepError` says which scalar moves, and
``freeze={'zeta': value}`` analyses the map with that scalar held fixed.

Correspondence with a continuous system. For a two-dimensional state the
Cayley–Hamilton theorem gives every component the recurrence
:math:`x_{k+1} = T x_k - D x_{k-1}` (:math:`T = \operatorname{tr}M`,
:math:`D = \det M`), which regroups exactly as

.. math::

    (x_{k+1} - 2x_k + x_{k-1}) + (1 - D)(x_k - x_{k-1}) + (1 - T + D)\, x_k = 0 .

Reading the differences as :math:`h^2\ddot x` and :math:`h\dot x` and scaling so
that the force is :math:`\lambda x` gives :math:`m\ddot x + c\dot x + \lambda x = 0`
with

.. math::

    m = \frac{h^2 \lambda}{1 - T + D}, \qquad c = \frac{h (1 - D) \lambda}{1 - T + D},
    \qquad \zeta = \frac{c}{2\sqrt{m\lambda}} = \frac{1 - D}{2\sqrt{1 - T + D}} .

For heavy ball (:math:`T = 1 + \alpha - \eta\lambda`, :math:`D = \alpha`) this is
:math:`m = h^2/\eta`, :math:`c = (1-\alpha)h/\eta`,
:math:`\zeta = (1-\alpha)/(2\sqrt{\eta\lambda})` (Yang et al., NeurIPS 2018;
reference section 1). A one-dimensional map :math:`x_{k+1} = J x_k` reads as
:math:`c\dot x + \lambda x = 0` with :math:`c = h\lambda/(1 - J)`: for gradient
descent :math:`J = 1 - \eta\lambda` and :math:`c = h/\eta`.

A two-dimensional real map is stable (:math:`\rho < 1`) exactly when (Jury's
criterion) :math:`|D| < 1` and :math:`|T| < 1 + D`; a one-dimensional one when
:math:`|J| < 1`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..backends.codegen import linearize, program_key
from ..program import (N, Custom, Elementwise, Reduce, Scalar, StepProgram, f, g, k, x)
from .continuous import LinearSystem, as_sympy_number, decay_rate_from_coefficients, lam

__all__ = [
    "LinearStep", "NonlinearStepError", "step_matrix", "predicted_rate", "predicted_rates",
    "continuous_equivalent", "continuous_symbolic", "continuous_model", "continuous_numeric",
    "continuous_rate", "critical_hyperparameter", "stability_conditions",
    "stability_interval", "resolve_program", "z",
]

#: the eigenvalue variable of the one-step map's characteristic polynomial
z = sp.Symbol("z")
#: the time step used when a method has no ``dt``: one step is one unit of time
h = sp.Symbol("h", positive=True)


class NonlinearStepError(ValueError):
    """The step is not a fixed linear map of the per-coordinate state on a quadratic."""


# ------------------------------------------------------------------------- programs
def resolve_program(method, integrator=None, options=None):
    """``(program, params, name)`` for a method name, Method, System or StepProgram.

    ``options`` may hold the loop options of :func:`dynopt.minimize` (``maxiter``,
    ``record`` ...): they are ignored here.
    """
    from .._minimize import LOOP_OPTIONS, build_program
    options = _plain_options({key: val for key, val in dict(options or {}).items()
                              if key not in LOOP_OPTIONS and key != "record_stride"})
    if isinstance(method, StepProgram):
        if integrator is not None:
            raise ValueError(f"a StepProgram takes no integrator, got integrator={integrator!r}")
        defaults = method.param_defaults()
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)} for program {method.name!r}; "
                            f"valid: {sorted(defaults)}")
        params = {**defaults, **options}
        missing = [name for name, val in params.items() if val is None]
        if missing:
            raise TypeError(f"program {method.name!r} needs the hyperparameters {missing}")
        return method, params, method.name
    key = _resolve_key(method, integrator, options)
    if key is None:
        return build_program(method, integrator, options)
    if key not in _RESOLVED:
        _RESOLVED[key] = build_program(method, integrator, options)
    program, params, name = _RESOLVED[key]
    return program, dict(params), name


#: resolved (program, params, name) by (method name, integrator name, options): building a
#: program from a system re-derives its equations, which analysis would repeat many times
_RESOLVED: dict = {}


def _resolve_key(method, integrator, options):
    if not isinstance(method, str) or not (integrator is None or isinstance(integrator, str)):
        return None
    items = []
    for key, val in sorted(options.items()):
        if isinstance(val, (bool, int, float, str, np.integer, np.floating)):
            items.append((key, type(val).__name__, val))
        else:
            return None
    return method, integrator, tuple(items)


def _frozen_program(program: StepProgram, freeze: dict) -> StepProgram:
    """The program with some scalar state replaced by fixed values (their updates dropped)."""
    if not freeze:
        return program
    by_name = {sym.name: sym for sym in program.scalars}
    rep = {}
    for key, val in freeze.items():
        sym = by_name.get(key.name if isinstance(key, sp.Symbol) else key)
        if sym is None:
            raise ValueError(f"freeze names {key!r}, which is not scalar state of "
                             f"{program.name!r}; scalar state: {sorted(by_name)}")
        number = as_sympy_number(val, f"freeze[{key!r}]", allow_sympy=False)
        if not math.isfinite(float(number)):
            raise ValueError(f"freeze[{key!r}] must be finite, got {val!r}")
        rep[sym] = number
    stages = []
    for st in program.stages:
        if isinstance(st, Scalar):
            stages.append(Scalar([(t, e.xreplace(rep)) for t, e in st.assignments if t not in rep]))
        elif isinstance(st, Elementwise):
            stages.append(Elementwise([(t, e.xreplace(rep)) for t, e in st.assignments]))
        elif isinstance(st, Reduce):
            stages.append(Reduce(st.target, st.expr.xreplace(rep), st.op))
        else:
            stages.append(st)
    return StepProgram(
        name=program.name, vectors={s_: e.xreplace(rep) for s_, e in program.vectors.items()},
        scalars={s_: e for s_, e in program.scalars.items() if s_ not in rep},
        params=dict(program.params), stages=stages,
        energies={n: (op, e.xreplace(rep)) for n, (op, e) in program.energies.items()},
        description=program.description)


def _compose(program: StepProgram, eigenvalue) -> tuple:
    """New per-coordinate and scalar state as expressions in the old, on g = lambda x."""
    for st in program.stages:
        if isinstance(st, Custom):
            raise NonlinearStepError(
                f"program {program.name!r} has a custom stage {st.label!r} "
                f"({getattr(st.fn, '__name__', st.fn)}), which is not symbolic; "
                "its one-step map cannot be derived")
    reductions = set()
    env = {x: x, g: eigenvalue * x}
    env.update({sym: sym for sym in program.vectors})
    env.update({sym: sym for sym in program.scalars})

    def run(part, env):
        ops, outputs = linearize(program, part)
        local = dict(env)
        for op in ops:
            if op.kind == "reduce":
                reductions.add(op.target)
                local[op.target] = op.target
            else:
                local[op.target] = op.expr.xreplace(local)
        return {sym: local[ssa] for sym, ssa in outputs.items()}

    after_before = {**env, **run("before", env)}
    x_new = after_before[x]
    env2 = dict(after_before)
    env2[g] = eigenvalue * x_new
    final = {**after_before, **run("after", env2)}
    vectors = {sym: final[sym] for sym in program.state_vectors}
    scalars = {sym: final[sym] for sym in program.state_scalars}
    return vectors, scalars, reductions


# ------------------------------------------------------------------------- the map
@dataclass
class LinearStep:
    r"""The one-step map :math:`s_{k+1} = M s_k` of a method on :math:`f = \tfrac12\lambda\|x\|^2`.

    Attributes
    ----------
    matrix : sympy.Matrix
        :math:`M` in :data:`~dynopt.analysis.continuous.lam` and the
        hyperparameter symbols.
    state : tuple of sympy.Symbol
        The per-coordinate state, ``x`` first.
    params : dict
        Hyperparameter symbol -> value of the run (a number or an array).
    name : str
        Method name.
    time_step : sympy.Expr
        :math:`h`: the ``dt`` symbol, or the symbol ``h`` for a method whose
        step is the unit of time.
    constants : dict
        Scalar state that does not change, with the initial value substituted.
    """

    matrix: sp.Matrix
    state: tuple
    params: dict
    name: str
    time_step: sp.Expr
    constants: dict = field(default_factory=dict)
    _entries: list = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------ symbolic
    @property
    def dimension(self) -> int:
        return self.matrix.shape[0]

    def trace(self) -> sp.Expr:
        return sp.simplify(self.matrix.trace())

    def determinant(self) -> sp.Expr:
        return sp.simplify(self.matrix.det())

    def characteristic_polynomial(self) -> sp.Expr:
        r""":math:`\det(zI - M)` in the symbol :data:`z`."""
        return sp.expand(self.matrix.charpoly(z).as_expr())

    def eigenvalues(self) -> list:
        """Symbolic eigenvalues of :math:`M` (with multiplicity)."""
        out = []
        for root, mult in sp.roots(self.characteristic_polynomial(), z).items():
            out += [sp.simplify(root)] * mult
        return out

    def at(self, eigenvalue=None, **values) -> sp.Matrix:
        """:math:`M` with the run's hyperparameter values (overridden by name) and, if
        given, the eigenvalue substituted.

        A value given by name is one real number or a SymPy expression; anything
        else (a string included, which is never parsed) is a TypeError naming it.
        """
        unknown = set(values) - {sym.name for sym in self.params}
        if unknown:
            raise TypeError(f"unknown hyperparameter(s) {sorted(unknown)} for {self.name!r}")
        rep = {}
        for sym, val in self.params.items():
            given = sym.name in values
            val = values.get(sym.name, val)
            if isinstance(val, sp.Basic) or np.ndim(val) == 0:
                rep[sym] = as_sympy_number(val, sym.name if given else
                                           f"the run's value of {sym.name}")
            elif given:
                raise TypeError(f"{sym.name} must be one real number or a SymPy expression, "
                                f"got {val!r}")
        if eigenvalue is not None:
            ev = _check_eigenvalues(eigenvalue)
            if ev.size != 1:
                raise ValueError(f"eigenvalue must be one number here, got {eigenvalue!r}")
            rep[lam] = sp.Float(float(ev.ravel()[0]))
        return self.matrix.xreplace(rep)

    # ------------------------------------------------------------ numeric
    def numeric(self, eigenvalue, **overrides) -> np.ndarray:
        """:math:`M` as an array of shape ``broadcast(eigenvalue, params) + (d, d)``."""
        ev = _check_eigenvalues(eigenvalue)
        syms = list(self.params)
        unknown = set(overrides) - {sym.name for sym in syms}
        if unknown:
            raise TypeError(f"unknown hyperparameter(s) {sorted(unknown)} for {self.name!r}; "
                            f"valid: {sorted(sym.name for sym in syms)}")
        vals = [np.asarray(overrides.get(sym.name, self.params[sym]), dtype=float) for sym in syms]
        shape = np.broadcast_shapes(ev.shape, *(v.shape for v in vals))
        d = self.dimension
        if self._entries is None:
            self._entries = [[sp.lambdify([lam, *syms], self.matrix[i, j], "numpy")
                              for j in range(d)] for i in range(d)]
        out = np.empty(shape + (d, d))
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(d):
                for j in range(d):
                    out[..., i, j] = np.broadcast_to(self._entries[i][j](ev, *vals), shape)
        return out

    def spectral_radius(self, eigenvalue, **overrides):
        r""":math:`\rho(M)`: the predicted per-step contraction (float or array)."""
        M = self.numeric(eigenvalue, **overrides)
        if not np.all(np.isfinite(M)):
            raise ValueError(f"the one-step map of {self.name!r} is not finite at "
                             f"eigenvalue={eigenvalue!r}")
        rho = np.abs(np.linalg.eigvals(M)).max(axis=-1)
        return float(rho) if rho.ndim == 0 else rho

    def repeated_root(self, eigenvalue, rtol: float = 1e-6, **overrides):
        r"""Whether the eigenvalue of :math:`M` of largest modulus is (numerically) repeated.

        At a repeated root :math:`z` a non-diagonal :math:`M` has a Jordan block and the
        error is :math:`(a + bk)\,|z|^k`, not geometric (the discrete analogue of critical
        damping): a geometric fit over records :math:`[k_0, k_1]` is biased upwards by about
        :math:`\ln(k_1/k_0)/(k_1 - k_0)` in :math:`\ln r`, so the comparison functions
        (:mod:`dynopt.analysis.compare`) fit :math:`(a + bk)\,r^k` where this flag holds
        (:func:`~dynopt.analysis.observed.fit_contraction` with ``double_root=True``).

        Returns
        -------
        bool or ndarray of bool
        """
        M = self.numeric(eigenvalue, **overrides)
        ev = np.linalg.eigvals(M)
        if ev.shape[-1] < 2:
            out = np.zeros(ev.shape[:-1], dtype=bool)
        else:
            order = np.argsort(-np.abs(ev), axis=-1)
            ev = np.take_along_axis(ev, order, axis=-1)
            out = np.abs(ev[..., 0] - ev[..., 1]) <= rtol * np.maximum(np.abs(ev[..., 0]), 1e-300)
        return bool(out) if out.ndim == 0 else out

    # ------------------------------------------------------------ physics
    def continuous_equivalent(self) -> dict:
        r"""Mass, damping and damping ratio of the continuous system the map discretises.

        Returns ``{'mass', 'damping', 'damping_ratio', 'h'}`` as SymPy expressions
        (see the module notes); a one-dimensional map has ``mass = 0`` and
        ``damping_ratio = oo``.
        """
        hh = self.time_step
        if self.dimension == 1:
            J = self.matrix[0, 0]
            c = sp.simplify(hh * lam / (1 - J))
            return {"mass": sp.Integer(0), "damping": c, "damping_ratio": sp.oo, "h": hh}
        if self.dimension != 2:
            raise ValueError(f"the continuous equivalent needs a state of dimension 1 or 2; "
                             f"{self.name!r} has {self.dimension} ({self.state})")
        T, D = self.trace(), self.determinant()
        denom = sp.simplify(1 - T + D)
        m = sp.simplify(hh**2 * lam / denom)
        c = sp.simplify(hh * (1 - D) * lam / denom)
        zeta = sp.simplify((1 - D) / (2 * sp.sqrt(denom)))
        return {"mass": m, "damping": c, "damping_ratio": zeta, "h": hh}

    def stability_conditions(self) -> list:
        """Jury's conditions for :math:`\\rho(M) < 1`, as SymPy relations (all must hold)."""
        if self.dimension == 1:
            J = sp.simplify(self.matrix[0, 0])
            return [J < 1, J > -1]
        if self.dimension != 2:
            raise ValueError(f"symbolic stability conditions are derived for dimension 1 or 2; "
                             f"{self.name!r} has {self.dimension}")
        T, D = self.trace(), self.determinant()
        return [D < 1, D > -1, T < 1 + D, -T < 1 + D]


def _check_eigenvalues(eigenvalue):
    """Eigenvalue(s) as a float array: ints, floats, NumPy and SymPy numbers (or arrays of
    them); booleans, strings and symbolic expressions are a TypeError."""
    if isinstance(eigenvalue, (list, tuple)):
        try:
            eigenvalue = np.asarray(eigenvalue)
        except (TypeError, ValueError):
            raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                            f"got {eigenvalue!r}") from None
    if isinstance(eigenvalue, sp.Basic) or (
            isinstance(eigenvalue, np.ndarray) and eigenvalue.dtype == object):
        items = np.asarray(eigenvalue, dtype=object)
        try:
            flat = [float(as_sympy_number(item, "eigenvalue", allow_sympy=False))
                    for item in items.ravel()]
        except TypeError as exc:
            raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                            f"got {eigenvalue!r} ({exc})") from None
        eigenvalue = np.asarray(flat, dtype=float).reshape(items.shape)
    kind = np.asarray(eigenvalue).dtype.kind
    if kind == "b":
        raise TypeError(f"eigenvalue must be a number or an array of numbers, got the "
                        f"boolean(s) {eigenvalue!r}; booleans are not taken as 0 or 1")
    if kind not in "iuf":
        raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                        f"got {eigenvalue!r}")
    try:
        arr = np.asarray(eigenvalue, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                        f"got {eigenvalue!r}") from None
    if arr.size == 0:
        raise ValueError("eigenvalue must not be empty")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"eigenvalue must be positive and finite (a Hessian eigenvalue at a "
                         f"minimum), got {eigenvalue!r}")
    return arr


def _plain_options(options: dict) -> dict:
    """Options with SymPy numbers (``sympy.Integer(2)``, ``sympy.Rational(1, 10)``) as Python
    ints and floats, the types :func:`dynopt.minimize` validates; anything else unchanged
    (a boolean or a string is refused there, by name)."""
    out = {}
    for key, val in options.items():
        if isinstance(val, sp.Expr) and not val.free_symbols and val.is_real:
            val = int(val) if val.is_Integer else float(val)
        out[key] = val
    return out


def _time_step(program):
    for sym in program.params:
        if sym.name == "dt":
            return sym
    return h


def step_matrix(method, integrator=None, options=None, freeze=None) -> LinearStep:
    r"""The one-step map of ``method`` on :math:`f = \tfrac12\lambda\|x\|^2`, from its program.

    Parameters
    ----------
    method : str, Method, System or StepProgram
        As for :func:`dynopt.minimize`.
    integrator : str or Integrator, optional
        As for :func:`dynopt.minimize`.
    options : dict, optional
        Hyperparameters (and loop options, ignored); validated as by :func:`dynopt.minimize`.
    freeze : dict, optional
        Scalar state held at fixed values (``{'zeta': 0.3}``).

    Returns
    -------
    LinearStep

    Raises
    ------
    NonlinearStepError
        If the step is not linear in the per-coordinate state (adaptive
        denominators, clipping, a reduction over coordinates, a scalar that
        changes, the objective value or the step counter entering the update).
    """
    program, params, name = resolve_program(method, integrator, options)
    key = (program_key(program), name, tuple(sorted((str(k_), str(v_))
                                                    for k_, v_ in dict(freeze or {}).items())))
    if key not in _CACHE:
        _CACHE[key] = _derive(_frozen_program(program, freeze), name)
    M, state, constants = _CACHE[key]
    values = {sym: params[sym.name] for sym in program.params}
    return LinearStep(M, state, values, name, _time_step(program), dict(constants))


#: derivations by program: the symbolic map does not depend on hyperparameter values
_CACHE: dict = {}


def _random_point(symbols, rng):
    return {q: sp.Float(rng.uniform(0.3, 0.9)) for q in symbols}


def _unchanged(new, old) -> bool:
    """Whether a scalar's update leaves it as it was (structurally, or after expansion)."""
    if new == old:
        return True
    try:
        return sp.expand(new - old) == 0
    except (TypeError, ValueError):
        return False


def _nonlinear_witness(M, state):
    """``(row, column)`` state names of a Jacobian entry that differs between two random
    states (same hyperparameters), or ``None`` when no difference is seen."""
    rng = np.random.default_rng(0)
    others = M.free_symbols - set(state)
    for _ in range(2):
        base = _random_point(others, rng)
        p1 = {**base, **_random_point(state, rng)}
        p2 = {**base, **_random_point(state, rng)}
        for i in range(M.rows):
            for j in range(M.cols):
                e = M[i, j]
                if not e.free_symbols & set(state):
                    continue
                try:
                    a = complex(e.xreplace(p1).evalf())
                    b = complex(e.xreplace(p2).evalf())
                except (TypeError, ValueError):
                    continue
                if abs(a - b) > 1e-9 * (1 + abs(a)):
                    return state[i].name, state[j].name
    return None


def _derive(program: StepProgram, name: str) -> tuple:
    """``(matrix, state, constants)`` of a (frozen) program; raises NonlinearStepError."""
    vectors, scalars, reductions = _compose(program, lam)
    state = tuple(program.state_vectors)
    # scalar state that does not change is a constant: its initial value
    constants, moving = {}, {}
    exprs = sp.Matrix([vectors[sym] for sym in state])
    used = exprs.free_symbols
    for sym, new in scalars.items():
        if sym not in used:
            continue  # a scalar the coordinates never read (a diagnostic, eta) may move
        if _unchanged(new, sym):
            init = program.scalars[sym]
            if init.has(f, x, g):
                constants[sym] = None
            else:
                constants[sym] = init
        else:
            moving[sym] = new
    for sym, new in moving.items():
        if sym in used:
            raise NonlinearStepError(
                f"the scalar state {sym.name!r} of {name!r} changes during a step "
                f"({sym.name} <- {new}) and enters the update of the per-coordinate state, so "
                f"the step is not a fixed linear map; pass freeze={{'{sym.name}': value}} to "
                "analyse it at a fixed value")
    for sym, init in constants.items():
        if sym in used and init is None:
            raise NonlinearStepError(
                f"the constant scalar state {sym.name!r} of {name!r} starts from an expression "
                f"in x, g or f ({program.scalars[sym]}); its value depends on the starting point")
    exprs = exprs.xreplace({s_: e for s_, e in constants.items() if e is not None})
    used = exprs.free_symbols
    for sym, what in ((f, "the objective value f"), (k, "the step counter k"),
                      (N, "the number of coordinates N")):
        if sym in used:
            raise NonlinearStepError(
                f"the per-coordinate update of {name!r} depends on {what}; "
                "it is not a fixed linear map of each coordinate")
    if used & reductions:
        red = sorted(str(r_) for r_ in used & reductions)
        raise NonlinearStepError(
            f"the per-coordinate update of {name!r} depends on reductions over all coordinates "
            f"({', '.join(red)}); the coordinates do not evolve independently")
    M = exprs.jacobian(state)
    witness = _nonlinear_witness(M, state)  # cheap, before simplifying large expressions
    if witness is not None:
        raise NonlinearStepError(
            f"the step of {name!r} is not linear in the per-coordinate state {state} on a "
            f"quadratic: d(new {witness[0]})/d(old {witness[1]}) changes with the state; "
            "no fixed one-step matrix exists")
    M = M.applyfunc(lambda e: sp.simplify(sp.piecewise_fold(e)))
    bad = [str(M[i, j]) for i in range(M.rows) for j in range(M.cols)
           if M[i, j].free_symbols & set(state)]
    if bad:
        raise NonlinearStepError(
            f"the step of {name!r} is not linear in the per-coordinate state {state} on a "
            f"quadratic (e.g. d(new)/d(old) = {bad[0]}); no fixed one-step matrix exists")
    offset = exprs.xreplace({sym: 0 for sym in state})
    if any(sp.simplify(e) != 0 for e in offset):
        raise NonlinearStepError(f"the step of {name!r} is affine, not linear: "
                                 f"it moves the minimum (offset {list(offset)})")
    extra = M.free_symbols - {lam} - set(program.params)
    if extra:
        raise NonlinearStepError(
            f"the one-step map of {name!r} depends on {sorted(map(str, extra))}; freeze them")
    return M, state, {s_: e for s_, e in constants.items() if e is not None}


def predicted_rate(method, eigenvalue, integrator=None, options=None, freeze=None) -> float:
    r"""Per-step contraction factor predicted for a run on :math:`f = \tfrac12\lambda\|x\|^2`.

    The spectral radius of the one-step map (:func:`step_matrix`) at
    ``eigenvalue``: the factor :math:`r` in :math:`\|x_k\| \approx C r^k` that
    ``dynopt.minimize(fun, x0, method=method, integrator=integrator,
    options=options)`` shows. :math:`r \ge 1` means no convergence.

    Parameters
    ----------
    method : str, Method, System or StepProgram
    eigenvalue : float
        :math:`\lambda > 0`.
    integrator, options, freeze
        See :func:`step_matrix`.

    Returns
    -------
    float
    """
    ev = _check_eigenvalues(eigenvalue)
    if ev.ndim != 0:
        raise ValueError(f"eigenvalue must be a single number, got shape {ev.shape}; "
                         "use predicted_rates for an array")
    return float(step_matrix(method, integrator, options, freeze).spectral_radius(ev))


def predicted_rates(method, eigenvalues, integrator=None, options=None, freeze=None) -> np.ndarray:
    """:func:`predicted_rate` for an array of eigenvalues (one derivation, vectorised)."""
    ev = _check_eigenvalues(eigenvalues)
    return np.asarray(step_matrix(method, integrator, options, freeze).spectral_radius(ev))


# ------------------------------------------------------------------------- continuous side
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


# ------------------------------------------------------------------------- stability
def stability_conditions(method, integrator=None, options=None, freeze=None, numeric=True):
    r"""Jury's conditions for :math:`\rho(M) < 1` and, if SymPy solves them, the stable set.

    Returns
    -------
    (list, sympy.Set or None)
        The conditions (symbolic in :math:`\lambda` and, with ``numeric=False``,
        in the hyperparameters), and the set of :math:`\lambda > 0` satisfying
        all of them (with the hyperparameters' values), or ``None``.
    """
    step = step_matrix(method, integrator, options, freeze)
    conds = step.stability_conditions()
    rep = {sym: sp.nsimplify(as_sympy_number(val, f"the run's value of {sym.name}"))
           for sym, val in step.params.items() if np.ndim(val) == 0}
    num = [sp.simplify(c_.xreplace(rep)) for c_ in conds]
    region = sp.Interval.open(0, sp.oo)
    try:
        for cond in num:
            if cond is sp.true:
                continue
            if cond is sp.false:
                region = sp.EmptySet
                break
            region = region.intersect(
                sp.solve_univariate_inequality(cond, lam, relational=False,
                                               domain=sp.Interval.open(0, sp.oo)))
    except (NotImplementedError, TypeError, ValueError):
        region = None
    return (num if numeric else conds), region


def stability_interval(method, integrator=None, options=None, freeze=None, lam_max=None,
                       samples: int = 4000, scaled: bool = False, marginal: bool = False,
                       tol: float = 1e-9) -> list:
    r"""Intervals of :math:`\lambda > 0` on which :math:`\rho(M) < 1`, found numerically.

    :math:`\rho` is sampled on a logarithmic grid of ``samples`` points up to
    ``lam_max`` (default: :math:`10^4` over the step's scale) and each crossing of
    the threshold is refined by bisection (Brent).

    An undamped step (velocity Verlet or symplectic Euler with no friction) has
    :math:`\rho = 1` exactly on its whole stable range: it neither grows nor
    contracts. Round-off puts such points a hair on either side of 1, so the
    threshold has a margin ``tol``: by default an interval is where
    :math:`\rho < 1 - \text{tol}` (contraction; an undamped step has none), and with
    ``marginal=True`` where :math:`\rho \le 1 + \text{tol}` (bounded: contraction or
    neutral oscillation).

    With ``scaled=True`` the intervals are given in :math:`h\lambda` instead, :math:`h`
    being the value of the step hyperparameter (``dt``, else ``lr``, else 1): the
    stability region of the integrator in its natural variable (heavy ball:
    :math:`0 < \eta\lambda < 2(1 + \alpha)`; gradient descent: :math:`0 < \eta\lambda < 2`).

    Returns
    -------
    list of (float, float)
        ``(low, high)`` pairs; ``high`` is ``inf`` when still stable at ``lam_max``.
    """
    from scipy.optimize import brentq
    step = step_matrix(method, integrator, options, freeze)
    scale = 1.0
    for name_ in ("dt", "lr"):
        for sym, val in step.params.items():
            if sym.name == name_ and np.ndim(val) == 0:
                scale = float(val) ** (2 if name_ == "dt" else 1)
    if lam_max is not None and (isinstance(lam_max, (bool, np.bool_))
                                or not isinstance(lam_max, numbers.Real)):
        raise TypeError(f"lam_max must be a real number, got lam_max = {lam_max!r}")
    top = float(lam_max) if lam_max is not None else 1e4 / scale
    if not (top > 0 and math.isfinite(top)):
        raise ValueError(f"lam_max must be positive and finite, got {lam_max!r}")
    if isinstance(tol, (bool, np.bool_)) or not (isinstance(tol, numbers.Real) and 0 <= tol < 1):
        raise ValueError(f"tol must be a number in [0, 1), got tol = {tol!r}")
    if isinstance(samples, (bool, np.bool_)) or not isinstance(samples, numbers.Integral) \
            or samples < 2:
        raise ValueError(f"samples must be an integer >= 2, got samples = {samples!r}")
    samples, tol = int(samples), float(tol)
    threshold = 1.0 + tol if marginal else 1.0 - tol
    grid = np.geomspace(top * 1e-12, top, samples)
    margin = step.spectral_radius(grid) - threshold

    def excess(val):
        return step.spectral_radius(val) - threshold

    stable = margin <= 0 if marginal else margin < 0
    out = []
    i = 0
    while i < grid.size:
        if not stable[i]:
            i += 1
            continue
        j = i
        while j + 1 < grid.size and stable[j + 1]:
            j += 1
        lo = 0.0 if i == 0 else brentq(excess, grid[i - 1], grid[i], xtol=1e-14 * grid[i])
        hi = math.inf if j == grid.size - 1 else brentq(excess, grid[j], grid[j + 1],
                                                         xtol=1e-14 * grid[j + 1])
        out.append((float(lo), float(hi)))
        i = j + 1
    if scaled:
        hval = next((float(val) for name_ in ("dt", "lr") for sym, val in step.params.items()
                     if sym.name == name_ and np.ndim(val) == 0), 1.0)
        out = [(lo * hval, hi * hval) for lo, hi in out]
    return out
