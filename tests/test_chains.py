"""Nose-Hoover chains (Martyna, Klein & Tuckerman 1992) and Nose-Hoover from Nose's Hamiltonian."""
import numpy as np
import pytest
import sympy as sp

import dynopt
from dynopt.analysis.observed import order_of_convergence
from dynopt.integrators import get_integrator
from dynopt.program import N, g
from dynopt.systems import NoseHoover, NoseHooverChain
from dynopt.systems.base import v
from dynopt.systems.nose_hoover import Q, kinetic_sum, mass, temperature
from dynopt.systems.nose_hoover_chain import Q_chain, chain_symbols


@pytest.mark.parametrize("M", [1, 2, 3, 4])
def test_chain_is_martyna_klein_tuckerman(M):
    # the paper's equations, typed in: zeta_1' = (sum p^2/m - N T)/Q_1 - zeta_2 zeta_1,
    # zeta_j' = (Q_{j-1} zeta_{j-1}^2 - T)/Q_j - zeta_{j+1} zeta_j, zeta_M' without the last term
    vf = NoseHooverChain(M).vector_field()
    z, e = chain_symbols(M)
    Qs = [Q] + [Q_chain] * (M - 1)
    for j in range(M):
        drive = (kinetic_sum - N * temperature) if j == 0 else (Qs[j - 1] * z[j - 1]**2 - temperature)
        expected = drive / Qs[j] - (z[j + 1] * z[j] if j + 1 < M else 0)
        assert sp.simplify(vf.aux[z[j]] - expected) == 0
        assert vf.aux[e[j]] == z[j]
    assert sp.simplify(vf.vdot - (-g / mass - z[0] * v)) == 0
    # dH'/dt = 0: particles lose zeta_1 * sum m v^2, the extended terms gain it back
    H_extra = NoseHooverChain(M).extended_energy_terms()
    dH = -z[0] * kinetic_sum + sum(sp.diff(H_extra, s) * rhs for s, rhs in vf.aux.items())
    assert sp.simplify(dH) == 0


def test_chain_of_one_is_nose_hoover():
    a, b = NoseHooverChain(1).vector_field(), NoseHoover().vector_field()
    assert a.aux == b.aux and a.vdot == b.vdot and a.reductions == b.reductions
    assert sp.simplify(a.energies["thermostat"][1] - b.energies["thermostat"][1]) == 0


def test_chain_rejects_bad_length():
    with pytest.raises(ValueError, match="M must be"):
        NoseHooverChain(0)


def chain_run(M, integrator, h, T=4.0):
    lam = np.array([1.0, 2.0, 3.0])
    steps = int(round(T / h)) * get_integrator(integrator).substeps
    return dynopt.minimize(lambda z: 0.5 * float(z @ (lam * z)), np.array([1.0, -0.5, 0.3]),
                           jac=lambda z: lam * z,
                           method=NoseHooverChain(M, Q=2.0, Q_chain=0.7, temperature=0.5),
                           integrator=integrator,
                           options={"dt": h, "maxiter": steps, "gtol": 0, "record": True})


@pytest.mark.parametrize("M", [1, 2, 3])
@pytest.mark.parametrize("integrator,order", [("symplectic_euler", 1), ("velocity_verlet", 2),
                                              ("conformal_verlet", 2), ("yoshida4", 4)])
def test_extended_energy_conserved_at_the_integrators_order(M, integrator, order):
    n = get_integrator(integrator).substeps
    hs, drifts = np.array([0.08, 0.04, 0.02]), []
    for h in hs:
        H = chain_run(M, integrator, h).trajectory["total"][::n]  # ends of whole steps
        drifts.append(np.abs(H - H[0]).max())
    p, _ = order_of_convergence(hs, np.array(drifts))
    assert abs(p - order) < 0.3, (drifts, p)


def test_chain_thermostats_exchange_energy():
    tr = chain_run(3, "velocity_verlet", 0.02).trajectory
    assert np.ptp(tr["zeta3"]) > 1e-3                       # the last thermostat moves
    assert np.ptp(tr["kinetic"] + tr["potential"]) > 100 * np.ptp(tr["total"])


# ------------------------------------------------------------ Nose-Hoover from Nose
def test_nose_hoover_from_nose_hamiltonian_by_hand():
    # Nose's Hamiltonian in virtual time, by hand: dq/dtau = p'/(m s^2), dp'/dtau = -f',
    # ds/dtau = p_s/Q, dp_s/dtau = p'^2/(m s^3) - N T / s (one coordinate shown, N in the log)
    from dynopt.systems.nose_hoover import nose_real_time, p_s, p_virtual, s_nose
    from dynopt.systems.base import p
    h, H_s = NoseHoover().nose_hamiltonian()
    assert sp.simplify(sp.diff(h, p_virtual) - p_virtual / (mass * s_nose**2)) == 0
    assert sp.simplify(-sp.diff(H_s + h, s_nose)
                       - (p_virtual**2 / (mass * s_nose**3) - N * temperature / s_nose)) == 0
    eqs = nose_real_time(h, H_s, Q)
    # Hoover 1985 in real time: q' = p/m, p' = -f' - zeta p, zeta' = (p^2/m - N T)/Q, eta' = zeta
    zeta = sp.Symbol("zeta", real=True)
    assert sp.simplify(eqs["qdot"] - p / mass) == 0
    assert sp.simplify(eqs["pdot"] - (-g - zeta * p)) == 0
    assert sp.simplify(eqs["zeta_density"] - p**2 / (mass * Q)) == 0
    assert sp.simplify(eqs["zeta_scalar"] + N * temperature / Q) == 0
    assert eqs["etadot"] == zeta


def test_nose_hamiltonian_value_is_the_extended_energy():
    # H_N at p' = s p, p_s = Q zeta, s = e^eta equals H' (one coordinate, N in the thermostat)
    from dynopt.systems.nose_hoover import eta, p_s, p_virtual, s_nose, zeta
    from dynopt.systems.base import p, potential
    from dynopt.program import x
    h, H_s = NoseHoover().nose_hamiltonian()
    value = (h + H_s).subs({p_virtual: s_nose * p, p_s: Q * zeta}).subs(s_nose, sp.exp(eta))
    expected = p**2 / (2 * mass) + potential(x) + Q * zeta**2 / 2 + N * temperature * eta
    assert sp.simplify(sp.expand_log(value, force=True) - expected) == 0
