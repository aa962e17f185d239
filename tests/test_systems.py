"""The symbolic systems derive the equations one would write by hand."""
import sympy as sp
import pytest

from dynopt.program import N, g
from dynopt.systems import SYSTEMS, DampedOscillator, GradientFlow, NesterovODE, NoseHoover
from dynopt.systems.base import potential, t, v
from dynopt.systems.damped_oscillator import damping as c, mass as m
from dynopt.systems.nose_hoover import Q, eta, kinetic_sum, mass, temperature, zeta


def test_damped_oscillator_is_m_xddot_plus_c_xdot_plus_grad():
    vf = DampedOscillator().vector_field()
    assert sp.simplify(vf.xdot - v) == 0
    # m * vdot + c * v + g = 0
    assert sp.simplify(m * vf.vdot + c * v + g) == 0


def test_damped_oscillator_equation_renders_second_order_ode():
    (eq,) = DampedOscillator().equations()
    X = sp.Function("x")(t)
    assert sp.simplify(m * eq.rhs + c * X.diff(t) + sp.Derivative(potential(X), X)) == 0
    assert eq.lhs == X.diff(t, 2)
    assert "\\frac" in sp.latex(eq)


def test_energy_decays_at_rate_c_v_squared():
    sys_ = DampedOscillator()
    vf = sys_.vector_field()
    E = m * v**2 / 2  # kinetic part; dE/dt of f(x) is g * xdot
    dE = sp.diff(E, v) * vf.vdot + g * vf.xdot
    assert sp.simplify(dE + c * v**2) == 0


def test_gradient_flow_is_overdamped_limit():
    vf = GradientFlow().vector_field()
    assert vf.vdot is None
    assert sp.simplify(c * vf.xdot + g) == 0


def test_nesterov_ode_damping_three_over_t():
    vf = NesterovODE().vector_field()
    r = sp.Symbol("r", positive=True)
    assert sp.simplify(vf.vdot - (-g - r * v / t)) == 0
    assert NesterovODE().default_params()["r"] == 3.0
    assert vf.time == t


@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_nose_hoover_equations_and_conserved_energy(normalization):
    sys_ = NoseHoover(normalization=normalization)
    vf = sys_.vector_field()
    assert sp.simplify(vf.vdot - (-g / mass - zeta * v)) == 0
    (red,) = vf.reductions
    assert red.op == normalization and sp.simplify(red.expr - mass * v**2) == 0
    Qe = Q if normalization == "sum" else N * Q
    expected = (kinetic_sum * (1 if normalization == "sum" else N) - N * temperature) / Qe
    assert sp.simplify(vf.aux[zeta] - expected) == 0
    assert vf.aux[eta] == zeta
    # dH'/dt = sum_i (m v vdot + g xdot) + Qe zeta zetadot + N T zeta = 0, with
    # sum_i m v^2 = S (reduction): per coordinate m v vdot + g v = -zeta m v^2
    per_coord = sp.expand(mass * v * vf.vdot + g * vf.xdot)
    assert sp.simplify(per_coord + zeta * mass * v**2) == 0
    total_kinetic_power = -zeta * kinetic_sum * (1 if normalization == "sum" else N)
    dH = total_kinetic_power + Qe * zeta * vf.aux[zeta] + N * temperature * vf.aux[eta]
    assert sp.simplify(dH) == 0


def test_nose_hoover_equations_render():
    eqs = NoseHoover().equations()
    assert len(eqs) == 3
    assert all(isinstance(e, sp.Eq) for e in eqs)
    assert "zeta" in sp.latex(eqs[2])


def test_registry_lists_every_system():
    assert set(SYSTEMS) >= {"damped_oscillator", "gradient_flow", "nesterov_ode", "nose_hoover"}
    for cls in SYSTEMS.values():
        vf = cls().vector_field()
        assert vf.xdot is not None


def test_system_rejects_bad_parameters():
    with pytest.raises(TypeError, match="mass_"):
        DampedOscillator(mass_=1.0)
    with pytest.raises(ValueError, match="normalization"):
        NoseHoover(normalization="median")
    with pytest.raises(ValueError, match="finite"):
        DampedOscillator(mass=float("nan"))


def test_energies_render_as_sums():
    E = NoseHoover().extended_energy()
    assert isinstance(DampedOscillator().energy().args[0], sp.Sum) or any(
        isinstance(a, sp.Sum) for a in DampedOscillator().energy().args)
    latex = sp.latex(E)
    assert "\\sum" in latex and "\\zeta" in latex and "\\eta" in latex
