"""Every integrator runs at its declared order on a field whose auxiliary equations
depend on themselves (a Nosé–Hoover chain: dzeta_1/dt contains -zeta_2 zeta_1).

The reference is an independent transcription of the chain's equations (Martyna, Klein &
Tuckerman 1992) integrated by SciPy's DOP853 at tight tolerance."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynopt
from dynopt.analysis.observed import order_of_convergence
from dynopt.integrators import INTEGRATORS, get_integrator
from dynopt.systems import NoseHooverChain

LAM = np.array([1.0, 2.0, 3.0])
X0 = np.array([1.0, -0.5, 0.3])
MASS, Q1, Q2, TEMP = 1.3, 2.0, 0.7, 0.5
T_END = 2.0


def chain_rhs(_, y):
    """MKT's chain of length 2, written out by hand: y = (q, v, zeta1, zeta2)."""
    q, v, z1, z2 = y[:3], y[3:6], y[6], y[7]
    dq = v
    dv = -LAM * q / MASS - z1 * v
    dz1 = (MASS * v @ v - len(q) * TEMP) / Q1 - z2 * z1
    dz2 = (Q1 * z1**2 - TEMP) / Q2
    return np.concatenate([dq, dv, [dz1, dz2]])


REFERENCE = solve_ivp(chain_rhs, (0, T_END), np.concatenate([X0, np.zeros(5)]),
                      method="DOP853", rtol=1e-13, atol=1e-13).y[:, -1]


def chain_run(integrator, h, T=T_END, record=False):
    steps = int(round(T / h)) * get_integrator(integrator).substeps
    return dynopt.minimize(lambda x: 0.5 * float(x @ (LAM * x)), X0, jac=lambda x: LAM * x,
                           method=NoseHooverChain(2, mass=MASS, Q=Q1, Q_chain=Q2,
                                                  temperature=TEMP),
                           integrator=integrator,
                           options={"dt": h, "maxiter": steps, "gtol": 0, "record": record})


def test_reference_is_the_chain_of_the_system():
    # the hand-written right-hand side equals the system's derived one at a random state
    import sympy as sp
    from dynopt.program import N, g
    from dynopt.systems.base import v
    from dynopt.systems.nose_hoover import kinetic_sum
    vf = NoseHooverChain(2, mass=MASS, Q=Q1, Q_chain=Q2, temperature=TEMP).vector_field()
    values = {s: vf.params[s] for s in vf.params}
    y = np.random.default_rng(0).normal(size=8)
    ref = chain_rhs(0, y)
    zetas = [s for s in vf.aux if s.name.startswith("zeta")]
    state = {zetas[0]: y[6], zetas[1]: y[7], N: 3, kinetic_sum: MASS * y[3:6] @ y[3:6]}
    for i in range(3):
        at = {**values, **state, v: y[3 + i], g: LAM[i] * y[i]}
        assert float(vf.vdot.subs(at)) == pytest.approx(ref[3 + i], rel=1e-12)
    for z, expected in zip(zetas, ref[6:]):
        assert float(sp.sympify(vf.aux[z]).subs({**values, **state})) == pytest.approx(
            expected, rel=1e-12)


@pytest.mark.parametrize("integrator", sorted(INTEGRATORS))
def test_declared_order_on_a_self_dependent_auxiliary_flow(integrator):
    declared = INTEGRATORS[integrator].order
    hs = np.array([0.05, 0.025, 0.0125])
    errs = []
    for h in hs:
        res = chain_run(integrator, h)
        state = np.concatenate([res.x, res.state["v"].ravel(),
                                [float(np.ravel(res.state["zeta"])[0]),
                                 float(np.ravel(res.state["zeta2"])[0])]])
        errs.append(np.max(np.abs(state - REFERENCE)))
    p, _ = order_of_convergence(hs, np.array(errs))
    assert abs(p - declared) < 0.2, (integrator, errs, p)
