"""Regression tests for the attacks on the kernel cache and on string evaluation.

Each test plants what a hostile user (or a damaged disk) would and checks that
dynopt neither runs it nor follows it, and says what it did.
"""
import os
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest

import dynopt
from dynopt import analysis
from dynopt.backends import _module_cache as mc
from dynopt.backends._module_cache import CacheWarning, cache_dir, load_generated_module
from dynopt.systems import DampedOscillator, NoseHoover

GOOD = "VALUE = 42\n"


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(mc, "_WARNED", set())
    monkeypatch.setattr(mc, "_FALLBACK", [])
    monkeypatch.setattr(mc, "_ABSOLUTE", {})


def _private(tmp_path, name="cache"):
    d = tmp_path / name
    d.mkdir(mode=0o700)
    os.chmod(d, 0o700)
    return d


def _planted(marker):
    return f"open({str(marker)!r}, 'w').write('ran')\nVALUE = -1\n"


# ------------------------------------------------------------------ the folder
def test_folder_is_created_private(tmp_path):
    d = cache_dir(tmp_path / "a" / "b")
    assert d == tmp_path / "a" / "b"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700


def test_world_writable_folder_is_refused_and_planted_module_never_runs(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    marker = tmp_path / "pwned"
    (shared / "prog_k1.py").write_text(_planted(marker))
    with pytest.warns(CacheWarning, match="writable by others"):
        module, source = load_generated_module(None, "prog", "k1", shared,
                                               make_source=lambda: GOOD)
    assert not marker.exists()
    assert module.VALUE == 42 and source == GOOD
    used = os.path.dirname(module.__file__)
    assert used != str(shared)
    assert stat.S_IMODE(os.stat(used).st_mode) == 0o700


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="handing a folder to another user needs root")
def test_folder_owned_by_another_user_is_refused(tmp_path):
    other = _private(tmp_path, "other")
    os.chown(other, 12345, 12345)
    with pytest.warns(CacheWarning, match="owned by another user"):
        assert cache_dir(other) != other


def test_cache_dir_that_is_a_regular_file_says_so(tmp_path, monkeypatch):
    target = tmp_path / "notafolder"
    target.write_text("keep me")
    monkeypatch.setenv("DYNOPT_CACHE_DIR", str(target))
    with pytest.warns(CacheWarning, match="DYNOPT_CACHE_DIR .* is a regular file"):
        used = cache_dir()
    assert used != target and target.read_text() == "keep me"


def test_relative_cache_dir_is_resolved_once(tmp_path, monkeypatch):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.setenv("DYNOPT_CACHE_DIR", "kernels")
    monkeypatch.chdir(tmp_path / "one")
    first = cache_dir()
    monkeypatch.chdir(tmp_path / "two")
    assert cache_dir() == first == tmp_path / "one" / "kernels"
    assert not (tmp_path / "two" / "kernels").exists()


def test_no_home_and_no_account_entry_falls_back(monkeypatch):
    import pathlib
    monkeypatch.delenv("DYNOPT_CACHE_DIR", raising=False)
    monkeypatch.delenv("HOME", raising=False)

    def no_home(cls=None):
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(pathlib.Path, "home", classmethod(no_home))
    with pytest.warns(CacheWarning, match="home folder cannot be determined"):
        used = cache_dir()
    assert used.is_dir() and stat.S_IMODE(os.stat(used).st_mode) == 0o700
    from dynopt.backends.numba_backend import NumbaBackend
    assert NumbaBackend().directory == used


def test_no_home_in_a_subprocess_runs_numba(tmp_path):
    # HOME unset and a uid with no account entry: the documented fallback, no crash
    code = ("import pwd, warnings\n"
            "def missing(uid): raise KeyError(uid)\n"
            "pwd.getpwuid = missing\n"
            "import numpy as np, dynopt\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    r = dynopt.minimize(lambda x: (float(x @ x), 2 * x), np.ones(2), jac=True,\n"
            "                        method='gd', backend='numba', options={'maxiter': 5})\n"
            "print(r.nit, any('home folder' in str(m.message) for m in w))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "DYNOPT_CACHE_DIR")}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "nb")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["5", "True"]


# ------------------------------------------------------------------ the files
def test_planted_module_without_hash_record_is_not_imported(tmp_path):
    d = _private(tmp_path)
    marker = tmp_path / "pwned"
    (d / "prog_k2.py").write_text(_planted(marker))
    module, _ = load_generated_module(None, "prog", "k2", d, make_source=lambda: GOOD)
    assert module.VALUE == 42 and not marker.exists()
    assert (d / "prog_k2.py").read_text() == GOOD


@pytest.mark.parametrize("damage", ["edit", "truncate", "empty", "binary"])
def test_damaged_module_is_regenerated_with_a_warning(tmp_path, damage):
    d = _private(tmp_path)
    load_generated_module(None, "prog", f"d{damage}", d, make_source=lambda: GOOD)
    path = d / f"prog_d{damage}.py"
    content = {"edit": "VALUE = 43\n", "truncate": GOOD[:5], "empty": "",
               "binary": "\udcff"}[damage]
    path.write_bytes(b"\xff\xfe\x00" if damage == "binary" else content.encode())
    calls = []

    def make():
        calls.append(1)
        return GOOD

    with pytest.warns(CacheWarning, match=str(path).replace(".", r"\.")):
        module, _ = load_generated_module(None, "prog", f"d{damage}", d, make_source=make,
                                          module_key=f"fresh{damage}")
    assert module.VALUE == 42 and calls == [1]
    assert path.read_text() == GOOD
    # and the repaired file is used quietly from then on
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        load_generated_module(None, "prog", f"d{damage}", d, make_source=make)
    assert calls == [1]


def test_module_differing_from_the_given_source_is_rewritten_with_a_warning(tmp_path):
    d = _private(tmp_path)
    load_generated_module(GOOD, "prog", "s1", d)
    (d / "prog_s1.py").write_text("VALUE = 0\n")
    with pytest.warns(CacheWarning, match="differs from the code the generator writes"):
        module, _ = load_generated_module(GOOD, "prog", "s1", d, module_key="s1b")
    assert module.VALUE == 42


def test_symlink_at_the_module_path_is_not_followed(tmp_path):
    d = _private(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, d / "prog_l1.py")
    with pytest.warns(CacheWarning, match="symbolic link"):
        module, _ = load_generated_module(GOOD, "prog", "l1", d)
    assert victim.read_text() == "precious"
    assert module.VALUE == 42
    assert not (d / "prog_l1.py").is_symlink()


def test_symlinks_at_predictable_temporary_names_are_not_followed(tmp_path):
    d = _private(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    # the names a writer used to take: <module>.<pid>.tmp, for a range of pids
    for pid in range(os.getpid() - 5, os.getpid() + 5):
        os.symlink(victim, d / f"prog_l2.{pid}.tmp")
    load_generated_module(GOOD, "prog", "l2", d)
    assert victim.read_text() == "precious"
    assert (d / "prog_l2.py").read_text() == GOOD


def test_module_failing_to_import_names_its_path(tmp_path):
    d = _private(tmp_path)
    with pytest.raises(RuntimeError, match=r"prog_bad\.py.*fails to import"):
        load_generated_module("raise ValueError('broken')\n", "prog", "bad", d)


def test_module_failing_to_import_is_regenerated_once(tmp_path):
    d = _private(tmp_path)
    load_generated_module(None, "prog", "i1", d, make_source=lambda: GOOD)
    # a file whose hash record matches but which no longer imports (say, a stale helper)
    broken = b"from dynopt import no_such_helper\n"
    (d / "prog_i1.py").write_bytes(broken)
    (d / "prog_i1.sha256").write_text(mc._sha256(broken))
    with pytest.warns(CacheWarning, match=r"prog_i1\.py.*fails to import"):
        module, _ = load_generated_module(None, "prog", "i1", d, make_source=lambda: GOOD,
                                          module_key="i1b")
    assert module.VALUE == 42


NUMBA_SOURCE = ("import numba\n\n"
                "@numba.njit(cache=True)\n"
                "def twice(a):\n"
                "    return 2.0 * a\n")


def test_numba_cache_files_that_fail_to_unpickle_are_deleted(tmp_path):
    d = _private(tmp_path)
    module, _ = load_generated_module(NUMBA_SOURCE, "nb", "c1", d, module_key="nbc1")
    assert module.twice(1.5) == 3.0
    entries = sorted((d / "__pycache__").glob("nb_c1.*.nb*"))
    assert any(e.suffix == ".nbi" for e in entries) and any(e.suffix == ".nbc" for e in entries)
    for e in entries:
        if e.suffix == ".nbc":
            e.write_bytes(b"not a pickle")
    sys.modules.pop(module.__name__)
    with pytest.warns(CacheWarning, match=r"nb_c1\..*fails to unpickle"):
        module, _ = load_generated_module(NUMBA_SOURCE, "nb", "c1", d, module_key="nbc1")
    assert not list((d / "__pycache__").glob("nb_c1.*.nb*"))
    assert module.twice(2.0) == 4.0


# ------------------------------------------------------------ strings never evaluated
EVIL = "__import__('os').system('touch {marker}') or 0.5"


@pytest.mark.parametrize("fn", [analysis.damping_ratio, analysis.continuous_eigenvalues,
                                analysis.decay_rate])
def test_frozen_string_is_a_type_error_and_nothing_runs(fn, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(TypeError, match=r"frozen\['zeta'\] must be a real number"):
        fn(NoseHoover(), 2.0, frozen={"zeta": EVIL.format(marker=marker)})
    with pytest.raises(TypeError, match=r"frozen\['zeta'\]"):
        fn(NoseHoover(), 2.0, frozen={"zeta": "0.5"})
    with pytest.raises(TypeError, match=r"frozen\['zeta'\]"):
        fn(NoseHoover(), 2.0, frozen={"zeta": True})
    assert not marker.exists()
    # numbers, exact or not, and SymPy expressions still work
    assert fn(NoseHoover(), 2.0, frozen={"zeta": 0.5}) == fn(NoseHoover(), 2.0,
                                                            frozen={"zeta": np.float64(0.5)})


def test_step_matrix_at_takes_only_numbers(tmp_path):
    marker = tmp_path / "pwned"
    step = analysis.step_matrix("heavy_ball")
    for bad in (EVIL.format(marker=marker), "0.1", None, True, [0.1]):
        with pytest.raises(TypeError, match="lr must be"):
            step.at(lr=bad)
    assert not marker.exists()
    M = np.array(step.at(2.0, lr=0.1), dtype=float)
    np.testing.assert_allclose(M, step.numeric(2.0, lr=0.1))


def test_freeze_and_eigenvalue_strings_are_type_errors():
    with pytest.raises(TypeError, match="freeze"):
        analysis.step_matrix("fanos", freeze={"zeta": "0.3"})
    with pytest.raises(TypeError, match="eigenvalue"):
        analysis.damping_ratio(DampedOscillator(), "2.0")
    with pytest.raises(TypeError, match="eigenvalue"):
        analysis.step_matrix("heavy_ball").numeric("2.0")
