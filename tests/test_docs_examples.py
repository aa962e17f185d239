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
