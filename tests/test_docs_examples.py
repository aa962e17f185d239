"""The examples of the usage page and the README run as written."""
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_usage_page_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("ase")
    blocks = [b for b in python_blocks(ROOT / "docs" / "usage.md") if "LocalCluster" not in b]
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)   # the ASE example writes its log and trajectory here
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/usage.md", "exec"), namespace)
    assert (tmp_path / "relax.log").stat().st_size > 0
    assert namespace["opt"].nsteps > 0 and namespace["res"].success


def test_readme_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("ase")
    blocks = python_blocks(ROOT / "README.md")
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace = {}
    # the ASE line uses an `atoms` of the reader's: give it one
    from ase.calculators.lj import LennardJones
    from ase.cluster import Icosahedron
    atoms = Icosahedron("Ar", noshells=2, latticeconstant=1.5)
    atoms.rattle(0.05, seed=1)
    atoms.calc = LennardJones(rc=1e3)
    namespace["atoms"] = atoms
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert os.path.exists("relax.log")


def test_adding_a_method_page_runs(capsys):
    """The worked example registers a method, runs it by name, matches a hand-written loop
    and removes it again."""
    import dynopt
    blocks = python_blocks(ROOT / "docs" / "adding_a_method.md")
    assert len(blocks) == 4
    namespace = {}
    try:
        for block in blocks[:3]:
            exec(compile(block, "docs/adding_a_method.md", "exec"), namespace)
        assert "cubic_friction" in dynopt.METHODS
        assert namespace["np"].max(namespace["np"].abs(namespace["res"].x - namespace["y"])) \
            <= 1e-12
        exec(compile(blocks[3], "docs/adding_a_method.md", "exec"), namespace)
        assert "cubic_friction" not in dynopt.METHODS
    finally:
        dynopt.METHODS.pop("cubic_friction", None)


def test_register_refuses_bad_and_taken_names():
    import dynopt
    from dynopt.methods import Method, register, unregister
    hb = dynopt.METHODS["heavy_ball"]
    with pytest.raises(ValueError, match="already registered"):
        register(hb)
    with pytest.raises(ValueError, match="lower-case identifier"):
        register(Method("Heavy Ball", hb.build, integrator=hb.integrator))
    with pytest.raises(TypeError, match="Method"):
        register("heavy_ball")
    with pytest.raises(ValueError, match="no method named"):
        unregister("no_such_method")
    # a replaced method's cached program is forgotten
    import numpy as np
    quad = (lambda y: 0.5 * float(y @ y)), (lambda y: y)
    before = dynopt.minimize(*quad[:1], np.ones(3), jac=quad[1], method="heavy_ball",
                             options={"maxiter": 5, "gtol": 0})
    gd = dynopt.METHODS["gd"]
    try:
        register(Method("heavy_ball", gd.build, integrator=gd.integrator), replace=True)
        after = dynopt.minimize(*quad[:1], np.ones(3), jac=quad[1], method="heavy_ball",
                                options={"maxiter": 5, "gtol": 0, "lr": 0.1})
        assert "momentum" not in after.hyperparameters
    finally:
        register(hb, replace=True)
    again = dynopt.minimize(*quad[:1], np.ones(3), jac=quad[1], method="heavy_ball",
                            options={"maxiter": 5, "gtol": 0})
    np.testing.assert_array_equal(again.x, before.x)
