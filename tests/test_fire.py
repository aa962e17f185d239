"""FIRE ('fire', as ase.optimize.FIRE) and FIRE 2.0 ('fire2') against ASE and a reference loop."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.optimize import FIRE

import dynopt
from dynopt.methods.fire import METHODS as FIRE_METHODS
from dynopt.problems import (LJ_GLOBAL_MINIMA, counting_ase_calculator, lj_energy_and_gradient,
                             max_atom_force, random_cluster)


def ase_objective(n_atoms):
    """``x -> (E, grad E)`` through ASE's calculator with an effectively infinite cutoff."""
    atoms = Atoms(f"Ar{n_atoms}", positions=np.zeros((n_atoms, 3)), calculator=LennardJones(rc=1e6))

    def fun(x):
        atoms.set_positions(x.reshape(-1, 3))
        return atoms.get_potential_energy(), -atoms.get_forces().ravel()
    return fun


def run_ase_fire(pos0, fmax, steps, **kwargs):
    calc = counting_ase_calculator(rc=1e6)
    atoms = Atoms(f"Ar{len(pos0)}", positions=pos0, calculator=calc)
    frames = []
    opt = FIRE(atoms, logfile=None, **kwargs)
    opt.attach(lambda: frames.append(atoms.get_positions().ravel().copy()))
    converged = opt.run(fmax=fmax, steps=steps)
    return np.array(frames), opt.nsteps, calc.calls, converged


# ------------------------------------------------------------------- 'fire'
@pytest.mark.parametrize("seed, hyper", [
    (3, {}),
    (0, {"dt": 0.2, "dtmax": 0.6, "Nmin": 3, "finc": 1.2, "fdec": 0.4, "astart": 0.2,
         "fa": 0.95, "a": 0.15, "maxstep": 0.1}),
])
def test_fire_reproduces_ase_step_by_step(seed, hyper):
    pos0 = random_cluster(13, seed=seed)
    fmax = 0.01
    frames, nsteps, ncalls, converged = run_ase_fire(pos0, fmax, 3000, **hyper)
    res = dynopt.minimize(ase_objective(13), pos0.ravel(), jac=True, method="fire",
                          options={"norm": max_atom_force, "gtol": fmax, "maxiter": 3000,
                                   "record": True, **hyper})
    assert converged and res.success
    # ASE's frames: the start, then one per step -- the same as the recorded rows
    xs = res.trajectory["x"]
    assert xs.shape == frames.shape
    np.testing.assert_allclose(xs, frames, rtol=0, atol=1e-10)
    # ASE stops at max_i |F_i| < fmax, dynopt at <= gtol (equal only by a fluke);
    # both test the start first, so steps and force calls (1 + steps) agree
    assert res.nit == nsteps
    assert res.nfev == ncalls == nsteps + 1
    # the run exercised both branches of the power test and the cap
    assert np.any(np.diff(res.trajectory["Nsteps"]) < 0)       # a P <= 0 reset
    assert res.trajectory["h"].max() > hyper.get("dt", 0.1)     # the step grew


def test_fire_downhill_check_reproduces_ase():
    pos0 = random_cluster(13, seed=0)
    hyper = {"dt": 0.3, "dtmax": 2.0}
    frames, nsteps, _, _ = run_ase_fire(pos0, 0.01, 2000, downhill_check=True, **hyper)
    res = dynopt.minimize(ase_objective(13), pos0.ravel(), jac=True, method="fire",
                          options={"norm": max_atom_force, "gtol": 0.01, "maxiter": 2000,
                                   "record": True, "downhill_check": True, **hyper})
    np.testing.assert_allclose(res.trajectory["x"], frames, rtol=0, atol=1e-10)
    assert res.nit == nsteps
    # ASE spends an extra force call after each rejected step; dynopt does not
    assert res.nfev == res.nit + 1


def test_fire_first_step_closed_form():
    """On f = |x|^2/2 the first step is x1 = x0 - dt^2 x0, capped at maxstep in norm."""
    fun = lambda x: (0.5 * x @ x, x.copy())
    for x0, expect in [(np.array([0.3, -0.4]), np.array([0.3, -0.4]) * (1 - 0.01)),
                       (np.array([30.0, 40.0]), np.array([30.0, 40.0]) * (1 - 0.2 / 50))]:
        res = dynopt.minimize(fun, x0, jac=True, method="fire", options={"maxiter": 1, "gtol": 0})
        np.testing.assert_allclose(res.x, expect, rtol=1e-14)
        np.testing.assert_allclose(res.state["v"], -0.1 * x0, rtol=1e-14)


def test_fire_hyperparameters_are_validated():
    fun = lambda x: (0.5 * x @ x, x.copy())
    for bad, kind in [({"dt": -0.1}, ValueError), ({"Nmin": 2.5}, ValueError),
                      ({"fdec": 1.5}, ValueError), ({"fa": 1.01}, ValueError),
                      ({"finc": 0.9}, ValueError), ({"maxstep": "big"}, TypeError),
                      ({"downhill_check": "yes"}, TypeError), ({"maxmove": 0.1}, TypeError)]:
        with pytest.raises(kind, match=next(iter(bad))):
            dynopt.minimize(fun, [1.0, 2.0], jac=True, method="fire", options=bad)
    with pytest.raises(ValueError, match="integrator"):
        dynopt.minimize(fun, [1.0, 2.0], jac=True, method="fire", integrator="symplectic_euler")
    for bad, kind in [({"delaystep": -1}, ValueError), ({"dtshrink": 2.0}, ValueError),
                      ({"dmax": 0.0}, ValueError), ({"halfstepback": 1}, TypeError)]:
        with pytest.raises(kind, match=next(iter(bad))):
            dynopt.minimize(fun, [1.0, 2.0], jac=True, method="fire2", options=bad)


def test_registry_entries():
    assert set(FIRE_METHODS) == {"fire", "fire2", "fire2_ase"}
    for name in ("fire", "fire2", "fire2_ase"):
        assert dynopt.METHODS[name] is FIRE_METHODS[name]
        assert FIRE_METHODS[name].integrator is None
        physical = FIRE_METHODS[name].physical
        assert "force" in physical and "time step" in physical
    assert FIRE_METHODS["fire"].hyperparameters() == {
        "dt": 0.1, "dtmax": 1.0, "Nmin": 5, "finc": 1.1, "fdec": 0.5, "astart": 0.1, "fa": 0.99,
        "a": 0.1, "maxstep": 0.2, "downhill_check": False}
    assert FIRE_METHODS["fire2"].hyperparameters() == {
        "dt": 0.05, "delaystep": 20, "dtgrow": 1.1, "dtshrink": 0.5, "alpha0": 0.25,
        "alphashrink": 0.99, "tmax": 10.0, "tmin": 0.02, "dmax": 0.1,
        "halfstepback": True, "initialdelay": True}


# ------------------------------------------------------------------ 'fire2'
def fire2_reference(fg, x0, iterations, dt, delaystep=20, dtgrow=1.1, dtshrink=0.5,
                    alpha0=0.25, alphashrink=0.99, tmax=10.0, tmin=0.02, dmax=0.1,
                    halfstepback=True, initialdelay=True, move_bound=True, fmax=None):
    """FIRE 2.0 with semi-implicit Euler written as a plain loop over iterations.

    Follows Guenole et al. (2020), Algorithm 2, with the details of the authors'
    LAMMPS implementation: the first iteration counts as P <= 0, the mixing
    norm is taken before the kick, the kick's step is limited per component by
    dmax (with v = dt F right after a reset) and the actual move (the velocity
    scaled where the kick and mixing took it beyond), and the force is evaluated again
    after a half step back. (LAMMPS also re-evaluates at an unchanged point
    after a reset without a move; that returns the same force and is not
    counted here.) Returns positions after each iteration, the step sizes,
    mixing values, the number of evaluations and of kicks shortened by dmax.
    ``move_bound=False`` leaves out dynopt's bound on the actual move and on the
    half step back: LAMMPS' rule as it is. ``fmax``: stop early once the largest
    per-atom force is below it.
    """
    x = np.array(x0, dtype=float)
    _, g = fg(x)
    nfev = 1
    force = -g
    v = np.zeros_like(x)
    h, alpha, last_negative, reset, limited = dt, alpha0, 0, True, 0
    xs, hs, alphas = [x.copy()], [h], [alpha]
    for i in range(1, iterations + 1):
        if fmax is not None and max_atom_force(force) < fmax:
            break
        power = force @ v
        if power > 0:
            scale1 = 1 - alpha
            scale2 = alpha * np.sqrt((v @ v) / (force @ force)) if force @ force > 1e-20 else 0.0
            if i - last_negative > delaystep:
                h = min(h * dtgrow, tmax * dt)
                alpha *= alphashrink
        else:
            last_negative = i
            if not (initialdelay and i < delaystep):
                alpha = alpha0
                if h * dtshrink >= tmin * dt:
                    h *= dtshrink
            if halfstepback and np.any(v != 0):
                back = 0.5 * h
                if move_bound and back * np.abs(v).max() > dmax:   # dmax for this move too
                    back = dmax / np.abs(v).max()
                x = x - back * v
                _, g = fg(x)
                nfev += 1
                force = -g
            v = np.zeros_like(x)
            reset = True
        probe = h * force if reset else v
        step = h
        if h * np.abs(probe).max() > dmax:
            step = dmax / np.abs(probe).max()
            limited += 1
        v = v + step * force
        if power > 0:
            v = scale1 * v + scale2 * force
        if move_bound and step * np.abs(v).max() > dmax:   # dmax on the actual move
            v = v * (dmax / (step * np.abs(v).max()))
        x = x + step * v
        _, g = fg(x)
        nfev += 1
        force = -g
        reset = False
        xs.append(x.copy())
        hs.append(h)
        alphas.append(alpha)
    return np.array(xs), np.array(hs), np.array(alphas), nfev, limited


@pytest.mark.parametrize("flags", [
    {}, {"halfstepback": False}, {"initialdelay": False},
    {"halfstepback": False, "initialdelay": False},
    {"delaystep": 3, "dtgrow": 1.2, "dtshrink": 0.6, "alpha0": 0.1, "alphashrink": 0.95,
     "tmax": 4.0, "tmin": 0.1, "dmax": 0.05, "dt": 0.05},
])
def test_fire2_matches_reference_loop(flags):
    # the step explicit (the reference has no default), as the other parameters where given
    flags = {"dt": 0.1, **flags}
    pos0 = random_cluster(13, seed=2).ravel()
    res = dynopt.minimize(lj_energy_and_gradient, pos0, jac=True, method="fire2",
                          options={"maxiter": 2000, "gtol": 1e-7, "record": True, **flags})
    # (stopping before the forces reach round-off, where the power test is noise)
    assert res.success
    traj = res.trajectory
    # a step that went half a step back leaves `pending` set; the others end an iteration
    done = traj["pending"] == 0 if "pending" in traj else np.ones(len(traj["step"]), bool)
    xs, steps = traj["x"][done], traj["step"][done]
    iterations = len(xs) - 1
    ref_x, ref_h, ref_a, ref_nfev, limited = fire2_reference(lj_energy_and_gradient, pos0,
                                                             iterations, **flags)
    np.testing.assert_allclose(xs, ref_x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(traj["h"][done], ref_h, rtol=1e-12)
    np.testing.assert_allclose(traj["alpha"][done], ref_a, rtol=1e-12)
    # one evaluation per step: as many as the reference spends in as many iterations
    assert ref_nfev == steps[-1] + 1
    # not vacuous: resets, growth of the step and the dmax limit all occurred
    assert np.any(np.diff(traj["last_neg"]) > 0) and np.any(np.diff(ref_h) > 0)
    if flags.get("halfstepback", True):
        assert np.any(~done)
    assert limited > 0


def icosahedron13(radius):
    phi = (1 + 5 ** 0.5) / 2
    verts = []
    for s1 in (-1, 1):
        for s2 in (-1, 1):
            verts += [(0, s1, s2 * phi), (s1, s2 * phi, 0), (s2 * phi, 0, s1)]
    verts = np.array(verts, dtype=float)
    verts *= radius / np.linalg.norm(verts[0])
    return np.vstack([np.zeros(3), verts])


def test_fire2_relaxes_perturbed_icosahedron_to_lj13_minimum():
    rng = np.random.default_rng(7)
    start = icosahedron13(1.15) + rng.normal(scale=0.08, size=(13, 3))
    res = dynopt.minimize(lj_energy_and_gradient, start.ravel(), jac=True, method="fire2",
                          options={"norm": max_atom_force, "gtol": 1e-4, "maxiter": 5000})
    assert res.success
    assert res.fun == pytest.approx(LJ_GLOBAL_MINIMA[13], abs=1e-6)   # -44.326801
    assert max_atom_force(lj_energy_and_gradient(res.x)[1]) <= 1e-4


def test_fire2_relaxes_random_cluster_to_fmax():
    start = random_cluster(13, seed=11).ravel()
    f0 = lj_energy_and_gradient(start)[0]
    res = dynopt.minimize(lj_energy_and_gradient, start, jac=True, method="fire2",
                          options={"norm": max_atom_force, "gtol": 0.01, "maxiter": 5000})
    assert res.success and res.nfev == res.nit + 1
    f, g = lj_energy_and_gradient(res.x)
    assert max_atom_force(g) <= 0.01 and f == pytest.approx(res.fun) and f < f0 - 10


# --------------------------------------------------------------------------- dmax on the move
def test_fire2_dmax_bounds_the_actual_move_of_every_step():
    # a compressed cluster: huge forces, where the kick and the mixing used to go past dmax
    pos0 = 0.6 * random_cluster(13, seed=5).ravel()
    dmax = 0.05
    res = dynopt.minimize(lj_energy_and_gradient, pos0, jac=True, method="fire2",
                          options={"maxiter": 400, "gtol": 1e-6, "record": True, "dmax": dmax})
    moves = np.abs(np.diff(res.trajectory["x"], axis=0)).max(axis=1)
    assert moves.max() <= dmax * (1 + 1e-12)
    assert np.sum(moves > 0.99 * dmax) > 0          # the bound binds: the test is not vacuous


def test_fire2_argon_dimer_started_almost_on_top_stays_together():
    # two atoms 0.01 sigma apart: the repulsion (~1e27) used to throw them 1e25 apart in one
    # step; now every step moves a coordinate by at most dmax and the pair relaxes to the
    # dimer's minimum r = 2**(1/6)
    pos0 = np.array([0.0, 0.0, 0.0, 0.01, 0.0, 0.0])
    res = dynopt.minimize(lj_energy_and_gradient, pos0, jac=True, method="fire2",
                          options={"maxiter": 2000, "gtol": 1e-6, "norm": max_atom_force,
                                   "record": True})
    assert res.success
    assert np.abs(np.diff(res.trajectory["x"], axis=0)).max() <= 0.1 * (1 + 1e-12)
    assert np.linalg.norm(res.x[3:] - res.x[:3]) == pytest.approx(2 ** (1 / 6), rel=1e-6)


# --------------------------------------------------------------------------- defaults on LJ38
def test_fire2_defaults_keep_lj38_clusters_together_and_bound_every_move():
    """Starts 0-9 of the LJ38 reproduction at the defaults: none fragments, all converge,
    and no step moves a coordinate by more than dmax (the bound the docstring states)."""
    from dynopt.reproduce.lj38 import FMAX, fragments, start
    dmax = FIRE_METHODS["fire2"].hyperparameters()["dmax"]
    binds = 0
    for seed in range(10):
        res = dynopt.minimize(lj_energy_and_gradient, start(seed), jac=True, method="fire2",
                              options={"norm": max_atom_force, "gtol": FMAX, "maxiter": 9999,
                                       "record": True})
        assert res.success, seed
        assert max_atom_force(lj_energy_and_gradient(res.x)[1]) <= FMAX
        assert fragments(res.x) == 1, seed
        moves = np.abs(np.diff(res.trajectory["x"], axis=0)).max(axis=1)
        assert moves.max() <= dmax * (1 + 1e-12), seed
        binds += moves.max() > dmax * (1 - 1e-12)
    assert binds > 0                     # the bound is met, so the test could fail


def test_lammps_rule_without_the_move_bound_fragments_lj38_at_dt_0_1_but_not_at_0_05():
    """Why the default is dt = 0.05: LAMMPS' own rule (the reference loop without dynopt's
    bound on the move) throws start 9 of the LJ38 reproduction apart at dt = 0.1."""
    from dynopt.reproduce.lj38 import FMAX, fragments, start
    parts = {}
    for dt in (0.1, 0.05):
        xs, *_ = fire2_reference(lj_energy_and_gradient, start(9), 5000, dt=dt,
                                 move_bound=False, fmax=FMAX)
        parts[dt] = fragments(xs[-1])
        assert max_atom_force(lj_energy_and_gradient(xs[-1])[1]) < FMAX
    assert parts[0.1] > 1 and parts[0.05] == 1
