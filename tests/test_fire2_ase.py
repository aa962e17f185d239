"""'fire2_ase' against ASE's own ase.optimize.fire2.FIRE2, step by step on LJ38 and LJ13."""
import inspect

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.optimize.fire2 import FIRE2

import dynopt
from dynopt.ase import DynOpt
from dynopt.methods.fire import METHODS as FIRE_METHODS
from dynopt.problems import lj_energy_and_gradient, max_atom_force, random_cluster
from dynopt.reproduce.lj38 import fragments
from dynopt.reproduce.lj38 import start as lj38_start


class CountingLJ(Calculator):
    """Lennard-Jones (no cut-off) through dynopt's energy, counting its evaluations.

    Both optimizers of a comparison use this one calculator, so the comparison is
    between the optimizers alone (ASE serves repeated reads at unchanged positions
    from its cache; only real evaluations are counted).
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self):
        super().__init__()
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        energy, grad = lj_energy_and_gradient(self.atoms.get_positions())
        self.results = {"energy": energy, "free_energy": energy, "forces": -grad.reshape(-1, 3)}


def relax(cls, pos0, fmax=0.01, steps=5000, **kwargs):
    """Frames after every ASE step (the start first), with DynOpt's ``pending`` flag."""
    calc = CountingLJ()
    atoms = Atoms(f"Ar{len(pos0)}", positions=pos0, calculator=calc)
    opt = cls(atoms, logfile=None, **kwargs)
    frames, pending = [], []

    def observe():
        frames.append(atoms.get_positions().ravel().copy())
        state = getattr(opt, "state", None)
        pending.append(float(state.arrays["pending"][0, 0])
                       if state is not None and "pending" in state.arrays else 0.0)
    opt.attach(observe)
    converged = opt.run(fmax=fmax, steps=steps)
    return np.array(frames), np.array(pending), opt, calc.calls, converged


# Starts chosen among lj38 reproduction starts 0-9 (dynopt.reproduce.lj38.start) on which ASE's
# FIRE2 relaxes a compact cluster and the two paths stay within 1e-10 for the whole run. The
# two agree to round-off at first (1e-15); the dynamics amplify the difference in the last
# bits (different summation orders of the dot products) over a long run: on starts 2 (FIRE2,
# 2600 steps) and 4, 8, 9 (ABC-FIRE) it reaches 4e-10 - 3e-9 before convergence.
@pytest.mark.parametrize("use_abc, seed", [(False, 4), (False, 5), (False, 7),
                                           (True, 1), (True, 5), (True, 6)])
def test_dynopt_fire2_ase_is_ase_fire2_on_lj38(use_abc, seed):
    pos0 = lj38_start(seed).reshape(-1, 3)
    f_ase, _, ase_opt, ase_calls, ase_ok = relax(FIRE2, pos0, use_abc=use_abc)
    f_dyn, pend, dyn_opt, dyn_calls, dyn_ok = relax(DynOpt, pos0, method="fire2_ase",
                                                    use_abc=use_abc)
    assert ase_ok and dyn_ok
    # an ASE step with a reset (half a step back, then the kick) is two DynOpt steps:
    # the one that went back leaves `pending` set; the others end an ASE step
    kicked = f_dyn[pend == 0]
    resets = int(np.sum(pend > 0))
    assert kicked.shape == f_ase.shape
    np.testing.assert_allclose(kicked, f_ase, rtol=0, atol=1e-10)
    assert dyn_opt.nsteps == ase_opt.nsteps + resets
    # the same force calls: the start, one per step, one more after each half step back
    assert dyn_calls == ase_calls == ase_opt.nsteps + 1 + resets
    # not vacuous: resets occurred, the step grew, and the move cap bound
    assert resets > 0 and dyn_opt.hyperparameters["dt"] == 0.1
    # the kicks (the steps that end an ASE step) are capped at maxstep = 0.2: FIRE2 in
    # Euclidean norm, ABC-FIRE per coordinate; the half steps back are not (as in ASE)
    moves = np.diff(f_dyn, axis=0)[pend[1:] == 0]
    size = np.abs(moves).max(axis=1) if use_abc else np.linalg.norm(moves, axis=1)
    assert size.max() <= 0.2 * (1 + 1e-12) and np.any(size > 0.2 * (1 - 1e-12))
    assert fragments(kicked[-1]) == 1


def test_fire2_ase_hyperparameters_reproduce_ase_through_minimize():
    # every hyperparameter away from its default; dynopt.minimize on LJ13 against ASE's FIRE2
    hyper = {"dt": 0.05, "maxstep": 0.1, "dtmax": 0.5, "dtmin": 0.01, "Nmin": 5, "finc": 1.2,
             "fdec": 0.6, "astart": 0.2, "fa": 0.95}
    pos0 = random_cluster(13, seed=7)
    f_ase, _, ase_opt, ase_calls, ase_ok = relax(FIRE2, pos0, **hyper)
    res = dynopt.minimize(lj_energy_and_gradient, pos0.ravel(), jac=True, method="fire2_ase",
                          options={"norm": max_atom_force, "gtol": 0.01, "maxiter": 5000,
                                   "record": True, **hyper})
    assert ase_ok and res.success
    traj = res.trajectory
    done = traj["pending"] == 0
    np.testing.assert_allclose(traj["x"][done], f_ase, rtol=0, atol=1e-10)
    assert res.nfev == ase_calls
    # the step grew and shrank, alpha was reset, and the cluster stayed together
    assert traj["h"].max() > 0.05 > traj["h"].min() and np.any(np.diff(traj["alpha"]) > 0)
    assert fragments(res.x) == 1


def test_fire2_ase_defaults_are_ase_fire2_defaults():
    ase_defaults = {name: p.default for name, p in inspect.signature(FIRE2.__init__).parameters.items()
                    if p.default is not inspect.Parameter.empty}
    ours = FIRE_METHODS["fire2_ase"].hyperparameters()
    for name, value in ours.items():
        assert ase_defaults[name] == value, name
    # every numerical option of ASE's FIRE2 is here (the rest are files and callbacks)
    assert set(ase_defaults) - set(ours) == {"restart", "logfile", "trajectory",
                                             "position_reset_callback"}
    assert dynopt.METHODS["fire2_ase"] is FIRE_METHODS["fire2_ase"]


def test_fire2_ase_first_step_closed_form():
    """On f = |x|^2/2 the first step is x1 = x0 - dt^2 x0, capped at maxstep in norm."""
    fun = lambda x: (0.5 * x @ x, x.copy())
    for x0, expect in [(np.array([0.3, -0.4]), np.array([0.3, -0.4]) * (1 - 0.01)),
                       (np.array([30.0, 40.0]), np.array([30.0, 40.0]) * (1 - 0.2 / 50))]:
        res = dynopt.minimize(fun, x0, jac=True, method="fire2_ase",
                              options={"maxiter": 1, "gtol": 0})
        np.testing.assert_allclose(res.x, expect, rtol=1e-14)
        np.testing.assert_allclose(res.state["v"], -0.1 * x0, rtol=1e-14)
    # ABC-FIRE: the velocity divided by 1 - (1 - astart) = astart, clipped to maxstep / dt
    x0 = np.array([0.3, -4.0])
    res = dynopt.minimize(fun, x0, jac=True, method="fire2_ase",
                          options={"maxiter": 1, "gtol": 0, "use_abc": True})
    v = np.clip(-0.1 * x0 / 0.25, -2.0, 2.0)
    np.testing.assert_allclose(res.state["v"], v, rtol=1e-14)
    np.testing.assert_allclose(res.x, x0 + 0.1 * v, rtol=1e-14)


def test_fire2_ase_bad_input():
    fun = lambda x: (0.5 * x @ x, x.copy())
    for bad, kind in [({"dt": -0.1}, ValueError), ({"Nmin": 2.5}, ValueError),
                      ({"fdec": 1.5}, ValueError), ({"fa": 1.01}, ValueError),
                      ({"finc": 0.9}, ValueError), ({"maxstep": "big"}, TypeError),
                      ({"dtmin": -1.0}, ValueError), ({"use_abc": "yes"}, TypeError),
                      ({"a": 0.1}, TypeError)]:
        with pytest.raises(kind, match=next(iter(bad))):
            dynopt.minimize(fun, [1.0, 2.0], jac=True, method="fire2_ase", options=bad)


@pytest.mark.parametrize("use_abc", [False, True])
@pytest.mark.parametrize("batched", [False, True])
def test_fire2_ase_float32_runs_stay_float32(use_abc, batched):
    x0 = np.full((2, 3) if batched else 3, 1.3, dtype=np.float32)

    def fg(x):
        return (np.sum(x**2, axis=-1) if batched else float(np.sum(x**2))), 2 * x
    res = dynopt.minimize(fg, x0, jac=True, method="fire2_ase",
                          options={"maxiter": 60, "vectorized": batched, "use_abc": use_abc})
    assert res.x.dtype == np.float32
    arrays = {k: v for k, v in res.state.items() if isinstance(v, np.ndarray)}
    assert arrays and all(v.dtype == np.float32 for v in arrays.values()), \
        {k: v.dtype for k, v in arrays.items()}
