"""The on-disk kernel cache is private and verified: each attack as a test.

Planted, edited or damaged modules are never imported (they are regenerated,
with a warning naming the file); symbolic links are never followed; folders
owned by someone else or writable by others are refused; ``HOME`` unset and a
``DYNOPT_CACHE_DIR`` that is a file fall back with a warning; Numba's own
cache files that fail to unpickle are deleted and compiled again.
"""
import os
import stat
import sys
import uuid
from pathlib import Path

import pytest

from dynopt.backends import _module_cache as mc
from dynopt.backends._module_cache import CacheWarning, cache_dir, load_generated_module

SOURCE = "VALUE = 42\n"


def _planted(marker):
    """Module source that, if imported, creates ``marker``."""
    return f"import pathlib\npathlib.Path({str(marker)!r}).touch()\nVALUE = -1\n"


def _forget(module):
    sys.modules.pop(module.__name__, None)


def _load(folder, source=SOURCE, key="k0", **kw):
    kw.setdefault("make_source", lambda: SOURCE)
    return load_generated_module(source, "prog", key, folder, **kw)


def _warm(folder, key="k0", make=lambda: SOURCE):
    """A warm start: no source given, the file on disk used if it verifies."""
    return load_generated_module(None, "prog", key, folder, make_source=make)


# ------------------------------------------------------------------ folders
def test_new_folder_is_created_private(tmp_path):
    folder = tmp_path / "a" / "cache"
    assert cache_dir(folder) == folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


@pytest.mark.parametrize("mode, who", [(0o777, "others"), (0o770, "its group")])
def test_folder_writable_by_others_is_refused_and_its_module_not_imported(tmp_path, mode, who):
    folder = tmp_path / "shared"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "prog_k0.py").write_text(_planted(marker))
    (folder / "prog_k0.sha256").write_text(mc._sha256(_planted(marker).encode()))
    os.chmod(folder, mode)
    with pytest.warns(CacheWarning, match=f"writable by {who}"):
        module, source = _warm(folder)
    assert module.VALUE == 42 and source == SOURCE
    assert not marker.exists()
    used = Path(module.__file__).parent
    assert used != folder and stat.S_IMODE(os.stat(used).st_mode) == 0o700


def test_folder_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    marker = tmp_path / "ran"
    (folder / "prog_k0.py").write_text(_planted(marker))
    (folder / "prog_k0.sha256").write_text(mc._sha256(_planted(marker).encode()))
    real = os.getuid()
    monkeypatch.setattr(mc, "_uid", lambda: real + 1)
    with pytest.warns(CacheWarning, match="owned by another user"):
        used = cache_dir(folder)
    assert used != folder
    monkeypatch.setattr(mc, "_uid", lambda: real)
    module, _ = load_generated_module(None, "prog", "k0", used, make_source=lambda: SOURCE)
    assert module.VALUE == 42 and not marker.exists()


def test_symlinked_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    real = os.getuid()
    # the link looks foreign, the folder it points to is ours
    monkeypatch.setattr(mc.os, "lstat", _lstat_owned_by(link, real + 1))
    with pytest.warns(CacheWarning, match="symbolic link owned by another user"):
        assert cache_dir(link) != link


def _lstat_owned_by(path, uid):
    real_lstat = os.lstat

    class Fake:
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return uid if name == "st_uid" else getattr(self._st, name)

    def lstat(p, *a, **k):
        st = real_lstat(p, *a, **k)
        return Fake(st) if Path(p) == path else st
    return lstat


def test_cache_dir_that_is_a_file_is_reported(tmp_path, monkeypatch):
    regular = tmp_path / "not_a_folder"
    regular.write_text("x")
    monkeypatch.setenv("DYNOPT_CACHE_DIR", str(regular))
    with pytest.warns(CacheWarning, match="DYNOPT_CACHE_DIR .* is a regular file"):
        used = cache_dir()
    assert used.is_dir() and used != regular and regular.read_text() == "x"


def test_relative_cache_dir_is_resolved_once(tmp_path, monkeypatch):
    name = f"rel-{uuid.uuid4().hex}"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.setenv("DYNOPT_CACHE_DIR", name)
    monkeypatch.chdir(tmp_path / "one")
    first = cache_dir()
    assert first == tmp_path / "one" / name and first.is_absolute()
    monkeypatch.chdir(tmp_path / "two")
    assert cache_dir() == first
    assert not (tmp_path / "two" / name).exists()


def test_home_unset_without_account_entry_falls_back(monkeypatch):
    import pwd
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("DYNOPT_CACHE_DIR", raising=False)

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(RuntimeError):
        Path.home()  # the crash the cache used to hit
    mc._WARNED.discard("nohome")
    with pytest.warns(CacheWarning, match="home folder cannot be determined"):
        used = cache_dir()
    assert used.is_dir() and stat.S_IMODE(os.stat(used).st_mode) == 0o700
    from dynopt.backends.numba_backend import NumbaBackend
    assert NumbaBackend().directory == used


# ------------------------------------------------------------------ modules
def test_planted_module_without_hash_record_is_not_imported(tmp_path):
    marker = tmp_path / "ran"
    folder = cache_dir(tmp_path / "cache")
    (folder / "prog_k0.py").write_text(_planted(marker))
    module, source = _warm(folder)
    assert module.VALUE == 42 and source == SOURCE and not marker.exists()
    assert (folder / "prog_k0.py").read_text() == SOURCE


def test_edited_module_is_regenerated_with_a_warning(tmp_path):
    marker = tmp_path / "ran"
    folder = cache_dir(tmp_path / "cache")
    module, _ = _warm(folder)
    _forget(module)
    path = folder / "prog_k0.py"
    path.write_text(SOURCE + _planted(marker))
    with pytest.warns(CacheWarning, match=f"{path}.*does not hash"):
        module, source = _warm(folder)
    assert module.VALUE == 42 and not marker.exists() and path.read_text() == SOURCE


def test_edited_module_with_source_given_is_regenerated_with_a_warning(tmp_path):
    marker = tmp_path / "ran"
    folder = cache_dir(tmp_path / "cache")
    module, _ = _load(folder)
    _forget(module)
    path = folder / "prog_k0.py"
    path.write_text(_planted(marker))
    with pytest.warns(CacheWarning, match=f"{path}.*differs"):
        module, _ = _load(folder)
    assert module.VALUE == 42 and not marker.exists()


@pytest.mark.parametrize("damage", [b"", SOURCE.encode()[:5], b"\xff\xfe\x00binary\x00"])
def test_truncated_emptied_or_binary_module_is_regenerated(tmp_path, damage):
    folder = cache_dir(tmp_path / "cache")
    module, _ = _warm(folder)
    _forget(module)
    path = folder / "prog_k0.py"
    path.write_bytes(damage)
    with pytest.warns(CacheWarning, match=str(path)):
        module, _ = _warm(folder)
    assert module.VALUE == 42


def test_module_that_fails_to_import_is_regenerated_once(tmp_path):
    folder = cache_dir(tmp_path / "cache")
    path = folder / "prog_k0.py"
    broken = "raise RuntimeError('broken')\n"
    path.write_text(broken)
    (folder / "prog_k0.sha256").write_text(mc._sha256(broken.encode()))
    with pytest.warns(CacheWarning, match=f"{path}.*fails to import"):
        module, _ = _warm(folder)
    assert module.VALUE == 42
    # a generator whose output does not import is an error naming the file, not a loop
    with pytest.raises(RuntimeError, match="prog_k1.py.* fails to import"):
        _warm(folder, "k1", make=lambda: broken)


def test_symlink_at_the_final_name_is_not_followed(tmp_path):
    marker = tmp_path / "ran"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = cache_dir(tmp_path / "cache")
    (folder / "prog_k0.py").symlink_to(victim)
    with pytest.warns(CacheWarning, match="prog_k0.py' is a symbolic link"):
        module, _ = _load(folder)
    assert victim.read_text() == "precious"
    assert not (folder / "prog_k0.py").is_symlink() and module.VALUE == 42
    # a link to a planted module whose hash is recorded is not imported either
    _forget(module)
    planted = tmp_path / "planted.py"
    planted.write_text(_planted(marker))
    (folder / "prog_k0.py").unlink()
    (folder / "prog_k0.py").symlink_to(planted)
    (folder / "prog_k0.sha256").write_text(mc._sha256(planted.read_bytes()))
    with pytest.warns(CacheWarning, match="symbolic link"):
        module, _ = _warm(folder)
    assert module.VALUE == 42 and not marker.exists()


def test_symlink_at_a_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = cache_dir(tmp_path / "cache")
    final = folder / "prog_k0.py"
    # the temporary names a writer could predict: the old one and a few others
    for name in (final.with_suffix(f".{os.getpid()}.tmp"), folder / ".prog_k0.py.tmp",
                 final.with_suffix(".py.tmp")):
        name.symlink_to(victim)
    module, _ = _load(folder)
    assert victim.read_text() == "precious" and module.VALUE == 42
    assert final.read_text() == SOURCE and not final.is_symlink()
    assert stat.S_IMODE(os.stat(final).st_mode) & 0o077 == 0


def test_warm_start_uses_the_file_without_generating(tmp_path):
    folder = cache_dir(tmp_path / "cache")
    module, _ = _warm(folder)
    _forget(module)
    calls = []
    module, source = _warm(folder, make=lambda: calls.append(1) or SOURCE)
    assert calls == [] and module.VALUE == 42 and source == SOURCE


# ------------------------------------------------------------------ Numba's files
NUMBA_SOURCE = (
    "import numba\n\n"
    "@numba.njit(cache=True)\n"
    "def twice(a):\n"
    "    return 2.0 * a\n")


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
def test_numba_cache_file_that_fails_to_unpickle_is_deleted_and_recompiled(tmp_path, suffix):
    folder = cache_dir(tmp_path / "cache")
    module, _ = load_generated_module(NUMBA_SOURCE, "nb", "k0", folder)
    assert module.twice(1.5) == 3.0
    _forget(module)
    files = sorted((folder / "__pycache__").glob(f"nb_k0.*{suffix}"))
    assert files
    files[0].write_bytes(b"\x80\x04garbage")
    with pytest.warns(CacheWarning, match=f"{files[0].name}.*fails to unpickle"):
        module, _ = load_generated_module(NUMBA_SOURCE, "nb", "k0", folder)
    assert module.twice(2.0) == 4.0
    assert module.twice.stats.cache_misses  # compiled again, not loaded


def test_numba_files_made_under_a_group_umask_are_kept_and_made_private(tmp_path):
    import warnings
    old = os.umask(0o002)
    try:
        folder = cache_dir(tmp_path / "cache")
        module, _ = load_generated_module(NUMBA_SOURCE, "nb", "k1", folder)
        assert module.twice(1.0) == 2.0
        _forget(module)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CacheWarning)
            module, _ = load_generated_module(NUMBA_SOURCE, "nb", "k1", folder)
        assert module.twice(1.0) == 2.0 and module.twice.stats.cache_hits
    finally:
        os.umask(old)
    for entry in [folder / "__pycache__", *(folder / "__pycache__").iterdir()]:
        assert stat.S_IMODE(os.lstat(entry).st_mode) & 0o022 == 0


def test_pycache_that_is_a_link_is_removed_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    keep = elsewhere / "nb_k2.twice-3.py311.nbi"
    keep.write_bytes(b"not ours")
    folder = cache_dir(tmp_path / "cache")
    (folder / "__pycache__").symlink_to(elsewhere)
    with pytest.warns(CacheWarning, match="__pycache__.*not a folder"):
        module, _ = load_generated_module(NUMBA_SOURCE, "nb", "k2", folder)
    assert module.twice(1.0) == 2.0
    assert keep.read_bytes() == b"not ours"
    assert (folder / "__pycache__").is_dir() and not (folder / "__pycache__").is_symlink()
