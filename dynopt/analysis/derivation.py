r"""Deriving the one-step map of a step program on :math:`f = \tfrac12\lambda\|x\|^2`.

A method (a name, a ``Method``, a system or a ``StepProgram``) is resolved to its step program
(:func:`resolve_program`); scalar state may be held fixed (``freeze``). The single-assignment
ops of the stages before the gradient (:func:`dynopt.backends.codegen.linearize`) are composed
with :math:`g = \lambda x`, then :math:`g = \lambda x_{k+1}` is substituted into the ops after
it, and the one-step matrix :math:`M` is the Jacobian of the new per-coordinate state with
respect to the old. Whatever keeps the step from being a fixed linear map of each coordinate (a
scalar that changes, a reduction, the objective value, the step counter, a nonlinear update)
raises :class:`NonlinearStepError` naming it. :mod:`dynopt.analysis.onestep` wraps the result.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..backends.codegen import linearize
from ..program import N, Custom, Elementwise, Reduce, Scalar, StepProgram, f, g, k, x
from .continuous import as_sympy_number, lam

__all__ = ["NonlinearStepError", "resolve_program", "h"]

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
