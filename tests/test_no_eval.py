"""No user-supplied string is ever evaluated as Python.

Each attack uses a string that, if it were evaluated, would create a marker
file; the test asserts the refusal and that the marker does not exist.
"""
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.analysis import continuous_eigenvalues, damping_ratio, decay_rate, step_matrix
from dynopt.backends.codegen import check_program_names, program_key
from dynopt.backends.numba_backend import NumbaBackend
from dynopt.backends.numpy_backend import NumpyBackend
from dynopt.identifiers import check_identifier
from dynopt.systems import NesterovODE, NoseHoover


def _payload(marker):
    # what sympify would run: a call creating the marker file
    return f"__import__('pathlib').Path({str(marker)!r}).touch() or 1"


@pytest.mark.parametrize("fn", [damping_ratio, decay_rate, continuous_eigenvalues])
def test_string_in_frozen_is_a_type_error_and_runs_nothing(fn, tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(TypeError, match=r"frozen\['zeta'\]"):
        fn(NoseHoover(mass=2.0), 3.0, frozen={"zeta": _payload(marker)})
    assert not marker.exists()


def test_numeric_string_in_frozen_is_refused_too(tmp_path):
    with pytest.raises(TypeError, match="strings are not parsed"):
        damping_ratio(NesterovODE(r=3.0), 4.0, frozen={"t": "0.75"})


def test_numbers_and_sympy_values_still_work_in_frozen():
    assert damping_ratio(NesterovODE(r=3.0), 4.0, frozen={"t": 0.75}) == pytest.approx(1.0)
    assert damping_ratio(NesterovODE(r=3.0), 4.0, frozen={"t": np.float32(0.75)}) == \
        pytest.approx(1.0)
    assert damping_ratio(NesterovODE(r=3.0), 4.0, frozen={"t": sp.Rational(3, 4)}) == \
        pytest.approx(1.0)


@pytest.mark.parametrize("bad", [True, None, [0.5], {"a": 1}])
def test_other_objects_in_frozen_are_type_errors(bad):
    with pytest.raises(TypeError, match=r"frozen\['zeta'\]"):
        damping_ratio(NoseHoover(mass=2.0), 3.0, frozen={"zeta": bad})


def test_string_in_at_is_a_type_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    step = step_matrix("heavy_ball")
    with pytest.raises(TypeError, match="lr"):
        step.at(lr=_payload(marker))
    assert not marker.exists()
    with pytest.raises(TypeError, match="lr"):
        step.at(lr="0.1")
    # numbers and SymPy expressions are accepted
    M = step.at(lr=0.1, momentum=sp.Rational(1, 2), eigenvalue=2.0)
    assert not M.free_symbols


def test_string_eigenvalue_in_at_is_a_type_error(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(TypeError, match="eigenvalue"):
        step_matrix("heavy_ball").at(eigenvalue=_payload(marker))
    assert not marker.exists()


# ------------------------------------------------------------ names in generated code
def _injected_name(marker):
    return f"P[getattr(__import__('os'),'system')('touch {marker}')]"


def _spring_system(name):
    from dynopt.program import g
    from dynopt.systems import System, VectorField
    from dynopt.systems.base import v
    stiff = sp.Symbol(name, positive=True)

    class Spring(System):
        @classmethod
        def symbols(cls):
            return {stiff: 1.0}

        def vector_field(self):
            return VectorField(xdot=v, vdot=-stiff * g, params=dict(self.symbols()))

    return Spring


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_injected_parameter_name_is_refused_before_anything_runs(backend, tmp_path):
    from dynopt.integrators import get_integrator
    marker = tmp_path / "ran"
    cache = tmp_path / "cache"
    name = _injected_name(marker)
    be = NumpyBackend() if backend == "numpy" else NumbaBackend(cache_dir=cache, parallel=False)
    with pytest.raises(ValueError, match="not a valid Python identifier") as err:
        program = get_integrator("velocity_verlet").program(_spring_system(name)().vector_field(),
                                                   "spring")
        be.compile(program)
    assert name in str(err.value)
    assert not marker.exists()
    assert not cache.exists() or not list(cache.glob("*.py"))


def _rename_stages(program, old, new):
    from dynopt.program import Elementwise, Scalar
    stages = []
    for st in program.stages:
        if isinstance(st, (Elementwise, Scalar)):
            st = type(st)(tuple((t, e.xreplace({old: new})) for t, e in st.assignments))
        stages.append(st)
    return tuple(stages)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_code_generators_check_names_of_a_program_changed_after_it_was_built(backend, tmp_path):
    marker = tmp_path / "ran"
    cache = tmp_path / "cache"
    program = dynopt.METHODS["heavy_ball"].program()
    old = next(s for s in program.params if s.name == "lr")
    new = sp.Symbol(_injected_name(marker), positive=True)
    object.__setattr__(program, "params",
                       {(new if s == old else s): d for s, d in program.params.items()})
    object.__setattr__(program, "stages", _rename_stages(program, old, new))
    be = NumpyBackend() if backend == "numpy" else NumbaBackend(cache_dir=cache, parallel=False)
    with pytest.raises(ValueError, match="not a valid Python identifier") as err:
        be.compile(program)
    assert new.name in str(err.value) and "hyperparameter" in str(err.value)
    assert not marker.exists()
    assert not cache.exists() or not list(cache.glob("*.py"))


@pytest.mark.parametrize("name, match", [
    ("numpy", "uses itself"), ("np", "uses itself"), ("math", "uses itself"),
    ("numba", "uses itself"), ("S", "uses itself"), ("P", "uses itself"),
    ("_secret", "underscore"), ("lambda", "keyword"), ("a b", "identifier"),
    ("x)+(1", "identifier"), ("1x", "identifier"), ("", "identifier"),
])
def test_check_identifier_refuses_unsafe_names(name, match):
    with pytest.raises(ValueError, match=match) as err:
        check_identifier(name, "here")
    assert repr(name) in str(err.value) and "here" in str(err.value)


def test_check_identifier_accepts_plain_names_and_temporaries_named_like_reserved():
    assert check_identifier("momentum") == "momentum"
    assert check_identifier("beta_2") == "beta_2"
    assert check_identifier("P", reserved=False) == "P"
    with pytest.raises(TypeError, match="string"):
        check_identifier(3)


def test_reserved_hyperparameter_name_refused_by_the_code_generators():
    program = dynopt.METHODS["heavy_ball"].program()
    old = next(s for s in program.params if s.name == "lr")
    new = sp.Symbol("numpy", positive=True)
    object.__setattr__(program, "params",
                       {(new if s == old else s): d for s, d in program.params.items()})
    object.__setattr__(program, "stages", _rename_stages(program, old, new))
    with pytest.raises(ValueError, match="'numpy'.*uses itself"):
        program_key(program, "numpy")


def test_every_registered_method_passes_the_name_check():
    for method in dynopt.METHODS.values():
        check_program_names(method.program())


@pytest.mark.parametrize("spectrum", [("0.1", 10.0), "ab", (0.1,), None])
def test_optimal_damping_spectrum_takes_only_numbers(spectrum):
    from dynopt.analysis import optimal_damping
    from dynopt.systems import DampedOscillator
    with pytest.raises(TypeError, match="spectrum"):
        optimal_damping(DampedOscillator(), spectrum)
