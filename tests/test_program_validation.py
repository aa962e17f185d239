"""Step programs are checked when they are built: every registered method still
builds, and broken programs fail with an error naming the stage and the symbol."""
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.integrators import INTEGRATORS
from dynopt.methods.ko import BASES
from dynopt.program import (Custom, Elementwise, Gradient, Reduce, Scalar, StepProgram, f, g, k,
                            x)

v = sp.Symbol("v", real=True)
w = sp.Symbol("w", real=True)
zeta = sp.Symbol("zeta", real=True)
lr = sp.Symbol("lr", positive=True)
tmp = sp.Symbol("tmp", real=True)
ksum = sp.Symbol("ksum", real=True)


def _variants(method):
    """Non-default settings of every structural flag whose values are enumerable."""
    out = [{}]
    for name, default in method.flags.items():
        if isinstance(default, bool):
            out.append({name: not default})
    if method.name == "ko":
        out += [{"base": b} for b in BASES]
    if method.name == "frankenstein":
        out.append({"variant": "paper"})
    if method.name == "nose_hoover":
        out.append({"normalization": "mean"})
    return out


def _builds():
    for name, method in sorted(dynopt.METHODS.items()):
        integrators = [None] if method.integrator is None else sorted(INTEGRATORS)
        for integ in integrators:
            for flags in _variants(method):
                yield name, integ, flags


def test_every_method_builds_under_every_integrator_it_accepts():
    built, refused = 0, []
    for name, integ, flags in _builds():
        try:
            prog = dynopt.METHODS[name].program(integ, **flags)
        except ValueError as exc:
            # first-order flows refuse the second-order integrators, by design
            assert "second-order" in str(exc), (name, integ, flags, exc)
            refused.append((name, integ))
            continue
        assert isinstance(prog, StepProgram)
        built += 1
    assert built >= 60
    assert all(n in ("gd", "gradient_flow") for n, _ in refused)


def _program(stages, vectors=None, scalars=None, params=None, **kw):
    return StepProgram("t", vectors if vectors is not None else {v: 0},
                       scalars if scalars is not None else {zeta: 0},
                       params if params is not None else {lr: 0.1}, stages, **kw)


def test_a_valid_program_builds():
    prog = _program([Reduce(ksum, v**2), Scalar([(zeta, zeta + lr * ksum)]),
                     Elementwise([(tmp, -g - zeta * v), (v, v + lr * tmp), (x, x + lr * v)]),
                     Gradient()])
    assert prog.gradient_index == 3


def test_undefined_symbol_names_stage_and_symbol():
    with pytest.raises(ValueError, match=r"stage 0 \(elementwise\) reads 'w'"):
        _program([Elementwise([(v, v + w)]), Gradient()])


def test_temporary_read_before_it_is_assigned():
    # tmp is assigned after the gradient, so it does not exist yet in the stage before it
    with pytest.raises(ValueError, match=r"stage 0 \(elementwise\) reads 'tmp'"):
        _program([Elementwise([(x, x + tmp)]), Gradient(), Elementwise([(tmp, g)])])


def test_scalar_stage_reading_a_vector():
    with pytest.raises(ValueError, match=r"stage 0 \(scalar\) reads the per-coordinate value 'v'"):
        _program([Scalar([(zeta, zeta + v)]), Gradient()])
    with pytest.raises(ValueError, match=r"stage 1 \(scalar\) reads the per-coordinate value 'tmp'"):
        _program([Elementwise([(tmp, 2 * v)]), Scalar([(zeta, tmp)]), Gradient()])


def test_scalar_assigned_per_coordinate_and_back():
    with pytest.raises(ValueError, match=r"stage 0 \(scalar\) assigns the per-coordinate symbol 'v'"):
        _program([Scalar([(v, zeta)]), Gradient()])
    with pytest.raises(ValueError, match=r"stage 0 \(elementwise\) assigns the scalar 'zeta'"):
        _program([Elementwise([(zeta, v)]), Gradient()])


@pytest.mark.parametrize("target", [g, f, k, dynopt.program.N, lr])
def test_assignment_to_an_input(target):
    with pytest.raises(ValueError, match=rf"stage 0 \((elementwise|scalar)\) assigns "
                                         rf"'{target.name}'"):
        stage = Scalar([(target, 1)]) if target in (f, k, dynopt.program.N, lr) \
            else Elementwise([(target, 2 * g)])
        _program([stage, Gradient()])


def test_custom_stage_reads_and_writes_are_checked():
    def fn(S, P):
        pass

    with pytest.raises(ValueError, match=r"stage 0 \(custom 'c'\) reads 'w'"):
        _program([Custom(fn, reads=(w,), writes=(v,), label="c"), Gradient()])
    with pytest.raises(ValueError, match=r"stage 0 \(custom 'c'\) assigns 'lr'"):
        _program([Custom(fn, reads=(x,), writes=(lr,), label="c"), Gradient()])
    # rewriting g is allowed before the gradient evaluation (KO), not after it
    _program([Custom(fn, reads=(x, g), writes=(g,), label="c"), Gradient()])
    with pytest.raises(ValueError, match=r"stage 1 \(custom 'c'\) assigns 'g'"):
        _program([Gradient(), Custom(fn, reads=(x, g), writes=(g,), label="c")])


@pytest.mark.parametrize("name", [
    "P[getattr(__import__('os'),'system')('echo pwned')]", "a b", "1v", "lambda", "_hidden",
    "numpy", "S", "math", "print", ""])
def test_unsafe_state_names_are_refused(name):
    bad = sp.Symbol(name, real=True) if name else sp.Dummy()
    if not name:
        bad.name = ""
    with pytest.raises(ValueError, match="symbol name"):
        _program([Elementwise([(bad, bad + g)]), Gradient()], vectors={bad: 0})


def test_unsafe_hyperparameter_name_in_a_custom_system_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = sp.Symbol(f"P[getattr(__import__('os'),'system')('touch {marker}')]", positive=True)

    class Evil(dynopt.systems.System):
        name = "evil"
        second_order = False

        @classmethod
        def symbols(cls):
            return {evil: 0.1}

        def vector_field(self):
            return dynopt.systems.VectorField(xdot=-evil * g, vdot=None,
                                              params=dict(self.symbols()))

    for backend in ("numpy", "numba"):
        with pytest.raises(ValueError, match="not a valid Python identifier"):
            dynopt.minimize(lambda z: (float(z @ z), 2 * z), np.ones(3), jac=True,
                            method=Evil(), backend=backend, options={"maxiter": 3})
    assert not marker.exists()


def test_single_assignment_name_clash():
    v1 = sp.Symbol("v_1", real=True)
    with pytest.raises(ValueError, match="'v_1' clashes"):
        _program([Elementwise([(v1, g), (v, v + v1)]), Gradient()])


def test_two_symbols_with_one_name():
    other_v = sp.Symbol("v", positive=True)
    with pytest.raises(ValueError, match="two different symbols are named 'v'"):
        _program([Elementwise([(v, other_v + g)]), Gradient()])


def test_undefined_function_is_refused():
    fn = sp.Function("system")
    with pytest.raises(ValueError, match="undefined function 'system'"):
        _program([Elementwise([(v, fn(g))]), Gradient()])


def test_strings_are_never_parsed_into_a_program():
    with pytest.raises(TypeError, match="strings are not parsed"):
        Elementwise([(v, "__import__('os').getcwd()")])
    with pytest.raises(TypeError, match="strings are not parsed"):
        Reduce(ksum, "v**2")
    with pytest.raises(TypeError, match="strings are not parsed"):
        _program([Gradient()], vectors={v: "x"})


def test_initial_values_and_energies_read_only_what_init_has():
    with pytest.raises(ValueError, match="initial value of the scalar 'zeta' reads 'x'"):
        _program([Gradient()], scalars={zeta: x})
    with pytest.raises(ValueError, match="energy 'e' reads 'tmp'"):
        _program([Elementwise([(tmp, g)]), Gradient()], energies={"e": ("sum", tmp)})
    with pytest.raises(ValueError, match="scalar energy 'e' reads the per-coordinate value 'v'"):
        _program([Gradient()], energies={"e": ("scalar", v)})


def test_a_temporary_named_like_a_module_is_printed_under_its_ssa_name():
    # FIRE's power P is a temporary: it is only ever printed as P_1, so it is allowed ...
    P = sp.Symbol("P", real=True)
    prog = _program([Reduce(P, v * g), Elementwise([(v, v - lr * g * P)]), Gradient()])
    from dynopt.backends.numpy_source import generate_source
    assert "    P = " not in generate_source(prog)
    # ... but not when the kernel after the gradient loads it by name
    with pytest.raises(ValueError, match="symbol name 'P'"):
        _program([Reduce(P, v * g), Elementwise([(x, x + v)]), Gradient(),
                  Elementwise([(v, v - lr * P)])])
