"""Generated modules as real files, so that Numba's on-disk cache works.

``numba.njit(cache=True)`` keys its cache on the source file of a function
(path and modification stamp). Generated source is therefore written once to
``<cache dir>/<label>_<key>.py`` (``key`` from
:func:`~dynopt.backends.codegen.program_key`) and imported from there; a later
process finds the file unchanged and Numba loads the compiled machine code
from the ``__pycache__`` beside it instead of compiling again.

The directory is ``$DYNOPT_CACHE_DIR`` when set, else ``~/.cache/dynopt/numba``;
when it cannot be written, a per-user directory under the system's temporary
directory is used.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "load_generated_module"]


def cache_dir(directory=None) -> Path:
    """The directory generated modules are written to (created if needed)."""
    if directory is None:
        directory = os.environ.get("DYNOPT_CACHE_DIR") or Path.home() / ".cache" / "dynopt" / "numba"
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError:
        user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "user")
        path = Path(tempfile.gettempdir()) / f"dynopt-numba-{user}"
        path.mkdir(parents=True, exist_ok=True)
    return path


def _safe(label: str) -> str:
    return re.sub(r"\W", "_", label)[:40] or "program"


def module_path(label: str, key: str, directory=None) -> Path:
    return cache_dir(directory) / f"{_safe(label)}_{key}.py"


def load_generated_module(source: str | None, label: str, key: str, directory=None,
                          namespace: dict | None = None, make_source=None, module_key=None):
    """Import the module ``<label>_<key>.py`` from the cache directory.

    The file is written when it is missing or differs from ``source``
    (atomically, so that concurrent processes never read a partial file).
    With ``source=None`` and ``make_source`` given, an existing file is used
    as it is and ``make_source()`` is only called when the file is missing
    (a warm start skips code generation). ``namespace`` entries are set on the
    module before it is used (Python objects the generated code refers to).
    ``module_key`` (default ``key``) names the module object; that name must be
    the same in every process when Numba caches the module's functions (the
    cache records it and imports it again when it loads the compiled code).
    Returns ``(module, source)``.
    """
    path = module_path(label, key, directory)
    existing = path.read_text() if path.exists() else None
    if source is None:
        source = existing if existing is not None else make_source()
    if existing != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    tag = hashlib.sha1(str(path).encode()).hexdigest()[:6]
    name = f"dynopt_generated_{_safe(label)}_{module_key or key}_{tag}"
    module = sys.modules.get(name)
    if module is None or getattr(module, "__dynopt_source__", None) != source:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        module.__dict__.update(namespace or {})
        sys.modules[name] = module
        spec.loader.exec_module(module)
        module.__dict__.update(namespace or {})
        module.__dynopt_source__ = source
    else:
        module.__dict__.update(namespace or {})
    return module, source
