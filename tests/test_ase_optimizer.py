"""dynopt.ase.DynOpt: dynopt methods behind ASE's Optimizer API."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones
from ase.constraints import FixAtoms
from ase.io import read
from ase.io.trajectory import Trajectory
from ase.optimize import FIRE

import dynopt
from dynopt.ase import DynOpt
from dynopt.problems import (counting_ase_calculator, lj_energy_and_gradient, max_atom_force,
                             random_cluster)

ROOT = Path(__file__).resolve().parents[1]


class DynoptLJ(Calculator):
    """An ASE calculator around dynopt's own Lennard-Jones energy and gradient."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, grad = lj_energy_and_gradient(self.atoms.get_positions())
        self.results = {"energy": energy, "free_energy": energy, "forces": -grad}


def relax(cls, pos0, calc, fmax, steps, constraint=None, **kwargs):
    atoms = Atoms(f"Ar{len(pos0)}", positions=pos0, calculator=calc)
    if constraint is not None:
        atoms.set_constraint(constraint)
    frames = []
    opt = cls(atoms, logfile=None, **kwargs)
    opt.attach(lambda: frames.append(atoms.get_positions().ravel().copy()))
    converged = opt.run(fmax=fmax, steps=steps)
    return np.array(frames), opt, converged, atoms


@pytest.mark.parametrize("constraint", [None, FixAtoms(indices=[0, 4])])
def test_dynopt_fire_is_ase_fire(constraint):
    pos0 = random_cluster(13, seed=3)
    runs = {}
    for cls, extra in ((FIRE, {}), (DynOpt, {"method": "fire"})):
        calc = counting_ase_calculator(rc=1e6)
        frames, opt, converged, atoms = relax(cls, pos0, calc, 0.01, 2000, constraint, **extra)
        runs[cls] = frames, opt.nsteps, calc.calls, converged, atoms
    (f_ase, n_ase, c_ase, ok_ase, at_ase), (f_dyn, n_dyn, c_dyn, ok_dyn, at_dyn) = runs.values()
    assert ok_ase and ok_dyn
    assert f_ase.shape == f_dyn.shape and n_dyn == n_ase
    np.testing.assert_allclose(f_dyn, f_ase, rtol=0, atol=1e-10)
    # one force call at the start and one per step, as ASE's FIRE
    assert c_dyn == c_ase == n_ase + 1
    if constraint is not None:
        np.testing.assert_array_equal(at_dyn.positions[[0, 4]], pos0[[0, 4]])


@pytest.mark.parametrize("method, hyper", [("heavy_ball", {"lr": 0.005, "momentum": 0.9}),
                                           ("fire2", {})])
def test_dynopt_agrees_with_minimize(method, hyper):
    pos0 = random_cluster(13, seed=8)
    fmax = 0.01
    # minimize has no per-atom cap: DynOpt's maxstep switched off to compare step for step
    frames, opt, converged, atoms = relax(DynOpt, pos0, DynoptLJ(), fmax, 3000, method=method,
                                          maxstep=np.inf, **hyper)
    assert converged
    assert max_atom_force(atoms.get_forces()) < fmax
    res = dynopt.minimize(lj_energy_and_gradient, pos0.ravel(), jac=True, method=method,
                          options={"norm": max_atom_force, "gtol": fmax, "maxiter": 3000,
                                   "record": True, **hyper})
    assert res.success and res.nit == opt.nsteps
    np.testing.assert_allclose(frames, res.trajectory["x"], rtol=0, atol=1e-12)
    assert opt.state["x"].shape == (1, 39) and opt.state["f"].shape == (1, 1)


def test_log_and_trajectory_files(tmp_path):
    log, traj = tmp_path / "relax.log", tmp_path / "relax.traj"
    atoms = Atoms("Ar13", positions=random_cluster(13, seed=1), calculator=LennardJones(rc=1e6))
    with DynOpt(atoms, method="fire", logfile=str(log), trajectory=str(traj), maxstep=0.1) as opt:
        assert opt.run(fmax=0.05, steps=1000)
    frames = read(traj, ":")
    assert len(frames) == opt.nsteps + 1
    np.testing.assert_allclose(frames[-1].positions, atoms.positions, rtol=0, atol=0)
    lines = log.read_text().splitlines()
    assert lines[0].split() == ["Step", "Time", "Energy", "fmax"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == opt.nsteps + 1
    assert all(row[0] == "DynOpt[fire]:" for row in rows)
    assert [int(row[1]) for row in rows] == list(range(opt.nsteps + 1))
    energies = [frame.get_potential_energy() for frame in frames]
    fmaxes = [max_atom_force(frame.get_forces()) for frame in frames]
    np.testing.assert_allclose([float(row[3]) for row in rows], energies, atol=1e-6)
    np.testing.assert_allclose([float(row[4]) for row in rows], fmaxes, atol=1e-6)
    assert fmaxes[-1] < 0.05 <= fmaxes[-2]
    with Trajectory(str(traj)) as reader:
        description = reader.description
    assert description["method"] == "fire" and description["optimizer"] == "DynOpt"
    assert description["hyperparameters"]["maxstep"] == 0.1


def test_runs_continue_and_restart_file(tmp_path):
    pos0 = random_cluster(13, seed=4)

    def fresh():
        return Atoms("Ar13", positions=pos0, calculator=LennardJones(rc=1e6))

    straight = fresh()
    DynOpt(straight, logfile=None).run(fmax=1e-9, steps=30)
    # two runs of one optimizer: ASE's nsteps adds up, the state carries over
    twice = fresh()
    opt = DynOpt(twice, logfile=None)
    opt.run(fmax=1e-9, steps=12)
    opt.run(fmax=1e-9, steps=18)
    assert opt.nsteps == 30
    np.testing.assert_allclose(twice.positions, straight.positions, rtol=0, atol=1e-13)
    # a new optimizer reading the restart file of the first continues the same path
    restart = tmp_path / "fire.json"
    atoms = fresh()
    DynOpt(atoms, logfile=None, restart=str(restart)).run(fmax=1e-9, steps=12)
    resumed = DynOpt(atoms, logfile=None, restart=str(restart))
    assert not resumed.run(fmax=1e-9, steps=18)
    np.testing.assert_allclose(atoms.positions, straight.positions, rtol=0, atol=1e-13)
    # whereas a fresh optimizer starts FIRE over (v = 0, dt reset)
    atoms = fresh()
    DynOpt(atoms, logfile=None).run(fmax=1e-9, steps=12)
    DynOpt(atoms, logfile=None).run(fmax=1e-9, steps=18)
    assert np.abs(atoms.positions - straight.positions).max() > 1e-6


def test_irun_yields_once_per_step():
    atoms = Atoms("Ar13", positions=random_cluster(13, seed=2), calculator=LennardJones(rc=1e6))
    opt = DynOpt(atoms, method="fire2", logfile=None)
    flags = list(opt.irun(fmax=0.01, steps=7))
    assert flags == [False] * 8 and opt.nsteps == 7


def test_bad_arguments_raise_before_files_are_touched(tmp_path):
    atoms = Atoms("Ar13", positions=random_cluster(13, seed=2), calculator=LennardJones(rc=1e6))
    traj = tmp_path / "keep.traj"
    traj.write_text("not to be clobbered")
    with pytest.raises(ValueError, match=r"unknown method 'nope'.*'fire'"):
        DynOpt(atoms, method="nope", trajectory=str(traj))
    with pytest.raises(TypeError, match=r"'lr'.*'fire'"):
        DynOpt(atoms, method="fire", lr=0.1, trajectory=str(traj))
    with pytest.raises(ValueError, match="dt"):
        DynOpt(atoms, method="fire", dt=-0.1, trajectory=str(traj))
    with pytest.raises(ValueError, match="backend"):
        DynOpt(atoms, method="fire", backend="fortran", trajectory=str(traj))
    assert traj.read_text() == "not to be clobbered"


def test_import_without_ase():
    code = (
        "import sys\n"
        "sys.modules['ase'] = None\n"
        "import dynopt\n"
        "assert 'fire' in dynopt.METHODS\n"
        "try:\n"
        "    import dynopt.ase\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ImportError:" in out.stdout and "pip install dynopt-physics[ase]" in out.stdout


# --------------------------------------------------------------------------- maxstep
def atom_moves(frames, pos0):
    """The largest move of any atom in each step (Å)."""
    path = np.vstack([pos0.ravel(), frames]).reshape(len(frames) + 1, -1, 3)
    return np.linalg.norm(np.diff(path, axis=0), axis=2).max(axis=1)


@pytest.mark.parametrize("method, hyper", [("fire2", {}), ("heavy_ball", {"lr": 1.0})])
def test_argon_dimer_started_almost_on_top_relaxes_to_the_dimer(method, hyper):
    # two argon atoms 0.01 Å apart: the repulsion used to send them 1e25 Å apart
    # and the run reported converged; ASE's maxstep (0.2 Å) now bounds every move
    sigma, eps = 3.4, 0.0104
    pos0 = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])
    calc = LennardJones(sigma=sigma, epsilon=eps, rc=1e3)
    frames, opt, converged, atoms = relax(DynOpt, pos0, calc, 1e-4, 3000, method=method, **hyper)
    assert converged
    assert atom_moves(frames, pos0).max() <= 0.2 * (1 + 1e-12)
    # the dimer's minimum, r = 2**(1/6) sigma
    assert atoms.get_distance(0, 1) == pytest.approx(2 ** (1 / 6) * sigma, rel=1e-3)


@pytest.mark.parametrize("method, hyper", [
    ("gd", {}), ("heavy_ball", {}), ("nesterov", {}), ("adam", {"lr": 0.1}),
    ("fanos", {"lr": 0.2}), ("fire2", {}), ("ko", {})])
def test_maxstep_caps_every_atom_move_for_every_method(method, hyper):
    pos0 = 0.8 * random_cluster(13, seed=4)    # compressed: large forces at the start
    frames, opt, _, _ = relax(DynOpt, pos0, DynoptLJ(), 1e-3, 60, method=method, maxstep=0.03,
                              **hyper)
    moves = atom_moves(frames, pos0)
    assert opt.maxstep == 0.03
    assert moves.max() <= 0.03 * (1 + 1e-12) and moves.max() > 0.02


def test_fire_maxstep_is_ase_fires_own():
    pos0 = 0.9 * random_cluster(13, seed=6)
    runs = []
    for cls, extra in ((FIRE, {}), (DynOpt, {"method": "fire"})):
        frames, opt, _, _ = relax(cls, pos0, counting_ase_calculator(rc=1e6), 0.01, 200,
                                  maxstep=0.05, **extra)
        runs.append(frames)
    np.testing.assert_allclose(runs[1], runs[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("value", [0.0, -0.1, float("nan"), "big", True])
def test_bad_maxstep_is_rejected(value):
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [1.2, 0, 0]], calculator=DynoptLJ())
    with pytest.raises(ValueError, match="maxstep"):
        DynOpt(atoms, method="heavy_ball", logfile=None, maxstep=value)
