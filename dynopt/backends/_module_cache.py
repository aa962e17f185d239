"""Generated modules as real files, so that Numba's on-disk cache works; private and verified.

``numba.njit(cache=True)`` keys its cache on the source file of a function
(path and modification stamp). Generated source is therefore written once to
``<cache dir>/<label>_<key>.py`` (``key`` from
:func:`~dynopt.backends.codegen.program_key`) and imported from there; a later
process finds the file unchanged and Numba loads the compiled machine code
from the ``__pycache__`` beside it instead of compiling again.

Where. The folder is ``$DYNOPT_CACHE_DIR`` when set (a relative path is
resolved against the working directory once, the first time it is used),
else ``~/.cache/dynopt/numba``. It is created with mode ``0700``. A folder is
refused, with a :class:`CacheWarning` saying why, when it is not a folder (a
regular file, say), is owned by another user, is writable by its group or by
others, or cannot be written; so is the home folder when it cannot be
determined (``HOME`` unset and no account entry). The fallback is a fresh
private folder made by :func:`tempfile.mkdtemp`, one per process: the kernels
still work, but a later process compiles them again.

What is loaded. Files are written to a :func:`tempfile.mkstemp` file in the
same folder and moved into place with :func:`os.replace` (never through a
symbolic link; a reader never sees a partial file), and read without
following symbolic links. Beside each module, ``<label>_<key>.sha256`` holds
the SHA-256 of its contents; a module is imported only if its bytes are the
source the code generator produces now (when that is given) or hash to the
recorded value (a warm start that skips code generation), and the verified
bytes are what is executed. A module that fails the check (edited, truncated,
emptied, not text, a symbolic link, owned by someone else) or fails to import
is regenerated once, with a warning naming its path. Numba's own index and
data files (``__pycache__/<label>_<key>.*.nbi`` and ``.nbc``) that fail to
unpickle are deleted, with a warning, so that Numba compiles again; they and
``__pycache__`` are made private (Numba creates them with the process's
umask), and a ``__pycache__`` that is a link or a file is removed, not
followed.
"""
from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import pickle
import re
import stat
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = ["cache_dir", "usable_cache_dir", "load_generated_module", "CacheWarning"]


class CacheWarning(UserWarning):
    """The kernel cache refused a folder or a file and fell back or regenerated."""


#: raw directory string -> absolute path, resolved the first time it is used
_ABSOLUTE: dict = {}
#: this process's private fallback folder (made on first need)
_FALLBACK: list = []
#: warnings already given (each reason is reported once per process)
_WARNED: set = set()

_POSIX = os.name == "posix" and hasattr(os, "getuid")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _uid():
    """This process's user id, the owner every folder and file must have (``None``
    where there is none, on Windows)."""
    return os.getuid() if _POSIX else None


def _warn(message: str, once_key=None) -> None:
    if once_key is not None:
        if once_key in _WARNED:
            return
        _WARNED.add(once_key)
    warnings.warn(message, CacheWarning, stacklevel=3)


def _home():
    """The home folder, or ``None`` when it cannot be determined."""
    try:
        return Path.home()
    except (RuntimeError, KeyError, OSError):
        return None


def _fallback() -> Path:
    """A fresh private temporary folder (mode 0700), one per process."""
    if not _FALLBACK or not _FALLBACK[0].is_dir():
        _FALLBACK[:] = [Path(tempfile.mkdtemp(prefix="dynopt-numba-"))]
    return _FALLBACK[0]


def _absolute(raw: str) -> Path:
    path = _ABSOLUTE.get(raw)
    if path is None:
        path = Path(os.path.abspath(os.path.expanduser(raw)))
        if str(path).startswith("~"):
            raise RuntimeError("the home folder cannot be determined")
        _ABSOLUTE[raw] = path
    return path


def _private_problem(path: Path, st) -> str | None:
    """Why a folder ``st`` (from ``os.stat``) is not private to this user, or None."""
    if not _POSIX:
        return None
    if st.st_uid != _uid():
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return (f"is writable by {'others' if st.st_mode & 0o002 else 'its group'} "
                f"(mode {stat.S_IMODE(st.st_mode):o}; chmod 700 it to use it)")
    return None


def _folder_problem(path: Path) -> str | None:
    """Create ``path`` (mode 0700) if missing; why it cannot be used, or None."""
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)  # the mode given to mkdir is reduced by the umask
        except FileExistsError:
            pass  # another process made it: checked below like any folder
        except OSError as exc:
            return f"cannot be created ({exc.strerror or exc})"
        try:
            lst = os.lstat(path)
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(lst.st_mode):
        if _POSIX and lst.st_uid != _uid():
            return f"is a symbolic link owned by another user (uid {lst.st_uid})"
        try:
            st = os.stat(path)
        except OSError:
            return "is a broken symbolic link"
    else:
        st = lst
    if stat.S_ISREG(st.st_mode):
        return "is a regular file, not a folder"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    problem = _private_problem(path, st)
    if problem:
        return problem
    if not os.access(path, os.W_OK | os.X_OK):
        return "is not writable"
    return None


def cache_dir(directory=None) -> Path:
    """The folder generated modules are written to (created, mode 0700, if needed).

    Parameters
    ----------
    directory : str or path-like, optional
        The folder; default ``$DYNOPT_CACHE_DIR``, else ``~/.cache/dynopt/numba``.

    Returns
    -------
    pathlib.Path
        ``directory`` made absolute, or this process's private temporary folder
        when it cannot be used (with a :class:`CacheWarning` saying why).
    """
    if directory is None:
        env = os.environ.get("DYNOPT_CACHE_DIR")
        if env:
            raw, what = env, "DYNOPT_CACHE_DIR"
        else:
            home = _home()
            if home is None:
                fb = _fallback()
                _warn(f"dynopt kernel cache: the home folder cannot be determined (HOME is "
                      f"unset and there is no account entry); using the private temporary "
                      f"folder {fb} (set DYNOPT_CACHE_DIR to keep compiled kernels)", "nohome")
                return fb
            raw, what = str(home / ".cache" / "dynopt" / "numba"), "the cache folder"
    else:
        try:
            raw = os.fspath(directory)
        except TypeError:
            raise TypeError(f"cache_dir must be a path, got {directory!r}") from None
        if isinstance(raw, bytes):
            raw = os.fsdecode(raw)
        what = "cache_dir"
    try:
        path = _absolute(raw)
    except RuntimeError as exc:
        problem, path = str(exc), raw
    else:
        problem = _folder_problem(path)
    if problem:
        fb = _fallback()
        _warn(f"dynopt kernel cache: {what} {str(path)!r} {problem}; using the private "
              f"temporary folder {fb} instead", ("folder", str(path), problem))
        return fb
    return path


def usable_cache_dir() -> Path | None:
    """The default folder of :func:`cache_dir` when it can be used, else ``None``, with
    no warning: for what may do without the cache (the warm-start records of
    :mod:`dynopt.warm`, which a NumPy-only run would otherwise warn about)."""
    env = os.environ.get("DYNOPT_CACHE_DIR")
    if env:
        raw = env
    else:
        home = _home()
        if home is None:
            return None
        raw = str(home / ".cache" / "dynopt" / "numba")
    try:
        path = _absolute(raw)
    except RuntimeError:
        return None
    return None if _folder_problem(path) else path


def _safe(label: str) -> str:
    return re.sub(r"\W", "_", str(label))[:40] or "program"


def module_path(label: str, key: str, directory=None) -> Path:
    return cache_dir(directory) / f"{_safe(label)}_{_safe(key)}.py"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path):
    """``(bytes, None)``, ``(None, None)`` when missing, or ``(None, reason)``.

    Opens without following a symbolic link and accepts only a regular file
    owned by this user.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            return None, "is a symbolic link"
        return None, f"cannot be read ({exc.strerror or exc})"
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None, "is not a regular file"
        # inside a folder only this user can enter, the owner is what matters
        if _POSIX and st.st_uid != _uid():
            return None, f"is owned by another user (uid {st.st_uid})"
        return fh.read(), None


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a private temporary file beside it, then
    :func:`os.replace` (which replaces a symbolic link at ``path``, never its target)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _store(path: Path, digest_path: Path, source: str) -> bytes:
    data = source.encode("utf-8")
    _write(path, data)
    _write(digest_path, (_sha256(data) + "\n").encode("ascii"))
    return data


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _check_numba_cache(path: Path) -> None:
    """Keep Numba's cache files of module ``path`` private; delete them (and warn) when
    one fails to unpickle, so that Numba compiles the kernels again.

    Numba makes ``__pycache__`` and its files with the process's umask; inside the
    private cache folder nobody else can reach them, so loose modes are tightened
    (0700 and 0600) rather than refused. A ``__pycache__`` that is a link or not a
    folder is removed, never followed.
    """
    folder = path.parent / "__pycache__"
    try:
        lst = os.lstat(folder)
    except OSError:
        return
    if not stat.S_ISDIR(lst.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(lst.st_mode) else "a file"
        try:
            os.unlink(folder)
            done = "removed it (Numba makes it again)"
        except OSError as exc:
            done = f"could not remove it ({exc.strerror or exc})"
        _warn(f"dynopt kernel cache: {str(folder)!r} is {kind}, not a folder; {done}")
        return
    if _POSIX and lst.st_uid != _uid():
        _warn(f"dynopt kernel cache: {str(folder)!r} is owned by another user "
              f"(uid {lst.st_uid}); remove it", ("pycache", str(folder)))
        return
    if _POSIX and lst.st_mode & 0o077:
        os.chmod(folder, 0o700)
    stem = glob_escape(path.stem)
    entries = sorted([*folder.glob(f"{stem}.*.nbi"), *folder.glob(f"{stem}.*.nbc")])
    if not entries:
        return
    bad = None
    for entry in entries:
        st = os.lstat(entry)
        if not stat.S_ISREG(st.st_mode):
            bad = (entry, "is not a regular file")
            break
        if _POSIX and st.st_uid != _uid():
            bad = (entry, f"is owned by another user (uid {st.st_uid})")
            break
        if _POSIX and st.st_mode & 0o077:
            os.chmod(entry, 0o600)
    if bad is None:
        try:
            import numba
            version = numba.__version__
        except ImportError:  # pragma: no cover - Numba is a dependency
            return
        for index in (e for e in entries if e.suffix == ".nbi"):
            reason = _check_index(index, version)
            if reason:
                bad = (index, reason)
                break
    if bad is None:
        return
    for entry in entries:
        try:
            entry.unlink()
        except OSError:
            pass
    _warn(f"dynopt kernel cache: Numba's cache file {str(bad[0])!r} {bad[1]}; deleted the "
          f"compiled kernels of {str(path)!r}, which Numba compiles again")


def _check_index(index: Path, version: str) -> str | None:
    data, reason = _read(index)
    if reason or data is None:
        return reason
    try:
        import io
        fh = io.BytesIO(data)
        if pickle.load(fh) != version:
            return None  # another Numba's index: Numba ignores it without unpickling the rest
        _stamp, overloads = pickle.loads(fh.read())
        names = list(overloads.values())
    except Exception as exc:  # any failure to unpickle is a broken file
        return f"fails to unpickle ({type(exc).__name__})"
    for name in names:
        if not isinstance(name, str) or os.path.basename(name) != name:
            return "names an unexpected data file"
        blob, reason = _read(index.parent / name)
        if reason:
            return reason
        if blob is None:
            continue  # Numba recompiles a missing entry by itself
        try:
            pickle.loads(blob)
        except Exception as exc:
            return f"refers to {name!r}, which fails to unpickle ({type(exc).__name__})"
    return None


def _execute(name: str, path: Path, data: bytes, namespace: dict | None):
    """A module from the verified bytes ``data`` of ``path`` (not read again)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(namespace or {})
    sys.modules[name] = module
    try:
        code = compile(data, str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - generated code, verified just above
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_generated_module(source: str | None, label: str, key: str, directory=None,
                          namespace: dict | None = None, make_source=None, module_key=None,
                          numba: bool = True):
    """Import the module ``<label>_<key>.py`` from the cache folder, verified.

    Parameters
    ----------
    source : str or None
        The module's source as the code generator writes it. The file is
        (re)written when it is missing or differs (a difference is an edit or
        damage: it is reported with a :class:`CacheWarning`).
    label, key : str
        Name the file ``<label>_<key>.py``.
    directory : path-like, optional
        The cache folder (see :func:`cache_dir`).
    namespace : dict, optional
        Entries set on the module before it runs and again after (Python objects
        the generated code refers to).
    make_source : callable, optional
        With ``source=None``: an existing file whose contents hash to the value
        recorded beside it is used as it is, and ``make_source()`` is called
        only when the file is missing or fails the check (a warm start skips
        code generation).
    module_key : str, optional
        Names the module object (default ``key``); that name must be the same in
        every process when Numba caches the module's functions (the cache
        records it and imports it again when it loads the compiled code).
    numba : bool
        Whether the module's functions keep machine code in Numba's cache (its
        files are then checked); ``False`` for plain Python modules.

    Returns
    -------
    (module, str)
        The module and its source.
    """
    if source is None and make_source is None:
        raise TypeError("load_generated_module needs source or make_source")
    path = module_path(label, key, directory)
    digest_path = path.with_suffix(".sha256")
    data, reason = _read(path)
    if data is not None and reason is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            data, reason = None, "is not UTF-8 text"
    regenerated = False
    if source is not None:
        if data is not None and reason is None and text != source:
            reason = "differs from the code the generator writes (edited or damaged)"
        if data is None or reason is not None:
            if reason is not None:
                _warn(f"dynopt kernel cache: {str(path)!r} {reason}; regenerated it")
            data, text, regenerated = _store(path, digest_path, source), source, True
        elif not digest_path.exists():
            _write(digest_path, (_sha256(data) + "\n").encode("ascii"))
    else:
        if data is not None and reason is None:
            recorded, why = _read(digest_path)
            if recorded is None:
                # written by a process that stopped before recording the hash (or by an
                # older dynopt): nothing to check against, so generate it again
                data = None
                if why:
                    reason = f"has a hash record that {why}"
            elif recorded.decode("ascii", "replace").strip() != _sha256(data):
                data, reason = None, "does not hash to the value recorded beside it " \
                    "(edited or damaged)"
        if data is None:
            if reason is not None:
                _warn(f"dynopt kernel cache: {str(path)!r} {reason}; regenerated it")
            source = make_source()
            data, text, regenerated = _store(path, digest_path, source), source, True
        else:
            source = text
    tag = hashlib.sha1(str(path).encode()).hexdigest()[:6]
    name = f"dynopt_generated_{_safe(label)}_{_safe(module_key or key)}_{tag}"
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__dynopt_source__", None) == source:
        module.__dict__.update(namespace or {})
        return module, source
    try:
        module = _execute(name, path, data, namespace)
    except Exception as exc:
        if regenerated:
            raise RuntimeError(f"the generated module {str(path)!r} fails to import: "
                               f"{type(exc).__name__}: {exc}") from exc
        _warn(f"dynopt kernel cache: {str(path)!r} fails to import ({type(exc).__name__}: "
              f"{exc}); regenerated it")
        if make_source is not None:
            source = make_source()
        data = _store(path, digest_path, source)
        try:
            module = _execute(name, path, data, namespace)
        except Exception as exc2:
            raise RuntimeError(f"the generated module {str(path)!r} fails to import: "
                               f"{type(exc2).__name__}: {exc2}") from exc2
    module.__dict__.update(namespace or {})
    module.__dynopt_source__ = source
    # Numba loads its cache on a function's first call: the data files name the module,
    # so they are checked once it is importable, before anything is called
    if numba:
        _check_numba_cache(path)
    return module, source
